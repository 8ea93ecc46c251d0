package compose

import (
	_ "embed"
	htmltemplate "html/template"
	"strings"
	"text/template"

	"github.com/mailmerge/mailmerge/internal/inline"
)

// A layout is the HTML page a Markdown body is shown in: an html/template
// whose dot is the row, as in every other template ({{.name}}), and which
// calls {{body}} for the HTML of the Markdown (trusted, not escaped again)
// and {{subject}} for the message's subject. The built-in one is small,
// responsive and keeps its rules in one <style> block.

//go:embed layout.html.tmpl
var builtinLayout string

// layoutFuncs names the layout's own functions for the parser; each
// executor binds them to the page it renders (pageFuncs).
var layoutFuncs = template.FuncMap{
	"body":    func() htmltemplate.HTML { return "" },
	"subject": func() string { return "" },
}

// pageFuncs are the layout functions of one executor.
func (x *executor) pageFuncs() template.FuncMap {
	return template.FuncMap{
		"body":    func() htmltemplate.HTML { return x.page.body },
		"subject": func() string { return x.page.subject },
	}
}

// parseLayout parses the layout of a Markdown body; nil for the built-in
// one.
func parseLayout(src Source) (*tmpl, error) {
	if src.IsZero() {
		return nil, nil
	}
	return parseTemplateWith(src, true, layoutFuncs)
}

// builtinParts is the built-in layout cut at {{subject}} and {{body}},
// its only actions: it is written without running a template, which
// would cost a tenth of a Markdown message.
var builtinParts = func() [3]string {
	before, rest, ok1 := strings.Cut(builtinLayout, "{{subject}}")
	mid, after, ok2 := strings.Cut(rest, "{{body}}")
	if !ok1 || !ok2 || strings.Contains(before+mid+after, "{{") {
		panic("compose: the built-in layout must call subject, then body, and nothing else")
	}
	return [3]string{before, mid, after}
}()

// titleEscaper escapes as html/template does in element text.
var titleEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;", `+`, "&#43;", "\x00", "\uFFFD")

// builtinPage writes a page of the built-in layout, escaping the subject
// as html/template does in <title>.
func builtinPage(p page) string {
	var b strings.Builder
	b.Grow(len(builtinLayout) + len(p.subject) + len(p.body))
	b.WriteString(builtinParts[0])
	titleEscaper.WriteString(&b, p.subject)
	b.WriteString(builtinParts[1])
	b.WriteString(string(p.body))
	b.WriteString(builtinParts[2])
	return b.String()
}

// styledPage is the built-in page of one parsed Markdown with its CSS
// inlined, cut where the values go. Values only ever land in element text
// and attribute values, and the built-in rules select by element alone,
// so inlining the page with tokens in place of the values, once, gives
// what inlining each row's page would (TestBuiltinPageInlinedOnce): it
// saves a fifth of a Markdown message.
type styledPage struct {
	head string     // up to the subject in <title>
	body []htmlPart // after it
}

// subjectMark stands for the subject while the page is inlined.
const subjectMark = "\uE000subject\uE000"

func (d *mdDoc) styledPage(tok slotTokens) *styledPage {
	d.styleOnce.Do(func() {
		out, err := inline.Direct(builtinPage(page{body: htmltemplate.HTML(d.raw), subject: subjectMark}))
		head, tail, ok := strings.Cut(out, subjectMark)
		if err != nil || !ok || strings.Contains(tail, subjectMark) {
			return // each row is inlined, and says what went wrong
		}
		d.styled = &styledPage{head: head, body: cutHTML(tail, tok)}
	})
	return d.styled
}

// fill writes one row's page.
func (sp *styledPage) fill(subject string, vals []string) string {
	var b strings.Builder
	b.Grow(len(sp.head) + len(subject) + htmlSize(sp.body, vals))
	b.WriteString(sp.head)
	titleEscaper.WriteString(&b, subject)
	writeHTML(&b, sp.body, vals)
	return b.String()
}
