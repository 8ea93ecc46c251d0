package campaign_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// The memory a run may queue follows what it can queue: more workers hold
// more messages, and larger messages take more, up to the limit of what is
// written out ahead or the campaign's own max_message_size.
func TestQueuedBytesFollowsTheCampaign(t *testing.T) {
	ctx := context.Background()
	list := map[string]string{"recipients.csv": "name,email\nAna,ana@example.com\n"}
	c, _ := loadCheck(t, list)
	small := c.QueuedBytes(ctx, campaign.SendOptions{})
	if more := c.QueuedBytes(ctx, campaign.SendOptions{Workers: 64}); more <= small {
		t.Errorf("64 workers queue %d bytes, the default %d", more, small)
	}

	large := map[string]string{"recipients.csv": list["recipients.csv"], "body.txt": strings.Repeat("Hi {{.name}}\n", 30_000)}
	c, _ = loadCheck(t, large)
	big := c.QueuedBytes(ctx, campaign.SendOptions{})
	if big < 20*small {
		t.Errorf("messages of 400 KB queue %d bytes, messages of 1 KB %d", big, small)
	}
	large["campaign.toml"] = checkCampaign + "max_message_size = \"4MB\"\n"
	c, _ = loadCheck(t, large)
	if limited := c.QueuedBytes(ctx, campaign.SendOptions{}); limited != big {
		t.Errorf("large messages queue %d bytes under a 4 MB limit, %d without: what is written out ahead caps both", limited, big)
	}
	large["campaign.toml"] = checkCampaign + "max_message_size = \"8KB\"\n"
	c, _ = loadCheck(t, large)
	if limited := c.QueuedBytes(ctx, campaign.SendOptions{}); limited*16 > big {
		t.Errorf("with max_message_size 8KB %d bytes, without %d", limited, big)
	}
}
