package compose

import (
	"bytes"
	"crypto/rand"
	"fmt"
	htmltemplate "html/template"
	"strconv"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// Markdown bodies (Spec.Markdown) make both parts of a message from one
// text/template that writes Markdown.
//
// Data cannot add markup: a cell holding "**", "[x](javascript:…)",
// "![](http://tracker/p.gif)" or "<script>" shows as those characters and
// adds no element, link or image. So the Markdown is never parsed with data
// in it. Every action that writes ends in a call of slotFunc, added to the
// parsed tree the way html/template adds its escapers; it keeps the value
// aside and writes a token in its place. A token is letters and digits
// only, so goldmark reads it as a word: "**{{.name}}**" is still bold, and
// "{{.url}}" never becomes a link, whatever the cell holds. Its prefix has
// a random part drawn when the campaign loads, so no template text can
// pass for one. The token text is parsed; then the values go into the HTML
// escaped for where their token landed (element text, an attribute, a URL:
// see markdown_html.go) and into the text part as they are
// (markdown_text.go).
//
// As the parse no longer depends on the data, it is cached by the token
// text: a template whose control flow does not depend on the data parses
// once per campaign, and every other row only fills in values.

// slotFunc ends every writing action of a Markdown template.
const slotFunc = "_mailmerge_slot"

// markdown is the parser: GitHub's tables, strikethrough and bare links,
// and CJK line breaks. Raw HTML is off (no html.WithUnsafe): the template's
// own "<b>" becomes "<!-- raw HTML omitted -->" and a link to javascript:
// has no href. Heading IDs are off, so no value lands in an id.
var markdown = goldmark.New(goldmark.WithExtensions(
	extension.Table, extension.Strikethrough, extension.Linkify, extension.CJK))

// markdownMu makes one parse at a time: goldmark does not promise that one
// parser may run in parallel, and parses are rare (see docCache).
var markdownMu sync.Mutex

// slotTokens writes and finds the tokens of one Composer: prefix, the
// value's number, 'X'.
type slotTokens struct{ prefix string }

func newSlotTokens() slotTokens {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return slotTokens{prefix: "MM" + string(b[:])}
}

func (t slotTokens) token(i int) string { return t.prefix + strconv.Itoa(i) + "X" }

// next finds the first token in s: where it starts, how long it is and
// the number of its value; at is -1 when s holds none.
func (t slotTokens) next(s string) (at, n, slot int) {
	from := 0
	for {
		i := strings.Index(s[from:], t.prefix)
		if i < 0 {
			return -1, 0, 0
		}
		i += from
		j := i + len(t.prefix)
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j && k < len(s) && s[k] == 'X' {
			if v, err := strconv.Atoi(s[j:k]); err == nil {
				return i, k + 1 - i, v
			}
		}
		from = j
	}
}

// expand puts the values in place of the tokens of s, as they are.
func (t slotTokens) expand(s string, vals []string) string {
	at, n, slot := t.next(s)
	if at < 0 {
		return s
	}
	var b strings.Builder
	for at >= 0 {
		b.WriteString(s[:at])
		if slot < len(vals) {
			b.WriteString(vals[slot])
		}
		s = s[at+n:]
		at, n, slot = t.next(s)
	}
	b.WriteString(s)
	return b.String()
}

// addSlots ends every action of tree that writes in a call of slotFunc.
func addSlots(tree *parse.Tree) {
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			if p := n.Pipe; p != nil && len(p.Decl) == 0 {
				id := parse.NewIdentifier(slotFunc).SetPos(n.Pos)
				p.Cmds = append(p.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	if tree != nil {
		walk(tree.Root)
	}
}

// slot keeps a written value aside and writes its token instead. The value
// counts against the message size as if it had been written.
func (x *executor) slot(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v) // as text/template prints it
	}
	b := x.buf
	if err := b.step(); err != nil {
		return "", err
	}
	if err := b.fits(int64(len(s))); err != nil {
		return "", err
	}
	b.held += int64(len(s))
	x.slots = append(x.slots, s)
	return x.tokens.token(len(x.slots) - 1), nil
}

// mdDoc is the Markdown of one token text, parsed: the tree for the text
// part and the HTML cut at the tokens.
type mdDoc struct {
	source []byte
	root   ast.Node
	raw    string // the HTML as goldmark wrote it, tokens in
	html   []htmlPart
	images map[string]bool // <img src> paths with no token in them: the template's own

	// The built-in page around the HTML with its CSS inlined, made once
	// (styledPage); nil when premailer failed, and each row is inlined.
	styleOnce sync.Once
	styled    *styledPage
}

func parseMarkdown(src string, tok slotTokens) *mdDoc {
	d := &mdDoc{source: []byte(src)}
	var out bytes.Buffer
	markdownMu.Lock()
	d.root = markdown.Parser().Parse(text.NewReader(d.source))
	err := markdown.Renderer().Render(&out, d.source, d.root)
	markdownMu.Unlock()
	if err != nil {
		panic("compose: goldmark cannot write to a bytes.Buffer: " + err.Error()) // it only fails when its writer does
	}
	h := out.String()
	d.raw = h
	d.html = cutHTML(h, tok)
	d.images = map[string]bool{}
	for src := range literalImages(h) {
		if at, _, _ := tok.next(src); at < 0 {
			d.images[src] = true
		}
	}
	return d
}

// docCache keeps parsed Markdown by its token text. It is bounded: a
// template whose structure follows the data (a range over a cell's items)
// would otherwise keep one per row.
type docCache struct {
	mu    sync.RWMutex
	docs  map[string]*mdDoc
	bytes int
}

const (
	docCacheBytes   = 8 << 20 // token text kept, summed
	docCacheEntries = 256
)

func (dc *docCache) get(key string) *mdDoc {
	dc.mu.RLock()
	defer dc.mu.RUnlock()
	return dc.docs[key]
}

func (dc *docCache) put(key string, d *mdDoc) {
	if len(key) > docCacheBytes/4 {
		return
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.docs == nil {
		dc.docs = map[string]*mdDoc{}
	}
	for k := range dc.docs { // any entry will do: a full cache means rows differ
		if dc.bytes+len(key) <= docCacheBytes && len(dc.docs) < docCacheEntries {
			break
		}
		dc.bytes -= len(k)
		delete(dc.docs, k)
	}
	if _, ok := dc.docs[key]; !ok {
		dc.docs[key] = d
		dc.bytes += len(key)
	}
}

// page is what a layout shows: the HTML of the Markdown and the subject.
type page struct {
	body    htmltemplate.HTML
	subject string
}

// renderMarkdown makes both parts of a Markdown body for one row: the
// Markdown with tokens for values, parsed (or found parsed), then the
// values put in, and the HTML set in the layout.
func (c *Composer) renderMarkdown(x *executor, fields map[string]string, r *rendered) error {
	x.slots = x.slots[:0]
	src, err := x.run(c.md, fields)
	if err != nil {
		return err
	}
	d := c.docs.get(src)
	if d == nil {
		d = parseMarkdown(src, c.tokens)
		c.docs.put(src, d)
	}
	r.text = plainText(d, c.tokens, x.slots)
	r.mdImages = d.images
	subject := cleanHeaderValue(r.subject)
	if c.layout == nil && c.css != nil {
		if sp := d.styledPage(c.tokens); sp != nil {
			r.html, r.inlined = sp.fill(subject, x.slots), true
			return nil
		}
	}
	p := page{body: htmltemplate.HTML(d.fillHTML(x.slots)), subject: subject}
	if c.layout == nil {
		r.html = builtinPage(p)
		return nil
	}
	x.page = p
	r.html, err = x.run(c.layout, fields)
	x.page = page{}
	return err
}
