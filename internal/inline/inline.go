// Package inline moves the rules of an HTML message's <style> elements into
// style attributes, which Gmail and Outlook keep where they drop or mangle
// <style>. What cannot be inlined, media queries and :hover for example,
// stays in a <style> element. The inlining is github.com/vanng822/go-premailer's.
//
// Premailer parses and queries the whole document, about 100 µs for a
// 3 KB message: too slow to run for every recipient. But data cannot add
// markup (html/template escapes it), so a campaign's messages repeat a few
// element structures and differ in their text and attribute values. An
// Inliner therefore runs premailer once per structure, on a skeleton of the
// message in which each text and each value premailer cannot see (href,
// src, alt, ...) is a placeholder, and fills this message's values into
// the cached result. Whatever premailer's answer could depend on stays
// literal in the skeleton: <style> and <script> contents, class, id and
// style attributes, attributes the HTML parser reads (type, ...), every
// attribute when the stylesheet has attribute selectors and every text
// when it matches text (:contains). The cache is bounded; past it,
// messages go through premailer one by one.
package inline

import (
	"fmt"
	"strings"
	"sync"

	"github.com/vanng822/go-premailer/premailer"
)

// Cache bounds: a campaign whose structure varies with its data (a range
// over a column) fills them, and its messages are then inlined one by one.
const (
	maxEntries = 256
	maxBytes   = 16 << 20 // skeletons and results together
)

// Inliner inlines the CSS of one campaign's messages. Its zero value is
// not ready; use New. It is safe for concurrent use.
type Inliner struct {
	mu    sync.RWMutex
	cache map[string]*result // skeleton -> premailer's output for it
	bytes int
}

// New returns an Inliner with an empty cache.
func New() *Inliner {
	return &Inliner{cache: map[string]*result{}}
}

// Applies reports whether doc has a <style> element to inline; Inline
// returns any other document unchanged.
func Applies(doc string) bool { return ContainsFold(doc, "<style") }

// Inline returns doc with its <style> rules moved into style attributes,
// exactly as premailer writes it.
func (in *Inliner) Inline(doc string) (string, error) {
	if !Applies(doc) {
		return doc, nil
	}
	sk := skeletonOf(doc)
	if sk == nil {
		return Direct(doc)
	}
	in.mu.RLock()
	res := in.cache[sk.text]
	in.mu.RUnlock()
	if res == nil {
		out, err := Direct(sk.text)
		if err != nil {
			return "", err
		}
		if res = parseResult(out, len(sk.values)); res == nil {
			return Direct(doc)
		}
		in.store(sk.text, res)
	}
	return res.fill(sk.values), nil
}

// store keeps res for the skeleton unless the cache is full.
func (in *Inliner) store(skeleton string, res *result) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.cache[skeleton]; ok {
		return
	}
	n := len(skeleton) + res.size
	if len(in.cache) >= maxEntries || in.bytes+n > maxBytes {
		return
	}
	in.cache[skeleton] = res
	in.bytes += n
}

// Direct runs premailer on doc, with its default options: width and
// height in px also become attributes, for Outlook.
func Direct(doc string) (out string, err error) {
	defer func() {
		// A stylesheet premailer's parsers choke on fails this message, not the run.
		if p := recover(); p != nil {
			out, err = "", fmt.Errorf("premailer: %v", p)
		}
	}()
	p, err := premailer.NewPremailerFromString(doc, premailer.NewOptions())
	if err != nil {
		return "", err
	}
	return p.Transform()
}

// ContainsFold is strings.Contains ignoring ASCII case, without copying s;
// sub must start with a byte that has no case, such as '<'. compose looks
// for <img with it as this package looks for <style.
func ContainsFold(s, sub string) bool {
	for {
		i := strings.IndexByte(s, sub[0])
		if i < 0 || len(s)-i < len(sub) {
			return false
		}
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
		s = s[i+1:]
	}
}
