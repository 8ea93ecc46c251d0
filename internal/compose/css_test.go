package compose_test

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/compose"
)

// styledHTML is the greeting with its looks in a <style> element, as a
// designer writes it.
const styledHTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.name}}</title>
<style>
h1 { font-size: 20px; color: #b03060 }
.card p { color: #333; line-height: 1.5 }
@media (max-width: 480px) { h1 { font-size: 16px } }
</style></head>
<body><div class="card">
<p><img src="logo.png" alt="logo"></p>
<h1>{{.name}}，你好！</h1>
<p>Card <code>{{.id}}</code> &amp; more.</p>
</div></body></html>
`

func styledSpec(inline bool) compose.Spec {
	spec := deterministic(greetingSpec())
	spec.HTML = file("greeting.html", styledHTML)
	spec.InlineCSS = inline
	return spec
}

// htmlPart is the HTML part of a composed message, decoded.
func htmlPart(t *testing.T, spec compose.Spec, row map[string]string) string {
	t.Helper()
	_, parts := parseBack(t, render(t, mustCompose(t, spec, 1, row)))
	for _, p := range parts {
		if p.contentType == "text/html" {
			return string(p.body)
		}
	}
	t.Fatal("no text/html part")
	return ""
}

// TestInlineCSS: what a mail client that drops <style> gets is styled
// still, the media query is kept for those that do read <style>, and the
// inline image and the personal text are as without inlining.
func TestInlineCSS(t *testing.T) {
	row := maps(greetingRow)
	row["name"] = `王小明 & "Ming" <b>`
	got := htmlPart(t, styledSpec(true), row)
	for _, want := range []string{
		`<h1 style="font-size:20px;color:#b03060">王小明 &amp; &#34;Ming&#34; &lt;b&gt;，你好！</h1>`,
		`<p style="color:#333;line-height:1.5">Card <code>1001</code> &amp; more.</p>`,
		`@media (max-width: 480px)`,
		`<img src="cid:logo.png.1@example.com" alt="logo"/>`,
		`<title>王小明 &amp; &#34;Ming&#34; &lt;b&gt;</title>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("HTML part lacks %s:\n%s", want, got)
		}
	}
	if style := got[strings.Index(got, "<style"):strings.Index(got, "</style>")]; strings.Contains(style, "line-height") {
		t.Errorf("an inlined rule stayed in <style>: %s", style)
	}
}

// TestInlineCSSOff: inline_css = false sends the HTML as the template
// renders it.
func TestInlineCSSOff(t *testing.T) {
	spec := styledSpec(false)
	spec.HTML.Text = strings.Replace(styledHTML, `<p><img src="logo.png" alt="logo"></p>`, "", 1)
	row := maps(greetingRow)
	row["name"] = `王小明 & "Ming"`
	var want strings.Builder
	if err := htmltemplate.Must(htmltemplate.New("").Parse(spec.HTML.Text)).Execute(&want, row); err != nil {
		t.Fatal(err)
	}
	// Only the line ends differ: a message's are CRLF.
	if got := strings.ReplaceAll(htmlPart(t, spec, row), "\r\n", "\n"); got != want.String() {
		t.Errorf("HTML part with inline_css = false:\n%s\nwant the template's output:\n%s", got, want.String())
	}
}

// TestValidateCountsInlinedCSS: the style attributes inlining adds count
// towards max_message_size in check (Validate) as in send (Compose).
func TestValidateCountsInlinedCSS(t *testing.T) {
	spec := greetingSpec()
	spec.Attachments = nil
	spec.Text = file("greeting.txt", "{{.name}}\n")
	spec.HTML = file("greeting.html", "<style>p { font-family: 'Noto Serif CJK SC', 'Source Han Serif', Georgia, serif }</style>"+
		strings.Repeat("<p>{{.name}}</p>\n", 100))
	spec.InlineCSS = true
	// Room for the message as written, not for it with 100 style attributes.
	spec.MaxSize = 6000
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time the inlining is cached
		_, cerr := c.Compose(i+1, greetingRow)
		_, verr := c.Validate(i+1, greetingRow)
		if cerr == nil || !strings.Contains(cerr.Error(), "over the limit") {
			t.Fatalf("Compose = %v, want over the limit: the case no longer tests the limit", cerr)
		}
		if fmt.Sprint(verr) != fmt.Sprint(cerr) {
			t.Errorf("Validate = %v, want Compose's %v", verr, cerr)
		}
	}
}
