package compose

import (
	"bytes"
	"crypto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DKIM signs every message (RFC 6376) with go-mail's signer, relaxed/relaxed,
// over the bytes Message.WriteTo writes: the signature goes on top of the
// message exactly as it goes out, after the deterministic boundaries and
// with every line ending in CRLF (what SMTP DATA carries; its dot-stuffing
// the receiving server undoes).
type DKIM struct {
	Domain   string // d=, in ASCII
	Selector string // s=
	Key      crypto.Signer
}

// signedHeaders are signed on every message. Those a message lacks are
// signed too, as absent (RFC 6376 5.4), so nobody can add a Cc or a
// Reply-To on the way. Bcc is never written, so never signed.
var signedHeaders = []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Reply-To"}

// signedWhenPresent are signed when the message has them: RFC 8058 wants
// both one-click unsubscribe headers signed.
var signedWhenPresent = []string{"List-Unsubscribe", "List-Unsubscribe-Post"}

// sign returns the DKIM-Signature header field for msg, CRLF included.
// A zero at means the time of signing.
func (d *DKIM) sign(msg []byte, at time.Time) (string, error) {
	header, body := msg, []byte(nil)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		header, body = msg[:i+2], msg[i+4:]
	}
	names := signedHeaders
	for _, h := range signedWhenPresent {
		if hasHeader(header, h) {
			names = append(names[:len(names):len(names)], h)
		}
	}
	// A signer each time: go-mail's keeps state from its first Sign, and
	// messages are written on every core.
	s := gomail.NewDKIMSigner(d.Domain, d.Selector, d.Key)
	s.HeaderCanonicalization(gomail.CanonicalizationRelaxed)
	s.BodyCanonicalization(gomail.CanonicalizationRelaxed)
	s.SignHeaders(names...)
	if !at.IsZero() {
		s.NowFunc = func() time.Time { return at }
	}
	field, err := s.Sign(header, body)
	if err != nil {
		return "", err
	}
	return refold(field), nil
}

// hasHeader reports whether a header block has a field named name.
func hasHeader(header []byte, name string) bool {
	for len(header) > 0 {
		line := header
		if i := bytes.Index(header, []byte("\r\n")); i >= 0 {
			line, header = header[:i], header[i+2:]
		} else {
			header = nil
		}
		if len(line) > len(name) && line[len(name)] == ':' && strings.EqualFold(string(line[:len(name)]), name) {
			return true
		}
	}
	return false
}

// refold folds a DKIM-Signature field again. go-mail signs the tags
// unfolded and then folds them at 76 columns wherever that falls, also
// inside a tag: a fold in "h=...:List-Unsub\r\n scribe" adds a space that
// relaxed canonicalisation keeps, and no verifier can match the signature.
// Here a line is broken only after a tag's ";", where a space is already
// there, and inside b=, whose spaces verifiers remove.
func refold(field string) string {
	const name = "DKIM-Signature: "
	value := strings.TrimSuffix(strings.TrimPrefix(field, name), "\r\n")
	value = strings.ReplaceAll(strings.ReplaceAll(value, "\r\n ", ""), "\r\n\t", "")
	var b strings.Builder
	b.Grow(len(field) + 32)
	b.WriteString(name)
	col := len(name)
	for i, tag := range strings.Split(value, "; ") {
		if i > 0 {
			b.WriteByte(';')
			col++
			if col+1+len(tag) > 78 {
				b.WriteString("\r\n ")
				col = 1
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		if !strings.HasPrefix(tag, "b=") {
			b.WriteString(tag)
			col += len(tag)
			continue
		}
		// b= is long enough to start a line of its own (see above).
		for len(tag) > 0 {
			if col >= 78 {
				b.WriteString("\r\n ")
				col = 1
			}
			n := min(len(tag), 78-col)
			b.WriteString(tag[:n])
			col += n
			tag = tag[n:]
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// crlfLines returns b with every bare LF made CRLF, as delivery's DATA
// writer sends it, so that what is signed is what arrives.
func crlfLines(b []byte) []byte {
	bare := 0
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			bare++
		}
	}
	if bare == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+bare)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}
