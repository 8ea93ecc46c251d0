package campaign_test

import (
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// The memory a run may queue follows what it can queue: more workers hold
// more messages, and a campaign whose messages are small by its own limit
// holds less than one whose messages may be as large as written out ahead.
func TestQueuedBytesFollowsTheCampaign(t *testing.T) {
	list := map[string]string{"recipients.csv": "name,email\nAna,ana@example.com\n"}
	c, _ := loadCheck(t, list)
	big := c.QueuedBytes(campaign.SendOptions{})
	if more := c.QueuedBytes(campaign.SendOptions{Workers: 64}); more <= big {
		t.Errorf("64 workers queue %d bytes, the default %d", more, big)
	}
	small := map[string]string{"recipients.csv": list["recipients.csv"],
		"campaign.toml": checkCampaign + "max_message_size = \"4KB\"\n"}
	c, _ = loadCheck(t, small)
	if got := c.QueuedBytes(campaign.SendOptions{}); got*32 > big {
		t.Errorf("with 4 KB messages %d bytes, without a limit %d: want at most a 32nd", got, big)
	}
}
