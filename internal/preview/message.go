package preview

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// messageView is one rendered message taken apart again, the way a mail
// program would: the page shows exactly what the recipient's program reads,
// not what the templates meant to produce.
type messageView struct {
	Row          int          `json:"row"`
	Version      int          `json:"version"`
	File         string       `json:"file"` // a name for the downloaded .eml
	Size         int          `json:"size"`
	Subject      string       `json:"subject"`
	Headers      []headerView `json:"headers"`
	Bcc          []string     `json:"bcc,omitempty"` // in the envelope only, never in the headers
	EnvelopeFrom string       `json:"envelope_from"`
	EnvelopeTo   []string     `json:"envelope_to"`
	Text         string       `json:"text"`
	HTML         bool         `json:"html"`
	Inline       []partView   `json:"inline"`
	Attachments  []partView   `json:"attachments"`
	// Suppressed says why send skips the row, as the list's entry does.
	Suppressed string `json:"suppressed,omitempty"`

	raw    []byte
	html   []byte // the HTML part as sent, cid: references intact
	htmlCT string
	byCID  map[string]*part
}

type headerView struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type partView struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Size int    `json:"size"`
	CID  string `json:"cid,omitempty"`
}

// part is one decoded leaf of the MIME tree.
type part struct {
	contentType string // with parameters, as sent
	mediaType   string
	disposition string
	name        string
	cid         string
	body        []byte
}

// headerOrder puts the headers a person looks for first; the rest follow
// alphabetically.
var headerOrder = []string{"From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-Id"}

// addressHeaders are decoded as address lists.
var addressHeaders = map[string]bool{"From": true, "To": true, "Cc": true, "Reply-To": true, "Sender": true}

// parseMessage takes a rendered .eml apart into what the page shows.
func parseMessage(raw []byte) (*messageView, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading the rendered message: %w", err)
	}
	v := &messageView{raw: raw, Size: len(raw), byCID: map[string]*part{}}
	dec := &mime.WordDecoder{}
	names := make([]string, 0, len(m.Header))
	for name := range m.Header {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		ia, ib := slices.Index(headerOrder, a), slices.Index(headerOrder, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		for _, raw := range m.Header[name] {
			v.Headers = append(v.Headers, headerView{Name: name, Value: decodeHeader(dec, name, raw)})
		}
	}
	v.Subject = decodeHeader(dec, "Subject", m.Header.Get("Subject"))

	var parts []*part
	if err := walkParts(textproto.MIMEHeader(m.Header), m.Body, &parts, 0); err != nil {
		return nil, err
	}
	for _, p := range parts {
		attached := p.disposition == "attachment"
		switch {
		case !attached && p.mediaType == "text/plain" && v.Text == "":
			v.Text = string(p.body)
		case !attached && p.mediaType == "text/html" && v.html == nil:
			v.html, v.htmlCT, v.HTML = p.body, p.contentType, true
		case !attached && p.cid != "":
			v.byCID[p.cid] = p
			v.Inline = append(v.Inline, partView{Name: p.name, Type: p.mediaType, Size: len(p.body), CID: p.cid})
		default:
			v.Attachments = append(v.Attachments, partView{Name: p.name, Type: p.mediaType, Size: len(p.body)})
		}
	}
	return v, nil
}

// decodeHeader turns a header value into the text a mail program shows:
// encoded words decoded, addresses as "Name <address>".
func decodeHeader(dec *mime.WordDecoder, name, value string) string {
	if addressHeaders[name] {
		if list, err := mail.ParseAddressList(value); err == nil && len(list) > 0 {
			return addressList(list)
		}
	}
	if d, err := dec.DecodeHeader(value); err == nil {
		return d
	}
	return value
}

// maxDepth bounds MIME nesting; compose makes three levels at most.
const maxDepth = 8

// walkParts appends the leaves of a MIME entity to parts, decoded.
func walkParts(h textproto.MIMEHeader, body io.Reader, parts *[]*part, depth int) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=utf-8"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxDepth {
			return fmt.Errorf("multipart nested more than %d deep", maxDepth)
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s part: %w", mediaType, err)
			}
			if err := walkParts(p.Header, p, parts, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	p := &part{contentType: ct, mediaType: mediaType, body: b, name: params["name"],
		cid: strings.Trim(strings.TrimSpace(h.Get("Content-Id")), "<>")}
	if d, dp, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		p.disposition = d
		if dp["filename"] != "" {
			p.name = dp["filename"]
		}
	}
	if n, err := (&mime.WordDecoder{}).DecodeHeader(p.name); err == nil {
		p.name = n
	}
	*parts = append(*parts, p)
	return nil
}

// reCID finds cid: references where HTML loads something: src and
// background attributes and CSS url().
var reCID = regexp.MustCompile(`(?i)((?:\bsrc|\bbackground)\s*=\s*["']?|url\(\s*["']?)cid:([^"'\s)>]+)`)

// frameHTML is the HTML part with every cid: reference pointed at the
// page's own address for that inline part, so the sandboxed frame shows
// the images without any other loads. The address is relative to the
// frame's own (".../message/ROW/body.html"), which holds the token.
func (v *messageView) frameHTML() []byte {
	prefix := "cid/"
	suffix := "?v=" + strconv.Itoa(v.Version)
	return reCID.ReplaceAllFunc(v.html, func(m []byte) []byte {
		sm := reCID.FindSubmatch(m)
		cid := string(sm[2])
		if u, err := url.PathUnescape(cid); err == nil {
			cid = u // RFC 2392 allows the Content-ID percent-encoded
		}
		return []byte(string(sm[1]) + prefix + url.PathEscape(cid) + suffix)
	})
}

// messageCache keeps the last few messages opened, so the frame, its
// images and the .eml download do not each render the row again.
type messageCache struct {
	render sync.Mutex
	mu     sync.Mutex
	recent []*messageView // most recent last
}

const cacheSize = 8

func (mc *messageCache) get(version, row int) *messageView {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for _, v := range mc.recent {
		if v.Version == version && v.Row == row {
			return v
		}
	}
	return nil
}

func (mc *messageCache) put(v *messageView) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	mc.recent = slices.DeleteFunc(mc.recent, func(o *messageView) bool { return o.Version != v.Version })
	if len(mc.recent) >= cacheSize {
		mc.recent = mc.recent[1:]
	}
	mc.recent = append(mc.recent, v)
}

// message renders data row n of st's campaign and takes it apart, or
// returns the one from the cache. A row that cannot be sent is its error.
func (s *Server) message(ctx context.Context, st *state, n int) (*messageView, error) {
	if v := s.cache.get(st.version, n); v != nil {
		return v, nil
	}
	// One render at a time: the frame, its images and the download of a
	// newly opened message arrive together and should share one render.
	s.cache.render.Lock()
	defer s.cache.render.Unlock()
	if v := s.cache.get(st.version, n); v != nil {
		return v, nil
	}
	r, err := st.campaign.Message(ctx, n)
	if err != nil {
		return nil, err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	var buf bytes.Buffer
	if _, err := r.Message.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("row %d: %w", n, err)
	}
	v, err := parseMessage(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("row %d: %w", n, err)
	}
	v.Row, v.Version = n, st.version
	v.File = campaign.FileName(n, r.Message.Recipient())
	v.EnvelopeFrom, v.EnvelopeTo = r.Message.Envelope.From, r.Message.Envelope.To
	if r.Suppressed != "" {
		v.Suppressed = r.SuppressedAddress + " is in " + r.Suppressed
	}
	for _, a := range r.Message.Bcc {
		v.Bcc = append(v.Bcc, a.Address)
	}
	s.cache.put(v)
	return v, nil
}
