// Package fuzz holds the proof's fuzzers of the message composer: data in
// every templated header (FuzzHeaders) and arbitrary template text
// (FuzzTemplates). scripts/proof runs each for a set time; the recipients
// list has its own fuzzer in internal/recipients.
package fuzz

import (
	"bytes"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
)

func src(key, text string) compose.Source {
	return compose.Source{File: "campaign.toml", Key: key, Line: 1, Text: text}
}

func spec(dir string) compose.Spec {
	return compose.Spec{
		From:    src("from", "{{.name}} <nami@example.com>"),
		To:      src("to", "{{.name}} <{{.email}}@example.com>"),
		Cc:      src("cc", "{{.name}} <c@example.org>"),
		ReplyTo: src("reply_to", "{{.name}} <nami@example.com>"),
		Subject: src("subject", "Hello {{.name}}"),
		Headers: []compose.HeaderSpec{{Name: "X-Note", Value: src("headers.X-Note", "{{.name}}")}},
		Text:    compose.Source{File: "body.txt", Line: 1, Text: "Hi {{.name}}\n"},
		Dir:     dir, Deterministic: true, Seed: "fuzz", Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Timeout: time.Second,
	}
}

// headerNames lists a message's header names, sorted, failing on a repeat.
func headerNames(t testing.TB, h mail.Header) string {
	var names []string
	for k, v := range h {
		if len(v) != 1 {
			t.Fatalf("header %s appears %d times", k, len(v))
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// FuzzHeaders puts arbitrary data into every templated header and checks
// that what goes on the wire has exactly the headers and recipients the
// templates say: no extra header, no extra address, no line over 998.
func FuzzHeaders(f *testing.F) {
	for _, s := range []string{"Ann", "Eve\r\nBcc: x@evil.test", "x@evil.test, Bob", "Bob <y@evil.test>",
		"=?UTF-8?B?RXZlDQpCY2M6IHg=?=", strings.Repeat("Ü", 700), "a\x00b", "\u2028X: y", "\"q\" <z@evil.test>;"} {
		f.Add(s, "ann")
	}
	c, err := compose.New(spec(f.TempDir()))
	if err != nil {
		f.Fatal(err)
	}
	// The control message, from benign data, fixes the set of header names.
	cm, err := c.Compose(1, map[string]string{"name": "Ann", "email": "ann"})
	if err != nil {
		f.Fatal(err)
	}
	var cb bytes.Buffer
	cm.WriteTo(&cb)
	control, err := mail.ReadMessage(&cb)
	if err != nil {
		f.Fatal(err)
	}
	wantHeaders := headerNames(f, control.Header)
	f.Fuzz(func(t *testing.T, name, local string) {
		m, err := c.Compose(1, map[string]string{"name": name, "email": local})
		if err != nil {
			return // refused: nothing is sent
		}
		var buf bytes.Buffer
		if _, err := m.WriteTo(&buf); err != nil {
			return
		}
		raw := buf.Bytes()
		for _, line := range bytes.Split(raw, []byte("\r\n")) {
			if len(line) > 998 {
				t.Fatalf("line of %d octets", len(line))
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("unparsable message: %v\n%s", err, raw)
		}
		// A header whose value renders empty is left out; that is fine.
		// One the control does not have is an injection.
		for _, name := range strings.Split(headerNames(t, msg.Header), ",") {
			if !strings.Contains(","+wantHeaders+",", ","+name+",") {
				t.Fatalf("extra header %s (control has %s)", name, wantHeaders)
			}
		}
		if len(m.Envelope.To) != 2 || !strings.EqualFold(m.Envelope.To[1], "c@example.org") ||
			!strings.HasSuffix(strings.ToLower(m.Envelope.To[0]), "@example.com") {
			t.Fatalf("envelope %v", m.Envelope.To)
		}
		for _, h := range []string{"To", "Cc"} {
			if l, err := msg.Header.AddressList(h); err == nil && len(l) != 1 {
				t.Fatalf("%s holds %d addresses: %q", h, len(l), msg.Header.Get(h))
			}
		}
	})
}

// FuzzTemplates renders arbitrary template text in the subject and the body:
// it may be refused, but must never panic, hang or change the recipients.
func FuzzTemplates(f *testing.F) {
	for _, s := range []string{"{{.name}}", "{{range $i, $e := .}}{{$e}}{{end}}", "{{template \"x\"}}", "{{define \"x\"}}{{template \"x\"}}{{end}}{{template \"x\"}}",
		"{{upper .name | trunc 3}}", "{{index . \"name\"}}", "{{.missing}}", "{{printf \"%0999999d\" 1}}", "{{range 1000000000}}x{{end}}"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tmpl string) {
		s := spec(dir)
		s.Subject = src("subject", tmpl)
		s.Text = compose.Source{File: "body.txt", Line: 1, Text: tmpl}
		c, err := compose.New(s)
		if err != nil {
			return
		}
		if len(c.CheckColumns([]string{"name", "email"})) > 0 {
			return
		}
		m, err := c.Compose(1, map[string]string{"name": "Ann", "email": "ann"})
		if err != nil {
			return
		}
		if len(m.Envelope.To) != 2 || m.Envelope.To[0] != "ann@example.com" {
			t.Fatalf("envelope %v", m.Envelope.To)
		}
		var buf bytes.Buffer
		m.WriteTo(&buf)
	})
}
