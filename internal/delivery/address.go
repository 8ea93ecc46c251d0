package delivery

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// ErrNoSMTPUTF8: an address of the envelope has a local part that is not
// ASCII and the server does not offer SMTPUTF8 (RFC 6531). Only that
// message is Rejected; the run goes on.
var ErrNoSMTPUTF8 = errors.New("server does not offer SMTPUTF8")

// onWire returns env with each address as it goes between the angle
// brackets of MAIL and RCPT (RFC 5321 section 4.1.2): a local part that is
// not a dot-string quoted, and, unless the server takes UTF-8 (smtputf8)
// and env needs it, the domain in punycode. back maps each recipient that
// changed to its form in env; it is nil when nothing changed, which is the
// common case and costs nothing.
func (env Envelope) onWire(smtputf8 bool) (wire Envelope, back map[string]string, err error) {
	if (env.From == "" || plainPath(env.From)) && !slices.ContainsFunc(env.To, notPlain) {
		return env, nil, nil
	}
	utf8 := smtputf8 && !asciiEnvelope(env)
	if env.From != "" {
		if wire.From, err = path(env.From, utf8); err != nil {
			return Envelope{}, nil, err
		}
	}
	back = make(map[string]string, len(env.To))
	wire.To = make([]string, len(env.To))
	for i, a := range env.To {
		if wire.To[i], err = path(a, utf8); err != nil {
			return Envelope{}, nil, err
		}
		back[wire.To[i]] = a
	}
	return wire, back, nil
}

// restore gives refusals the recipient addresses the caller used.
func restore(back map[string]string, refused []RcptReply) {
	for i := range refused {
		if a, ok := back[refused[i].Addr]; ok {
			refused[i].Addr = a
		}
	}
}

// plainPath reports whether addr goes on the wire as it is: ASCII, with a
// dot-string before the @.
func plainPath(addr string) bool {
	local := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local = addr[:at]
	}
	return isASCII(addr) && dotString(local)
}

func notPlain(addr string) bool { return !plainPath(addr) }

// path is addr, an address with an unquoted local part as net/mail gives
// it, in the form RFC 5321 (and with utf8, RFC 6531) wants on the wire.
func path(addr string, utf8 bool) (string, error) {
	local, domain := addr, ""
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		local, domain = addr[:at], addr[at:]
	}
	if !utf8 && !isASCII(local) {
		return "", ErrNoSMTPUTF8
	}
	if !utf8 && !isASCII(domain) {
		ascii, err := idna.Lookup.ToASCII(domain[1:])
		if err != nil {
			return "", fmt.Errorf("domain %q: %w", domain[1:], err)
		}
		domain = "@" + ascii
	}
	if dotString(local) {
		return local + domain, nil
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + domain, nil
}

// dotString reports whether local is a Dot-string of RFC 5321: atoms of
// atext (UTF-8 counts as atext, RFC 6531) joined by single dots.
func dotString(local string) bool {
	if local == "" {
		return false
	}
	for atom := range strings.SplitSeq(local, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if c < 0x80 && !isAtext(c) {
				return false
			}
		}
	}
	return true
}

func isAtext(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
