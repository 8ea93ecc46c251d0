package compose

import (
	"text/template/parse"

	"github.com/mailmerge/mailmerge/internal/inline"
)

// A body made of text, column values and if/else on columns cannot fail
// for a row that has every column (CheckColumns makes sure it has), and
// how long it renders is bounded by the lengths of the values. Validate,
// which check runs on every row before anything is sent, then skips running
// it; Compose always runs it. Anything else, a function, a pipeline, range,
// with, a template call, a value inside an HTML tag, and the body is run.

// shape is what a body is made of, when it is that simple. In HTML, no
// value is inside a tag and no <img> depends on an if, so the inline images
// are the same for every row.
type shape struct {
	literal int64          // bytes of text, both branches of every if counted
	refs    map[string]int // column -> times its value is written
	grow    int64          // most bytes one byte of a value can become
}

// htmlTextEscaper is what html/template puts behind a value in element
// text: it turns one byte into at most five ("&#34;").
const htmlTextEscaper = "_html_template_htmlescaper"

// shapeOf returns the shape of tree, or nil when it is not that simple.
// An HTML tree must be the escaped one, as html/template runs it.
func shapeOf(tree *parse.Tree, html bool) *shape {
	s := &shape{refs: map[string]int{}, grow: 1}
	if html {
		s.grow = 5
	}
	if tree == nil || tree.Root == nil || !s.add(tree.Root, html, false) {
		return nil
	}
	return s
}

func (s *shape) add(n parse.Node, html, inIf bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !s.add(c, html, inIf) {
				return false
			}
		}
		return true
	case *parse.TextNode:
		s.literal += int64(len(n.Text))
		return !(html && inIf && inline.ContainsFold(string(n.Text), "<img"))
	case *parse.ActionNode:
		col, ok := column(n.Pipe, html)
		if ok {
			s.refs[col]++
		}
		return ok
	case *parse.IfNode:
		if _, ok := column(n.Pipe, false); !ok {
			return false
		}
		return s.add(n.List, html, true) && s.add(n.ElseList, html, true)
	}
	return false
}

// column is the column a pipeline writes, when it is just ".column", and in
// HTML the escaper for element text behind it.
func column(p *parse.PipeNode, html bool) (string, bool) {
	if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) == 0 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	rest := p.Cmds[1:]
	if html {
		if len(rest) != 1 || len(rest[0].Args) != 1 {
			return "", false
		}
		id, ok := rest[0].Args[0].(*parse.IdentifierNode)
		if !ok || id.Ident != htmlTextEscaper {
			return "", false
		}
		rest = nil
	}
	return f.Ident[0], len(rest) == 0
}

// bound is the most bytes the body can render to for fields; ok is false
// when a column is missing, and the body must run to say so.
func (s *shape) bound(fields map[string]string) (n int64, ok bool) {
	n = s.literal
	for col, times := range s.refs {
		v, ok := fields[col]
		if !ok {
			return 0, false
		}
		n += int64(times) * int64(len(v)) * s.grow
	}
	return n, true
}

// imageCheck is the outcome of checking the inline images of a simple HTML
// body, which is the same for every row.
type imageCheck struct {
	size int64 // their size in base64
	err  error
}

// bound is the most bytes t renders to for fields, when skip allows and t
// is simple; ok is false when t must run.
func (c *Composer) bound(t *tmpl, fields map[string]string, skip bool) (int64, bool) {
	if !skip || t == nil {
		return 0, false
	}
	sh := t.simple()
	if sh == nil {
		return 0, false
	}
	n, ok := sh.bound(fields)
	// Over the limit the body would fail as it runs; let it, for the message.
	return n, ok && n <= c.spec.MaxSize
}
