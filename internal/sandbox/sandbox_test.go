package sandbox

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	mailsmtp "github.com/wneessen/go-mail/smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

// msg is a message with CRLF line ends and a line that needs dot-stuffing,
// so the tests see both survive the trip byte for byte.
const msg = "From: Ann <ann@example.com>\r\n" +
	"To: Bob <bob@example.com>\r\n" +
	"Subject: Spring newsletter\r\n" +
	"Message-ID: <spring-1@example.com>\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	".this line starts with a dot\r\n" +
	"Bye\r\n"

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// dial connects as a mail client would: TLS trusting only the sandbox CA,
// STARTTLS when the server offers it, plain otherwise. It does not log in.
func dial(t *testing.T, srv *Server) *mailsmtp.Client {
	t.Helper()
	c, err := dialErr(srv, srv.RootCAs())
	if err != nil {
		t.Fatalf("dial %s: %v", srv.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialErr(srv *Server, roots *x509.CertPool) (*mailsmtp.Client, error) {
	cfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		return nil, err
	}
	// No test should hang if the server misbehaves.
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	var conn net.Conn = raw
	if srv.Security() == security.SSL {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			raw.Close()
			return nil, err
		}
		conn = tc
	}
	c, err := mailsmtp.NewClient(conn, srv.Host())
	if err != nil {
		raw.Close()
		return nil, err
	}
	if srv.Security() == security.StartTLS {
		if err := c.StartTLS(cfg); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

func login(t *testing.T, c *mailsmtp.Client, srv *Server) {
	t.Helper()
	if err := c.Auth(mailsmtpPlain(srv)); err != nil {
		t.Fatalf("auth: %v", err)
	}
}

func mailsmtpPlain(srv *Server) mailsmtp.Auth {
	return mailsmtp.PlainAuth("", srv.Username(), srv.Password(), srv.Host(), false)
}

// send runs one SMTP transaction; the error is the first refusal or failure.
func send(c *mailsmtp.Client, from string, to []string, message string) error {
	if err := c.Mail("<" + from + ">"); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt("<" + rcpt + ">"); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, message); err != nil {
		return err
	}
	return w.Close()
}

// replyCode returns the SMTP reply code in err, or 0 if err is not a reply
// (a lost connection, say).
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

func TestImplicitTLSDeliversOneMaildirFilePerRecipient(t *testing.T) {
	dir := t.TempDir()
	srv := start(t, Options{Dir: dir})
	c := dial(t, srv)
	if state, ok := c.TLSConnectionState(); !ok || !state.HandshakeComplete {
		t.Fatal("implicit TLS connection is not TLS")
	}
	login(t, c, srv)
	to := []string{"bob@example.com", "carol@example.com"}
	if err := send(c, "ann@example.com", to, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}

	stored, err := ReadMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Fatalf("stored %d files, want one per recipient (2)", len(stored))
	}
	for i, s := range stored {
		if s.DeliveredTo != to[i] || s.ReturnPath != "ann@example.com" || s.MessageID != "spring-1@example.com" {
			t.Errorf("file %d: Delivered-To %q, Return-Path %q, Message-ID %q", i, s.DeliveredTo, s.ReturnPath, s.MessageID)
		}
		if string(s.Message) != msg {
			t.Errorf("file %d: message changed in transit:\n%q\nwant\n%q", i, s.Message, msg)
		}
		raw, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		wantHead := "Return-Path: <ann@example.com>\r\nDelivered-To: " + to[i] + "\r\n"
		if !bytes.HasPrefix(raw, []byte(wantHead)) {
			t.Errorf("file %d starts %q, want %q", i, raw[:len(wantHead)], wantHead)
		}
		if filepath.Base(filepath.Dir(s.Path)) != "new" {
			t.Errorf("file %d is in %s, want new", i, s.Path)
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp holds %d leftover files", len(tmp))
	}

	ds := srv.Deliveries()
	if len(ds) != 1 || srv.Received() != 1 {
		t.Fatalf("Deliveries %d, Received %d; want 1 message", len(ds), srv.Received())
	}
	d := ds[0]
	if d.From != "ann@example.com" || strings.Join(d.To, ",") != strings.Join(to, ",") ||
		d.MessageID != "spring-1@example.com" || d.Size != len(msg) || d.Data != nil {
		t.Errorf("delivery = %+v", d)
	}
	if srv.Sessions() != 1 {
		t.Errorf("Sessions = %d, want 1", srv.Sessions())
	}
}

func TestCertificateNeedsTheSandboxCA(t *testing.T) {
	srv := start(t, Options{})
	if _, err := dialErr(srv, x509.NewCertPool()); err == nil {
		t.Fatal("handshake trusting nothing succeeded")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	c, err := dialErr(srv, pool)
	if err != nil {
		t.Fatalf("handshake trusting CAPEM: %v", err)
	}
	c.Close()
	// The certificate also names the loopback addresses.
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.RootCAs()})
	if err != nil {
		t.Fatalf("verify by IP: %v", err)
	}
	conn.Close()
}

func TestCallerCertificate(t *testing.T) {
	ca, err := newThrowawayCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, Options{Certificate: &ca.leaf})
	if srv.RootCAs() != nil || srv.CAPEM() != nil {
		t.Error("RootCAs or CAPEM set for a caller's certificate")
	}
	if _, err := dialErr(srv, ca.pool); err != nil {
		t.Fatalf("dial with the caller's CA: %v", err)
	}
}

func TestStartTLSWithLogin(t *testing.T) {
	srv := start(t, Options{Security: security.StartTLS, Dir: t.TempDir()})

	// Before the upgrade, STARTTLS is offered and AUTH is not.
	raw, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	pre, err := mailsmtp.NewClient(raw, srv.Host())
	if err != nil {
		t.Fatal(err)
	}
	if err := pre.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := pre.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	if ok, _ := pre.Extension("AUTH"); ok {
		t.Error("AUTH offered before TLS")
	}
	pre.Close()

	c := dial(t, srv)
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("not TLS after STARTTLS")
	}
	if err := c.Auth(mailsmtp.LoginAuth(srv.Username(), srv.Password(), srv.Host(), false)); err != nil {
		t.Fatalf("AUTH LOGIN: %v", err)
	}
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	if srv.Received() != 1 {
		t.Errorf("Received = %d, want 1", srv.Received())
	}
}

func TestPlainOffersNoSTARTTLS(t *testing.T) {
	srv := start(t, Options{Security: security.None, AllowAnonymous: true})
	if srv.RootCAs() != nil {
		t.Error("plain server has a CA")
	}
	c := dial(t, srv)
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("plain server offers STARTTLS")
	}
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("anonymous send: %v", err)
	}
}

func TestAuth(t *testing.T) {
	srv := start(t, Options{Username: "ann", Password: "s3cret"})
	if srv.Username() != "ann" || srv.Password() != "s3cret" {
		t.Fatalf("credentials %q/%q, want the given ones", srv.Username(), srv.Password())
	}
	tests := []struct {
		name string
		auth mailsmtp.Auth
		code int // 0 for success
	}{
		{"plain", mailsmtp.PlainAuth("", "ann", "s3cret", "127.0.0.1", false), 0},
		{"login", mailsmtp.LoginAuth("ann", "s3cret", "127.0.0.1", false), 0},
		{"plain wrong password", mailsmtp.PlainAuth("", "ann", "guess", "127.0.0.1", false), 535},
		{"login wrong user", mailsmtp.LoginAuth("bob", "s3cret", "127.0.0.1", false), 535},
		{"plain other identity", mailsmtp.PlainAuth("bob", "ann", "s3cret", "127.0.0.1", false), 535},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, srv)
			err := c.Auth(tt.auth)
			if got := replyCode(err); got != tt.code || (tt.code == 0 && err != nil) {
				t.Fatalf("auth: %v, want code %d", err, tt.code)
			}
		})
	}
	if srv.AuthFailures() != 3 {
		t.Errorf("AuthFailures = %d, want 3", srv.AuthFailures())
	}

	c := dial(t, srv)
	err := c.Mail("<ann@example.com>")
	if replyCode(err) != 530 {
		t.Fatalf("MAIL before AUTH: %v, want 530", err)
	}
}

func TestRandomCredentials(t *testing.T) {
	a := start(t, Options{})
	b := start(t, Options{})
	if a.Username() == "" || a.Password() == "" || a.Password() == b.Password() {
		t.Errorf("credentials not random: %q/%q and %q/%q", a.Username(), a.Password(), b.Username(), b.Password())
	}
}

func TestMessageTooLarge(t *testing.T) {
	srv := start(t, Options{MaxMessageBytes: 64, AllowAnonymous: true, Dir: t.TempDir()})
	c := dial(t, srv)
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); replyCode(err) != 552 {
		t.Fatalf("oversized message: %v, want 552", err)
	}
	if srv.Received() != 0 {
		t.Error("oversized message counted as received")
	}
}

func TestDeliveryLog(t *testing.T) {
	t.Run("limit", func(t *testing.T) {
		srv := start(t, Options{LogLimit: 1, KeepData: true, AllowAnonymous: true})
		c := dial(t, srv)
		for range 3 {
			if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
				t.Fatal(err)
			}
		}
		ds := srv.Deliveries()
		if len(ds) != 1 || srv.Received() != 3 {
			t.Fatalf("%d logged, %d received; want 1 and 3", len(ds), srv.Received())
		}
		if string(ds[0].Data) != msg {
			t.Errorf("KeepData kept %q", ds[0].Data)
		}
	})
	t.Run("counters only", func(t *testing.T) {
		srv := start(t, Options{LogLimit: -1, AllowAnonymous: true})
		c := dial(t, srv)
		if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
			t.Fatal(err)
		}
		if len(srv.Deliveries()) != 0 || srv.Received() != 1 {
			t.Fatalf("%d logged, %d received; want 0 and 1", len(srv.Deliveries()), srv.Received())
		}
	})
}

func TestReadMaildir(t *testing.T) {
	dir := t.TempDir()
	if got, err := ReadMaildir(dir); err != nil || len(got) != 0 {
		t.Fatalf("empty dir: %v, %v", got, err)
	}
	md, err := openMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := md.deliver("ann@example.com", []string{"bob@example.com", "carol@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	// A reader that moved a message to cur (and flagged it seen) still
	// counts it.
	got, err := ReadMaildir(dir)
	if err != nil || len(got) != 2 {
		t.Fatalf("ReadMaildir: %d, %v", len(got), err)
	}
	seen := filepath.Join(dir, "cur", filepath.Base(got[0].Path)+":2,S")
	if err := os.Rename(got[0].Path, seen); err != nil {
		t.Fatal(err)
	}
	got, err = ReadMaildir(dir)
	if err != nil || len(got) != 2 {
		t.Fatalf("after move to cur: %d, %v", len(got), err)
	}
	byRcpt := map[string]Stored{}
	for _, s := range got {
		byRcpt[s.DeliveredTo] = s
	}
	for _, rcpt := range []string{"bob@example.com", "carol@example.com"} {
		s, ok := byRcpt[rcpt]
		if !ok || string(s.Message) != msg || s.Header.Get("Subject") != "Spring newsletter" {
			t.Errorf("%s: %+v", rcpt, s)
		}
	}
}

func TestRefuse(t *testing.T) {
	e := Refuse(451, "4.7.1", "greylisted")
	if e.Code != 451 || e.EnhancedCode != (smtp.EnhancedCode{4, 7, 1}) || e.Message != "greylisted" {
		t.Errorf("Refuse = %+v", e)
	}
	if e := Refuse(550, "", "no"); e.EnhancedCode != smtp.EnhancedCodeNotSet {
		t.Errorf("Refuse without enhanced code = %+v", e)
	}
	for _, bad := range []string{"4.7", "x.1.1", "9.0.0", "4.7.1.2"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Refuse accepted %q", bad)
				}
			}()
			Refuse(451, bad, "")
		}()
	}
}

func TestCloseEndsEverything(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := Start(Options{
		AllowAnonymous: true,
		Faults:         &Faults{Stall: func(Stage) time.Duration { return time.Hour }},
	})
	if err != nil {
		t.Fatal(err)
	}
	// One client stalled at the greeting, one idle in the accept queue.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialErr(srv, srv.RootCAs())
		}()
	}
	for srv.Sessions() < 2 {
		time.Sleep(time.Millisecond)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := net.Dial("tcp", srv.Addr()); err == nil {
		t.Error("server still accepts after Close")
	}
	// Goroutines of closed connections may take a moment to be reaped by
	// the runtime; poll instead of asserting once.
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 200 {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The Maildir holds every message the campaign sent, addresses and all: no
// other local user may list or read it.
func TestMaildirIsOnlyTheOwners(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions on windows")
	}
	dir := filepath.Join(t.TempDir(), "sandbox")
	srv := start(t, Options{Dir: dir})
	c := dial(t, srv)
	login(t, c, srv)
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	stored, err := ReadMaildir(dir)
	if err != nil || len(stored) != 1 {
		t.Fatalf("ReadMaildir = %d files, %v", len(stored), err)
	}
	for name, want := range map[string]os.FileMode{
		dir:                       0o700,
		filepath.Join(dir, "tmp"): 0o700,
		filepath.Join(dir, "new"): 0o700,
		filepath.Join(dir, "cur"): 0o700,
		stored[0].Path:            0o600,
	} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", name, st.Mode().Perm(), want)
		}
	}
}
