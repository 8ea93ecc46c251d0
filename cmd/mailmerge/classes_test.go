package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// TestSummaryGroupsFailuresByClass: a server that refuses rows in several
// ways, temporarily and for good, at RCPT and at the end of DATA, and loses
// one reply: the summary names the classes, most frequent first, the
// first five and a count of the rest, then ends with the command that goes
// on; --json lists every class.
func TestSummaryGroupsFailuresByClass(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 12
	rcpt := map[string]error{
		userAddr(1):  sandbox.Refuse(550, "5.1.1", "no such user"),
		userAddr(2):  sandbox.Refuse(550, "5.1.1", "no such user"),
		userAddr(3):  sandbox.Refuse(550, "5.1.1", "unknown recipient"),
		userAddr(4):  sandbox.Refuse(550, "5.1.1", "no such user"),
		userAddr(5):  sandbox.Refuse(452, "4.2.2", "mailbox over quota, try later"),
		userAddr(8):  sandbox.Refuse(550, "", "no"),
		userAddr(9):  sandbox.Refuse(552, "5.2.2", "mailbox full"),
		userAddr(10): sandbox.Refuse(550, "5.1.2", "no such domain"),
	}
	srv, err := sandbox.Start(sandbox.Options{Security: security.None, AllowAnonymous: true, Faults: &sandbox.Faults{
		Rcpt: func(to string) error { return rcpt[to] },
		Data: func(d sandbox.Delivery) error {
			switch d.To[0] {
			case userAddr(6), userAddr(7):
				return sandbox.Refuse(554, "5.7.1", "message refused as spam")
			case userAddr(11):
				return sandbox.ErrDropAfterStore
			}
			return nil
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	smtpSection(t, writeSendCampaign(t, dir, rows), srv.Port())

	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "MAILMERGE_PASSWORD=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}
	code, stdout, stderr := run("send", "campaign.toml", "--yes")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitPartial, stdout, stderr)
	}
	want := "failed or unknown: 5.1.1 user unknown ×4, 5.7.1 delivery not authorized ×2, 4.2.2 mailbox full ×1, " +
		"5.1.2 domain unknown ×1, 5.2.2 mailbox full ×1, … and 2 more (2 rows)\n"
	if !strings.Contains(stdout, want) {
		t.Errorf("summary lacks\n%s\ngot:\n%s", want, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "mailmerge: hint: ") || !strings.HasSuffix(last, "mailmerge send campaign.toml --resume --resend-unknown --yes") {
		t.Errorf("the summary does not end with the command that goes on: %q", last)
	}

	// --json: the same classes, every one, for the whole campaign.
	code, stdout, _ = run("send", "campaign.toml", "--resume", "--json", "--yes")
	var got struct {
		Classes []struct {
			Class string
			Rows  int
		} `json:"failure_classes"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != exitPartial {
		t.Fatalf("exit %d, stdout not one JSON object (%v):\n%s", code, err, stdout)
	}
	var classes []string
	for _, c := range got.Classes {
		classes = append(classes, c.Class+" ×"+strconv.Itoa(c.Rows))
	}
	wantJSON := []string{"5.1.1 user unknown ×4", "5.7.1 delivery not authorized ×2", "4.2.2 mailbox full ×1",
		"5.1.2 domain unknown ×1", "5.2.2 mailbox full ×1", "550 mailbox unavailable ×1", "no reply after the message ×1"}
	if !slices.Equal(classes, wantJSON) {
		t.Errorf("failure_classes %q, want %q", classes, wantJSON)
	}
}
