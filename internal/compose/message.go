package compose

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/k3a/html2text"
	gomail "github.com/wneessen/go-mail"

	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/inline"
)

// Envelope is what the SMTP transaction uses: the sender and every
// recipient (to, cc and bcc), as bare addresses in net/mail's form: local
// part unquoted, domain as written. Delivery quotes the local part and
// converts the domain to punycode as the server needs.
type Envelope struct {
	From string
	To   []string
}

// Message is one recipient's complete message, ready to write or send.
type Message struct {
	Row         int
	From        *mail.Address
	To, Cc, Bcc []*mail.Address
	Envelope    Envelope
	Subject     string
	MessageID   string   // without angle brackets
	Attachments []string // absolute paths, in order
	Images      []string // absolute paths of the inline images, in order
	Size        int64    // estimate of the size written: parts, images and attachments in base64
	// Text is the text/plain part; TextFromHTML says it was made from the
	// HTML part, the campaign having no text template.
	Text         string
	TextFromHTML bool

	msg           *gomail.Msg
	deterministic bool
	boundarySeed  string
	dkim          *DKIM
	signedAt      time.Time // zero: the time of writing
}

// Recipient is the address results are recorded under: the first To.
func (m *Message) Recipient() string {
	if len(m.To) == 0 {
		return ""
	}
	return m.To[0].Address
}

// HeaderOriginalTo is the header of a test send (Spec.RedirectTo) that
// names the To of the row it was made from.
const HeaderOriginalTo = "X-Mailmerge-Original-To"

// rendered holds the text of every template for one recipient.
type rendered struct {
	from, to, cc, bcc, replyTo, subject, toDisplay string
	headers                                        []string
	text, html                                     string
	attachments                                    []string
	// The bodies' lengths; for a skipped body, which was not run (see
	// bound.go), its text is empty and its length is an upper bound.
	textLen, htmlLen         int64
	textSkipped, htmlSkipped bool
	inlined                  bool              // the HTML's CSS is inlined already (styledPage)
	fields                   map[string]string // the row's, for errors naming a column
	mdImages                 map[string]bool   // a Markdown body's own <img src> paths
}

// bounded reports whether a length is only an upper bound.
func (r *rendered) bounded() bool { return r.textSkipped || r.htmlSkipped }

// Compose renders the message for one recipient. Fields must hold every
// column of the list. Errors are *TemplateError values naming where.
func (c *Composer) Compose(row int, fields map[string]string) (*Message, error) {
	r, err := c.render(fields, false)
	if err != nil {
		return nil, err
	}
	return c.build(row, r)
}

// Recipient is the address results are recorded under for a row that has
// no message (Message.Recipient for one that has): the first address its
// To renders, "" when the To does not render or holds no valid address.
func (c *Composer) Recipient(fields map[string]string) string {
	text, err := c.renderTo(fields)
	if err != nil {
		return ""
	}
	to, err := addressList(c.to, text, true)
	if err != nil || len(to) == 0 {
		return ""
	}
	return to[0].Address
}

// ToText is the To of a row as it renders, trimmed, whether or not it
// holds a valid address; "" when it does not render. It names a row whose
// address is invalid (Recipient is "" then), for send --shard.
func (c *Composer) ToText(fields map[string]string) string {
	text, _ := c.renderTo(fields)
	return strings.TrimSpace(text)
}

// renderTo runs the To template alone, within the limits of a message.
func (c *Composer) renderTo(fields map[string]string) (string, error) {
	x := c.executor()
	defer c.release(x)
	x.buf.start(c.spec.MaxSize, c.spec.Timeout)
	return x.run(c.to, fields)
}

// Validate renders and checks the message for one recipient exactly as
// Compose does, without assembling it, and returns its envelope, whose
// first To is the address results are recorded under (Message.Recipient).
// It is what a check of a whole list needs, at about half the cost.
func (c *Composer) Validate(row int, fields map[string]string) (Envelope, error) {
	r, err := c.render(fields, true)
	if err != nil {
		return Envelope{}, err
	}
	d, err := c.check(row, r)
	if err == errOverBound {
		// The bound says it might be too large: run the bodies to know.
		if r, err = c.render(fields, false); err != nil {
			return Envelope{}, err
		}
		d, err = c.check(row, r)
	}
	if err != nil {
		return Envelope{}, err
	}
	return d.m.Envelope, nil
}

// errOverBound is check's answer when a skipped body might make the message
// too large.
var errOverBound = errors.New("message may be over the size limit")

// render executes every template for one recipient, within the size and
// time limits (see limits.go). With skip, bodies that cannot fail are not
// run (see bound.go).
func (c *Composer) render(fields map[string]string, skip bool) (*rendered, error) {
	x := c.executor()
	if !c.mayLoop {
		defer c.release(x)
		return c.renderAll(x, fields, skip)
	}
	// Nested loops and template calls stop themselves at the deadline, at
	// their next step. Should one step ever run long, the row still fails
	// on time: the goroutine is left to finish that step, and its executor
	// with it.
	type result struct {
		r   *rendered
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.release(x)
		r, err := c.renderAll(x, fields, skip)
		done <- result{r, err}
	}()
	t := time.NewTimer(c.spec.Timeout + renderGrace)
	defer t.Stop()
	select {
	case res := <-done:
		return res.r, res.err
	case <-t.C:
		stuck := x.overtime(c.spec.Timeout) // before the row may end and give x up
		select {
		case res := <-done:
			return res.r, res.err // it did end: x was not given up before overtime read it
		default:
		}
		if stuck == nil {
			le := &limitError{timeout: c.spec.Timeout}
			stuck = &TemplateError{Where: c.spec.Subject.File, Err: le, Help: le.help()}
		}
		return nil, stuck
	}
}

func (c *Composer) renderAll(x *executor, fields map[string]string, skip bool) (*rendered, error) {
	x.buf.start(c.spec.MaxSize, c.spec.Timeout)
	r := &rendered{fields: fields}
	var err error
	x.unsubscribe = ""
	for _, f := range []struct {
		t   *tmpl
		dst *string
	}{
		{c.from, &r.from}, {c.to, &r.to}, {c.cc, &r.cc}, {c.bcc, &r.bcc}, {c.replyTo, &r.replyTo},
		{c.subject, &r.subject}, {c.toDisplay, &r.toDisplay},
	} {
		if *f.dst, err = x.run(f.t, fields); err != nil {
			return nil, err
		}
		if f.t == c.to && c.unsubscribe {
			if addr := c.unsubscribeAddress(r.to); addr != "" {
				x.unsubscribe = c.spec.Unsubscribe.URL(addr)
			}
		}
	}
	if err := c.renderBodies(x, fields, skip, r); err != nil {
		return nil, err
	}
	if err := c.inlineCSS(r); err != nil {
		return nil, err
	}
	for _, h := range c.headers {
		v, err := x.run(h.value, fields)
		if err != nil {
			return nil, err
		}
		r.headers = append(r.headers, v)
	}
	for _, a := range c.attachments {
		v, err := x.run(a, pathFields(a, fields))
		if err != nil {
			return nil, err
		}
		r.attachments = append(r.attachments, v)
	}
	return r, nil
}

// inlineCSS moves the rules of the HTML body's <style> elements into style
// attributes (Spec.InlineCSS). It runs where the HTML body is final, before
// its images are embedded and the MIME is written.
func (c *Composer) inlineCSS(r *rendered) error {
	if c.css == nil || r.htmlSkipped || r.inlined || r.html == "" {
		return nil
	}
	out, err := c.css.Inline(r.html)
	if err != nil {
		src := c.spec.HTML
		if c.md != nil {
			src = c.spec.Layout
			if src.IsZero() {
				src = c.spec.Markdown
			}
		}
		return &TemplateError{Where: src.where(1), Err: fmt.Errorf("inlining its CSS: %w", err),
			Help: "set inline_css = false in the campaign to send the <style> as written"}
	}
	r.html, r.htmlLen = out, int64(len(out))
	return nil
}

// renderBodies renders the text and HTML parts into r. Every HTML body,
// from an html template or from Markdown in its layout, is made here.
func (c *Composer) renderBodies(x *executor, fields map[string]string, skip bool, r *rendered) error {
	var err error
	if c.md != nil {
		if err := c.renderMarkdown(x, fields, r); err != nil {
			return err
		}
		r.textLen, r.htmlLen = int64(len(r.text)), int64(len(r.html))
		return nil
	}
	// Neither body can fail once it is known to be simple, so skipping one
	// changes no error: the first one is still the first one.
	if n, ok := c.bound(c.text, fields, skip); ok {
		r.textLen, r.textSkipped = n, true
	} else if r.text, err = x.run(c.text, fields); err != nil {
		return err
	} else {
		r.textLen = int64(len(r.text))
	}
	if n, ok := c.bound(c.html, fields, skip && c.images.Load() != nil && !c.styled); ok {
		r.htmlLen, r.htmlSkipped = n, true
	} else if r.html, err = x.run(c.html, fields); err != nil {
		return err
	} else {
		r.htmlLen = int64(len(r.html))
	}
	return nil
}

// draft is one recipient's message with every part checked, not yet
// assembled into MIME.
type draft struct {
	m         *Message
	replyTo   []*mail.Address
	toDisplay string          // cleaned; "" for the To addresses themselves
	headers   []string        // cleaned values of c.headers, in order
	html      string          // with inline images turned into cid: links
	origTo    []*mail.Address // the row's To, when Spec.RedirectTo replaced it
	embeds    []embed
	files     []namedFile // attachments, in order
	domain    string      // of the sender
}

func (c *Composer) build(row int, r *rendered) (*Message, error) {
	d, err := c.check(row, r)
	if err != nil {
		return nil, err
	}
	if to := c.spec.RedirectTo; to != nil {
		d.redirect(to)
	}
	return c.assemble(d, r), nil
}

// redirect turns a checked draft into a test send to one address: only it
// is in the envelope and the To header, and the row's addresses show in
// X-Mailmerge-Original-To alone, never as recipients.
func (d *draft) redirect(to *mail.Address) {
	m := d.m
	d.origTo = m.To
	d.toDisplay = ""
	m.To, m.Cc, m.Bcc = []*mail.Address{to}, nil, nil
	m.Envelope.To = []string{to.Address}
	m.Subject = "[TEST] " + m.Subject
}

// check does everything that can refuse a message: addresses, header
// lengths, images and attachments, sizes.
func (c *Composer) check(row int, r *rendered) (*draft, error) {
	d := &draft{m: &Message{Row: row, deterministic: c.spec.Deterministic}}
	if err := c.checkAddresses(d, r); err != nil {
		return nil, err
	}
	if err := c.checkHeaders(d, r); err != nil {
		return nil, err
	}
	m := d.m
	d.domain = m.From.Address[strings.LastIndexByte(m.From.Address, '@')+1:]
	images, err := c.checkImages(d, r)
	if err != nil {
		return nil, err
	}
	attached, err := c.checkAttachments(d, r)
	if err != nil {
		return nil, err
	}
	size := r.textLen + r.htmlLen + images + attached
	m.Size = size
	if size > c.spec.MaxSize && r.bounded() {
		return nil, errOverBound
	}
	if size > c.spec.MaxSize {
		return nil, &TemplateError{Where: c.spec.Subject.File,
			Err:  fmt.Errorf("message would be about %s, over the limit of %s", human.Bytes(size), human.Bytes(c.spec.MaxSize)),
			Help: "most providers refuse mail over 25 MB; send large files as links"}
	}
	return d, nil
}

// checkAddresses parses from, to, cc, bcc and reply-to, and fills the
// envelope.
func (c *Composer) checkAddresses(d *draft, r *rendered) error {
	m := d.m
	from, err := addressList(c.from, r.from, true)
	if err != nil {
		return err
	}
	if len(from) != 1 {
		return &TemplateError{Where: c.from.src.where(1), Err: fmt.Errorf("%q: from must be exactly one address", r.from)}
	}
	m.From = from[0]
	if m.To, err = addressList(c.to, r.to, true); err != nil {
		return err
	}
	if c.cc != nil {
		if m.Cc, err = addressList(c.cc, r.cc, false); err != nil {
			return err
		}
	}
	if c.bcc != nil {
		if m.Bcc, err = addressList(c.bcc, r.bcc, false); err != nil {
			return err
		}
	}
	if c.replyTo != nil {
		if d.replyTo, err = addressList(c.replyTo, r.replyTo, false); err != nil {
			return err
		}
	}
	m.Envelope.From = m.From.Address
	for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			m.Envelope.To = append(m.Envelope.To, a.Address)
		}
	}
	return nil
}

// checkHeaders cleans the display text, the subject and the extra headers
// and refuses words too long for a header line.
func (c *Composer) checkHeaders(d *draft, r *rendered) error {
	if disp := cleanHeaderValue(r.toDisplay); len(disp) > maxHeaderWord && isASCII(disp) {
		// An ASCII display text is written as one quoted string, which is not folded.
		return &TemplateError{Where: c.toDisplay.src.where(1),
			Err: fmt.Errorf("renders a display text of %d characters; a mail header line holds at most 998", len(disp))}
	}
	if c.toDisplay != nil && strings.TrimSpace(r.toDisplay) != "" {
		d.toDisplay = cleanHeaderValue(r.toDisplay)
	}
	d.m.Subject = cleanHeaderValue(r.subject)
	if c.subject != nil {
		if err := checkHeaderWords(c.subject, d.m.Subject); err != nil {
			return err
		}
	}
	for i, h := range c.headers {
		v := cleanHeaderValue(r.headers[i])
		if err := checkHeaderWords(h.value, v); err != nil {
			return err
		}
		d.headers = append(d.headers, v)
	}
	return nil
}

// checkImages finds the inline images of the HTML body and returns their
// size in base64.
func (c *Composer) checkImages(d *draft, r *rendered) (int64, error) {
	d.html = r.html
	switch {
	case r.htmlSkipped:
		// A simple HTML body has the same images for every row.
		ic := c.images.Load()
		return ic.size, ic.err
	case c.md != nil:
		var err error
		d.html, d.embeds, err = c.inlineImages(r.html, d.domain, r.fields, c.markdownImage(r.mdImages))
		return embedded(d.embeds), err
	case c.html != nil:
		var err error
		d.html, d.embeds, err = c.inlineImages(r.html, d.domain, r.fields, c.htmlImage)
		if c.html.simple() != nil {
			c.images.CompareAndSwap(nil, &imageCheck{err: err, size: embedded(d.embeds)})
		}
		return embedded(d.embeds), err
	}
	return 0, nil
}

// embedded is the size of inline images in base64.
func embedded(embeds []embed) int64 {
	var size int64
	for _, e := range embeds {
		size += e.size * 4 / 3
	}
	return size
}

// imageOrigin says which template wrote an <img src> path p and whether
// it wrote every byte of it (then p may name any file, see files.go).
type imageOrigin func(p string) (t *tmpl, literal bool)

func (c *Composer) htmlImage(p string) (*tmpl, bool) { return c.html, c.literalImages[p] }

// markdownImage is the origin of the images of a Markdown body whose own
// paths are literal, in its layout.
func (c *Composer) markdownImage(literal map[string]bool) imageOrigin {
	return func(p string) (*tmpl, bool) {
		if !literal[p] && c.layoutImages[p] {
			return c.layout, true
		}
		return c.md, literal[p]
	}
}

// checkAttachments finds every file to attach, checks that it can be read
// and returns their size in base64.
func (c *Composer) checkAttachments(d *draft, r *rendered) (int64, error) {
	var attached, encoded int64
	for i, t := range c.attachments {
		for _, p := range splitPaths(r.attachments[i]) {
			files, err := c.attachmentFiles(t, p)
			if err != nil {
				return 0, fileError(t, "attachment", p, r.fields, err)
			}
			for _, f := range files {
				attached += f.size
				encoded += f.size * 4 / 3
				d.m.Attachments = append(d.m.Attachments, f.path)
				d.files = append(d.files, f)
			}
		}
	}
	if attached > c.spec.MaxAttachments {
		return 0, &TemplateError{Where: c.attachments[0].src.where(1),
			Err:  fmt.Errorf("attachments total %s, over the limit of %s", human.Bytes(attached), human.Bytes(c.spec.MaxAttachments)),
			Help: "providers refuse mail this large; raise max_attachment_size only if yours accepts it"}
	}
	return encoded, nil
}

// assemble builds the MIME message of a checked draft.
func (c *Composer) assemble(d *draft, r *rendered) *Message {
	m := d.m
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent(), gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP))
	msg.FromMailAddress(m.From)
	if d.toDisplay != "" {
		// An empty group shows the text and names no address (RFC 5322 3.4).
		msg.SetGenHeader("To", groupDisplay(d.toDisplay))
	} else {
		msg.ToMailAddress(m.To...)
	}
	if len(m.Cc) > 0 {
		msg.CcMailAddress(m.Cc...)
	}
	if len(d.replyTo) > 0 {
		msg.ReplyToMailAddress(d.replyTo...)
	}
	// go-mail would fold a long encoded subject before its first word, which
	// readers decode with a leading space; fold it here instead.
	msg.SetGenHeaderPreformatted(gomail.HeaderSubject, foldHeader(len("Subject: "), mime.QEncoding.Encode("UTF-8", m.Subject)))
	for i, h := range c.headers {
		if v := d.headers[i]; v != "" {
			msg.SetGenHeader(gomail.Header(h.name), v)
		}
	}
	if c.spec.Unsubscribe != nil {
		c.setListUnsubscribe(msg, m.Recipient())
	}
	if len(d.origTo) > 0 { // after the campaign's headers, so that none replaces it
		orig := make([]string, len(d.origTo))
		for i, a := range d.origTo {
			orig[i] = a.String()
		}
		msg.SetGenHeader(HeaderOriginalTo, strings.Join(orig, ", "))
	}
	m.MessageID = c.newMessageID(m.Row, m.Recipient()) + "@" + d.domain
	msg.SetMessageIDWithValue(m.MessageID)
	m.dkim = c.spec.DKIM
	if c.spec.Deterministic {
		msg.SetDateWithValue(c.spec.Date)
		m.boundarySeed = c.derive("boundary", m.Row, "")
		m.signedAt = c.spec.Date
	} else {
		msg.SetDate()
	}
	if c.spec.Mailer != "" {
		msg.SetGenHeader(gomail.HeaderUserAgent, c.spec.Mailer)
	}

	text, fromHTML := r.text, c.text == nil && c.md == nil
	if fromHTML {
		text = html2text.HTML2TextWithOptions(r.html, html2text.WithLinksInnerText(), html2text.WithUnixLineBreaks())
	}
	m.Text, m.TextFromHTML = text, fromHTML
	msg.SetBodyString(gomail.TypeTextPlain, text)
	if c.html != nil || c.md != nil {
		msg.AddAlternativeString(gomail.TypeTextHTML, d.html)
	}
	for _, e := range d.embeds {
		m.Images = append(m.Images, e.path)
		msg.EmbedReadSeeker(filepath.Base(e.path), &fileReader{c: c, file: e.namedFile, limit: c.spec.MaxSize},
			gomail.WithFileContentID("<"+e.cid+">"), gomail.WithFileContentType(contentType(e.path)))
	}
	for _, f := range d.files {
		msg.AttachReadSeeker(filepath.Base(f.path), &fileReader{c: c, file: f, limit: c.spec.MaxAttachments},
			gomail.WithFileContentType(contentType(f.path)))
	}
	m.msg = msg
	return m
}

// foldHeader folds a header value at spaces so that no line passes 78
// characters where it can be helped; start is the length of "Name: ".
func foldHeader(start int, value string) string {
	var b strings.Builder
	line := start
	for i, w := range strings.Split(value, " ") {
		if i > 0 {
			if line+1+len(w) > 78 {
				b.WriteString("\r\n ")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(w)
		line += len(w)
	}
	return b.String()
}

// splitPaths reads a rendered attachment value: empty means none, and a
// ';'-separated value names several files.
func splitPaths(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func groupDisplay(text string) string {
	if isASCII(text) {
		return strconv.Quote(text) + ":;"
	}
	return mime.BEncoding.Encode("UTF-8", text) + ":;"
}

// contentType names a file's media type from its extension.
func contentType(path string) gomail.ContentType {
	if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(path))); t != "" {
		return gomail.ContentType(t)
	}
	return gomail.TypeAppOctetStream
}

type embed struct {
	namedFile
	cid string
}

// reImgSrc finds the src of <img> tags in rendered HTML.
var reImgSrc = regexp.MustCompile(`(?i)(<img\b[^>]*?\bsrc\s*=\s*)(?:"([^"]*)"|'([^']*)')`)

// inlineImages embeds every image the HTML names by a relative path and
// points its src at the embedded part.
func (c *Composer) inlineImages(html, domain string, fields map[string]string, origin imageOrigin) (string, []embed, error) {
	if !inline.ContainsFold(html, "<img") {
		return html, nil, nil
	}
	var embeds []embed
	byPath := map[string]string{}
	var firstErr error
	out := reImgSrc.ReplaceAllStringFunc(html, func(tag string) string {
		sm := reImgSrc.FindStringSubmatch(tag)
		src := sm[2] + sm[3]
		if src == "" || strings.Contains(src, ":") || strings.HasPrefix(src, "//") || strings.HasPrefix(src, "#") {
			return tag // remote, data:, cid: and the like stay as they are
		}
		p := unescapeHTMLPath(src)
		abs := c.resolve(p)
		cid, ok := byPath[abs]
		if !ok {
			t, literal := origin(p)
			f, err := c.stat(abs, literal)
			if err != nil {
				if firstErr == nil {
					firstErr = fileError(t, "inline image", p, fields, err)
				}
				return tag
			}
			cid = fmt.Sprintf("%s.%d@%s", sanitizeCID(filepath.Base(abs)), len(embeds)+1, domain)
			byPath[abs] = cid
			embeds = append(embeds, embed{namedFile: f, cid: cid})
		}
		return sm[1] + `"cid:` + cid + `"`
	})
	if firstErr != nil {
		return "", nil, firstErr
	}
	return out, embeds, nil
}

// unescapeHTMLPath reads a relative URL in an HTML attribute as a path:
// character references, then percent-escapes, which html/template and
// goldmark write for spaces and non-ASCII names ("图片.png").
func unescapeHTMLPath(s string) string {
	s = html.UnescapeString(s)
	if p, err := url.PathUnescape(s); err == nil {
		return p
	}
	return s
}

func sanitizeCID(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && (r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

// WriteTo writes the message in RFC 5322 form with CRLF line ends, signed
// when the campaign has a DKIM key. Nothing is written when signing fails.
func (m *Message) WriteTo(w io.Writer) (int64, error) {
	if !m.deterministic && m.dkim == nil {
		return m.msg.WriteTo(w)
	}
	var buf bytes.Buffer
	buf.Grow(int(m.Size) + 2048)
	if _, err := m.msg.WriteTo(&buf); err != nil {
		return 0, err
	}
	b := buf.Bytes()
	if m.deterministic {
		b = m.fixBoundaries(b)
	}
	var total int64
	if m.dkim != nil {
		// Signed last, over the bytes that go out.
		b = crlfLines(b)
		sig, err := m.dkim.sign(b, m.signedAt)
		if err != nil {
			return 0, fmt.Errorf("DKIM signing: %w", err)
		}
		n, err := io.WriteString(w, sig)
		if total = int64(n); err != nil {
			return total, err
		}
	}
	n, err := w.Write(b)
	return total + int64(n), err
}

// reBoundary finds the random multipart boundaries go-mail chose.
var reBoundary = regexp.MustCompile(`boundary=([0-9a-f]{20,})`)

// fixBoundaries replaces random boundaries with ones derived from the seed
// and row, for byte-identical dry runs.
func (m *Message) fixBoundaries(b []byte) []byte {
	for i, sm := range reBoundary.FindAllSubmatch(b, -1) {
		fixed := fmt.Sprintf("mm_%s_%d", m.boundarySeed[:20], i+1)
		b = bytesReplaceAll(b, sm[1], []byte(fixed))
	}
	return b
}
