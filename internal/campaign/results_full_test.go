//go:build linux

package campaign_test

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// fullRun is what the child process of TestSendResultsFileFull reports.
type fullRun struct {
	Err                            string
	Stopped                        bool
	ResultsErr, Reason, Hint       string
	Sent, Failed, Unknown, Remains int
}

// TestSendResultsFileFull: when the results file cannot grow (a full disk;
// here a file size limit), the run stops at once with a summary and a hint
// instead of an error, and --resume finishes it with nobody sent twice.
// The limit applies to the whole process, so the full run happens in a
// child process (this test binary again, see sendWithFileLimit).
func TestSendResultsFileFull(t *testing.T) {
	if os.Getenv("MAILMERGE_TEST_CAMPAIGN") != "" {
		sendWithFileLimit(t)
		return
	}
	srv := startSandbox(t, sandbox.Options{})
	const rows = 80
	c := newSendCampaign(t, rows, sendKeys{send: "workers = 2\n"})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, string(srv.CAPEM()))
	cmd := exec.Command(os.Args[0], "-test.run=^TestSendResultsFileFull$")
	cmd.Env = append(os.Environ(), "MAILMERGE_TEST_CAMPAIGN="+c.Path, "MAILMERGE_TEST_CA="+ca,
		"MAILMERGE_TEST_SERVER="+strings.Join([]string{strconv.Itoa(srv.Port()), srv.Security().String(), srv.Username(), srv.Password()}, "\n"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got fullRun
	line := out[:max(0, strings.IndexByte(string(out), '\n'))]
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	if got.Err != "" {
		t.Fatalf("send: %v, want a summary of the stopped run", got.Err)
	}
	if !got.Stopped || got.ResultsErr == "" || got.Sent >= rows ||
		!strings.Contains(got.Reason, "cannot write the results file") || !strings.Contains(got.Hint, "free space") {
		t.Fatalf("summary = %+v, want stopped on the results file with a hint to free space", got)
	}
	if done := got.Sent + got.Failed + got.Unknown + got.Remains; done != rows {
		t.Errorf("sent %d + failed %d + unknown %d + remaining %d = %d, want %d", got.Sent, got.Failed, got.Unknown, got.Remains, done, rows)
	}

	if n := statuses(readResults(t, c.ResultsPath()))["sent"]; n != got.Sent {
		t.Errorf("results file has %d rows sent, the summary %d", n, got.Sent)
	}

	// The rows whose outcome did not reach the file are unknown (they
	// were begun) or unsent; --resume sends the unsent once.
	sum := send(t, c, campaign.SendOptions{Server: target(srv), Resume: true})
	if sum.Stopped || sum.ResultsErr != nil {
		t.Fatalf("resume: %+v", sum)
	}
	all := readResults(t, sum.Results)
	if len(all) != rows {
		t.Errorf("results file has %d rows after the resume, want %d", len(all), rows)
	}
	checkOnce(t, all, copies(srv))
}

// sendWithFileLimit is the child of TestSendResultsFileFull: files may not
// grow past 2 KB, a dozen results lines (the Maildir's messages are
// smaller). Go ignores the SIGXFSZ this raises, so a write fails with EFBIG.
func sendWithFileLimit(t *testing.T) {
	srvArgs := strings.Split(os.Getenv("MAILMERGE_TEST_SERVER"), "\n")
	port, _ := strconv.Atoi(srvArgs[0])
	sec, err := security.Parse(srvArgs[1])
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(os.Getenv("MAILMERGE_TEST_CA"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := campaign.Load(os.Getenv("MAILMERGE_TEST_CAMPAIGN"), campaign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	limit := syscall.Rlimit{Cur: 2048, Max: 2048}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &limit); err != nil {
		t.Fatal(err)
	}
	sum, err := c.Send(t.Context(), campaign.SendOptions{Server: &campaign.Server{Host: "localhost", Port: port, Security: sec,
		Username: srvArgs[2], Password: srvArgs[3], RootCAs: roots}})
	got := fullRun{Stopped: sum.Stopped, Reason: sum.StopReason, Hint: sum.StopHint,
		Sent: sum.Sent, Failed: sum.Failed, Unknown: sum.Unknown, Remains: sum.Remaining}
	if err != nil {
		got.Err = err.Error()
	}
	if sum.ResultsErr != nil {
		got.ResultsErr = sum.ResultsErr.Error()
	}
	b, _ := json.Marshal(got)
	os.Stdout.Write(append(b, '\n'))
	os.Stdout.Sync()
	os.Exit(0) // before the testing package writes its files, past the limit
}
