package compose

import (
	"bytes"
	"errors"
	htmltemplate "html/template"
	"strconv"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"
	"time"
)

// executor runs a Composer's templates for one row at a time. It holds its
// own clones of them, whose functions are bound to its buffer: that is how
// a function call knows the limits of the row it runs for.
type executor struct {
	buf     *limitedBuffer
	text    map[*tmpl]*template.Template
	html    map[*tmpl]*htmltemplate.Template
	running atomic.Pointer[tmpl] // the template run last, for overtime

	// For a Markdown body (markdown.go): the values its actions wrote, in
	// order, their tokens, and the page its layout shows.
	slots  []string
	tokens slotTokens
	page   page

	unsubscribe string // the row's one-click link (unsubscribe.go)
}

func newExecutor(ts []*tmpl) *executor {
	x := &executor{buf: new(limitedBuffer), text: map[*tmpl]*template.Template{}, html: map[*tmpl]*htmltemplate.Template{}}
	funcs := funcsFor(x.buf)
	funcs[slotFunc] = x.slot
	funcs[unsubscribeFunc] = x.unsubscribeURL
	for name, f := range x.pageFuncs() {
		funcs[name] = f
	}
	for _, t := range ts {
		// The originals never run, so an HTML one can still be cloned:
		// each clone is escaped when it first runs.
		if t.html != nil {
			x.html[t] = htmltemplate.Must(t.html.Clone()).Funcs(htmltemplate.FuncMap(funcs))
		} else {
			x.text[t] = template.Must(t.text.Clone()).Funcs(funcs)
		}
	}
	return x
}

// executors keeps idle executors for the next rows: one per row rendering
// at the same time. A sync.Pool would drop them at every GC, and making
// one escapes the HTML template again.
type executors struct {
	mu   sync.Mutex
	idle []*executor
}

func (c *Composer) executor() *executor {
	c.execs.mu.Lock()
	defer c.execs.mu.Unlock()
	if n := len(c.execs.idle); n > 0 {
		x := c.execs.idle[n-1]
		c.execs.idle = c.execs.idle[:n-1]
		return x
	}
	x := newExecutor(c.templates())
	x.tokens = c.tokens
	return x
}

func (c *Composer) release(x *executor) {
	if x.buf.Cap() > 256<<10 { // a rare huge message should not pin its buffer
		x.buf.Buffer = bytes.Buffer{}
	}
	c.execs.mu.Lock()
	c.execs.idle = append(c.execs.idle, x)
	c.execs.mu.Unlock()
}

// run renders t into the buffer, which it empties first, and returns the
// text.
func (x *executor) run(t *tmpl, fields map[string]string) (string, error) {
	if t == nil {
		return "", nil
	}
	x.running.Store(t)
	b := x.buf
	b.Reset()
	b.held = 0
	var err error
	if h := x.html[t]; h != nil {
		if err = h.Execute(b, fields); err == nil && !t.shaped.Load() {
			t.setShape(h.Tree)
		}
	} else {
		err = x.text[t].Execute(b, fields)
	}
	if err == nil {
		err = b.error() // a limit hit by the last write, which could not fail
	}
	if err != nil {
		var le *limitError
		if errors.As(err, &le) {
			return "", &TemplateError{Where: t.src.where(lineOf(err)), Err: le, Help: le.help()}
		}
		return "", t.wrap(err)
	}
	return b.String(), nil
}

// overtime is the error of a row that is still rendering past its time
// limit and grace: one step runs long, most likely one call of a function
// on large data. It names the template running and the line of that call,
// or nil when no template has started yet. The caller reads it before it
// gives the executor up, while the row's goroutine still holds it.
func (x *executor) overtime(timeout time.Duration) *TemplateError {
	t := x.running.Load()
	if t == nil {
		return nil
	}
	le := &limitError{timeout: timeout}
	where := t.src.File
	if t.src.Key != "" {
		where = t.src.where(1) // a header in the campaign file: its line
	}
	if name := x.buf.calling.Load(); name != nil {
		le.call = *name
		if pos, ok := t.callAt(*name); ok {
			where = t.src.where(t.src.lineAt(int(pos)))
		}
	}
	return &TemplateError{Where: where, Err: le, Help: le.help()}
}

// callAt is where the template first calls the function name, as a byte
// offset in its text; ok is false when it never does.
func (t *tmpl) callAt(name string) (at parse.Pos, ok bool) {
	for _, tree := range t.trees() {
		if pos, found := firstCall(tree.Root, name); found && (!ok || pos < at) {
			at, ok = pos, true
		}
	}
	return at, ok
}

// firstCall finds the function name in n, as a command or an argument.
func firstCall(n parse.Node, name string) (parse.Pos, bool) {
	var kids []parse.Node
	switch n := n.(type) {
	case *parse.IdentifierNode:
		return n.Pos, n.Ident == name
	case *parse.ListNode:
		if n != nil {
			kids = n.Nodes
		}
	case *parse.ActionNode:
		kids = []parse.Node{n.Pipe}
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				kids = append(kids, c)
			}
		}
	case *parse.CommandNode:
		kids = n.Args
	case *parse.ChainNode:
		kids = []parse.Node{n.Node}
	case *parse.IfNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.RangeNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.WithNode:
		kids = []parse.Node{n.Pipe, n.List, n.ElseList}
	case *parse.TemplateNode:
		kids = []parse.Node{n.Pipe}
	}
	for _, k := range kids {
		if pos, ok := firstCall(k, name); ok {
			return pos, true
		}
	}
	return 0, false
}

// lineOf is the template line text/template names in err, or 1.
func lineOf(err error) int {
	if m := reTemplateErr.FindStringSubmatch(err.Error()); m != nil {
		if n, e := strconv.Atoi(m[1]); e == nil {
			return n
		}
	}
	return 1
}

// addSteps puts a call of stepFunc at the start of every range body and
// every {{define}}d template of tree, declared to a variable so that it
// writes nothing (html/template leaves such actions alone).
func addSteps(tree *parse.Tree) {
	if tree == nil || tree.Root == nil {
		return
	}
	for n := range rangeNodes(tree.Root) {
		if n.List == nil {
			n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
		}
		n.List.Nodes = append([]parse.Node{stepNode(n.Pos, n.Line)}, n.List.Nodes...)
	}
	if tree.Name != tmplName {
		tree.Root.Nodes = append([]parse.Node{stepNode(tree.Root.Pos, 0)}, tree.Root.Nodes...)
	}
}

// stepNode is {{$_mailmerge_step := _mailmerge_step}} at pos, which is
// where an error of the step points.
func stepNode(pos parse.Pos, line int) *parse.ActionNode {
	cmd := &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: []parse.Node{parse.NewIdentifier(stepFunc).SetPos(pos)}}
	v := &parse.VariableNode{NodeType: parse.NodeVariable, Pos: pos, Ident: []string{"$" + stepFunc}}
	pipe := &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Line: line, Decl: []*parse.VariableNode{v}, Cmds: []*parse.CommandNode{cmd}}
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Line: line, Pipe: pipe}
}
