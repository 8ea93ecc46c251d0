package compose

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/util"

	"github.com/mailmerge/mailmerge/internal/human"
)

// plainText writes the text part of a Markdown body from the Markdown
// itself, not from its HTML: a link keeps its address as "text (url)", a
// table stays a table with its columns aligned by display width, headings
// are underlined, lists keep "- " and "1. ", code is indented, and emphasis
// markers are dropped. Values go in as they are: a text part has no markup
// for them to add.
func plainText(d *mdDoc, tok slotTokens, vals []string) string {
	w := &plainWriter{src: d.source, tok: tok, vals: vals, marker: -1}
	w.b.Grow(len(d.source))
	w.children(d.root)
	return strings.TrimRight(w.b.String(), "\n") + "\n"
}

type plainWriter struct {
	src  []byte
	tok  slotTokens
	vals []string
	b    strings.Builder

	indent []string // what starts each line in the open blocks, outermost first
	// A list item's "- " or "1. " starts its first line in place of
	// indent[marker]; -1 when no marker waits.
	marker     int
	markerText string
}

// line writes one line with the prefixes of the open blocks.
func (w *plainWriter) line(s string) {
	if len(w.indent) == 0 {
		w.b.WriteString(s)
		w.b.WriteByte('\n')
		return
	}
	var pre strings.Builder
	for i, p := range w.indent {
		if i == w.marker {
			p = w.markerText
			w.marker = -1
		}
		pre.WriteString(p)
	}
	if s == "" {
		w.b.WriteString(strings.TrimRight(pre.String(), " "))
	} else {
		w.b.WriteString(pre.String())
		w.b.WriteString(s)
	}
	w.b.WriteByte('\n')
}

// text writes s, which may hold line breaks, line by line.
func (w *plainWriter) text(s string) {
	for l := range strings.SplitSeq(s, "\n") {
		w.line(l)
	}
}

// children writes the blocks of n, a blank line between two, except
// between the items of a tight list and after the text of a tight item.
func (w *plainWriter) children(n ast.Node) {
	var prev ast.Node
	for c := n.FirstChild(); c != nil; c = c.NextSibling() {
		if c.Kind() == ast.KindHTMLBlock {
			continue // left out of the HTML part too
		}
		if prev != nil && prev.Kind() != ast.KindTextBlock {
			w.line("")
		}
		w.block(c)
		prev = c
	}
}

func (w *plainWriter) block(n ast.Node) {
	switch n := n.(type) {
	case *ast.Paragraph, *ast.TextBlock:
		w.text(w.inlines(n))
	case *ast.Heading:
		s := w.inlines(n)
		w.text(s)
		if n.Level <= 2 {
			under := "="
			if n.Level == 2 {
				under = "-"
			}
			w.line(strings.Repeat(under, max(widest(s), 3)))
		}
	case *ast.ThematicBreak:
		w.line("----------")
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		w.code(n)
	case *ast.Blockquote:
		w.indent = append(w.indent, "> ")
		w.children(n)
		w.indent = w.indent[:len(w.indent)-1]
	case *ast.List:
		w.list(n)
	case *east.Table:
		w.table(n)
	default:
		w.children(n)
	}
}

// code writes a code block indented by four spaces, values' lines too.
func (w *plainWriter) code(n ast.Node) {
	lines := n.Lines()
	w.indent = append(w.indent, "    ")
	for i := 0; i < lines.Len(); i++ {
		seg := lines.At(i)
		w.text(strings.TrimRight(w.tok.expand(string(seg.Value(w.src)), w.vals), "\n"))
	}
	w.indent = w.indent[:len(w.indent)-1]
}

func (w *plainWriter) list(n *ast.List) {
	num := n.Start
	for item := n.FirstChild(); item != nil; item = item.NextSibling() {
		if item != n.FirstChild() && !n.IsTight {
			w.line("")
		}
		marker := "- "
		if n.IsOrdered() {
			marker = strconv.Itoa(num) + ". "
			num++
		}
		w.indent = append(w.indent, strings.Repeat(" ", len(marker)))
		w.marker, w.markerText = len(w.indent)-1, marker
		w.children(item)
		if w.marker >= 0 { // an empty item still shows its marker
			w.line("")
		}
		w.indent = w.indent[:len(w.indent)-1]
	}
}

// table writes a table with its columns aligned by display width.
func (w *plainWriter) table(t *east.Table) {
	type cell struct {
		text  string
		width int
	}
	var rows [][]cell
	cols := len(t.Alignments)
	for r := t.FirstChild(); r != nil; r = r.NextSibling() {
		var cells []cell
		for c := r.FirstChild(); c != nil; c = c.NextSibling() {
			s := w.inlines(c)
			if strings.ContainsAny(s, "\t\n\r") {
				s = strings.Join(strings.Fields(s), " ")
			}
			cells = append(cells, cell{s, displayWidth(s)})
		}
		cols = max(cols, len(cells))
		rows = append(rows, cells)
	}
	widths := make([]int, cols)
	for _, cells := range rows {
		for i, c := range cells {
			widths[i] = max(widths[i], c.width)
		}
	}
	for i, cells := range rows {
		var b strings.Builder
		for j := range cols {
			var c cell
			if j < len(cells) {
				c = cells[j]
			}
			pad := strings.Repeat(" ", widths[j]-c.width)
			if j > 0 {
				b.WriteString("  ")
			}
			if j < len(t.Alignments) && t.Alignments[j] == east.AlignRight {
				b.WriteString(pad + c.text)
			} else {
				b.WriteString(c.text + pad)
			}
		}
		w.line(strings.TrimRight(b.String(), " "))
		if i == 0 && t.FirstChild().Kind() == east.KindTableHeader {
			rule := make([]string, cols)
			for j := range rule {
				rule[j] = strings.Repeat("-", max(widths[j], 1))
			}
			w.line(strings.Join(rule, "  "))
		}
	}
}

// inlines is the text of the inline content of n.
func (w *plainWriter) inlines(n ast.Node) string {
	var b strings.Builder
	w.inline(&b, n)
	return b.String()
}

func (w *plainWriter) inline(b *strings.Builder, parent ast.Node) {
	for c := parent.FirstChild(); c != nil; c = c.NextSibling() {
		switch c := c.(type) {
		case *ast.Text:
			v := c.Segment.Value(w.src)
			if !c.IsRaw() {
				v = unescapeMarkdown(v)
			}
			b.WriteString(w.tok.expand(string(v), w.vals))
			if c.SoftLineBreak() || c.HardLineBreak() {
				b.WriteByte('\n')
			}
		case *ast.String:
			b.WriteString(w.tok.expand(string(c.Value), w.vals))
		case *ast.Link:
			label := w.inlines(c)
			dest := w.tok.expand(string(unescapeMarkdown(c.Destination)), w.vals)
			b.WriteString(linkText(label, dest))
		case *ast.AutoLink:
			b.WriteString(w.tok.expand(string(c.Label(w.src)), w.vals))
		case *ast.RawHTML:
			// left out of the HTML part too
		default: // emphasis, strikethrough, code, an image's alt text: their text alone
			w.inline(b, c)
		}
	}
}

// linkText is "text (url)", or the url alone when it says the same.
func linkText(label, dest string) string {
	if "mailto:"+label == dest {
		return label
	}
	if label == "" || label == dest {
		return dest
	}
	if dest == "" {
		return label
	}
	return label + " (" + dest + ")"
}

// unescapeMarkdown reads backslash escapes and character references, as
// goldmark does when it writes HTML.
func unescapeMarkdown(v []byte) []byte {
	if bytes.IndexByte(v, '\\') < 0 && bytes.IndexByte(v, '&') < 0 {
		return v
	}
	return util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(v)))
}

// widest is the display width of the widest line of s.
func widest(s string) int {
	n := 0
	for l := range strings.SplitSeq(s, "\n") {
		n = max(n, displayWidth(l))
	}
	return n
}

// displayWidth is human.Width, quicker for ASCII, which is one column a byte.
func displayWidth(s string) int {
	if isASCII(s) {
		return len(s)
	}
	return human.Width(s)
}
