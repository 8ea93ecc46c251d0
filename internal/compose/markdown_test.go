package compose_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/inline"
)

// mdSpec is a Markdown campaign with body as its template.
func mdSpec(body string) compose.Spec {
	return compose.Spec{
		From:     src("from", "Nami <nami@example.com>"),
		To:       src("to", "{{.name}} <{{.email}}>"),
		Subject:  src("subject", "Hello {{.name}}"),
		Markdown: file("body.md", body),
		Dir:      "testdata",
	}
}

// bodies composes one row of a Markdown campaign and returns its text and
// HTML parts.
func bodies(t *testing.T, spec compose.Spec, fields map[string]string) (text, html string) {
	t.Helper()
	_, parts := parseBack(t, render(t, mustCompose(t, spec, 1, fields)))
	for _, p := range parts {
		switch p.contentType {
		case "text/plain":
			text = strings.ReplaceAll(string(p.body), "\r\n", "\n")
		case "text/html":
			html = string(p.body)
		}
	}
	return text, html
}

// page is an HTML part as a browser reads it.
type page struct {
	tags []string            // every element, in order
	text string              // the text of the elements inside body, <style> and <title> left out
	href []string            // of every <a>
	src  []string            // of every <img>
	attr map[string][]string // every other attribute's values, by name
}

func readPage(t *testing.T, s string) page {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	p := page{attr: map[string][]string{}}
	var text strings.Builder
	var walk func(n *html.Node, inBody bool)
	walk = func(n *html.Node, inBody bool) {
		switch n.Type {
		case html.ElementNode:
			p.tags = append(p.tags, n.Data)
			inBody = inBody || n.Data == "body"
			for _, a := range n.Attr {
				switch {
				case n.Data == "a" && a.Key == "href":
					p.href = append(p.href, a.Val)
				case n.Data == "img" && a.Key == "src":
					p.src = append(p.src, a.Val)
				default:
					p.attr[a.Key] = append(p.attr[a.Key], a.Val)
				}
			}
		case html.TextNode:
			if inBody {
				text.WriteString(n.Data)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inBody)
		}
	}
	walk(doc, false)
	p.text = text.String()
	return p
}

// hostileBody writes the cell v in every place a Markdown body commonly
// writes a value: a heading, a paragraph, bold, a table cell, a list item,
// a quote and a link's text.
const hostileBody = `# {{.v}}

Hello {{.v}}, and **{{.v}}**.

| name | value |
|------|-------|
| {{.v}} | x |

- {{.v}}

> {{.v}}

[{{.v}}](https://example.com/)
`

// TestMarkdownCellAddsNoMarkup: whatever a cell holds, the HTML part has
// the same elements, links and images as for a plain word, and the cell's
// characters show as they are, in both parts.
func TestMarkdownCellAddsNoMarkup(t *testing.T) {
	spec := mdSpec(hostileBody)
	row := func(v string) map[string]string {
		return map[string]string{"name": "Ann", "email": "ann@example.com", "v": v}
	}
	_, plainHTML := bodies(t, spec, row("plain"))
	want := readPage(t, plainHTML)
	for _, v := range []string{
		"<script>alert(1)</script>",
		"[x](javascript:alert(1))",
		"**bold**",
		"![](http://tracker.example/p.gif)",
		"http://tracker.example",
		"www.tracker.example",
		"evil@tracker.example",
		"# heading",
		"| a | b |",
		"line one\nline two",
		"<img src=x onerror=alert(1)>",
		"`code` _em_ ~~gone~~",
		"&lt;b&gt; &amp; \\*",
		"- item\n1. item",
		"[ref]: http://tracker.example",
	} {
		t.Run(v, func(t *testing.T) {
			text, h := bodies(t, spec, row(v))
			got := readPage(t, h)
			if !slices.Equal(got.tags, want.tags) {
				t.Errorf("elements\n got %v\nwant %v", got.tags, want.tags)
			}
			if !slices.Equal(got.href, want.href) || !slices.Equal(got.src, want.src) {
				t.Errorf("links %v images %v, want %v %v", got.href, got.src, want.href, want.src)
			}
			if n := strings.Count(got.text, v); n != 7 {
				t.Errorf("the HTML shows %q %d times, want 7:\n%s", v, n, got.text)
			}
			for _, l := range strings.Split(v, "\n") { // a value's lines are indented with the block they are in
				if n := strings.Count(text, l); n < 7 {
					t.Errorf("the text part shows %q %d times, want at least 7:\n%s", l, n, text)
				}
			}
		})
	}
}

// TestMarkdownAuthorMarkup: the template's own Markdown works around the
// values, and a value in a link is escaped for a URL.
func TestMarkdownAuthorMarkup(t *testing.T) {
	body := "**Hi {{.name}}**\n\n[your page](https://x.example/u/{{.id}}) " +
		"[search](https://x.example/find?q={{.id}}) [home]({{.url}})\n\n" +
		"| item | amount |\n|---|---:|\n| tea | {{.amount}} |\n"
	row := map[string]string{"name": "Ann <3", "email": "ann@example.com", "id": `a b"&<x>?y=1`, "url": "https://ann.example/", "amount": "12.00"}
	_, h := bodies(t, mdSpec(body), row)
	p := readPage(t, h)
	if !slices.Contains(p.tags, "strong") || !strings.Contains(p.text, "Hi Ann <3") {
		t.Errorf("no bold greeting: %v %q", p.tags, p.text)
	}
	want := []string{"https://x.example/u/a%20b%22&%3Cx%3E?y=1", "https://x.example/find?q=a+b%22%26%3Cx%3E%3Fy%3D1", "https://ann.example/"}
	if !slices.Equal(p.href, want) {
		t.Errorf("links\n got %q\nwant %q", p.href, want)
	}
	if strings.Count(strings.Join(p.tags, " "), "td") != 2 || !strings.Contains(p.text, "12.00") {
		t.Errorf("table: %v %q", p.tags, p.text)
	}
}

// TestMarkdownURLFromData: a URL a value helped write must be relative or
// http(s), mailto or tel, however the value is split.
func TestMarkdownURLFromData(t *testing.T) {
	body := "[a]({{.url}}) [b]({{.scheme}}{{.rest}}) ![c]({{.url}})\n"
	for _, tc := range []struct{ url, scheme, rest, want string }{
		{"javascript:alert(1)", "https", "://ok.example/", "#ZgotmplZ"},
		{" JavaScript:alert(1)", "java", "script:alert(1)", "#ZgotmplZ"},
		{"data:text/html,x", "vbscript", ":x", "#ZgotmplZ"},
		{"https://ok.example/a b", "mailto", ":ann@example.com", "https://ok.example/a%20b"},
	} {
		row := map[string]string{"name": "Ann", "email": "ann@example.com", "url": tc.url, "scheme": tc.scheme, "rest": tc.rest}
		_, h := bodies(t, mdSpec(body), row)
		p := readPage(t, h)
		if len(p.href) != 2 || p.href[0] != tc.want || len(p.src) != 1 || p.src[0] != tc.want {
			t.Errorf("%q: links %q, images %q; want %q", tc.url, p.href, p.src, tc.want)
		}
		if wantB := tc.scheme + tc.rest; tc.scheme == "java" || tc.scheme == "vbscript" {
			if p.href[1] != "#ZgotmplZ" {
				t.Errorf("%q: link %q", wantB, p.href[1])
			}
		} else if p.href[1] != wantB {
			t.Errorf("link %q, want %q", p.href[1], wantB)
		}
	}
}

// TestMarkdownText: the text part reads the Markdown, not the HTML.
func TestMarkdownText(t *testing.T) {
	body := "# Hello {{.name}}\n\n## Your order\n\nThanks, *{{.name}}*: see [your page](https://x.example/u/{{.id}}) " +
		"or https://x.example/help, [https://x.example](https://x.example) and <ann@example.com>.\n\n" +
		"| item | amount |\n|------|-------:|\n| 蛋糕 | {{.amount}} |\n| tea | 3.50 |\n\n" +
		"- one\n- two\n\n3. three\n4. four\n\n```\nvalue {{.id}}\n```\n\n> quoted\n\n![our logo](logo.png)\n"
	text, _ := bodies(t, mdSpec(body), map[string]string{"name": "王小明", "email": "w@example.com", "id": "7", "amount": "12.00"})
	want := `Hello 王小明
============

Your order
----------

Thanks, 王小明: see your page (https://x.example/u/7) or https://x.example/help, https://x.example and ann@example.com.

item  amount
----  ------
蛋糕   12.00
tea     3.50

- one
- two

3. three
4. four

    value 7

> quoted

our logo
`
	if text != want {
		t.Errorf("text part\n%q\nwant\n%q", text, want)
	}
	m := mustCompose(t, mdSpec(body), 1, map[string]string{"name": "王小明", "email": "w@example.com", "id": "7", "amount": "12.00"})
	if m.TextFromHTML || m.Text != want {
		t.Errorf("Message.Text %q, from the HTML %v", m.Text, m.TextFromHTML)
	}
}

// TestMarkdownImages: a relative image is embedded, from the template or
// from the data; a path from the data must stay in the campaign folder.
func TestMarkdownImages(t *testing.T) {
	spec := mdSpec("![logo](logo.png) ![photo]({{.photo}}) ![remote](https://cdn.example/x.png)\n")
	row := map[string]string{"name": "Ann", "email": "ann@example.com", "photo": "logo.png"}
	m := mustCompose(t, spec, 1, row)
	if len(m.Images) != 1 || !strings.HasSuffix(m.Images[0], "logo.png") {
		t.Errorf("images %v, want logo.png once", m.Images)
	}
	_, h := bodies(t, spec, row)
	p := readPage(t, h)
	if len(p.src) != 3 || !strings.HasPrefix(p.src[0], "cid:") || p.src[1] != p.src[0] || p.src[2] != "https://cdn.example/x.png" {
		t.Errorf("images %q", p.src)
	}
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	row["photo"] = "../compose_test.go"
	_, err = c.Compose(1, row)
	if err == nil || !strings.Contains(err.Error(), `body.md:1: inline image ../compose_test.go from column "photo": is outside the campaign folder`) {
		t.Errorf("Compose = %v", err)
	}
}

// TestMarkdownLayout: a layout gets the row, the subject and the body.
func TestMarkdownLayout(t *testing.T) {
	spec := mdSpec("Hi **{{.name}}**\n")
	spec.Layout = file("layout.html", "<html><head><title>{{subject}}</title></head><body>\n<img src=\"logo.png\">{{body}}<p class=\"foot\">for {{.name}}</p></body></html>")
	_, h := bodies(t, spec, map[string]string{"name": "Ann & Bob", "email": "ann@example.com"})
	p := readPage(t, h)
	if !strings.Contains(h, "<title>Hello Ann &amp; Bob</title>") || !strings.Contains(p.text, "Hi Ann & Bob\nfor Ann & Bob") ||
		!slices.Contains(p.tags, "strong") || len(p.src) != 1 || !strings.HasPrefix(p.src[0], "cid:") {
		t.Errorf("layout gave\n%s", h)
	}
	_, h = bodies(t, mdSpec("Hi"), map[string]string{"name": "Ann", "email": "ann@example.com"})
	if p := readPage(t, h); !slices.Contains(p.tags, "style") || !slices.Contains(p.attr["name"], "viewport") {
		t.Errorf("built-in layout\n%s", h)
	}
}

// TestMarkdownErrors: errors name the Markdown or layout file and line.
func TestMarkdownErrors(t *testing.T) {
	spec := mdSpec("Hi\n\n{{.nmae}}\n")
	spec.Layout = file("layout.html", "<p>\n{{.nosuch}}{{body}}</p>")
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range c.CheckColumns([]string{"name", "email"}) {
		got = append(got, e.Error())
	}
	if want := []string{`body.md:3: unknown column "nmae"`, `layout.html:2: unknown column "nosuch"`}; !slices.Equal(got, want) {
		t.Errorf("CheckColumns = %q, want %q", got, want)
	}

	c, err = compose.New(mdSpec("Hi\n{{fail \"no amount\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compose(1, map[string]string{"name": "Ann", "email": "ann@example.com"}); err == nil ||
		!strings.HasPrefix(err.Error(), "body.md:2: ") || !strings.Contains(err.Error(), "no amount") {
		t.Errorf("Compose = %v", err)
	}

	if _, err := compose.New(mdSpec("Hi {{.name}\n")); err == nil || !strings.HasPrefix(err.Error(), "body.md:1: ") {
		t.Errorf("parse error = %v", err)
	}
	both := mdSpec("Hi")
	both.Text = file("body.txt", "Hi")
	if _, err := compose.New(both); err == nil || err.Error() != "body.md: markdown cannot be used together with text or html" {
		t.Errorf("markdown and text: %v", err)
	}
}

// TestMarkdownLimits: values count against the message size, and a
// runaway template stops at the time limit.
func TestMarkdownLimits(t *testing.T) {
	spec := mdSpec("{{.big}}{{.big}}")
	spec.MaxSize = 10000
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Compose(1, map[string]string{"name": "Ann", "email": "ann@example.com", "big": strings.Repeat("x", 6000)})
	if err == nil || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("Compose = %v", err)
	}

	spec = mdSpec(`{{range splitList "" (printf "%9000s" "")}}{{range splitList "" (printf "%9000s" "")}}{{end}}{{end}}`)
	spec.Timeout = 50 * time.Millisecond
	if c, err = compose.New(spec); err != nil {
		t.Fatal(err)
	}
	_, err = c.Compose(1, map[string]string{"name": "Ann", "email": "ann@example.com"})
	var te *compose.TemplateError
	if !errors.As(err, &te) || !strings.HasPrefix(err.Error(), "body.md:1: ") || !strings.Contains(err.Error(), "longer than the limit") {
		t.Errorf("Compose = %v", err)
	}
}

// TestMarkdownParallel: composers share the parsed Markdown; rows whose
// structure differs each get their own.
func TestMarkdownParallel(t *testing.T) {
	c, err := compose.New(mdSpec("Hi {{.name}}\n\n{{range splitList \";\" .items}}- **{{.}}**\n{{end}}"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				items := strings.Repeat(fmt.Sprintf("i%d;", g), i%5) + "last"
				m, err := c.Compose(i+1, map[string]string{"name": fmt.Sprintf("n%d%d", g, i), "email": "a@example.com", "items": items})
				if err != nil {
					t.Error(err)
					return
				}
				raw := string(render(t, m))
				if !strings.Contains(raw, fmt.Sprintf("Hi n%d%d", g, i)) || strings.Count(raw, "<strong>") != i%5+1 {
					t.Errorf("row %d of %d:\n%s", i, g, raw)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestBuiltinPageInlinedOnce: a Markdown body in the built-in layout has
// its CSS inlined once per parsed template, with tokens where the values
// go; each row's page must be exactly what inlining that row's own page
// gives, whatever the values hold.
func TestBuiltinPageInlinedOnce(t *testing.T) {
	templates := []string{
		"# Hi {{.name}}\n\nYour **order** {{.id}} ships to {{.city}}.\n",
		"| item | price |\n|---|---:|\n| {{.name}} | {{.id}} |\n\n> {{.city}}\n\n- {{.name}}\n- [page](https://x.example/u/{{.id}}?c={{.city}})\n",
		"![logo](logo.png)\n\n`{{.name}}` and ~~{{.city}}~~\n\n    code {{.id}}\n",
	}
	rows := []map[string]string{
		{"name": "Ann", "id": "1", "city": "Köln"},
		{"name": `<b>"Bo" & 'Co'</b>`, "id": "a b&c=d", "city": "李雷 北京"},
		{"name": "**x** [y](javascript:alert(1))", "id": "../..", "city": "<style>p{color:red}</style>"},
		{"name": "", "id": "#frag", "city": "line\nbreak\ttab"},
	}
	for _, body := range templates {
		on, off := mdSpec(body), mdSpec(body)
		on.InlineCSS = true
		for _, row := range rows {
			row["email"] = "ann@example.com"
			_, got := bodies(t, on, row)
			_, raw := bodies(t, off, row)
			// Inlining comes before the MIME writing puts in CRLF.
			got, raw = strings.ReplaceAll(got, "\r\n", "\n"), strings.ReplaceAll(raw, "\r\n", "\n")
			want, err := inline.Direct(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%q with %q:\n got %q\nwant %q", body, row, got, want)
			}
			if !strings.Contains(got, `<td style="border:1px solid`) && strings.Contains(body, "|") {
				t.Errorf("%q: table cells not styled:\n%s", body, got)
			}
		}
	}
}
