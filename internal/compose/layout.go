package compose

import (
	_ "embed"
	htmltemplate "html/template"
	"text/template"
)

// A layout is the HTML page a Markdown body is shown in: an html/template
// whose dot is the row, as in every other template ({{.name}}), and which
// calls {{body}} for the HTML of the Markdown (trusted, not escaped again)
// and {{subject}} for the message's subject. The built-in one is small,
// responsive and keeps its rules in one <style> block.

//go:embed layout.html.tmpl
var builtinLayout string

// builtinLayoutName is what errors call the built-in layout.
const builtinLayoutName = "built-in layout"

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

// parseLayout parses the layout of a Markdown body, the built-in one when
// src is zero.
func parseLayout(src Source) (*tmpl, error) {
	if src.IsZero() {
		src = Source{File: builtinLayoutName, Line: 1, Text: builtinLayout}
	}
	return parseTemplateWith(src, true, layoutFuncs)
}
