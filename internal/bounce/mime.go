package bounce

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/transform"
)

// part is one leaf of a message, its transfer encoding undone.
type part struct {
	mediaType string // lower case, "text/plain"
	charset   string
	body      []byte
	// returned marks the original message or its headers, sent back
	// inside the report: message/rfc822 or text/rfc822-headers.
	returned bool
}

// Limits on what one message may make the parser do: reports are small,
// and a hostile message should not cost more than its own size.
const (
	maxDepth = 5
	maxParts = 64
)

var errTooManyParts = errors.New("more than 64 MIME parts")

// walk collects the leaves of a message body. A returned message is one
// leaf: its own parts belong to the original, not to the report.
func walk(h mail.Header, body io.Reader, depth int, parts *[]part) error {
	if len(*parts) >= maxParts {
		return errTooManyParts
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt == "" {
		mt, params = "text/plain", map[string]string{}
	}
	raw, _ := io.ReadAll(body) // a part cut short keeps what was read
	if strings.HasPrefix(mt, "multipart/") && depth < maxDepth && params["boundary"] != "" {
		n := len(*parts)
		mr := multipart.NewReader(bytes.NewReader(raw), params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break // the end, or a cut or broken multipart: keep what was read
			}
			if err := walk(mail.Header(p.Header), p, depth+1, parts); err != nil {
				return err
			}
		}
		if len(*parts) > n {
			return nil
		}
		// No part at all: the boundary is wrong (it happens); read the body as text.
		mt, params = "text/plain", map[string]string{}
	}
	// A part cut short keeps what could be decoded.
	b, _ := io.ReadAll(decodeTransfer(h.Get("Content-Transfer-Encoding"), bytes.NewReader(raw)))
	*parts = append(*parts, part{mediaType: mt, charset: strings.ToLower(params["charset"]), body: b,
		returned: mt == "message/rfc822" || mt == "text/rfc822-headers" || mt == "message/global" || mt == "message/global-headers"})
	return nil
}

func decodeTransfer(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &noSpace{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// noSpace drops the line breaks and blanks base64 bodies carry.
type noSpace struct{ r io.Reader }

func (n *noSpace) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' && c != ' ' && c != '\t' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// text is a part's body as UTF-8; an unknown charset is read as it is.
func (p part) text() string {
	s := toUTF8(p.body, p.charset)
	if p.mediaType == "text/html" {
		s = stripTags(s)
	}
	return s
}

func toUTF8(b []byte, charset string) string {
	if charset == "" || charset == "utf-8" || charset == "us-ascii" {
		return string(b)
	}
	if charset == "gb2312" {
		charset = "gb18030" // GB2312 mail is routinely GBK or GB18030 in fact
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return string(b)
	}
	out, _, err := transform.Bytes(enc.NewDecoder(), b)
	if err != nil {
		return string(b)
	}
	return string(out)
}

var (
	blockTag = regexp.MustCompile(`(?i)<(br|/p|/div|/tr|/h\d|/li|/table)\b[^>]*>`)
	anyTag   = regexp.MustCompile(`(?s)<!--.*?-->|<style.*?</style>|<[^>]*>`)
)

// stripTags turns an HTML report into lines of text.
func stripTags(s string) string {
	s = blockTag.ReplaceAllString(s, "\n")
	s = anyTag.ReplaceAllString(s, " ")
	return html.UnescapeString(s)
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	name := strings.ToLower(charset)
	if name == "gb2312" {
		name = "gb18030"
	}
	enc, err := htmlindex.Get(name)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}}

// decodeHeader undoes RFC 2047 encoded words; what cannot be decoded stays.
func decodeHeader(s string) string {
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// returnedMessageID finds the Message-ID among the headers of a returned
// message (which may be headers only, or indented by a report).
func returnedMessageID(b []byte) string {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(bytes.TrimLeft(b, "\r\n"))))
	if h, err := tp.ReadMIMEHeader(); err == nil || len(h) > 0 {
		if id := cleanID(h.Get("Message-Id")); id != "" {
			return id
		}
	}
	if m := messageIDLine.FindSubmatch(b); m != nil {
		return cleanID(string(m[1]))
	}
	return ""
}

var messageIDLine = regexp.MustCompile(`(?im)^\s*Message-ID:\s*(<[^>\s]+>)`)

func cleanID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			return s[i : i+j+1]
		}
	}
	return ""
}

// copyMarker starts the copy of the original message inside a text report.
var copyMarker = regexp.MustCompile(`(?im)^\s*-{2,}.*(copy of the message|original message|returned message|` +
	`message headers|undelivered message|原始邮件|原邮件).*$|^\s*original message headers:\s*$`)

// notification is the text of a report meant for people, and the copy of
// the original message that follows it, when the report is one text.
func notification(parts []part) (text, copied string) {
	for _, p := range parts {
		if p.returned || !strings.HasPrefix(p.mediaType, "text/") {
			continue
		}
		t := strings.ReplaceAll(p.text(), "\r\n", "\n")
		if loc := copyMarker.FindStringIndex(t); loc != nil {
			return t[:loc[0]], t[loc[1]:]
		}
		if text == "" {
			text = t
		}
	}
	return text, ""
}
