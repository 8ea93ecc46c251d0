package main

import (
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSendSurvivesKill is the crash test of the results file: a 2,000-row
// campaign to the sandbox is killed with SIGKILL three times at random
// points and resumed each time with --resume until it finishes. In the
// end every recipient got exactly one copy, except those the results file
// reports unknown (in flight at a kill), who got at most one.
func TestSendSurvivesKill(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows, kills = 2000, 3
	camp := writeSendCampaign(t, dir, rows)
	inbox := filepath.Join(dir, "inbox")
	seed := uint64(time.Now().UnixNano())
	rnd := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	final := -1
	for round := 0; ; round++ {
		if round > kills+3 {
			t.Fatalf("still not finished after %d runs", round)
		}
		args := []string{"send", "--sandbox", inbox, camp, "--quiet"}
		if round > 0 {
			args = append(args, "--resume")
		}
		r := startMailmerge(t, bin, args...)
		if round < kills {
			// Kill once the run is well under way: some hundred messages
			// more, then a random moment within the next few milliseconds.
			if waitForMessages(t, inbox, countNew(inbox)+50+rnd.IntN(300), r.done) {
				time.Sleep(time.Duration(rnd.IntN(5000)) * time.Microsecond)
				_ = r.cmd.Process.Signal(syscall.SIGKILL)
			}
			code := r.wait(t)
			t.Logf("run %d: exit %d with %d messages in the Maildir", round+1, code, countNew(inbox))
			if code == -int(syscall.SIGKILL) {
				continue
			}
		}
		code := r.wait(t)
		if code == exitOK || code == exitPartial {
			final = code
			break
		}
		t.Fatalf("run %d exited %d\nstderr:\n%s", round+1, code, r.stderr.String())
	}

	status := loadSendResults(t, filepath.Join(inbox, "results.csv"))
	got := maildirCopies(t, inbox)
	checkDeliveredOnce(t, rows, status, got)
	unknown := 0
	for _, s := range status {
		if s == "unknown" {
			unknown++
		}
	}
	// Rows a kill left unknown keep the campaign unfinished: exit 1.
	if want := exitUnknown(unknown); final != want {
		t.Errorf("the last run exited %d with %d rows unknown, want %d", final, unknown, want)
	}
	t.Logf("%d rows, %d unknown, %d messages in the Maildir", len(status), unknown, countNew(inbox))
}
