package compose

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"text/template"
	"text/template/parse"
)

// Source is the text of one template and where it came from, so that errors
// can point at the file and line a person has to edit.
type Source struct {
	File string // file the text is in: a template file or the campaign file
	Key  string // campaign key when the text is a value in the campaign file ("subject")
	Line int    // line of File where Text starts (1 when the whole file is the template)
	Text string
}

// IsZero reports whether no template was given.
func (s Source) IsZero() bool { return s.Text == "" && s.File == "" }

// where names a line of the source: "campaign.toml:7: subject" or "body.txt:3".
func (s Source) where(line int) string {
	l := s.Line
	if l < 1 {
		l = 1
	}
	loc := fmt.Sprintf("%s:%d", s.File, l+line-1)
	if s.Key != "" {
		loc += ": " + s.Key
	}
	return loc
}

// lineAt converts a byte offset in Text to a 1-based line of Text.
func (s Source) lineAt(pos int) int {
	if pos > len(s.Text) {
		pos = len(s.Text)
	}
	return 1 + strings.Count(s.Text[:pos], "\n")
}

// TemplateError is a template that does not parse, names a missing column or
// fails for one recipient. Where is "file:line" (and the campaign key).
type TemplateError struct {
	Where string
	Err   error
	Help  string // what to change; "" when the message says it all
}

func (e *TemplateError) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// Hint says what to change in the template or the data.
func (e *TemplateError) Hint() string { return e.Help }

// tmpl is one parsed template: text/template for headers and the plain body,
// html/template for the HTML body.
type tmpl struct {
	src  Source
	text *template.Template
	html *htmltemplate.Template

	// shape is set, to nil when the template is not that simple, once the
	// template has parsed (text) or first run without error (HTML: the tree
	// is escaped then). See bound.go.
	shape  atomic.Pointer[shape]
	shaped atomic.Bool
}

// simple returns the template's shape when it is known and simple.
func (t *tmpl) simple() *shape {
	if t == nil || !t.shaped.Load() {
		return nil
	}
	return t.shape.Load()
}

// setShape sets the shape from tree, the template as it runs.
func (t *tmpl) setShape(tree *parse.Tree) {
	if len(t.trees()) == 1 {
		t.shape.Store(shapeOf(tree, t.html != nil))
	}
	t.shaped.Store(true)
}

func (t *tmpl) tree() *parse.Tree {
	if t.html != nil {
		return t.html.Tree
	}
	return t.text.Tree
}

// trees is the template and every template it defines with {{define}}.
func (t *tmpl) trees() []*parse.Tree {
	var out []*parse.Tree
	if t.html != nil {
		for _, d := range t.html.Templates() {
			if d.Tree != nil {
				out = append(out, d.Tree)
			}
		}
		return out
	}
	for _, d := range t.text.Templates() {
		if d.Tree != nil {
			out = append(out, d.Tree)
		}
	}
	return out
}

// name is the template's name inside text/template, which shows up in its
// error messages; it must not contain a colon.
const tmplName = "mailmerge"

func parseTemplate(src Source, html bool) (*tmpl, error) {
	return parseTemplateWith(src, html, nil)
}

// parseTemplateWith parses a template that may call more functions than
// the others (a layout's body and subject).
func parseTemplateWith(src Source, html bool, more template.FuncMap) (*tmpl, error) {
	t := &tmpl{src: src}
	var err error
	if html {
		t.html, err = htmltemplate.New(tmplName).Option("missingkey=error").Funcs(htmltemplate.FuncMap(parseFuncs)).
			Funcs(htmltemplate.FuncMap(more)).Parse(src.Text)
	} else {
		t.text, err = template.New(tmplName).Option("missingkey=error").Funcs(parseFuncs).Funcs(more).Parse(src.Text)
	}
	if err != nil {
		return nil, t.wrap(err)
	}
	for _, tree := range t.trees() {
		if pos, ok := rangeOverNumber(tree); ok {
			return nil, &TemplateError{Where: src.where(src.lineAt(int(pos))),
				Err:  errors.New("range over a number is not allowed in mail templates"),
				Help: "range over a list instead, e.g. {{range splitList \";\" .items}}"}
		}
	}
	if !html {
		t.setShape(t.text.Tree)
	}
	for _, tree := range t.trees() {
		addSteps(tree)
	}
	return t, nil
}

var (
	// "template: mailmerge:3: function "env" not defined"
	// "template: mailmerge:3:14: executing "mailmerge" at <.x>: map has no entry for key "x""
	reTemplateErr = regexp.MustCompile(`^(?:html/)?template: ` + tmplName + `:(\d+)(?::\d+)?: (.*)$`)
	reExecuting   = regexp.MustCompile(`^executing "` + tmplName + `" at <(.*?)>: (.*)$`)
	reUndefined   = regexp.MustCompile(`function "([^"]+)" not defined`)
)

// wrap turns an error of text/template or html/template into a
// TemplateError that names the source file and line.
func (t *tmpl) wrap(err error) error {
	var te *TemplateError
	if errors.As(err, &te) {
		return err
	}
	msg := err.Error()
	line := 1
	if m := reTemplateErr.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else if i := strings.Index(msg, tmplName+":"); i >= 0 {
		// html/template errors: "html/template:mailmerge:3:12: ..."
		rest := msg[i+len(tmplName)+1:]
		parts := strings.SplitN(rest, ":", 3)
		if n, e := strconv.Atoi(parts[0]); e == nil {
			line = n
			msg = strings.TrimSpace(parts[len(parts)-1])
		}
	}
	if m := reExecuting.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("at {{%s}}: %s", m[1], m[2])
	}
	var hint string
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		hint = forbiddenHint(m[1])
	}
	return &TemplateError{Where: t.src.where(line), Err: errors.New(msg), Help: hint}
}

// checkColumns returns one error per column the template names that the
// list does not have.
func (t *tmpl) checkColumns(have map[string]bool, columns []string) []error {
	var errs []error
	var refs []columnRef
	for _, tree := range t.trees() {
		refs = append(refs, columnRefs(tree)...)
	}
	for _, ref := range refs {
		if have[ref.Column] {
			continue
		}
		errs = append(errs, &TemplateError{
			Where: t.src.where(t.src.lineAt(int(ref.Pos))),
			Err:   fmt.Errorf("unknown column %q", ref.Column),
			Help:  columnsHint(ref.Column, columns),
		})
	}
	return errs
}

// columnsHint lists the columns, naming a close match first when there is one.
func columnsHint(missing string, columns []string) string {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = strconv.Quote(c)
	}
	hint := "the list has columns " + strings.Join(quoted, ", ")
	for _, c := range columns {
		if strings.EqualFold(strings.ReplaceAll(c, " ", ""), strings.ReplaceAll(missing, " ", "")) ||
			editDistance(strings.ToLower(c), strings.ToLower(missing)) <= 2 {
			hint = fmt.Sprintf("did you mean %q? ", c) + hint
			break
		}
	}
	if strings.ContainsAny(missing, " -") {
		hint += fmt.Sprintf(`; a column name with spaces or dashes is written {{index . %q}}`, missing)
	}
	return hint
}

// Closest returns the candidate within two edits of word, for "did you
// mean" hints, or "" when none is that close.
func Closest(word string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
