package compose

import (
	htmltemplate "html/template"
	"testing"
)

// TestBuiltinPage: the built-in layout, written without a template, is
// what html/template makes of it.
func TestBuiltinPage(t *testing.T) {
	lt, err := parseLayout(Source{File: "layout.html.tmpl", Line: 1, Text: builtinLayout})
	if err != nil {
		t.Fatal(err)
	}
	x := newExecutor([]*tmpl{lt})
	x.buf.start(DefaultMaxSize, DefaultTimeout)
	for _, p := range []page{
		{subject: `Tom & "Jerry" <3 'x' 1+1`, body: "<p>Hi <b>there</b></p>\n"},
		{subject: "来自娜美的问候 · Grüße\x00", body: htmltemplate.HTML("<table><tr><td>1</td></tr></table>")},
	} {
		x.page = p
		want, err := x.run(lt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := builtinPage(p); got != want {
			t.Errorf("builtinPage\n%s\nhtml/template\n%s", got, want)
		}
	}
}
