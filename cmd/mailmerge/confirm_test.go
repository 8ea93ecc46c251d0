package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// realCampaign writes a campaign of rows recipients whose [smtp] is a
// sandbox server started for the test: a real server as far as send knows,
// reached without --sandbox.
func realCampaign(t *testing.T, rows int) (string, *sandbox.Server) {
	t.Helper()
	srv, err := sandbox.Start(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	camp := writeSendCampaign(t, dir, rows)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), srv.CAPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	smtp := fmt.Sprintf("\n[smtp]\nhost = %q\nport = %d\nsecurity = %q\nusername = %q\nca_file = \"ca.pem\"\n",
		srv.Host(), srv.Port(), srv.Security(), srv.Username())
	f, err := os.OpenFile(camp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(smtp); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILMERGE_PASSWORD", srv.Password())
	return camp, srv
}

// onTerminal makes send take stdin for a terminal until the test ends.
func onTerminal(t *testing.T) {
	was := terminalIn
	terminalIn = func(io.Reader) bool { return true }
	t.Cleanup(func() { terminalIn = was })
}

func runSend(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(append([]string{"send"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSendAsksOnTerminal(t *testing.T) {
	onTerminal(t)
	camp, srv := realCampaign(t, 5)
	results := filepath.Join(filepath.Dir(camp), "results.csv")

	for _, answer := range []string{"n\n", "\n", "", "sure\n"} {
		code, _, stderr := runSend(answer, camp, "--limit", "2")
		if code != exitUsage || !strings.Contains(stderr, "mailmerge: error: nothing was sent") {
			t.Errorf("answer %q: exit %d, stderr:\n%s", answer, code, stderr)
		}
		if _, err := os.Stat(results); !os.IsNotExist(err) || srv.Sessions() != 0 {
			t.Fatalf("answer %q: results file %v, %d connections: a no sent or wrote something", answer, err, srv.Sessions())
		}
	}

	code, _, stderr := runSend("yes\n", camp, "--limit", "2")
	if code != exitOK || srv.Received() != 2 {
		t.Fatalf("answer yes: exit %d, server has %d messages; stderr:\n%s", code, srv.Received(), stderr)
	}
	for _, line := range []string{
		"About to send for real:\n",
		"\n  messages  2\n",
		fmt.Sprintf("\n  server    %s:%d (ssl), as %s\n", srv.Host(), srv.Port(), srv.Username()),
		"\n  from      Nami <nami@example.com>\n",
		"\n  rate      unlimited: as fast as the server takes them\n",
		"\n  results   " + results + "\n",
		"\nSend 2 messages? [y/N] ",
	} {
		if !strings.Contains(stderr, line) {
			t.Errorf("the plan lacks %q:\n%s", line, stderr)
		}
	}

	// The next run counts only what it sends: the 3 rows left.
	code, _, stderr = runSend("n\n", camp, "--resume", "--rate", "20/m, 500/d")
	if code != exitUsage || !strings.Contains(stderr, "\n  messages  3\n") || !strings.Contains(stderr, "\n  rate      20/m, 500/d: about 6s\n") {
		t.Errorf("resume: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runSend("n\n", camp, "--resume", "--rate", "100/s")
	if code != exitUsage || !strings.Contains(stderr, "\n  rate      100/s: under a second\n") {
		t.Errorf("a short run: exit %d, stderr:\n%s", code, stderr)
	}
}

// With --rows, the plan counts the rows selected and says which of how many.
func TestSendPlanNamesTheRows(t *testing.T) {
	onTerminal(t)
	camp, srv := realCampaign(t, 5)
	code, _, stderr := runSend("n\n", camp, "--rows", "2-3,5")
	for _, line := range []string{"\n  messages  3\n", "\n  rows      2-3,5 of 5 (the others are left alone)\n", "\nSend 3 messages? [y/N] "} {
		if !strings.Contains(stderr, line) {
			t.Errorf("the plan lacks %q:\n%s", line, stderr)
		}
	}
	if code != exitUsage || srv.Sessions() != 0 {
		t.Errorf("answer n: exit %d, %d connections", code, srv.Sessions())
	}
}

func TestSendYesDoesNotAsk(t *testing.T) {
	onTerminal(t)
	camp, srv := realCampaign(t, 2)
	code, _, stderr := runSend("", camp, "--yes")
	if code != exitOK || srv.Received() != 2 || strings.Contains(stderr, "[y/N]") {
		t.Errorf("--yes: exit %d, server has %d; stderr:\n%s", code, srv.Received(), stderr)
	}
}

func TestSendSandboxNeverAsks(t *testing.T) {
	onTerminal(t)
	camp, srv := realCampaign(t, 2)
	code, _, stderr := runSend("", "--sandbox", filepath.Join(t.TempDir(), "inbox"), camp)
	if code != exitOK || strings.Contains(stderr, "[y/N]") || srv.Sessions() != 0 {
		t.Errorf("--sandbox: exit %d, real server saw %d connections; stderr:\n%s", code, srv.Sessions(), stderr)
	}
}

func TestSendNoTerminalNeedsYes(t *testing.T) {
	camp, srv := realCampaign(t, 2)
	for _, args := range [][]string{{camp, "--limit", "1"}, {camp, "--json"}} {
		code, stdout, stderr := runSend("y\n", args...)
		want := "mailmerge: hint: mailmerge send " + strings.Join(args, " ") + " --yes\n"
		if code != exitUsage || !strings.Contains(stderr, "needs --yes") || !strings.HasSuffix(stderr, want) {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s", args, code, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(camp), "results.csv")); !os.IsNotExist(err) || srv.Sessions() != 0 {
		t.Fatalf("results file %v, %d connections: the refused run went ahead", err, srv.Sessions())
	}
	if code, _, stderr := runSend("", camp, "--yes"); code != exitOK || srv.Received() != 2 {
		t.Errorf("--yes: exit %d, server has %d; stderr:\n%s", code, srv.Received(), stderr)
	}
}

func TestShellQuoteHint(t *testing.T) {
	var stderr bytes.Buffer
	unconfirmed([]string{"my campaign.toml", "--rate", "10/m, 100/d", "--limit=it's"}, newUI(io.Discard, &stderr))
	want := `mailmerge: hint: mailmerge send 'my campaign.toml' --rate '10/m, 100/d' '--limit=it'\''s' --yes` + "\n"
	if !strings.HasSuffix(stderr.String(), want) {
		t.Errorf("hint:\n%s\nwant %s", stderr.String(), want)
	}
}
