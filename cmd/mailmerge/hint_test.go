package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// guard is the campaign's [smtp] server in tests whose every message must
// go to the sandbox: a loopback listener that counts who connects.
type guard struct {
	ln    net.Listener
	conns atomic.Int32
}

func startGuard(t *testing.T) *guard {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &guard{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return g
}

// smtpSection points a campaign's [smtp] at a loopback server that needs
// no password.
func smtpSection(t *testing.T, camp string, port int) {
	t.Helper()
	f, err := os.OpenFile(camp, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "\n[smtp]\nhost = \"127.0.0.1\"\nport = %d\nsecurity = \"none\"\n", port); err != nil {
		t.Fatal(err)
	}
}

// mailmergeIn runs mailmerge with args in dir, as a user at a shell there
// would, and returns its exit status and stderr.
func mailmergeIn(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MAILMERGE_PASSWORD=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	case err != nil:
		t.Fatalf("mailmerge %s: %v", strings.Join(args, " "), err)
	}
	return 0, stderr.String()
}

// hinted is the command in the hint line that holds want, split into
// arguments as a shell would, without the leading "mailmerge". A hint
// that names a command ends with it.
func hinted(t *testing.T, stderr, want string) []string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		h, ok := strings.CutPrefix(line, "mailmerge: hint: ")
		i := strings.Index(h, "mailmerge send ")
		if ok && i >= 0 && strings.Contains(h, want) {
			return shellWords(t, h[i:])[1:]
		}
	}
	t.Fatalf("no hint naming a command with %q in:\n%s", want, stderr)
	return nil
}

// shellWords splits a command line as sh does, for the quoting that
// shellQuote writes: plain words, and words in single quotes where a
// quote is written as close quote, backslash quote, open quote.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted, escaped := false, false, false
	for _, r := range line {
		switch {
		case escaped:
			w.WriteRune(r)
			escaped = false
		case quoted && r == '\'':
			quoted = false
		case quoted:
			w.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, w.String())
				w.Reset()
			}
			inWord = false
		case strings.ContainsRune("\"$`;&|<>()*?[]#~", r):
			t.Fatalf("hint %q has %q outside quotes: a shell would not run it as shown", line, r)
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("hint %q has an unclosed quote", line)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// TestHintsKeepTheSandbox runs every command a hint prints after a send
// to the sandbox: each goes to the sandbox again, never to [smtp], and
// nobody gets a second copy unless the hint said so (--restart).
func TestHintsKeepTheSandbox(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 5
	camp := writeSendCampaign(t, dir, rows)
	g := startGuard(t)
	smtpSection(t, camp, g.ln.Addr().(*net.TCPAddr).Port)
	sbx := filepath.Join(dir, "sbx")

	// A trial of two rows, then the hint that sends the rest.
	first := []string{"send", "--sandbox", "sbx", "campaign.toml", "--limit", "2", "--rate", "50/s, 5000/h", "--quiet"}
	code, stderr := mailmergeIn(t, bin, dir, first...)
	if code != exitOK {
		t.Fatalf("trial exited %d\n%s", code, stderr)
	}
	next := hinted(t, stderr, "--resume")
	want := []string{"send", "--sandbox", "sbx", "campaign.toml", "--rate", "50/s, 5000/h", "--resume", "--quiet"}
	if !slices.Equal(next, want) {
		t.Errorf("hint after --limit is %q, want %q", next, want)
	}
	if code, stderr = mailmergeIn(t, bin, dir, next...); code != exitOK {
		t.Fatalf("following the hint exited %d\n%s", code, stderr)
	}
	checkDeliveredOnce(t, rows, loadSendResults(t, filepath.Join(sbx, "results.csv")), maildirCopies(t, sbx))

	// The same trial again: the results exist. Resuming sends nobody again.
	if code, stderr = mailmergeIn(t, bin, dir, first...); code != exitUsage {
		t.Fatalf("second trial exited %d, want %d\n%s", code, exitUsage, stderr)
	}
	restart := hinted(t, stderr, "--restart")
	if code, stderr := mailmergeIn(t, bin, dir, hinted(t, stderr, "--resume")...); code != exitOK {
		t.Fatalf("following the --resume hint exited %d\n%s", code, stderr)
	}
	checkDeliveredOnce(t, rows, loadSendResults(t, filepath.Join(sbx, "results.csv")), maildirCopies(t, sbx))
	if code, stderr := mailmergeIn(t, bin, dir, restart...); code != exitOK {
		t.Fatalf("following the --restart hint exited %d\n%s", code, stderr)
	}
	for i := 1; i <= rows; i++ {
		if n := maildirCopies(t, sbx)[userAddr(i)]; n != 2 {
			t.Errorf("after --restart %s has %d copies in the sandbox, want 2", userAddr(i), n)
		}
	}

	// --retry-failed without --resume, then --resume with nothing to resume:
	// each hint leads to the next, and the last one sends.
	code, stderr = mailmergeIn(t, bin, dir, "send", "--sandbox", "sbx2", "campaign.toml", "--retry-failed")
	if code != exitUsage {
		t.Fatalf("--retry-failed alone exited %d\n%s", code, stderr)
	}
	code, stderr = mailmergeIn(t, bin, dir, hinted(t, stderr, "--resume --retry-failed")...)
	if code != exitUsage || !strings.Contains(stderr, "nothing to resume: there is no results file "+filepath.Join("sbx2", "results.csv")) {
		t.Fatalf("--resume with no results exited %d, want %d and \"nothing to resume\"\n%s", code, exitUsage, stderr)
	}
	if n := len(maildirCopies(t, filepath.Join(dir, "sbx2"))); n != 0 {
		t.Fatalf("--resume with no results sent to %d recipients", n)
	}
	if code, stderr = mailmergeIn(t, bin, dir, hinted(t, stderr, "to start the run")...); code != exitOK {
		t.Fatalf("following the hint exited %d\n%s", code, stderr)
	}
	sbx2 := filepath.Join(dir, "sbx2")
	checkDeliveredOnce(t, rows, loadSendResults(t, filepath.Join(sbx2, "results.csv")), maildirCopies(t, sbx2))
	if n := g.conns.Load(); n != 0 {
		t.Errorf("[smtp] got %d connections; every command ran with --sandbox", n)
	}
}

// TestHintsAfterFailures: a run that leaves failed and unknown rows exits
// 1 and prints the command that retries the failures a retry can fix and
// the one that resends the unknown rows; each does what it says.
func TestHintsAfterFailures(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 6
	var refusing atomic.Bool
	refusing.Store(true)
	var dropped atomic.Int32
	srv, err := sandbox.Start(sandbox.Options{Security: security.None, AllowAnonymous: true, Faults: &sandbox.Faults{
		Rcpt: func(to string) error {
			switch {
			case to == userAddr(2) && refusing.Load():
				return sandbox.Refuse(550, "5.7.1", "sending to this domain is paused")
			case to == userAddr(4):
				return sandbox.Refuse(550, "5.1.1", "no such mailbox")
			}
			return nil
		},
		Data: func(d sandbox.Delivery) error {
			if slices.Contains(d.To, userAddr(5)) && dropped.Add(1) == 1 {
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

	code, stderr := mailmergeIn(t, bin, dir, "send", "campaign.toml", "--quiet", "--yes")
	if code != exitPartial || !strings.Contains(stderr, "error: not everyone got the message: 2 failed, 1 unknown in results.csv") {
		t.Fatalf("run with failures exited %d, want %d and the counts\n%s", code, exitPartial, stderr)
	}
	if !strings.Contains(stderr, "hint: 1 row was refused for the address alone") {
		t.Errorf("no hint about the 5.1.1 refusal:\n%s", stderr)
	}
	retry := hinted(t, stderr, "send the 1 failed row again")
	resend := hinted(t, stderr, "may get a second copy")
	if want := []string{"send", "campaign.toml", "--resume", "--retry-failed", "--quiet", "--yes"}; !slices.Equal(retry, want) {
		t.Errorf("retry hint %q, want %q", retry, want)
	}

	refusing.Store(false)
	code, stderr = mailmergeIn(t, bin, dir, retry...)
	if code != exitPartial || strings.Contains(stderr, "--retry-failed") {
		t.Errorf("retry exited %d, want %d with no --retry-failed hint for the 5.1.1 refusal alone\n%s", code, exitPartial, stderr)
	}
	code, stderr = mailmergeIn(t, bin, dir, resend...)
	if code != exitPartial || strings.Contains(stderr, "unknown:") || strings.Contains(stderr, "--retry-failed") {
		t.Errorf("resend exited %d, want %d (row 4 stays failed), no unknown rows and no --retry-failed hint for the earlier 5.1.1 refusal\n%s", code, exitPartial, stderr)
	}

	got := map[string]int{}
	for _, d := range srv.Deliveries() {
		for _, to := range d.To {
			got[to]++
		}
	}
	for i := 1; i <= rows; i++ {
		want := map[int]int{4: 0, 5: 2}[i]
		if i != 4 && i != 5 {
			want = 1
		}
		if got[userAddr(i)] != want {
			t.Errorf("%s got %d copies, want %d", userAddr(i), got[userAddr(i)], want)
		}
	}
}

// TestSendInterruptJSON: an interrupted send --json still ends with one
// JSON object on stdout whose counts add up to the list, with the error
// and the command that continues.
func TestSendInterruptJSON(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 400
	camp := writeSendCampaign(t, dir, rows)
	inbox := filepath.Join(dir, "inbox")

	r := startMailmerge(t, bin, "send", "--sandbox", inbox, camp, "--json")
	if !waitForMessages(t, inbox, 20, r.done) {
		t.Fatalf("the run ended before it could be interrupted:\n%s%s", r.stdout.String(), r.stderr.String())
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != exitStopped {
		t.Fatalf("interrupted run exited %d, want %d\nstderr:\n%s", code, exitStopped, r.stderr.String())
	}
	var got struct {
		Sent, Failed, Unknown, Remaining int
		Stopped                          bool
		StopReason                       string `json:"stop_reason"`
		ExitStatus                       int    `json:"exit_status"`
		Error, Hint                      string
	}
	if err := json.Unmarshal(r.stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout.String())
	}
	if got.Sent == 0 || got.Sent+got.Failed+got.Unknown+got.Remaining != rows || !got.Stopped || got.ExitStatus != exitStopped {
		t.Errorf("JSON after an interrupt: %+v, want counts adding up to %d rows", got, rows)
	}
	if got.StopReason != "interrupted" || got.Error != "stopped early: interrupted" ||
		!strings.Contains(got.Hint, "continue with: mailmerge send --sandbox "+inbox+" "+camp+" --resume --json") {
		t.Errorf("JSON after an interrupt: reason %q, error %q, hint %q", got.StopReason, got.Error, got.Hint)
	}
}

// TestShellQuote: what shellQuote writes, sh reads back as the argument.
func TestShellQuote(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	args := []string{"plain", "my tests", "it's", "10/s, 100/h", "", "$HOME", "a\\b", "*.toml", "x'y'z"}
	line := `printf '%s\n'`
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	out, err := exec.Command("sh", "-c", line).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, args) {
		t.Errorf("sh read %q back, want %q", got, args)
	}
}
