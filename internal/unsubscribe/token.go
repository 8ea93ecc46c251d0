// Package unsubscribe makes and checks the links of one-click unsubscribe
// (RFC 8058) and serves the endpoint they lead to.
//
// A token is the recipient's address and an HMAC-SHA256 over it, keyed
// with the campaign's secret: "<address>.<mac>", both base64url without
// padding. Whoever holds a message can unsubscribe its recipient; nobody
// can make a link for another address without the secret, so links cannot
// be forged or enumerated. The MAC covers a versioned context string too,
// so a token means nothing to anything else keyed with the same secret,
// and a later format can be told apart. The address is readable from the
// token (it is the recipient's own link); the token is no secret from them.
//
// Formats: List-Unsubscribe (RFC 2369) with List-Unsubscribe-Post
// (RFC 8058), mailto: URIs (RFC 6068).
package unsubscribe

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MinSecret is the shortest secret, in bytes, a Signer accepts.
const MinSecret = 16

// tokenContext is mixed into every MAC; a new token format gets a new one.
const tokenContext = "mailmerge-unsub-v1"

// maxToken bounds what Verify looks at: an address is at most 254 bytes.
const maxToken = 512

var b64 = base64.RawURLEncoding

// ErrShortSecret: the secret is empty or under MinSecret bytes.
var ErrShortSecret = fmt.Errorf("the secret is shorter than %d bytes", MinSecret)

// Signer makes and checks the tokens of one secret. It is safe for
// concurrent use.
type Signer struct{ secret []byte }

// NewSigner returns a Signer for secret, which must hold at least
// MinSecret bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < MinSecret {
		return nil, ErrShortSecret
	}
	return &Signer{secret: append([]byte(nil), secret...)}, nil
}

func (s *Signer) mac(addr string) []byte {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte(tokenContext))
	h.Write([]byte{0})
	h.Write([]byte(addr))
	return h.Sum(nil)
}

// Token is the token of addr, which holds only characters a URL and a
// mail header take as they are: letters, digits, '-', '_' and '.'.
func (s *Signer) Token(addr string) string {
	return b64.EncodeToString([]byte(addr)) + "." + b64.EncodeToString(s.mac(addr))
}

// ErrBadToken: a token that this secret did not make.
var ErrBadToken = errors.New("not a valid unsubscribe token")

// Verify returns the address of a token this secret made, or ErrBadToken.
// The MAC is compared in constant time.
func (s *Signer) Verify(token string) (string, error) {
	if len(token) > maxToken {
		return "", ErrBadToken
	}
	a, m, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrBadToken
	}
	addr, err1 := b64.DecodeString(a)
	mac, err2 := b64.DecodeString(m)
	if err1 != nil || err2 != nil || len(addr) == 0 || !hmac.Equal(mac, s.mac(string(addr))) {
		return "", ErrBadToken
	}
	return string(addr), nil
}

// URL is the one-click link of addr under base: base with the token as
// its query parameter t.
func (s *Signer) URL(base, addr string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "t=" + s.Token(addr)
}

// Mailto is the mailto: URI that unsubscribes addr by a mail to the
// address to, the token in its subject.
func (s *Signer) Mailto(to, addr string) string {
	return "mailto:" + url.PathEscape(to) + "?subject=unsubscribe%20" + s.Token(addr)
}
