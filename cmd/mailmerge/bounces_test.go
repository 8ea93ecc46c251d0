package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// The whole loop from the command line: send to an SMTP server, find a
// report about row 2 in the sender's IMAP mailbox (with TLS, a private CA
// in [smtp] ca_file, the password from MAILMERGE_PASSWORD), run bounces
// twice, then send --resume, which sends row 2 nothing.
func TestBouncesCommand(t *testing.T) {
	smtpSrv, err := sandbox.Start(sandbox.Options{Dir: t.TempDir(), KeepData: true})
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.Close()
	imapSrv, err := sandbox.StartIMAP(smtpSrv.Username(), smtpSrv.Password())
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.Close()
	dir := t.TempDir()
	path := writeSendCampaign(t, dir, 3)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), append(smtpSrv.CAPEM(), imapSrv.CAPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, imapPort, _ := net.SplitHostPort(imapSrv.Addr)
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "rate = \"100/s\"\n\n[smtp]\nhost = \"localhost\"\nport = %d\nsecurity = \"ssl\"\nusername = %q\nca_file = \"ca.pem\"\n\n[imap]\nhost = \"127.0.0.1\"\nport = %s\n",
		smtpSrv.Port(), smtpSrv.Username(), imapPort)
	f.Close()
	t.Setenv("MAILMERGE_PASSWORD", smtpSrv.Password())

	var stdout, stderr bytes.Buffer
	if code := run([]string{"send", path, "--yes", "--quiet"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("send: exit %d\n%s", code, stderr.String())
	}
	var original []byte
	for _, d := range smtpSrv.Deliveries() {
		if d.To[0] == userAddr(2) {
			original = d.Data
		}
	}
	head, _, _ := bytes.Cut(original, []byte("\r\n\r\n"))
	report := "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n" +
		"Final-Recipient: rfc822; " + userAddr(2) + "\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n" +
		"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" + string(head) + "\r\n--B--\r\n"
	if err := imapSrv.Append("INBOX", []byte(report)); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		stdout.Reset()
		stderr.Reset()
		if code := run([]string{"bounces", path, "--json"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
			t.Fatalf("bounces: exit %d\n%s%s", code, stdout.String(), stderr.String())
		}
		var v struct{ Hard, Recorded, Suppressed, ExitStatus int }
		if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
			t.Fatalf("bounces --json: %v\n%s", err, stdout.String())
		}
		if want := 1 - i; v.Hard != 1 || v.Recorded != want || v.Suppressed != want {
			t.Errorf("run %d: %s", i+1, stdout.String())
		}
	}
	if st := loadSendResults(t, filepath.Join(dir, "results.csv")); st[2] != "bounced" || st[1] != "sent" {
		t.Errorf("results: %v", st)
	}
	bounced, _ := os.ReadFile(filepath.Join(dir, "bounced.csv"))
	if !strings.Contains(string(bounced), userAddr(2)) {
		t.Errorf("bounced.csv:\n%s", bounced)
	}
	before := len(smtpSrv.Deliveries())
	stderr.Reset()
	if code := run([]string{"send", path, "--yes", "--quiet", "--resume", "--retry-failed"}, strings.NewReader(""), &stdout, &stderr); code != exitOK {
		t.Fatalf("send --resume: exit %d\n%s", code, stderr.String())
	}
	if n := len(smtpSrv.Deliveries()); n != before {
		t.Errorf("send --resume delivered %d more messages", n-before)
	}
}

func TestBouncesRefusesABadDate(t *testing.T) {
	var stdout, stderr bytes.Buffer
	path := writeSendCampaign(t, t.TempDir(), 1)
	if code := run([]string{"bounces", path, "--since", "1 Nov"}, strings.NewReader(""), &stdout, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "--since \"1 Nov\": not a date") {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}
