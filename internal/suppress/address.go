package suppress

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Why an entry is not an address; the caller adds file, line and value.
var (
	errNoAt     = errors.New("the @ is missing")
	errNoLocal  = errors.New("nothing before the @")
	errNoDomain = errors.New("domain missing")
	errSpace    = errors.New("a space inside the address")
	errControl  = errors.New("a control character inside the address")
	errUTF8     = errors.New("not valid UTF-8")
)

// Normalize is the one form in which an address is compared: spaces
// around it trimmed, a display name ("Ana <ana@example.com>") dropped, the
// whole address lower-cased, and a domain that is not ASCII in punycode
// (IDNA 2008, UTS 46, as compose and delivery convert it).
//
// The local part is lower-cased too, although RFC 5321 lets a server tell
// Ana@ from ana@: no mail provider in use does, and a suppression list
// exists so that someone who asked to stop is never mailed again. Treating
// two spellings of one mailbox as different would mail that person; treating
// two mailboxes that differ only in case as one would skip a mailbox nobody
// has.
func Normalize(addr string) (string, error) {
	b, err := appendNormal(nil, []byte(addr))
	return string(b), err
}

// appendNormal appends the normal form of addr to dst: the fast path of
// Normalize for loading a million lines without a string each.
func appendNormal(dst, addr []byte) ([]byte, error) {
	addr = bytes.TrimSpace(addr)
	if n := len(addr); n > 0 && addr[n-1] == '>' {
		if lt := bytes.LastIndexByte(addr, '<'); lt >= 0 {
			addr = bytes.TrimSpace(addr[lt+1 : n-1])
		}
	}
	at := bytes.LastIndexByte(addr, '@')
	switch {
	case at < 0:
		return dst, errNoAt
	case at == 0:
		return dst, errNoLocal
	case at == len(addr)-1:
		return dst, errNoDomain
	}
	ascii, err := scanAddress(addr, at)
	if err != nil {
		return dst, err
	}
	if ascii {
		for _, c := range addr {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		return dst, nil
	}
	if !utf8.Valid(addr) {
		return dst, errUTF8
	}
	dst = append(dst, bytes.ToLower(addr[:at+1])...)
	if domain, err := idna.Lookup.ToASCII(string(addr[at+1:])); err == nil {
		return append(dst, domain...), nil
	}
	// Not a valid international domain: it still matches itself.
	dst = append(dst, bytes.ToLower(addr[at+1:])...)
	return dst, nil
}

// special marks what an address holds only inside quotes (before the @)
// or brackets (an address literal after it).
var special = func() (t [256]bool) {
	for _, c := range []byte(`,;<>()[]:\"@`) {
		t[c] = true
	}
	return t
}()

// scanAddress checks every character of addr, whose last @ is at, in one
// pass, and reports whether it is all ASCII.
func scanAddress(addr []byte, at int) (ascii bool, err error) {
	quoted, literal := addr[0] == '"', addr[at+1] == '['
	ascii = true
	for i, c := range addr {
		switch {
		case i == at:
		case c < 0x20 || c == 0x7f:
			return false, errControl
		case c >= utf8.RuneSelf:
			ascii = false
		case i < at && quoted || i > at && literal:
		case c == ' ':
			return false, errSpace
		case special[c] && i < at:
			return false, fmt.Errorf("%q is not allowed before the @", string(c))
		case special[c]:
			return false, fmt.Errorf("%q is not allowed in the domain", string(c))
		}
	}
	return ascii, nil
}
