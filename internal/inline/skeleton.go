package inline

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/html"
)

// A placeholder is markOpen, the index of its value in decimal, markClose:
// runes of the Private Use Area, which premailer writes back as they are.
const (
	markOpen  = '\uE000'
	markClose = '\uE001'
)

// skeleton is a message with its values taken out.
type skeleton struct {
	text   string
	values []string // unescaped, in placeholder order
	attrs  []int    // the indexes of values from attributes
}

// literal says what must stay as written, from what the stylesheet can
// select on.
type literal struct {
	attrs bool // attribute selectors: [href^=...]
	text  bool // :contains(...), :matches(...)
}

// skeletonOf takes the values out of doc, or returns nil when it cannot:
// doc already holds a placeholder rune, or a CDATA section, which the
// parser reads as text in SVG and this tokenizer as a comment.
func skeletonOf(doc string) *skeleton {
	if strings.ContainsRune(doc, markOpen) || strings.ContainsRune(doc, markClose) || strings.Contains(doc, "<![CDATA[") {
		return nil
	}
	sk, css := build(doc, literal{})
	need := literal{attrs: strings.Contains(css, "["),
		text: ContainsFold(css, ":contains") || ContainsFold(css, ":matches")}
	if need != (literal{}) {
		sk, _ = build(doc, need)
	}
	return sk
}

// build writes the skeleton of doc with the tokenizer premailer's parser
// uses, and returns the text of its <style> elements too.
func build(doc string, keep literal) (*skeleton, string) {
	sk := &skeleton{values: make([]string, 0, 16)}
	var b, css strings.Builder
	b.Grow(len(doc))
	z := html.NewTokenizer(strings.NewReader(doc))
	raw := "" // the element whose content the tokenizer reads as raw text
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// Only io.EOF: the reader is a string.
			sk.text = b.String()
			return sk, css.String()
		case html.TextToken:
			if raw == "style" {
				css.Write(z.Raw())
			}
			if keep.text || (raw != "" && raw != "title" && raw != "textarea") {
				b.Write(z.Raw())
				continue
			}
			if raw := z.Raw(); bytes.IndexByte(raw, '<') >= 0 || bytes.IndexByte(raw, 0) >= 0 {
				// The parser may not read this as one text.
				b.Write(raw)
				continue
			}
			sk.addText(&b, string(z.Text()))
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			raw = "" // as the tokenizer, which reads <title/> as a start tag too
			if rawText(string(name)) {
				raw = string(name)
			}
			if !hasAttr || keep.attrs || raw != "" {
				b.Write(z.Raw())
				continue
			}
			sk.addTag(&b, tt, name, z)
		default:
			// End tags, comments and doctypes stay as written.
			if tt == html.EndTagToken {
				raw = ""
			}
			b.Write(z.Raw())
		}
	}
}

// rawText reports whether the tokenizer reads an element's content as raw
// text or RCDATA.
func rawText(name string) bool {
	switch name {
	case "iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp":
		return true
	}
	return false
}

// asciiSpace is what the HTML parser counts as white space.
const asciiSpace = " \t\n\f\r"

// addText writes a text token: its white space at either end as it is,
// since the parser treats white-space-only text and a leading newline in
// <pre> differently, and the rest as a placeholder. (Text unescapes in the
// tokenizer's buffer, so the token's raw bytes are gone.)
func (sk *skeleton) addText(b *strings.Builder, text string) {
	i, j := 0, len(text)
	for i < j && strings.IndexByte(asciiSpace, text[i]) >= 0 {
		i++
	}
	for j > i && strings.IndexByte(asciiSpace, text[j-1]) >= 0 {
		j--
	}
	if strings.TrimFunc(text[i:j], unicode.IsSpace) == "" {
		// Nothing to hide; and :empty counts Unicode white space as nothing.
		escape(b, text)
		return
	}
	b.WriteString(text[:i])
	sk.placeholder(b, text[i:j])
	b.WriteString(text[j:])
}

// addTag writes a start tag with the values premailer cannot see as
// placeholders. Equal values share one, because the parser compares the
// attributes of formatting elements (<a>, <b>, ...) when it reopens them.
// The tag is written anew from its attributes as the parser reads them.
func (sk *skeleton) addTag(b *strings.Builder, tt html.TokenType, name []byte, z *html.Tokenizer) {
	b.WriteByte('<')
	b.Write(name)
	for more := true; more; {
		var key, val []byte
		key, val, more = z.TagAttr()
		b.WriteByte(' ')
		b.Write(key)
		b.WriteString(`="`)
		if len(val) == 0 || seen(string(key)) {
			escape(b, string(val))
		} else {
			writePlaceholder(b, sk.attrValue(val))
		}
		b.WriteByte('"')
	}
	if tt == html.SelfClosingTagToken {
		b.WriteByte('/')
	}
	b.WriteByte('>')
}

// seen reports whether premailer or the HTML parser reads an attribute's
// value: selectors (class, id), the style it merges into, and what changes
// how the parser builds the tree (<input type>, <font color|face|size> in
// SVG, <annotation-xml encoding>).
func seen(key string) bool {
	switch key {
	case "class", "id", "style", "type", "color", "face", "size", "encoding":
		return true
	}
	return false
}

// attrValue returns the index of an attribute value, the same for equal
// values.
func (sk *skeleton) attrValue(val []byte) int {
	for _, i := range sk.attrs {
		if sk.values[i] == string(val) {
			return i
		}
	}
	i := len(sk.values)
	sk.values = append(sk.values, string(val))
	sk.attrs = append(sk.attrs, i)
	return i
}

func (sk *skeleton) placeholder(b *strings.Builder, value string) {
	writePlaceholder(b, len(sk.values))
	sk.values = append(sk.values, value)
}

func writePlaceholder(b *strings.Builder, i int) {
	b.WriteRune(markOpen)
	var num [20]byte
	b.Write(strconv.AppendInt(num[:0], int64(i), 10))
	b.WriteRune(markClose)
}
