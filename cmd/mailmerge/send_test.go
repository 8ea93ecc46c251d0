package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// mailmergeBinary is the mailmerge command to run as a separate process:
// the copy of this test binary that TestMain puts on $PATH for the
// scenarios, which runs run() like main does (with the race detector when
// the tests have it), or else a fresh build.
func mailmergeBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the mailmerge command as a separate process")
	}
	if bin, err := exec.LookPath("mailmerge"); err == nil {
		if self, err := os.Executable(); err == nil && sameFile(bin, self) {
			return bin
		}
	}
	bin := filepath.Join(t.TempDir(), "mailmerge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// sameFile reports whether two executables have the same contents, which
// tells testscript's copy of this binary from a mailmerge installed
// elsewhere on $PATH.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if errA != nil || errB != nil || fa.Size() != fb.Size() {
		return false
	}
	ba, errA := os.ReadFile(a)
	bb, errB := os.ReadFile(b)
	return errA == nil && errB == nil && bytes.Equal(ba, bb)
}

// writeSendCampaign writes a campaign of rows recipients
// user00001@example.com ... into dir and returns its path.
func writeSendCampaign(t *testing.T, dir string, rows int) string {
	t.Helper()
	var list strings.Builder
	list.WriteString("id,name,email\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&list, "%d,Person %d,%s\n", i, i, userAddr(i))
	}
	files := map[string]string{
		"list.csv": list.String(),
		"body.txt": "Dear {{.name}},\n\nthis is message {{.id}}.\n",
		"campaign.toml": `recipients = "list.csv"
from       = "Nami <nami@example.com>"
to         = "{{.name}} <{{.email}}>"
subject    = "Message {{.id}}"
text       = "body.txt"

[send]
workers     = 4
retry_delay = "10ms"
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "campaign.toml")
}

func userAddr(i int) string { return fmt.Sprintf("user%05d@example.com", i) }

// loadSendResults parses a results file into row number -> status,
// failing on a duplicate row or a file that is not one.
func loadSendResults(t *testing.T, path string) map[int]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("results: %v", err)
	}
	b, ok := bytes.CutPrefix(b, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Fatalf("%s does not start with a byte order mark", path)
	}
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("results: %v", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(journal.Columns(), ",") {
		t.Fatalf("results header %q", recs)
	}
	status := map[int]string{}
	for _, r := range recs[1:] {
		row, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("results row %q: %v", r, err)
		}
		if _, dup := status[row]; dup {
			t.Errorf("results file has row %d twice", row)
		}
		if r[1] != userAddr(row) {
			t.Errorf("results row %d is %s, want %s", row, r[1], userAddr(row))
		}
		status[row] = r[2]
	}
	return status
}

// maildirCopies counts the copies each recipient has in the sandbox Maildir.
func maildirCopies(t *testing.T, dir string) map[string]int {
	t.Helper()
	stored, err := sandbox.ReadMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, s := range stored {
		n[s.DeliveredTo]++
	}
	return n
}

// checkDeliveredOnce is the promise of --resume: every row is in the
// results file; sent rows arrived exactly once; unknown rows at most once
// (the message may or may not have made it before the process died); and
// nothing arrived that the list does not hold.
func checkDeliveredOnce(t *testing.T, rows int, status map[int]string, got map[string]int) {
	t.Helper()
	for i := 1; i <= rows; i++ {
		n := got[userAddr(i)]
		switch s := status[i]; s {
		case "sent":
			if n != 1 {
				t.Errorf("row %d is sent; %s got %d copies", i, userAddr(i), n)
			}
		case "unknown":
			if n > 1 {
				t.Errorf("row %d is unknown; %s got %d copies", i, userAddr(i), n)
			}
		case "":
			t.Errorf("row %d is missing from the results file (%d copies arrived)", i, n)
		default:
			t.Errorf("row %d is %s (%d copies arrived)", i, s, n)
		}
	}
	known := map[string]bool{}
	for i := 1; i <= rows; i++ {
		known[userAddr(i)] = true
	}
	for to, n := range got {
		if !known[to] {
			t.Errorf("%d copies went to %s, who is not on the list", n, to)
		}
	}
}

// countNew counts the messages the sandbox has made durable so far.
func countNew(dir string) int {
	f, err := os.Open(filepath.Join(dir, "new"))
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// waitForMessages polls until the Maildir holds at least n messages or
// the process ends; it reports whether the count was reached.
func waitForMessages(t *testing.T, dir string, n int, done <-chan struct{}) bool {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for countNew(dir) < n {
		select {
		case <-done:
			return false
		case <-deadline:
			t.Fatalf("the sandbox still has %d messages after 20s, want %d", countNew(dir), n)
		case <-time.After(2 * time.Millisecond):
		}
	}
	return true
}

// running is the mailmerge command started in the background.
type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func startMailmerge(t *testing.T, bin string, args ...string) *running {
	t.Helper()
	r := &running{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	r.cmd.Env = append(os.Environ(), "MAILMERGE_PASSWORD=")
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// wait returns the exit status once the command has ended.
func (r *running) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("mailmerge did not finish in 30s\nstderr:\n%s", r.stderr.String())
	}
	if r.err == nil {
		return 0
	}
	if ee, ok := r.err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("mailmerge: %v", r.err)
	return 0
}

// TestSendInterrupt is Ctrl-C in the middle of a campaign: the run stops
// taking new recipients, records the ones in flight, exits 3 and says how
// to continue; --resume then finishes with nobody getting two copies.
func TestSendInterrupt(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 400
	camp := writeSendCampaign(t, dir, rows)
	inbox := filepath.Join(dir, "inbox")

	r := startMailmerge(t, bin, "send", "--sandbox", inbox, camp)
	if !waitForMessages(t, inbox, 20, r.done) {
		t.Fatalf("the run ended before it could be interrupted:\n%s%s", r.stdout.String(), r.stderr.String())
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := r.wait(t); code != exitStopped {
		t.Fatalf("interrupted run exited %d, want %d\nstderr:\n%s", code, exitStopped, r.stderr.String())
	}
	for _, want := range []string{"stopping: no new messages", "stopped early: interrupted", "--resume"} {
		if !strings.Contains(r.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr.String())
		}
	}
	if !strings.Contains(r.stdout.String(), "not sent yet") {
		t.Errorf("stdout does not say how many are left:\n%s", r.stdout.String())
	}
	results := filepath.Join(inbox, "results.csv")
	if _, err := os.Stat(journal.InflightPath(results)); err == nil {
		t.Errorf("a clean stop left %s behind", journal.InflightPath(results))
	}
	status := loadSendResults(t, results)
	got := maildirCopies(t, inbox)
	if len(status) == 0 || len(status) >= rows || len(got) != len(status) {
		t.Fatalf("after the interrupt: %d rows in the results file, %d recipients in the Maildir", len(status), len(got))
	}
	for row, s := range status {
		if s != "sent" || got[userAddr(row)] != 1 {
			t.Errorf("row %d is %s with %d copies; a clean stop finishes what is in flight", row, s, got[userAddr(row)])
		}
	}

	r = startMailmerge(t, bin, "send", "--sandbox", inbox, camp, "--resume", "--quiet")
	if code := r.wait(t); code != exitOK {
		t.Fatalf("resume exited %d\nstderr:\n%s", code, r.stderr.String())
	}
	checkDeliveredOnce(t, rows, loadSendResults(t, results), maildirCopies(t, inbox))
}

// TestSendInterruptTwice: a second Ctrl-C quits at once, yet still closes
// the results file in good order. Whatever was in flight is unknown and is
// not resent; what had not gone out is sent by --resume.
func TestSendInterruptTwice(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 400
	camp := writeSendCampaign(t, dir, rows)
	inbox := filepath.Join(dir, "inbox")

	r := startMailmerge(t, bin, "send", "--sandbox", inbox, camp, "--quiet")
	if !waitForMessages(t, inbox, 20, r.done) {
		t.Fatalf("the run ended before it could be interrupted")
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	time.Sleep(time.Millisecond)
	_ = r.cmd.Process.Signal(os.Interrupt)
	// Exit 3 from the second Ctrl-C, or death by SIGINT when the first one
	// had already finished the run and restored the default handler.
	if code := r.wait(t); code != exitStopped && code != -int(syscall.SIGINT) {
		t.Fatalf("run interrupted twice exited %d, want %d\nstderr:\n%s", code, exitStopped, r.stderr.String())
	}
	results := filepath.Join(inbox, "results.csv")
	if _, err := os.Stat(journal.InflightPath(results)); err == nil {
		t.Errorf("quitting at once left %s behind: the results file was not closed", journal.InflightPath(results))
	}
	for row, s := range loadSendResults(t, results) {
		if s != "sent" && s != "unknown" {
			t.Errorf("row %d is %s after quitting at once, want sent or unknown", row, s)
		}
	}
	r = startMailmerge(t, bin, "send", "--sandbox", inbox, camp, "--resume", "--quiet")
	code := r.wait(t)
	status := loadSendResults(t, results)
	checkDeliveredOnce(t, rows, status, maildirCopies(t, inbox))
	unknown := 0
	for _, s := range status {
		if s == "unknown" {
			unknown++
		}
	}
	if want := exitUnknown(unknown); code != want {
		t.Fatalf("resume exited %d with %d rows unknown, want %d\nstderr:\n%s", code, unknown, want, r.stderr.String())
	}
}

// exitUnknown is the exit status of a run that sent everyone but left
// unknown rows: 1 while there are any.
func exitUnknown(unknown int) int {
	if unknown > 0 {
		return exitPartial
	}
	return exitOK
}
