package compose_test

import (
	"bytes"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// TestRedirect: a test send goes to the one address given, in the envelope
// and the To header; the row's Cc and Bcc get nothing and show nowhere; the
// row's To shows only in X-Mailmerge-Original-To, and the Subject says TEST.
func TestRedirect(t *testing.T) {
	spec := greetingSpec()
	spec.Cc = src("cc", "Li <li@example.com>")
	spec.Bcc = src("bcc", "audit@example.com")
	// A campaign header of the same name does not replace the real one.
	spec.Headers = append(spec.Headers, compose.HeaderSpec{Name: "X-Mailmerge-Original-To", Value: src("headers.x", "forged@evil.test")})
	spec.RedirectTo = &mail.Address{Name: "Me", Address: "me@example.org"}
	m := mustCompose(t, spec, 2, greetingRow)
	raw := render(t, m)
	msg, _ := parseBack(t, raw)

	if want := []string{"me@example.org"}; !slices.Equal(m.Envelope.To, want) {
		t.Errorf("Envelope.To = %v, want %v", m.Envelope.To, want)
	}
	if got := msg.Header.Get("To"); got != `"Me" <me@example.org>` {
		t.Errorf("To = %q", got)
	}
	if v, ok := msg.Header["Cc"]; ok {
		t.Errorf("Cc header %q in a test send", v)
	}
	for _, gone := range []string{"li@example.com", "audit@example.com", "forged@evil.test"} {
		if bytes.Contains(raw, []byte(gone)) {
			t.Errorf("%s shows in the test send", gone)
		}
	}
	orig := decoded(t, msg.Header, "X-Mailmerge-Original-To")
	if !strings.Contains(orig, "<wang.xiaoming@example.com>") || !strings.Contains(orig, "王小明") {
		t.Errorf("X-Mailmerge-Original-To = %q", orig)
	}
	if got := decoded(t, msg.Header, "Subject"); !strings.HasPrefix(got, "[TEST] 来自娜美的问候 2026") {
		t.Errorf("Subject = %q", got)
	}

	// Validate still checks the message the real run sends.
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.Validate(2, greetingRow)
	if err != nil || env.To[0] != "wang.xiaoming@example.com" || len(env.To) != 3 {
		t.Errorf("Validate: %v, %v", env.To, err)
	}
}

func TestParseAddress(t *testing.T) {
	if a, err := compose.ParseAddress(" Me <me@example.org> "); err != nil || a.Address != "me@example.org" || a.Name != "Me" {
		t.Errorf("ParseAddress: %v, %v", a, err)
	}
	for _, bad := range []string{"", "me", "me@", "me@example", "a@b.com\r\nBcc: x@y.z", "me@exa mple.org", "a@x.com, b@y.com"} {
		if a, err := compose.ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) = %v, want an error", bad, a)
		}
	}
}
