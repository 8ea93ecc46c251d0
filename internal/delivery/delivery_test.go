package delivery

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

var friend = Envelope{From: "nami@example.com", To: []string{"friend@example.com"}}

func sendOne(t *testing.T, p *Pool, i int) Result {
	t.Helper()
	return p.Send(context.Background(), friend, testMessage(i), nil)
}

func wantStatus(t *testing.T, res Result, want Status) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("status = %v (code %d %q at %s, err %v), want %v", res.Status, res.Code, res.Reply, res.Stage, res.Err, want)
	}
}

func withAuth(cfg Config, ts *testServer) Config {
	cfg.Username, cfg.Password = ts.user, ts.pass
	return cfg
}

func TestImplicitTLSDelivers(t *testing.T) {
	ts := newTestServer(t, implicitServer, nil)
	p := newPool(t, withAuth(ts.config(security.SSL), ts))
	env := Envelope{From: "nami@example.com", To: []string{"a@example.com", "b@example.com"}}
	res := p.Send(context.Background(), env, testMessage(1), nil)
	wantStatus(t, res, Delivered)
	if res.Code != 250 || res.Stage != StageDataEnd || res.Enhanced != "2.0.0" || res.Err != nil {
		t.Errorf("result = %+v", res)
	}
	got := ts.received()
	if len(got) != 1 || got[0].From != env.From || strings.Join(got[0].To, ",") != "a@example.com,b@example.com" {
		t.Fatalf("server received %+v", got)
	}
	if !bytes.Contains(got[0].Data, []byte("Hello number 1.")) {
		t.Errorf("message body lost: %q", got[0].Data)
	}
}

func TestCertificateNotTrusted(t *testing.T) {
	ts := newTestServer(t, implicitServer, nil)
	cfg := withAuth(ts.config(security.SSL), ts)
	cfg.RootCAs = nil // system roots do not know the test CA
	p := newPool(t, cfg)
	if err := p.Verify(context.Background()); !errors.Is(err, ErrTLS) {
		t.Fatalf("Verify = %v, want ErrTLS", err)
	}
	res := sendOne(t, p, 1)
	wantStatus(t, res, Fatal)
	if !errors.Is(res.Err, ErrTLS) || res.Stage != StageConnect {
		t.Errorf("result = %+v", res)
	}
	if ts.auths.Load() != 0 || len(ts.received()) != 0 {
		t.Error("credentials or message sent over an unverified connection")
	}
}

func TestCertificateForAnotherHost(t *testing.T) {
	for _, mode := range []serverMode{implicitServer, startTLSServer} {
		ts := newTestServer(t, mode, func(ts *testServer) { ts.serverTLS = testPKI(t).otherTLS })
		sec := security.SSL
		if mode == startTLSServer {
			sec = security.StartTLS
		}
		p := newPool(t, withAuth(ts.config(sec), ts)) // trusts the CA that signed it
		if err := p.Verify(context.Background()); !errors.Is(err, ErrTLS) {
			t.Errorf("%v: Verify = %v, want ErrTLS", sec, err)
		}
		if ts.auths.Load() != 0 {
			t.Errorf("%v: credentials sent to the wrong host", sec)
		}
	}
}

func TestStartTLSUntrusted(t *testing.T) {
	ts := newTestServer(t, startTLSServer, nil)
	cfg := withAuth(ts.config(security.StartTLS), ts)
	cfg.RootCAs = nil
	p := newPool(t, cfg)
	res := sendOne(t, p, 1)
	wantStatus(t, res, Fatal)
	if !errors.Is(res.Err, ErrTLS) || ts.auths.Load() != 0 {
		t.Errorf("result = %+v, auths %d", res, ts.auths.Load())
	}
}

func TestStartTLSDelivers(t *testing.T) {
	ts := newTestServer(t, startTLSServer, nil)
	p := newPool(t, withAuth(ts.config(security.StartTLS), ts))
	wantStatus(t, sendOne(t, p, 1), Delivered)
	conv := ts.conversation()
	tlsAt, authAt := strings.Index(conv, "STARTTLS\r\n"), strings.Index(conv, "AUTH PLAIN")
	if tlsAt < 0 || authAt < tlsAt {
		t.Errorf("want STARTTLS before AUTH, conversation:\n%s", conv)
	}
	if len(ts.received()) != 1 {
		t.Error("message not received")
	}
}

func TestStartTLSMandatory(t *testing.T) {
	ts := newTestServer(t, plainServer, nil) // offers AUTH PLAIN in clear, no STARTTLS
	p := newPool(t, withAuth(ts.config(security.StartTLS), ts))
	if err := p.Verify(context.Background()); !errors.Is(err, ErrStartTLSUnavailable) {
		t.Fatalf("Verify = %v, want ErrStartTLSUnavailable", err)
	}
	res := sendOne(t, p, 1)
	wantStatus(t, res, Fatal)
	if !errors.Is(res.Err, ErrStartTLSUnavailable) {
		t.Errorf("err = %v", res.Err)
	}
	if n := ts.commands("AUTH"); n != 0 || ts.auths.Load() != 0 {
		t.Errorf("server saw %d AUTH commands after a missing STARTTLS", n)
	}
	if ts.commands("MAIL") != 0 {
		t.Error("server saw MAIL")
	}
	if strings.Contains(ts.conversation(), base64.StdEncoding.EncodeToString([]byte("\x00nami\x00"+ts.pass))) {
		t.Error("credentials on the wire")
	}
}

func TestAuthMechanisms(t *testing.T) {
	cases := []struct {
		name     string
		offered  []string
		explicit string
		want     string
	}{
		{"plain only", []string{sasl.Plain}, "", sasl.Plain},
		{"login only", []string{sasl.Login}, "", sasl.Login},
		{"plain preferred", []string{sasl.Login, sasl.Plain}, "", sasl.Plain},
		{"login forced", []string{sasl.Login, sasl.Plain}, "login", sasl.Login},
		{"xoauth2", []string{"XOAUTH2"}, "xoauth2", "XOAUTH2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, implicitServer, func(ts *testServer) { ts.mechs = tc.offered })
			cfg := withAuth(ts.config(security.SSL), ts)
			cfg.AuthMechanism = tc.explicit
			p := newPool(t, cfg)
			wantStatus(t, sendOne(t, p, 1), Delivered)
			ts.mu.Lock()
			used := strings.Join(ts.mechUsed, ",")
			ts.mu.Unlock()
			if used != tc.want {
				t.Errorf("mechanism used %q, want %q", used, tc.want)
			}
		})
	}
}

func TestNoSupportedMechanism(t *testing.T) {
	ts := newTestServer(t, implicitServer, func(ts *testServer) { ts.mechs = []string{"SCRAM-SHA-256"} })
	p := newPool(t, withAuth(ts.config(security.SSL), ts))
	if err := p.Verify(context.Background()); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "SCRAM-SHA-256") {
		t.Fatalf("Verify = %v", err)
	}
}

func TestWrongPassword(t *testing.T) {
	for _, mech := range []string{sasl.Plain, sasl.Login} {
		t.Run(mech, func(t *testing.T) {
			ts := newTestServer(t, implicitServer, func(ts *testServer) { ts.mechs = []string{mech} })
			cfg := ts.config(security.SSL)
			cfg.Username, cfg.Password = ts.user, "not-the-app-code"
			p := newPool(t, cfg)
			err := p.Verify(context.Background())
			if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "535") ||
				!strings.Contains(err.Error(), "Authentication failed") {
				t.Fatalf("Verify = %v, want ErrAuth with the 535 reply", err)
			}
			if strings.Contains(err.Error(), "not-the-app-code") {
				t.Error("password in the error")
			}
			res := sendOne(t, p, 1)
			wantStatus(t, res, Fatal)
			if res.Code != 535 || res.Enhanced != "5.7.8" || !errors.Is(res.Err, ErrAuth) {
				t.Errorf("result = %+v", res)
			}
			if ts.commands("MAIL") != 0 {
				t.Error("MAIL sent after a failed AUTH")
			}
		})
	}
}

func TestInsecureAuthRefusedBeforeDialing(t *testing.T) {
	// mail.example.com is never dialed: NewPool refuses the configuration.
	_, err := NewPool(Config{Host: "mail.example.com", Security: security.None, Username: "nami", Password: "pw"})
	if !errors.Is(err, ErrInsecureAuth) {
		t.Fatalf("NewPool = %v, want ErrInsecureAuth", err)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Error("password in the error")
	}
	for _, host := range []string{"localhost", "127.0.0.1", "127.3.2.1", "::1", "LOCALHOST."} {
		if _, err := NewPool(Config{Host: host, Security: security.None, Username: "nami", Password: "pw"}); err != nil {
			t.Errorf("loopback %s refused: %v", host, err)
		}
	}
	if _, err := NewPool(Config{Host: "mail.example.com", Security: security.None}); err != nil {
		t.Errorf("plain without AUTH refused: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Host: "smtp.example.com", Port: 70000},
		{Host: "smtp.example.com", AuthMechanism: "ntlm", Username: "u"},
		{Host: "smtp.example.com", AuthMechanism: "plain"},
		{Host: "smtp.example.com", Security: security.Mode(9)},
		{Host: "smtp.example.com", HeloName: "a b"},
	} {
		if _, err := NewPool(cfg); err == nil {
			t.Errorf("NewPool(%+v) succeeded", cfg)
		}
	}
	p, err := NewPool(Config{Host: "smtp.example.com", Security: security.StartTLS})
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr() != "smtp.example.com:587" || p.cfg.Workers != 4 || p.cfg.MaxPerConnection != 100 ||
		p.cfg.IdleNoop != 30*time.Second || p.cfg.DataTimeout != 5*time.Minute {
		t.Errorf("defaults not applied: %s %+v", p.Addr(), p.cfg)
	}
}

func TestAuthOverPlainLoopback(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, withAuth(ts.config(security.None), ts))
	wantStatus(t, sendOne(t, p, 1), Delivered)
	if ts.auths.Load() != 1 {
		t.Errorf("auths = %d", ts.auths.Load())
	}
}

var errNoSuchUser = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}

func TestOneOfTwoRecipientsRefused(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onRcpt = func(_ *session, to string) error {
			if to == "nobody@example.com" {
				return errNoSuchUser
			}
			return nil
		}
	})
	p := newPool(t, ts.config(security.None))
	env := Envelope{From: "nami@example.com", To: []string{"nobody@example.com", "friend@example.com"}}
	res := p.Send(context.Background(), env, testMessage(1), nil)
	wantStatus(t, res, Delivered)
	want := []RcptReply{{Addr: "nobody@example.com", Code: 550, Enhanced: "5.1.1", Reply: "5.1.1 no such user here"}}
	if len(res.Rcpts) != 1 || res.Rcpts[0] != want[0] {
		t.Errorf("Rcpts = %+v, want %+v", res.Rcpts, want)
	}
	if got := ts.received(); len(got) != 1 || strings.Join(got[0].To, ",") != "friend@example.com" {
		t.Errorf("received %+v", got)
	}
}

func TestOnlyRecipientRefused(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onRcpt = func(_ *session, to string) error {
			if to == "nobody@example.com" {
				return errNoSuchUser
			}
			return nil
		}
	})
	p := newPool(t, ts.config(security.None))
	calls := 0
	env := Envelope{From: "nami@example.com", To: []string{"nobody@example.com"}}
	res := p.Send(context.Background(), env, testMessage(1), func() error { calls++; return nil })
	wantStatus(t, res, Rejected)
	if res.Code != 550 || res.Enhanced != "5.1.1" || res.Stage != StageRcpt || len(res.Rcpts) != 1 ||
		!strings.Contains(res.Err.Error(), "nobody@example.com") {
		t.Errorf("result = %+v", res)
	}
	// With PIPELINING, DATA goes out with the envelope and the server refuses
	// it; what matters is that no message data follows.
	if calls != 0 || len(ts.received()) != 0 {
		t.Error("message data sent with no accepted recipient")
	}
	// The connection is kept, reset, and works.
	wantStatus(t, sendOne(t, p, 2), Delivered)
	if ts.commands("RSET") != 1 || ts.accepts.Load() != 1 {
		t.Errorf("RSET %d times on %d connections, want 1 on 1", ts.commands("RSET"), ts.accepts.Load())
	}
}

func TestMailRefused(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onMail = func(*session, string) error {
			return &gosmtp.SMTPError{Code: 553, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "sender not allowed"}
		}
	})
	p := newPool(t, ts.config(security.None))
	res := sendOne(t, p, 1)
	wantStatus(t, res, Rejected)
	if res.Stage != StageMail || res.Code != 553 || res.Enhanced != "5.7.1" || len(ts.received()) != 0 {
		t.Errorf("result = %+v", res)
	}
}

func TestTemporaryFailureAtDataEnd(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onData = func(*session, []byte) error {
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "local error in processing"}
		}
	})
	p := newPool(t, ts.config(security.None))
	calls := 0
	res := p.Send(context.Background(), friend, testMessage(1), func() error { calls++; return nil })
	wantStatus(t, res, Deferred)
	if res.Code != 451 || res.Stage != StageDataEnd || res.Throttle || calls != 1 {
		t.Errorf("result = %+v, beforeEnd calls %d", res, calls)
	}
}

// A 421 to MAIL slows the run down and replaces the connection, whether
// the server keeps it open or, as RFC 5321 says it does, closes it right
// after the reply: then the RCPT and DATA pipelined with MAIL are never
// answered, and the outcome is still the 421, not a lost connection.
func TestThrottledByServer(t *testing.T) {
	for _, closes := range []bool{false, true} {
		t.Run(fmt.Sprintf("closes=%v", closes), func(t *testing.T) {
			var refuse atomic.Bool
			refuse.Store(true)
			ts := newTestServer(t, plainServer, func(ts *testServer) {
				ts.onMail = func(s *session, _ string) error {
					if !refuse.Swap(false) {
						return nil
					}
					if closes {
						fmt.Fprint(s.conn.Conn(), "421 4.7.0 too many messages, slow down\r\n")
						s.drop()
						return errors.New("closed")
					}
					return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "too many messages, slow down"}
				}
			})
			p := newPool(t, ts.config(security.None))
			res := sendOne(t, p, 1)
			wantStatus(t, res, Deferred)
			if !res.Throttle || res.Code != 421 || res.Stage != StageMail {
				t.Errorf("result = %+v, want the 421 at MAIL", res)
			}
			wantStatus(t, sendOne(t, p, 2), Delivered)
			if n := ts.accepts.Load(); n != 2 {
				t.Errorf("%d connections, want the 421 one replaced", n)
			}
		})
	}
}

func TestDroppedAfterDataEndIsUnknown(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onData = func(s *session, _ []byte) error {
			s.drop()
			return nil
		}
	})
	p := newPool(t, ts.config(security.None))
	calls := 0
	res := p.Send(context.Background(), friend, testMessage(1), func() error { calls++; return nil })
	wantStatus(t, res, Unknown)
	if res.Stage != StageDataEnd || res.Code != 0 || calls != 1 {
		t.Errorf("result = %+v, beforeEnd calls %d", res, calls)
	}
}

func TestDroppedBeforeDataIsDeferred(t *testing.T) {
	var dropped atomic.Bool
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onRcpt = func(s *session, _ string) error {
			if !dropped.Swap(true) {
				s.drop()
			}
			return nil
		}
	})
	p := newPool(t, ts.config(security.None))
	calls := 0
	res := p.Send(context.Background(), friend, testMessage(1), func() error { calls++; return nil })
	wantStatus(t, res, Deferred)
	if res.Stage != StageRcpt || calls != 0 {
		t.Errorf("result = %+v, beforeEnd calls %d", res, calls)
	}
	wantStatus(t, sendOne(t, p, 2), Delivered)
	if ts.accepts.Load() != 2 {
		t.Errorf("broken connection reused")
	}
}

func TestStalledServerTimesOut(t *testing.T) {
	release := make(chan struct{})
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onMail = func(*session, string) error { <-release; return nil }
	})
	t.Cleanup(func() { close(release) })
	cfg := ts.config(security.None)
	cfg.CommandTimeout = 200 * time.Millisecond
	p := newPool(t, cfg)
	res := sendOne(t, p, 1)
	wantStatus(t, res, Deferred)
	if res.Stage != StageMail || !errors.Is(res.Err, os.ErrDeadlineExceeded) {
		t.Errorf("result = %+v", res)
	}
}

func TestMaxPerConnection(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	cfg := ts.config(security.None)
	cfg.MaxPerConnection = 3
	p := newPool(t, cfg)
	for i := range 7 {
		wantStatus(t, sendOne(t, p, i), Delivered)
	}
	if n := ts.accepts.Load(); n != 3 {
		t.Errorf("7 messages used %d connections, want 3", n)
	}
	if n := ts.commands("QUIT"); n != 2 {
		t.Errorf("%d QUIT before Close, want 2", n)
	}
	_ = p.Close()
	if n := ts.commands("QUIT"); n != 3 {
		t.Errorf("%d QUIT after Close, want 3", n)
	}
}

func TestKeepAlive(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	cfg := ts.config(security.None)
	cfg.Workers = 1
	p := newPool(t, cfg)
	for i := range 10 {
		wantStatus(t, sendOne(t, p, i), Delivered)
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("10 messages used %d connections", n)
	}
	if len(ts.received()) != 10 || ts.commands("RSET") != 0 || ts.commands("NOOP") != 0 {
		t.Errorf("received %d, RSET %d, NOOP %d", len(ts.received()), ts.commands("RSET"), ts.commands("NOOP"))
	}
}

func TestIdleConnectionProbed(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	wantStatus(t, sendOne(t, p, 1), Delivered)
	now = now.Add(10 * time.Second)
	wantStatus(t, sendOne(t, p, 2), Delivered)
	if ts.commands("NOOP") != 0 {
		t.Error("NOOP on a connection idle for 10s")
	}
	now = now.Add(31 * time.Second)
	wantStatus(t, sendOne(t, p, 3), Delivered)
	if ts.commands("NOOP") != 1 || ts.accepts.Load() != 1 {
		t.Errorf("NOOP %d, connections %d; want 1, 1", ts.commands("NOOP"), ts.accepts.Load())
	}
}

func TestDeadIdleConnectionReplaced(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	wantStatus(t, sendOne(t, p, 1), Delivered)
	ts.dropAll() // the server forgets us while the connection sits idle
	calls := 0
	res := p.Send(context.Background(), friend, testMessage(2), func() error { calls++; return nil })
	wantStatus(t, res, Delivered)
	if ts.accepts.Load() != 2 || calls != 1 || len(ts.received()) != 2 {
		t.Errorf("connections %d, beforeEnd %d, received %d", ts.accepts.Load(), calls, len(ts.received()))
	}
}

func TestVerifyKeepsConnection(t *testing.T) {
	ts := newTestServer(t, implicitServer, nil)
	p := newPool(t, withAuth(ts.config(security.SSL), ts))
	if err := p.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, sendOne(t, p, 1), Delivered)
	if ts.accepts.Load() != 1 || ts.auths.Load() != 1 {
		t.Errorf("connections %d, auths %d", ts.accepts.Load(), ts.auths.Load())
	}
}

func TestConcurrentSends(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	cfg := ts.config(security.None)
	cfg.Workers = 3
	p := newPool(t, cfg)
	var wg sync.WaitGroup
	var delivered, calls atomic.Int32
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				res := p.Send(context.Background(), friend, testMessage(g*10+i), func() error { calls.Add(1); return nil })
				if res.Status == Delivered {
					delivered.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if delivered.Load() != 40 || calls.Load() != 40 || len(ts.received()) != 40 {
		t.Errorf("delivered %d, beforeEnd %d, received %d; want 40", delivered.Load(), calls.Load(), len(ts.received()))
	}
	if n := ts.accepts.Load(); n > 3 {
		t.Errorf("%d connections with Workers 3", n)
	}
}

func TestTranscriptHidesCredentials(t *testing.T) {
	for _, mech := range []string{sasl.Plain, sasl.Login} {
		t.Run(mech, func(t *testing.T) {
			ts := newTestServer(t, implicitServer, func(ts *testServer) { ts.mechs = []string{mech} })
			var debug bytes.Buffer
			cfg := withAuth(ts.config(security.SSL), ts)
			cfg.Debug = &debug
			p := newPool(t, cfg)
			wantStatus(t, sendOne(t, p, 1), Delivered)
			_ = p.Close()
			tr := debug.String()
			for _, want := range []string{"smtp[1] C: EHLO client.test", "C: MAIL FROM:<nami@example.com>",
				"C: RCPT TO:<friend@example.com>", "C: DATA", "S: 354", "S: 250 2.0.0 OK: queued", "C: QUIT",
				"AUTH " + mech} {
				if !strings.Contains(tr, want) {
					t.Errorf("transcript lacks %q:\n%s", want, tr)
				}
			}
			b64 := base64.StdEncoding.EncodeToString
			for _, secret := range []string{ts.pass, b64([]byte(ts.pass)), b64([]byte("\x00" + ts.user + "\x00" + ts.pass)),
				"Hello number 1"} {
				if strings.Contains(tr, secret) {
					t.Errorf("transcript contains %q:\n%s", secret, tr)
				}
			}
		})
	}
}

func TestWaitingForConnectionHonoursContext(t *testing.T) {
	release := make(chan struct{})
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onMail = func(*session, string) error { <-release; return nil }
	})
	cfg := ts.config(security.None)
	cfg.Workers = 1
	p := newPool(t, cfg)
	first := make(chan Result)
	go func() { first <- sendOne(t, p, 1) }()
	for ts.commands("MAIL") == 0 { // the only connection is now busy
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	res := p.Send(ctx, friend, testMessage(2), nil)
	wantStatus(t, res, Deferred)
	if !errors.Is(res.Err, context.DeadlineExceeded) || res.Stage != StageConnect {
		t.Errorf("result = %+v", res)
	}
	close(release)
	wantStatus(t, <-first, Delivered)
}

func TestCancelAfterDataEndIsUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		// The server has the whole message, the client waits for the reply.
		ts.onData = func(*session, []byte) error { cancel(); <-release; return nil }
	})
	t.Cleanup(func() { close(release) })
	p := newPool(t, ts.config(security.None))
	res := p.Send(ctx, friend, testMessage(1), nil)
	wantStatus(t, res, Unknown)
	if !errors.Is(res.Err, context.Canceled) {
		t.Errorf("err = %v", res.Err)
	}
}

func TestCancelledBeforeSend(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	wantStatus(t, p.Send(ctx, friend, testMessage(1), nil), Deferred)
	if ts.accepts.Load() != 0 {
		t.Error("dialed with a cancelled context")
	}
}

func TestMessageFailsMidTransfer(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	calls := 0
	res := p.Send(context.Background(), friend, failingMessage{}, func() error { calls++; return nil })
	wantStatus(t, res, Rejected)
	if res.Stage != StageData || res.Code != 0 || calls != 0 || !strings.Contains(res.Err.Error(), "report.pdf") {
		t.Errorf("result = %+v, beforeEnd calls %d", res, calls)
	}
	wantStatus(t, sendOne(t, p, 2), Delivered)
	if got := ts.received(); len(got) != 1 || bytes.Contains(got[0].Data, []byte("first half")) {
		t.Errorf("half a message delivered: %d messages", len(got))
	}
}

func TestClosedPool(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	wantStatus(t, sendOne(t, p, 1), Delivered)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	res := sendOne(t, p, 2)
	wantStatus(t, res, Fatal)
	if !errors.Is(res.Err, ErrClosed) || ts.commands("QUIT") != 1 {
		t.Errorf("result = %+v, QUIT %d", res, ts.commands("QUIT"))
	}
}

func TestBadEnvelope(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	for _, env := range []Envelope{
		{From: "a@example.com"},
		{From: "a@example.com\r\nRCPT TO:<x@evil>", To: []string{"b@example.com"}},
		{From: "a@example.com", To: []string{"b@example.com>"}},
	} {
		wantStatus(t, p.Send(context.Background(), env, testMessage(1), nil), Rejected)
	}
	if ts.accepts.Load() != 0 {
		t.Error("bad envelope reached the server")
	}
}

func TestReplyClassification(t *testing.T) {
	cases := []struct {
		code     int
		msg      string
		enhanced string
		throttle bool
	}{
		{550, "5.1.1 <x@example.com>: Recipient address rejected", "5.1.1", false},
		{421, "4.7.0 Try again later, closing connection.", "4.7.0", true},
		{451, "4.7.1 Greylisted, please try again later", "4.7.1", false}, // retry later, not slower
		{450, "4.7.0 Too many messages in a short time: frequency limited", "4.7.0", true},
		{451, "4.7.500 Server busy. Please try again later", "4.7.500", true},
		{450, "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages", "4.2.1", true},
		{452, "4.3.1 Insufficient system storage", "4.3.1", false},
		{451, "Requested action aborted: local error", "", false},
		{554, "mx.test ESMTP\n5.7.1 message refused", "5.7.1", false},
		{550, "4.1.1 class does not match", "", false},
		{550, "generate separate reply", "", false},
	}
	for _, tc := range cases {
		r := parseReply(tc.code, tc.msg)
		if r.enhanced != tc.enhanced || throttleHint(r) != tc.throttle || strings.Contains(r.text, "\n") {
			t.Errorf("%d %q: enhanced %q throttle %v text %q; want %q %v", tc.code, tc.msg, r.enhanced, throttleHint(r), r.text,
				tc.enhanced, tc.throttle)
		}
	}
}

// A caller that cannot journal the attempt stops the message before the
// final dot: nothing is delivered and the outcome is a known Deferred.
func TestBeforeEndErrorAbortsData(t *testing.T) {
	ts := newTestServer(t, implicitServer, nil)
	p := newPool(t, withAuth(ts.config(security.SSL), ts))
	res := p.Send(context.Background(), friend, testMessage(1), func() error { return errors.New("disk full") })
	wantStatus(t, res, Deferred)
	if got := len(ts.received()); got != 0 {
		t.Errorf("server received %d messages, want 0", got)
	}
	wantStatus(t, sendOne(t, p, 2), Delivered)
}

// The envelope goes out pipelined when the server offers PIPELINING and one
// command at a time otherwise; both must classify the same replies alike.
func TestPipelinedAndStepwiseAgree(t *testing.T) {
	for _, stepwise := range []bool{false, true} {
		ts := newTestServer(t, plainServer, func(ts *testServer) {
			ts.onRcpt = func(_ *session, to string) error {
				if strings.HasPrefix(to, "nobody") {
					return errNoSuchUser
				}
				return nil
			}
		})
		p := newPool(t, ts.config(security.None))
		p.noPipelining = stepwise
		send := func(to ...string) Result {
			return p.Send(context.Background(), Envelope{From: "nami@example.com", To: to}, testMessage(1), nil)
		}
		if res := send("a@example.com", "nobody1@example.com"); res.Status != Delivered || len(res.Rcpts) != 1 {
			t.Errorf("stepwise=%v: one of two refused: %+v", stepwise, res)
		}
		if res := send("nobody2@example.com"); res.Status != Rejected || res.Stage != StageRcpt || res.Code != 550 {
			t.Errorf("stepwise=%v: only recipient refused: %+v", stepwise, res)
		}
		if res := send("b@example.com"); res.Status != Delivered {
			t.Errorf("stepwise=%v: after a refusal: %+v", stepwise, res)
		}
		got := ts.received()
		if len(got) != 2 || ts.accepts.Load() != 1 {
			t.Errorf("stepwise=%v: %d messages on %d connections, want 2 on 1", stepwise, len(got), ts.accepts.Load())
		}
	}
}
