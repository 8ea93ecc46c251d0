package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/security"
)

// eachPath runs f with PIPELINING on and off: the envelope goes out by two
// different writers.
func eachPath(t *testing.T, f func(t *testing.T, stepwise bool)) {
	for _, stepwise := range []bool{false, true} {
		name := "pipelined"
		if stepwise {
			name = "stepwise"
		}
		t.Run(name, func(t *testing.T) { f(t, stepwise) })
	}
}

// wireLines are the client's MAIL and RCPT commands as the server read them.
func wireLines(ts *testServer) []string {
	var out []string
	for line := range strings.SplitSeq(ts.conversation(), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "MAIL FROM:") || strings.HasPrefix(line, "RCPT TO:") {
			out = append(out, line)
		}
	}
	return out
}

// A local part with a space reaches the server quoted, so the server takes
// it; a refusal names the recipient as the caller wrote it.
func TestQuotedLocalPart(t *testing.T) {
	eachPath(t, func(t *testing.T, stepwise bool) {
		ts := newTestServer(t, plainServer, func(ts *testServer) {
			ts.onRcpt = func(_ *session, to string) error {
				if to == `no "body"@example.com` {
					return errNoSuchUser
				}
				return nil
			}
		})
		p := newPool(t, ts.config(security.None))
		p.noPipelining = stepwise
		env := Envelope{From: "nami@example.com", To: []string{"john doe@example.com", `no "body"@example.com`, "john.doe@example.com"}}
		res := p.Send(context.Background(), env, testMessage(1), nil)
		wantStatus(t, res, Delivered)
		if len(res.Rcpts) != 1 || res.Rcpts[0].Addr != `no "body"@example.com` {
			t.Errorf("refused %+v, want the caller's form of the address", res.Rcpts)
		}
		want := []string{"MAIL FROM:<nami@example.com>", `RCPT TO:<"john doe"@example.com>`,
			`RCPT TO:<"no \"body\""@example.com>`, "RCPT TO:<john.doe@example.com>"}
		// go-mail adds BODY=8BITMIME to a MAIL it sends itself.
		got := wireLines(ts)
		if len(got) != len(want) || strings.Join(got[1:], "\n") != strings.Join(want[1:], "\n") ||
			!strings.HasPrefix(got[0]+" ", want[0]+" ") {
			t.Errorf("on the wire:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if got := ts.received(); len(got) != 1 || strings.Join(got[0].To, ",") != "john doe@example.com,john.doe@example.com" {
			t.Errorf("server received %+v", got)
		}
	})
}

// A server without SMTPUTF8 gets an international domain as punycode, and
// no SMTPUTF8 parameter.
func TestInternationalDomainAsPunycode(t *testing.T) {
	eachPath(t, func(t *testing.T, stepwise bool) {
		ts := newTestServer(t, plainServer, nil)
		p := newPool(t, ts.config(security.None))
		p.noPipelining = stepwise
		env := Envelope{From: "nami@exämple.com", To: []string{"info@exämple.com", "friend@example.com"}}
		wantStatus(t, p.Send(context.Background(), env, testMessage(1), nil), Delivered)
		got := ts.received()
		if len(got) != 1 || got[0].From != "nami@xn--exmple-cua.com" ||
			strings.Join(got[0].To, ",") != "info@xn--exmple-cua.com,friend@example.com" || got[0].UTF8 {
			t.Errorf("server received %+v", got)
		}
		if w := strings.Join(wireLines(ts), "\n"); strings.Contains(w, "SMTPUTF8") || !isASCII(w) {
			t.Errorf("on the wire:\n%s", w)
		}
	})
}

// A local part that is not ASCII fails its message alone when the server
// does not offer SMTPUTF8: nothing of it goes out, the next message does.
func TestNonASCIILocalPartWithoutSMTPUTF8(t *testing.T) {
	eachPath(t, func(t *testing.T, stepwise bool) {
		ts := newTestServer(t, plainServer, nil)
		p := newPool(t, ts.config(security.None))
		p.noPipelining = stepwise
		env := Envelope{From: "nami@example.com", To: []string{"用户@例子.公司", "friend@example.com"}}
		res := p.Send(context.Background(), env, testMessage(1), nil)
		wantStatus(t, res, Rejected)
		if !errors.Is(res.Err, ErrNoSMTPUTF8) || res.Err.Error() != "server does not offer SMTPUTF8" || res.Stage != StageMail {
			t.Errorf("result = %+v", res)
		}
		if w := wireLines(ts); len(w) != 0 {
			t.Errorf("sent %q for a message the server cannot take", w)
		}
		wantStatus(t, sendOne(t, p, 2), Delivered)
		if got := ts.received(); len(got) != 1 || ts.accepts.Load() != 1 {
			t.Errorf("received %d messages on %d connections, want 1 on 1", len(got), ts.accepts.Load())
		}
	})
}

// A server that offers SMTPUTF8 gets the addresses in UTF-8 and the
// SMTPUTF8 parameter on MAIL; ASCII messages go out as before.
func TestNonASCIIAddressesWithSMTPUTF8(t *testing.T) {
	eachPath(t, func(t *testing.T, stepwise bool) {
		ts := newTestServer(t, plainServer, func(ts *testServer) { ts.smtputf8 = true })
		p := newPool(t, ts.config(security.None))
		p.noPipelining = stepwise
		env := Envelope{From: "nami@example.com", To: []string{"用户@例子.公司", "info@exämple.com"}}
		wantStatus(t, p.Send(context.Background(), env, testMessage(1), nil), Delivered)
		wantStatus(t, sendOne(t, p, 2), Delivered)
		got := ts.received()
		if len(got) != 2 || !got[0].UTF8 || strings.Join(got[0].To, ",") != "用户@例子.公司,info@exämple.com" {
			t.Fatalf("server received %+v", got)
		}
		if w := strings.Join(wireLines(ts), "\n"); !strings.Contains(w, "RCPT TO:<用户@例子.公司>") {
			t.Errorf("on the wire:\n%s", w)
		}
	})
}

// Paths as RFC 5321 wants them, one rule each.
func TestPath(t *testing.T) {
	cases := []struct {
		addr  string
		utf8  bool
		want  string
		fails bool
	}{
		{"john.doe@example.com", false, "john.doe@example.com", false},
		{"john doe@example.com", false, `"john doe"@example.com`, false},
		{"john..doe@example.com", false, `"john..doe"@example.com`, false},
		{".john@example.com", false, `".john"@example.com`, false},
		{`a"b\c@example.com`, false, `"a\"b\\c"@example.com`, false},
		{"a@b@example.com", false, `"a@b"@example.com`, false},
		{"info@EXÄMPLE.com", false, "info@xn--exmple-cua.com", false},
		{"info@exämple.com", true, "info@exämple.com", false},
		{"用户@例子.公司", true, "用户@例子.公司", false},
		{"用户 甲@例子.公司", true, `"用户 甲"@例子.公司`, false},
		{"用户@例子.公司", false, "", true},
		{"postmaster", false, "postmaster", false},
	}
	for _, tc := range cases {
		got, err := path(tc.addr, tc.utf8)
		if got != tc.want || (err != nil) != tc.fails {
			t.Errorf("path(%q, %v) = %q, %v; want %q", tc.addr, tc.utf8, got, err, tc.want)
		}
	}
}
