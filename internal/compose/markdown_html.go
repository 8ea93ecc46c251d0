package compose

import (
	"net/url"
	"strings"

	"github.com/yuin/goldmark/util"
)

// The HTML goldmark writes for token text, cut at the tokens, so that each
// row only writes values into it. Where a token landed decides how its
// value is escaped, as html/template decides for an HTML body:
//
//   - in element text or an attribute such as alt or title: HTML-escaped;
//   - in an href or src: before any '?' or '#' of the template's own text,
//     characters a URL cannot hold are percent-encoded (a '/' stays, so a
//     cell may hold a whole address); after it, the value is escaped as one
//     query value, so it cannot add parameters. Then HTML-escaped. A URL
//     that values helped write must be relative or http, https, mailto or
//     tel, else it becomes "#ZgotmplZ", as in html/template.
//
// goldmark escapes '<', '>' and '"' in what it writes, so outside a tag a
// '<' starts one, and inside an attribute value '"' ends it.

// htmlPart is a piece of literal HTML followed by one value, or by the
// value of a URL attribute that holds values.
type htmlPart struct {
	lit  string
	slot int        // the value after lit; -1 for none
	url  []htmlPart // instead of slot: an href or src value, each slot in it URL-escaped
	// query: the slot is after a '?' or '#' in its URL.
	query bool
}

// cutHTML cuts the HTML of token text at its tokens.
func cutHTML(h string, tok slotTokens) []htmlPart {
	var parts []htmlPart
	for {
		at, n, slot := tok.next(h)
		if at < 0 {
			return append(parts, htmlPart{lit: h, slot: -1})
		}
		if start, end, ok := urlValueAround(h, at); ok {
			parts = append(parts, htmlPart{lit: h[:start], slot: -1, url: cutURL(h[start:end], tok)})
			h = h[end:]
			continue
		}
		parts = append(parts, htmlPart{lit: h[:at], slot: slot})
		h = h[at+n:]
	}
}

// cutURL cuts the value of a URL attribute at its tokens.
func cutURL(v string, tok slotTokens) []htmlPart {
	var parts []htmlPart
	query := false
	for {
		at, n, slot := tok.next(v)
		if at < 0 {
			return append(parts, htmlPart{lit: v, slot: -1})
		}
		query = query || strings.ContainsAny(v[:at], "?#")
		parts = append(parts, htmlPart{lit: v[:at], slot: slot, query: query})
		v = v[at+n:]
	}
}

// urlValueAround finds the href or src value that the byte at i is in:
// h[start:end], between the quotes.
func urlValueAround(h string, i int) (start, end int, ok bool) {
	lt := strings.LastIndexByte(h[:i], '<')
	if lt < 0 || strings.LastIndexByte(h[:i], '>') > lt {
		return 0, 0, false // in element text
	}
	eq := strings.LastIndex(h[lt:i], `="`)
	if eq < 0 {
		return 0, 0, false
	}
	eq += lt
	name := h[lt:eq]
	name = name[strings.LastIndexAny(name, " \t\n")+1:]
	if name != "href" && name != "src" {
		return 0, 0, false
	}
	q := strings.IndexByte(h[i:], '"')
	if q < 0 {
		return 0, 0, false
	}
	return eq + 2, i + q, true
}

// fillHTML writes the values into the HTML.
func (d *mdDoc) fillHTML(vals []string) string {
	var b strings.Builder
	b.Grow(htmlSize(d.html, vals))
	writeHTML(&b, d.html, vals)
	return b.String()
}

// htmlSize is about the size of parts with vals written in.
func htmlSize(parts []htmlPart, vals []string) int {
	n := 0
	for _, p := range parts {
		n += len(p.lit)
	}
	for _, v := range vals {
		n += len(v) + len(v)/8
	}
	return n
}

// writeHTML writes parts with the values in, each escaped for its place.
func writeHTML(b *strings.Builder, parts []htmlPart, vals []string) {
	for _, p := range parts {
		b.WriteString(p.lit)
		switch {
		case p.url != nil:
			b.WriteString(fillURL(p.url, vals))
		case p.slot >= 0 && p.slot < len(vals):
			htmlEscaper.WriteString(b, vals[p.slot])
		}
	}
}

// htmlEscaper escapes a value for HTML text and quoted attributes.
var htmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&#34;", `'`, "&#39;")

// fillURL writes the values into a URL attribute value and checks the
// scheme of the whole.
func fillURL(parts []htmlPart, vals []string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.lit)
		if p.slot < 0 || p.slot >= len(vals) {
			continue
		}
		v := vals[p.slot]
		if p.query {
			v = url.QueryEscape(v)
		} else {
			v = string(util.URLEscape([]byte(v), false))
		}
		htmlEscaper.WriteString(&b, v)
	}
	if !safeURL(b.String()) {
		return "#ZgotmplZ"
	}
	return b.String()
}

// safeURL reports whether u is relative or has a scheme a mail may link to.
func safeURL(u string) bool {
	i := strings.IndexAny(u, ":/?#")
	if i < 0 || u[i] != ':' {
		return true
	}
	switch strings.ToLower(u[:i]) {
	case "http", "https", "mailto", "tel":
		return true
	}
	return false
}
