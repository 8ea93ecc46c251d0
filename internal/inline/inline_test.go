package inline

import (
	htmltemplate "html/template"
	"strings"
	"sync"
	"testing"
)

// newsletter is a message as users write them: class rules, descendant
// selectors, !important, an existing style attribute, a media query and a
// :hover that cannot be inlined, and personal text, links and images.
const newsletter = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.name}}, your news</title>
<style>
body { font-family: Georgia, serif; color: #333; background-color: #fafafa }
.card { background-color: #fff; padding: 12px; border: 1px solid #ddd }
.card p { font-size: 15px; line-height: 1.4 }
p a, .button { color: #0a58ca !important; text-decoration: none }
h1 { font-size: 22px; color: #111 }
td.amount { text-align: right; font-weight: bold }
img { width: 64px }
a:hover { color: red }
@media (max-width: 600px) { .card { padding: 4px } h1 { font-size: 18px } }
</style></head>
<body>
<div class="card">
<h1 style="margin: 0; color: #222">Hello {{.name}}</h1>
<p>Dear {{.name}}, your code is <code>{{.code}}</code>.</p>
<p><a href="https://example.test/u?id={{.id}}&n={{.name}}" title="{{.name}}">Your page</a></p>
<p><img src="https://img.example.test/{{.id}}.png" alt="{{.name}}" width="{{.id}}"></p>
<table><tr><td>Total</td><td class="amount">{{.code}}</td></tr></table>
<pre>
{{.name}}</pre>
<a class="button" href="{{.url}}">Open, {{.name}}</a>
</div></body></html>
`

// documents are the cases the cached inlining must get exactly as
// premailer does, by name.
var documents = map[string]string{
	"newsletter": newsletter,
	// Data decides the structure.
	"if and range": `<style>.vip { background-color: #ffe } li { color: #060 } ul li + li { margin-top: 4px } h2 { font-size: 18px }</style>
{{if .vip}}<div class="vip"><h2>Gold member {{.name}}</h2></div>{{else}}<p>Hi {{.name}}</p>{{end}}
<ul>{{range .items}}<li>{{.}}</li>{{end}}</ul>`,
	// The stylesheet reads attribute values and text: they stay literal.
	"attribute selectors": `<style>a[href^="https:"] { color: green } a[href^="http:"] { color: red } img[alt=""] { display: none }</style>
<p><a href="{{.url}}">{{.name}}</a> <img src="x.png" alt="{{.name}}"></p>`,
	"contains": `<style>p:contains("VIP") { color: gold } p { font-size: 12px }</style><p>{{.name}}</p><p>Status: {{.code}}</p>`,
	"empty":    `<style>td:empty { background-color: #eee } td { padding: 2px }</style><table><tr><td>{{.name}}</td><td>{{.code}}</td></tr></table>`,
	// Text in a table is moved before it; white space is not.
	"table text": `<style>table { border: 1px solid #000 } p { color: red }</style><table>{{.name}}<tr><td><p>{{.code}}</p></td></tr></table>`,
	// The parser compares formatting elements' attributes when it reopens them.
	"formatting": `<style>b { color: red } b b { color: blue }</style><p><b title="{{.name}}"><b title="{{.code}}"><b title="{{.name}}"><b title="{{.name}}">x<p>y</b>z`,
	"svg title":  `<style>p { color: red } title { color: blue }</style><svg><title>{{.name}}</title></svg><p title="{{.name}}">{{.name}}</p>`,
	// The parser reads <input type>: a hidden input stays in the table.
	"hidden input": `<style>input { color: red } table input { color: blue }</style><table><input type="{{.kind}}" value="{{.name}}"><tr><td>x</td></tr></table>`,
	// In SVG a CDATA section is text, to its "]]>".
	"cdata":    `<style>p { color: red }</style><svg><![CDATA[ a > b {{.name}} ]]></svg><p>{{.name}}</p>`,
	"fragment": `<style>.x { color: red }</style><span class="x">{{.name}}</span> and <em class="x" data-id="{{.code}}">{{.code}}</em>`,
}

// handWritten are messages that html/template would not write but a
// layout or another engine might.
var handWritten = []string{
	// In SVG a CDATA section is text, to its "]]>".
	`<style>p { color: red }</style><svg><![CDATA[ a > b Zoë ]]></svg><p>Zoë</p>`,
	// Outlook's conditional comments stay as they are.
	`<style>td { padding: 0 }</style><!--[if mso]><table><tr><td><![endif]--><p title="a&amp;b">Hi &amp; bye</p><!--[if mso]></td></tr></table><![endif]-->`,
	`<style>P { COLOR: RED }</style><P CLASS=x TITLE='it&#39;s'>unquoted &copy; &nbsp;<BR/>text<textarea>t &lt;b&gt;</textarea>`,
}

// ordinary are rows whose values all have text; edge are rows that test
// escaping and the parser's rules for white space and special characters.
var (
	ordinary = []map[string]any{
		{"name": "Zoë Müller", "code": "A-1", "id": "1001", "kind": "hidden", "url": "https://example.test/a", "vip": true, "items": []string{"one", "two"}},
		{"name": "Tom & Jerry <the cats>", "code": "B&2", "id": "1002", "kind": "text", "url": "http://example.test/?a=1&b=2", "vip": false, "items": []string{"x"}},
		{"name": `"Quoted" 'single' VIP`, "code": "VIP", "id": "1003", "kind": "HIDDEN", "url": "https://example.test/\"q\"", "vip": true, "items": []string{"a", "b", "c"}},
		{"name": "李雷和韩梅梅", "code": "中文", "id": "1004", "kind": "hidden", "url": "mailto:li@example.test", "vip": false, "items": nil},
		{"name": "A+B=C; x > y", "code": "&amp; already", "id": "10 05", "kind": "text", "url": "https://例子.test/路径", "vip": true, "items": []string{"<b>no</b>"}},
	}
	edge = []map[string]any{
		{"name": "", "code": "", "id": "", "kind": "", "url": "", "vip": false, "items": []string{"", " "}},
		{"name": "   ", "code": "\u00a0", "id": " ", "kind": " hidden", "url": " ", "vip": true, "items": []string{"\u00a0"}},
		{"name": "\nleading newline", "code": "\r\nCRLF\r", "id": "\t", "kind": "hidden", "url": "x", "vip": false, "items": nil},
		{"name": "nul\x00byte", "code": "\uE000private\uE001", "id": "0", "kind": "hidden", "url": "#", "vip": true, "items": []string{"\uE0000\uE001"}},
		{"name": "same", "code": "same", "id": "same", "kind": "same", "url": "same", "vip": false, "items": []string{"same"}},
	}
)

// render runs a document as the campaign's HTML template.
func render(t testing.TB, doc string, row map[string]any) string {
	t.Helper()
	tmpl, err := htmltemplate.New("body").Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, row); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func direct(t testing.TB, doc string) string {
	t.Helper()
	out, err := Direct(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSameAsPremailer renders every document for every row and compares
// the Inliner's output with premailer's on the whole message, byte for byte.
func TestSameAsPremailer(t *testing.T) {
	for name, doc := range documents {
		t.Run(name, func(t *testing.T) {
			in := New()
			for i, row := range append(append([]map[string]any{}, ordinary...), edge...) {
				msg := render(t, doc, row)
				got, err := in.Inline(msg)
				if err != nil {
					t.Fatal(err)
				}
				if want := direct(t, msg); got != want {
					t.Errorf("row %d: got\n%s\nwant\n%s", i, got, want)
				}
			}
		})
	}
}

func TestHandWrittenSameAsPremailer(t *testing.T) {
	in := New()
	for _, msg := range handWritten {
		for range 2 { // the second time from the cache
			got, err := in.Inline(msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := direct(t, msg); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		}
	}
}

// TestOneStructureOnePremailerRun checks that the fast path is taken: the
// placeholders survive premailer, so rows that differ only in their values
// share one cache entry; rows that change the structure add their own.
func TestOneStructureOnePremailerRun(t *testing.T) {
	in := New()
	for _, row := range ordinary {
		if _, err := in.Inline(render(t, newsletter, row)); err != nil {
			t.Fatal(err)
		}
	}
	if n := in.entries(); n != 1 {
		t.Errorf("%d rows with one structure made %d cache entries, want 1", len(ordinary), n)
	}

	in = New()
	for _, vip := range []bool{true, false, true, false} {
		for _, items := range [][]string{{"a"}, {"b", "c"}, {"d"}} {
			row := map[string]any{"name": "Ann", "vip": vip, "items": items}
			if _, err := in.Inline(render(t, documents["if and range"], row)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := in.entries(); n != 4 {
		t.Errorf("2 branches × 2 list lengths made %d cache entries, want 4", n)
	}
}

func (in *Inliner) entries() int {
	in.mu.RLock()
	defer in.mu.RUnlock()
	return len(in.cache)
}

// TestMediaQueryStays checks what a mail client gets: rules in style
// attributes, and in a <style> element only what cannot be inlined.
func TestMediaQueryStays(t *testing.T) {
	out, err := New().Inline(render(t, newsletter, ordinary[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<h1 style="font-size:22px;margin:0;color:#222">`, // the element's own style wins
		`<td class="amount" style="text-align:right;font-weight:bold">`,
		`<div class="card" style="background-color:#fff;padding:12px;border:1px solid #ddd">`,
		`@media (max-width: 600px)`,
		"a:hover {\ncolor: red !important\n}",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inlined message lacks %q:\n%s", want, out)
		}
	}
	i, j := strings.Index(out, "<style"), strings.Index(out, "</style>")
	if i < 0 || j < i {
		t.Fatalf("no <style> element left for the media query:\n%s", out)
	}
	if left := out[i:j]; strings.Contains(left, "td.amount") || strings.Contains(left, "font-family") {
		t.Errorf("an inlined rule stayed in <style>: %s", left)
	}
	if strings.Count(out, "<style") != 1 {
		t.Errorf("want one <style> element:\n%s", out)
	}
}

// TestNoStyleUnchanged: a message without <style> is sent as written.
func TestNoStyleUnchanged(t *testing.T) {
	msg := render(t, `<p>Hello {{.name}}, <a href="{{.url}}">here</a></p>`, ordinary[1])
	got, err := New().Inline(msg)
	if err != nil || got != msg {
		t.Errorf("Inline(%q) = %q, %v; want it unchanged", msg, got, err)
	}
}

// TestCacheFull: past the cache's bound every message still comes out as
// premailer writes it.
func TestCacheFull(t *testing.T) {
	in := New()
	doc := `<style>li { color: red }</style><ul>{{range .items}}<li>{{.}}</li>{{end}}</ul>`
	for n := 0; n < maxEntries+20; n++ {
		items := make([]string, n)
		for i := range items {
			items[i] = strings.Repeat("x", i%3+1)
		}
		msg := render(t, doc, map[string]any{"items": items})
		got, err := in.Inline(msg)
		if err != nil {
			t.Fatal(err)
		}
		if n >= maxEntries-5 { // checking each is slow; the last ones are past the bound
			if want := direct(t, msg); got != want {
				t.Fatalf("%d items: got\n%s\nwant\n%s", n, got, want)
			}
		}
	}
	if n := in.entries(); n != maxEntries {
		t.Errorf("cache holds %d entries, want its bound %d", n, maxEntries)
	}
}

// TestConcurrentRows inlines many rows from several goroutines at once,
// as a campaign's composers do (run with -race).
func TestConcurrentRows(t *testing.T) {
	rows := append(append([]map[string]any{}, ordinary...), edge...)
	var msgs, want []string
	for _, doc := range []string{newsletter, documents["if and range"], documents["attribute selectors"]} {
		for _, row := range rows {
			msg := render(t, doc, row)
			msgs = append(msgs, msg)
			want = append(want, direct(t, msg))
		}
	}
	in := New()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 3*len(msgs); k++ {
				i := (k*7 + g) % len(msgs)
				got, err := in.Inline(msgs[i])
				if err != nil {
					t.Error(err)
					return
				}
				if got != want[i] {
					t.Errorf("message %d differs from premailer's", i)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkInline is one message of the newsletter, the cache warm.
func BenchmarkInline(b *testing.B) {
	msg := render(b, newsletter, ordinary[1])
	in := New()
	if _, err := in.Inline(msg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Inline(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkPremailer is the same message through premailer directly, what
// each message would cost without the cache.
func BenchmarkPremailer(b *testing.B) {
	msg := render(b, newsletter, ordinary[1])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Direct(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// FuzzSameAsPremailer: for any document, the cached inlining gives what
// premailer gives on it, the first time and from the cache.
func FuzzSameAsPremailer(f *testing.F) {
	for _, doc := range documents {
		f.Add(render(f, doc, ordinary[1]))
	}
	for _, msg := range handWritten {
		f.Add(msg)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		want, err := Direct(msg)
		if err != nil {
			t.Skip()
		}
		in := New()
		for range 2 {
			got, err := in.Inline(msg)
			if err != nil {
				t.Fatal(err)
			}
			if !Applies(msg) {
				want = msg
			}
			if got != want {
				t.Fatalf("Inline(%q) =\n%q\npremailer gives\n%q", msg, got, want)
			}
		}
	})
}
