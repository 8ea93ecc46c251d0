package compose_test

import (
	"encoding/base64"
	"html"
	"net/mail"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// links are unsubscribe links as the campaign makes them, the address in
// the token readable, so that a test sees whose link it is.
var links = &compose.Unsubscribe{
	URL:    func(addr string) string { return "https://news.example.com/u?list=7&t=" + token(addr) },
	Mailto: func(addr string) string { return "mailto:unsubscribe@example.com?subject=unsubscribe%20" + token(addr) },
}

func token(addr string) string { return base64.RawURLEncoding.EncodeToString([]byte(addr)) + ".mac" }

// TestListUnsubscribeHeaders: a message carries both links in
// List-Unsubscribe, in lines a header may hold, and the one-click
// List-Unsubscribe-Post only when there is a URL to POST to.
func TestListUnsubscribeHeaders(t *testing.T) {
	spec := greetingSpec()
	spec.Unsubscribe = links
	raw := render(t, mustCompose(t, spec, 2, greetingRow))
	checkLines(t, raw)
	msg, _ := parseBack(t, raw)
	want := "<" + links.URL("wang.xiaoming@example.com") + ">, <" + links.Mailto("wang.xiaoming@example.com") + ">"
	if got := msg.Header.Get("List-Unsubscribe"); got != want {
		t.Errorf("List-Unsubscribe = %q\nwant %q", got, want)
	}
	if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
		t.Errorf("List-Unsubscribe-Post = %q", got)
	}

	spec.Unsubscribe = &compose.Unsubscribe{Mailto: links.Mailto}
	msg, _ = parseBack(t, render(t, mustCompose(t, spec, 2, greetingRow)))
	if got := msg.Header.Get("List-Unsubscribe"); got != "<"+links.Mailto("wang.xiaoming@example.com")+">" {
		t.Errorf("mailto only: List-Unsubscribe = %q", got)
	}
	if v, ok := msg.Header["List-Unsubscribe-Post"]; ok {
		t.Errorf("mailto only: List-Unsubscribe-Post %q, with no URL to POST to", v)
	}

	// A long address still gives lines of at most 998 octets.
	long := strings.Repeat("x", 64) + "@" + strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 50) + ".example.com"
	spec.Unsubscribe = links
	row := maps(greetingRow)
	row["email"] = long
	checkLines(t, render(t, mustCompose(t, spec, 2, row)))
}

// TestUnsubscribeURLInBodies: {{unsubscribeURL}} writes the header's link
// in the text part, as an href html/template trusts in an HTML body, and
// as a link in a Markdown body, for the row's own recipient.
func TestUnsubscribeURLInBodies(t *testing.T) {
	link := links.URL("wang.xiaoming@example.com")
	spec := greetingSpec()
	spec.Unsubscribe = links
	spec.Text = file("greeting.txt", "Hello {{.name}}\n\nUnsubscribe: {{unsubscribeURL}}\n")
	spec.HTML = file("greeting.html", `<p>Hello {{.name}}</p><p><a href="{{unsubscribeURL}}">Unsubscribe</a></p>`)
	_, parts := parseBack(t, render(t, mustCompose(t, spec, 2, greetingRow)))
	bodies := map[string]string{}
	for _, p := range parts {
		bodies[p.contentType] = string(p.body)
	}
	if !strings.Contains(bodies["text/plain"], "Unsubscribe: "+link) {
		t.Errorf("text part:\n%s", bodies["text/plain"])
	}
	if !strings.Contains(bodies["text/html"], `<a href="`+html.EscapeString(link)+`">`) {
		t.Errorf("html part:\n%s", bodies["text/html"])
	}

	md := greetingSpec()
	md.Unsubscribe = links
	md.Text, md.HTML = compose.Source{}, compose.Source{}
	md.Markdown = file("body.md", "Hello **{{.name}}**\n\n[Unsubscribe]({{unsubscribeURL}}) · 退订：{{unsubscribeURL}}\n")
	_, parts = parseBack(t, render(t, mustCompose(t, md, 2, greetingRow)))
	for _, p := range parts {
		bodies[p.contentType] = string(p.body)
	}
	if !strings.Contains(bodies["text/html"], `<a href="`+html.EscapeString(link)+`">Unsubscribe</a>`) {
		t.Errorf("Markdown html part:\n%s", bodies["text/html"])
	}
	if !strings.Contains(bodies["text/plain"], link) {
		t.Errorf("Markdown text part:\n%s", bodies["text/plain"])
	}
}

// TestUnsubscribeTestSend: in a test send (RedirectTo) the links, header
// and body, are the tester's: following one never unsubscribes the row's
// recipient.
func TestUnsubscribeTestSend(t *testing.T) {
	spec := greetingSpec()
	spec.Unsubscribe = links
	spec.Text = file("greeting.txt", "{{unsubscribeURL}}\n")
	spec.RedirectTo = &mail.Address{Address: "me@example.org"}
	raw := render(t, mustCompose(t, spec, 2, greetingRow))
	msg, parts := parseBack(t, raw)
	if got := msg.Header.Get("List-Unsubscribe"); !strings.Contains(got, token("me@example.org")) {
		t.Errorf("List-Unsubscribe = %q, want the tester's", got)
	}
	if got := string(parts[0].body); !strings.Contains(got, links.URL("me@example.org")) {
		t.Errorf("text part %q, want the tester's link", got)
	}
	if strings.Contains(string(raw), token("wang.xiaoming@example.com")) {
		t.Error("the row's recipient's token is in the test send")
	}
}

// TestUnsubscribeURLNeedsURL: the function without [unsubscribe] url is
// an error before any row renders, at its file and line; [headers] cannot
// set the headers [unsubscribe] writes.
func TestUnsubscribeURLNeedsURL(t *testing.T) {
	spec := greetingSpec()
	spec.HTML = file("greeting.html", "<p>Hello</p>\n\n<a href=\"{{unsubscribeURL}}\">x</a>\n")
	for _, u := range []*compose.Unsubscribe{nil, {Mailto: links.Mailto}} {
		spec.Unsubscribe = u
		_, err := compose.New(spec)
		if err == nil || !strings.Contains(err.Error(), "greeting.html:3: {{unsubscribeURL}} needs [unsubscribe] url") {
			t.Errorf("New: %v", err)
		}
	}

	spec = greetingSpec()
	spec.Headers = append(spec.Headers, compose.HeaderSpec{Name: "list-unsubscribe", Value: src("headers.list-unsubscribe", "<https://elsewhere.example/u>")})
	if _, err := compose.New(spec); err != nil {
		t.Errorf("without [unsubscribe], [headers] may set List-Unsubscribe: %v", err)
	}
	spec.Unsubscribe = links
	if _, err := compose.New(spec); err == nil || !strings.Contains(err.Error(), `header "List-Unsubscribe" is set by [unsubscribe]`) {
		t.Errorf("New: %v", err)
	}
}
