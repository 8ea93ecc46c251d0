package inline

import (
	"strconv"
	"strings"
)

// result is premailer's output for a skeleton, cut at its placeholders.
type result struct {
	parts []part
	size  int // bytes of literal text
}

// part is literal text followed by the value at index, or by nothing when
// index is -1.
type part struct {
	text  string
	index int
}

// parseResult cuts out, the output for a skeleton of n values. It returns
// nil when out holds a placeholder that the skeleton did not.
func parseResult(out string, n int) *result {
	res := &result{}
	for {
		i := strings.IndexRune(out, markOpen)
		if i < 0 {
			res.parts = append(res.parts, part{text: out, index: -1})
			res.size += len(out)
			return res
		}
		rest := out[i+len(string(markOpen)):]
		j := strings.IndexRune(rest, markClose)
		if j < 0 {
			return nil
		}
		k, err := strconv.Atoi(rest[:j])
		if err != nil || k < 0 || k >= n {
			return nil
		}
		res.parts = append(res.parts, part{text: out[:i], index: k})
		res.size += i
		out = rest[j+len(string(markClose)):]
	}
}

// fill writes the result with values in its placeholders, escaped as
// premailer's serializer (html.Render) escapes text and attribute values.
// A value premailer dropped (a width it replaced) is not written, as
// premailer would not have written it.
func (r *result) fill(values []string) string {
	n := r.size
	for _, v := range values {
		n += len(v) + len(v)/8 // room for some escapes
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range r.parts {
		b.WriteString(p.text)
		if p.index >= 0 {
			escape(&b, values[p.index])
		}
	}
	return b.String()
}

// escape writes s as html.Render writes text and attribute values (its
// escape, which html.EscapeString wraps in a copy).
func escape(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '\'':
			esc = "&#39;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\r':
			esc = "&#13;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}
