package campaign_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

var errNo = errors.New("the user said no")

// refuse is a Confirm that keeps the plan and says no.
func refuse(got *[]campaign.Plan) func(campaign.Plan) error {
	return func(p campaign.Plan) error {
		*got = append(*got, p)
		return errNo
	}
}

// The plan counts what this run sends: not the rows an earlier run
// recorded, not the invalid row it skips, and no more than --limit.
func TestSendPlanAfterResumeAndLimit(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 12, sendKeys{send: `rate = "20/m, 500/d"` + "\n"})
	list := c.RecipientsPath()
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, list, strings.Replace(string(b), addr(3), "not-an-address", 1))
	first := send(t, c, campaign.SendOptions{Server: target(srv), SkipInvalid: true, Limit: 4, Rate: "unlimited"})
	if first.Sent != 4 || first.Skipped != 1 {
		t.Fatalf("first run: %+v, want 4 sent and row 3 skipped", first)
	}
	before, err := os.ReadFile(first.Results)
	if err != nil {
		t.Fatal(err)
	}

	sessions := srv.Sessions()
	var plans []campaign.Plan
	_, err = c.Send(context.Background(), campaign.SendOptions{Server: target(srv), SkipInvalid: true, Resume: true, Limit: 5, Confirm: refuse(&plans)})
	if !errors.Is(err, errNo) {
		t.Fatalf("refused run: %v, want the refusal", err)
	}
	want := campaign.Plan{Rows: 5, Server: fmt.Sprintf("localhost:%d", srv.Port()), Security: srv.Security().String(),
		Account: srv.Username(), From: "Nami <nami@example.com>", Rate: "20/m, 500/d", Estimate: 4 * 3 * time.Second, Results: first.Results,
		ListRows: 12}
	if len(plans) != 1 || !reflect.DeepEqual(plans[0], want) {
		t.Fatalf("plans = %+v, want [%+v]", plans, want)
	}
	if srv.Received() != 4 || srv.Sessions() != sessions {
		t.Errorf("server has %d messages from %d sessions: the refused run connected", srv.Received(), srv.Sessions())
	}
	after, err := os.ReadFile(first.Results)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the refused run changed the results file (%v)", err)
	}

	// Saying yes sends what the plan said.
	sum := send(t, c, campaign.SendOptions{Server: target(srv), SkipInvalid: true, Resume: true, Limit: 5, Rate: "unlimited",
		Confirm: func(p campaign.Plan) error { plans = append(plans, p); return nil }})
	if sum.Sent != 5 || plans[1].Rows != 5 || plans[1].Rate != "unlimited" || plans[1].Estimate != 0 {
		t.Errorf("accepted run sent %d; plan %+v", sum.Sent, plans[1])
	}
}

// Saying no to a first run leaves no results file and no connection.
func TestSendConfirmRefusedLeavesNothing(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{})
	var plans []campaign.Plan
	sum, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Confirm: refuse(&plans)})
	if !errors.Is(err, errNo) {
		t.Fatalf("send: %v, want the refusal", err)
	}
	if len(plans) != 1 || plans[0].Rows != 3 || plans[0].Rate != "unlimited" {
		t.Errorf("plans = %+v, want one of 3 rows, unlimited", plans)
	}
	for _, p := range []string{sum.Results, journal.InflightPath(sum.Results)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left after a refused run (%v)", p, err)
		}
	}
	if srv.Sessions() != 0 {
		t.Errorf("the server saw %d connections", srv.Sessions())
	}
}

// Saying no to --restart keeps the old results where they were.
func TestSendConfirmRefusedRestartRotatesNothing(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	c := newSendCampaign(t, 3, sendKeys{})
	first := send(t, c, campaign.SendOptions{Server: target(srv)})
	pattern := filepath.Join(filepath.Dir(first.Results), "*")
	before, _ := filepath.Glob(pattern)
	var plans []campaign.Plan
	_, err := c.Send(context.Background(), campaign.SendOptions{Server: target(srv), Restart: true, Confirm: refuse(&plans)})
	if !errors.Is(err, errNo) || len(plans) != 1 || plans[0].Rows != 3 {
		t.Fatalf("restart: %v, plans %+v; want the refusal of 3 rows", err, plans)
	}
	after, _ := filepath.Glob(pattern)
	if n := len(readResults(t, first.Results)); n != 3 || srv.Received() != 3 {
		t.Errorf("results has %d rows, server %d messages", n, srv.Received())
	}
	if strings.Join(before, " ") != strings.Join(after, " ") {
		t.Errorf("files %v became %v: the refused restart rotated the results", before, after)
	}
}
