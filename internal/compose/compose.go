// Package compose turns templates and one recipient's fields into one
// complete, personal message: headers, envelope and MIME body.
//
// Headers, attachment paths and the plain body are text/template; the HTML
// body is html/template, so data is escaped. Templates may call Go's
// built-in functions and an allowlisted part of sprig (the README lists
// them). Before any recipient renders, CheckColumns proves that every column
// a template names exists in the list; rendering uses missingkey=error.
//
// Data can never add a header or a recipient: a CR or LF in a rendered
// header value becomes a space, and addresses are parsed with net/mail.
// Templates run within a time limit and max_message_size, and what their
// functions build is bounded too (see limits.go).
//
// Formats: Internet Message Format (RFC 5322), MIME (RFC 2045, 2046, 2047
// for encoded words in headers, 2048 and 2049), parameter values and
// filenames (RFC 2231), cid: links to inline images (RFC 2392), and DKIM
// signatures (RFC 6376, RFC 8463; see dkim.go). The MIME writing and the
// signing are done by github.com/wneessen/go-mail; this package adds the
// templates, the address rules and the limits.
package compose

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/inline"
)

// DefaultMaxSize is the largest message, attachments included, that
// Compose accepts when Spec.MaxSize is zero.
const DefaultMaxSize = 25 << 20

// DefaultMaxAttachments is the largest total of attachments one message
// may carry when Spec.MaxAttachments is zero: providers refuse more.
const DefaultMaxAttachments = 20 << 20

// DefaultTimeout bounds rendering one recipient's templates.
const DefaultTimeout = 5 * time.Second

// HeaderSpec is one extra header: a fixed name and a templated value.
type HeaderSpec struct {
	Name  string
	Value Source
}

// Spec is everything a campaign says about its messages.
type Spec struct {
	From, To, Cc, Bcc, ReplyTo, Subject Source
	// ToDisplay, when set, is shown as the To header (as an empty address
	// group, "有缘人:;") while the message goes to the addresses of To.
	ToDisplay  Source
	Headers    []HeaderSpec
	Text, HTML Source // bodies; at least one, or Markdown
	// Markdown, instead of Text and HTML, is a text/template writing
	// Markdown that both parts are made from; Layout, an html/template, is
	// the page its HTML is shown in (zero: the built-in one). See
	// markdown.go and layout.go.
	Markdown, Layout Source
	Attachments      []Source // templated paths, relative to Dir
	Dir              string   // folder relative paths resolve against
	// FileRoots are folders besides Dir that a path written with data may
	// name (relative to Dir); see files.go.
	FileRoots []string

	MaxSize        int64         // bytes; 0 means DefaultMaxSize
	MaxAttachments int64         // total attachment bytes; 0 means DefaultMaxAttachments
	Timeout        time.Duration // per recipient; 0 means DefaultTimeout
	Mailer         string        // User-Agent value, e.g. "mailmerge/1.0"

	// InlineCSS moves the rules of the HTML body's <style> elements into
	// style attributes, for mail clients that drop <style>; what cannot be
	// inlined (media queries) stays in a <style> element. Campaign key
	// inline_css, default true.
	InlineCSS bool

	// Deterministic output: Message-ID, boundaries and Date derive from Seed
	// and the row instead of randomness and the clock.
	Deterministic bool
	Seed          string
	Date          time.Time

	// RedirectTo, when set, makes every message a test send to this one
	// address (send --redirect-to): the To header and the envelope name it
	// alone, Cc and Bcc are dropped, the Subject starts with "[TEST] " and
	// X-Mailmerge-Original-To holds the To the row would have had. Validate
	// is unaffected: it checks the message the real run will send.
	RedirectTo *mail.Address

	// Unsubscribe, when set, gives every message List-Unsubscribe (RFC
	// 2369) and, with a URL, List-Unsubscribe-Post (RFC 8058), and the
	// templates {{unsubscribeURL}}. See unsubscribe.go.
	Unsubscribe *Unsubscribe

	// DKIM, when set, signs every message (see dkim.go); with
	// Deterministic its t= is Date.
	DKIM *DKIM
}

// Composer renders messages for one campaign. It is safe for concurrent use.
type Composer struct {
	spec        Spec
	from        *tmpl
	to, cc, bcc *tmpl
	replyTo     *tmpl
	subject     *tmpl
	toDisplay   *tmpl
	headers     []headerTmpl
	text, html  *tmpl
	md, layout  *tmpl    // a Markdown body and its layout
	docs        docCache // the Markdown parsed, by token text
	tokens      slotTokens
	attachments []*tmpl
	mayLoop     bool                       // some template nests loops or calls templates
	images      atomic.Pointer[imageCheck] // set once a simple HTML body's images are checked
	css         *inline.Inliner            // nil when Spec.InlineCSS is off
	styled      bool                       // the HTML template has a <style> that css changes
	execs       executors
	unsubscribe bool // some template calls unsubscribeURL

	dir           string          // Spec.Dir, absolute
	roots         fsafe.Roots     // where paths written with data may lead
	literalImages map[string]bool // <img src> paths the HTML template itself writes
	layoutImages  map[string]bool // and the layout of a Markdown body
}

type headerTmpl struct {
	name  string
	value *tmpl
}

// New parses every template of spec. Errors name the file and line.
func New(spec Spec) (*Composer, error) {
	if spec.MaxSize <= 0 {
		spec.MaxSize = DefaultMaxSize
	}
	if spec.MaxAttachments <= 0 {
		spec.MaxAttachments = DefaultMaxAttachments
	}
	if spec.Timeout <= 0 {
		spec.Timeout = DefaultTimeout
	}
	c := &Composer{spec: spec, literalImages: literalImages(spec.HTML.Text), tokens: newSlotTokens()}
	if spec.InlineCSS {
		c.css = inline.New()
		// Data cannot add a <style>: html/template escapes it.
		c.styled = inline.Applies(spec.HTML.Text)
	}
	var errs []error
	if err := c.setRoots(); err != nil {
		errs = append(errs, &TemplateError{Where: spec.Subject.File, Err: fmt.Errorf("file_roots: %w", err)})
	}
	parse := func(src Source, html bool) *tmpl {
		if src.IsZero() {
			return nil
		}
		t, err := parseTemplate(src, html)
		if err != nil {
			errs = append(errs, err)
		}
		return t
	}
	errs = append(errs, spec.required()...)
	c.from = parse(spec.From, false)
	c.to = parse(spec.To, false)
	c.cc = parse(spec.Cc, false)
	c.bcc = parse(spec.Bcc, false)
	c.replyTo = parse(spec.ReplyTo, false)
	c.subject = parse(spec.Subject, false)
	c.toDisplay = parse(spec.ToDisplay, false)
	c.text = parse(spec.Text, false)
	c.html = parse(spec.HTML, true)
	if c.md = parse(spec.Markdown, false); c.md != nil {
		for _, tree := range c.md.trees() {
			addSlots(tree)
		}
		var err error
		if c.layout, err = parseLayout(spec.Layout); err != nil {
			errs = append(errs, err)
		}
		c.layoutImages = literalImages(spec.Layout.Text)
	}
	for _, h := range spec.Headers {
		if err := validateHeaderName(h.Name); err != nil {
			errs = append(errs, &TemplateError{Where: h.Value.where(1), Err: err})
			continue
		}
		if t := parse(h.Value, false); t != nil {
			c.headers = append(c.headers, headerTmpl{name: canonicalHeader(h.Name), value: t})
		}
	}
	for _, a := range spec.Attachments {
		if t := parse(a, false); t != nil {
			c.attachments = append(c.attachments, t)
		}
	}
	errs = append(errs, c.checkUnsubscribe()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for _, t := range c.templates() {
		for _, tree := range t.trees() {
			c.mayLoop = c.mayLoop || mayLoop(tree)
		}
	}
	return c, nil
}

// required is what a campaign must set: from, to and one kind of body.
func (spec *Spec) required() []error {
	var errs []error
	if strings.TrimSpace(spec.From.Text) == "" {
		errs = append(errs, &TemplateError{Where: spec.From.where(1), Err: errors.New("from is required"),
			Help: `set from = "Your Name <you@example.com>" in the campaign`})
	}
	if strings.TrimSpace(spec.To.Text) == "" {
		errs = append(errs, &TemplateError{Where: spec.To.where(1), Err: errors.New("to is required"),
			Help: `set to = "{{.name}} <{{.email}}>" in the campaign`})
	}
	if err := spec.checkBodies(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// checkBodies wants one kind of body: Markdown, or text, HTML or both.
func (spec *Spec) checkBodies() error {
	switch md := !spec.Markdown.IsZero(); {
	case md && !(spec.Text.IsZero() && spec.HTML.IsZero()):
		return &TemplateError{Where: spec.Markdown.File, Err: errors.New("markdown cannot be used together with text or html")}
	case !md && !spec.Layout.IsZero():
		return &TemplateError{Where: spec.Layout.File, Err: errors.New("a layout is for a markdown body")}
	case !md && spec.Text.IsZero() && spec.HTML.IsZero():
		return &TemplateError{Where: spec.Subject.File, Err: errors.New("no message body: set markdown, text or html")}
	}
	return nil
}

// templates lists every parsed template, in campaign order.
func (c *Composer) templates() []*tmpl {
	var ts []*tmpl
	for _, t := range []*tmpl{c.from, c.to, c.cc, c.bcc, c.replyTo, c.toDisplay, c.subject} {
		if t != nil {
			ts = append(ts, t)
		}
	}
	for _, h := range c.headers {
		ts = append(ts, h.value)
	}
	ts = append(ts, c.attachments...)
	for _, t := range []*tmpl{c.text, c.html, c.md, c.layout} {
		if t != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// CheckColumns returns one error for every place a template names a column
// that is not in columns, each with its file and line and the columns the
// list has.
func (c *Composer) CheckColumns(columns []string) []error {
	have := make(map[string]bool, len(columns))
	for _, col := range columns {
		have[col] = true
	}
	var errs []error
	for _, t := range c.templates() {
		errs = append(errs, t.checkColumns(have, columns)...)
	}
	return errs
}

// newMessageID returns the left part of a Message-ID.
func (c *Composer) newMessageID(row int, to string) string {
	if c.spec.Deterministic {
		return c.derive("message-id", row, to)[:24]
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// derive makes a stable hex string from the seed, a purpose and the row.
func (c *Composer) derive(purpose string, row int, extra string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d\x00%s", c.spec.Seed, purpose, row, extra)))
	return hex.EncodeToString(sum[:])
}

// addressList parses a rendered address header. The template, not the
// data, decides how many addresses there can be: one more than the commas
// in its own text. A name such as "Smith, John" or "x@evil.com, Bob" stays
// a display name, and a cell holding "a@x, b@y" is refused rather than
// read as two recipients. Addresses that render empty ("{{.cc2}}" for a row
// without one) are left out. A line break is never fine.
func addressList(t *tmpl, value string, required bool) ([]*mail.Address, error) {
	if strings.ContainsAny(value, "\r\n") {
		return nil, &TemplateError{Where: t.src.where(1), Err: fmt.Errorf("%q contains a line break", value)}
	}
	value = strings.TrimSpace(value)
	room := literalCommas(t) + 1
	parts := []string{value}
	if room > 1 {
		parts = splitAddresses(value)
	}
	var list []*mail.Address
	for _, part := range parts {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		a, err := parseOneAddress(part)
		if err != nil {
			te := &TemplateError{Where: t.src.where(1), Err: invalidAddress(part, err)}
			if looksLikeList(part) {
				te.Help = "data cannot add recipients: give each address its own column, e.g. cc = \"{{.cc1}}, {{.cc2}}\""
			}
			return nil, te
		}
		list = append(list, a)
	}
	if len(list) > room {
		return nil, &TemplateError{Where: t.src.where(1),
			Err:  fmt.Errorf("%q renders %d addresses where the template has room for %d; a field holds a comma", value, len(list), room),
			Help: `data cannot add recipients; quote display names in the template: "\"{{.name}}\" <{{.email}}>"`}
	}
	if len(list) == 0 && required {
		return nil, &TemplateError{Where: t.src.where(1), Err: errors.New("renders empty: no address")}
	}
	for _, a := range list {
		if err := checkAddress(a.Address); err != nil {
			return nil, &TemplateError{Where: t.src.where(1), Err: fmt.Errorf("%q is not a valid address: %w", a.Address, err)}
		}
		if len(a.Name) > maxHeaderWord && isASCII(a.Name) {
			// An ASCII name is written as one quoted string, which is not folded.
			return nil, &TemplateError{Where: t.src.where(1),
				Err: fmt.Errorf("renders a display name of %d characters; a mail header line holds at most 998", len(a.Name))}
		}
	}
	return list, nil
}

// splitAddresses cuts an address list at the commas that are outside quotes,
// comments and angle brackets.
func splitAddresses(v string) []string {
	var parts []string
	depthAngle, depthParen := 0, 0
	start := 0
	for i, c := range unquoted(v) {
		switch {
		case c == '<':
			depthAngle++
		case c == '>' && depthAngle > 0:
			depthAngle--
		case c == '(':
			depthParen++
		case c == ')' && depthParen > 0:
			depthParen--
		case c == ',' && depthAngle == 0 && depthParen == 0:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// ParseAddress reads one address given outside the templates (send
// --redirect-to) by the rules every address of a message follows.
func ParseAddress(v string) (*mail.Address, error) {
	if strings.ContainsAny(v, "\r\n") {
		return nil, fmt.Errorf("%q contains a line break", v)
	}
	a, err := parseOneAddress(v)
	if err != nil {
		return nil, invalidAddress(v, err)
	}
	if err := checkAddress(a.Address); err != nil {
		return nil, fmt.Errorf("%q is not a valid address: %w", a.Address, err)
	}
	return a, nil
}

// parseOneAddress reads "Display Name <addr>" or a bare address. Everything
// before the last '<' is the display name, whatever characters it holds.
func parseOneAddress(v string) (*mail.Address, error) {
	v = strings.TrimSpace(v)
	if strings.HasSuffix(v, ">") {
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			a, err := mail.ParseAddress(v[i:])
			if err != nil {
				return nil, err
			}
			a.Name = unquoteName(strings.TrimSpace(v[:i]))
			return a, nil
		}
	}
	return mail.ParseAddress(v)
}

// unquoteName removes the quotes a template put around a display name.
func unquoteName(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		s = strings.ReplaceAll(s, `\"`, `"`)
		s = strings.ReplaceAll(s, `\\`, `\`)
	}
	return s
}

// checkAddress applies what net/mail lets through but SMTP servers refuse.
func checkAddress(addr string) error {
	at := strings.LastIndexByte(addr, '@')
	if at < 1 || at == len(addr)-1 {
		return errors.New("missing local part or domain")
	}
	if why := domainProblem(addr[at+1:]); why != "" {
		return errors.New(why)
	}
	if len(addr) > 254 {
		return errors.New("longer than 254 characters")
	}
	return nil
}

// cleanHeaderValue makes a rendered value safe for a header: line breaks
// and other control characters become single spaces.
func cleanHeaderValue(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if isControl(r) || r == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }

// maxHeaderWord is the longest unbroken ASCII word a header value may hold:
// headers fold at spaces and a line may not pass 998 octets.
const maxHeaderWord = 900

func checkHeaderWords(t *tmpl, v string) error {
	for _, w := range strings.Fields(v) {
		if len(w) > maxHeaderWord && isASCII(w) {
			return &TemplateError{Where: t.src.where(1),
				Err: fmt.Errorf("renders a word of %d characters; a mail header line holds at most 998", len(w))}
		}
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// bytesReplaceAll is bytes.ReplaceAll, named for the one place it matters.
var bytesReplaceAll = bytes.ReplaceAll
