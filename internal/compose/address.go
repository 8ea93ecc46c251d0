package compose

import (
	"fmt"
	"iter"
	"strings"

	"golang.org/x/net/idna"
)

// NeedsSMTPUTF8 reports whether some address of the envelope has a local
// part that is not ASCII: only a server that offers SMTPUTF8 (RFC 6531) can
// take it. A domain that is not ASCII goes out as punycode instead.
func (env Envelope) NeedsSMTPUTF8() bool {
	for _, a := range append([]string{env.From}, env.To...) {
		if at := strings.LastIndexByte(a, '@'); at > 0 && !isASCII(a[:at]) {
			return true
		}
	}
	return false
}

// explainAddress says in plain words what is wrong with an address that
// net/mail refused, whose messages ("missing '@' or angle-addr") do not
// help someone fixing a spreadsheet cell. "" when no usual typo fits.
func explainAddress(v string) string {
	spec := addrSpec(v)
	if spec == "" {
		return "empty address"
	}
	ats, spaced := unquotedAts(spec)
	switch {
	case len(ats) == 0:
		return "the @ is missing"
	case len(ats) > 1:
		return "more than one @"
	}
	local, domain := spec[:ats[0]], spec[ats[0]+1:]
	switch {
	case local == "":
		return "nothing before the @"
	case domain == "":
		return "domain missing"
	case spaced:
		return "a space inside the address"
	}
	if !strings.HasPrefix(local, `"`) {
		switch {
		case strings.HasPrefix(local, "."):
			return "starts with a dot"
		case strings.HasSuffix(local, "."):
			return "a dot right before the @"
		case strings.Contains(local, ".."):
			return "two dots in a row"
		}
		if i := strings.IndexAny(local, `()<>[]:;\,"`); i >= 0 {
			return fmt.Sprintf("%q is not allowed before the @", local[i:i+1])
		}
	}
	return domainProblem(domain)
}

// invalidAddress is the error for v, which net/mail refused with err: in
// plain words when a usual typo fits, in net/mail's otherwise.
func invalidAddress(v string, err error) error {
	why := explainAddress(v)
	if why == "" {
		why = strings.TrimPrefix(err.Error(), "mail: ")
	}
	return fmt.Errorf("%q is not a valid address: %s", v, why)
}

// addrSpec is the address without the display name: the part in angle
// brackets, if any.
func addrSpec(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasSuffix(v, ">") {
		if i := strings.LastIndexByte(v, '<'); i >= 0 {
			return strings.TrimSpace(v[i+1 : len(v)-1])
		}
	}
	return v
}

// looksLikeList reports whether an address net/mail refused is rather two:
// more than one @ with something between them that separates addresses.
func looksLikeList(v string) bool {
	spec := addrSpec(v)
	return strings.Count(spec, "@") > 1 && strings.ContainsAny(spec, ",; \t")
}

// unquotedAts finds the @ signs outside quoted strings, and whether white
// space appears outside them.
func unquotedAts(s string) (ats []int, spaced bool) {
	for i, c := range unquoted(s) {
		switch c {
		case '@':
			ats = append(ats, i)
		case ' ', '\t':
			spaced = true
		}
	}
	return ats, spaced
}

// unquoted yields the bytes of s that stand outside quoted strings, with
// their index; the quotes themselves and what they enclose are skipped.
func unquoted(s string) iter.Seq2[int, byte] {
	return func(yield func(int, byte) bool) {
		quoted, escaped := false, false
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case escaped:
				escaped = false
			case c == '\\' && quoted:
				escaped = true
			case c == '"':
				quoted = !quoted
			case quoted:
			default:
				if !yield(i, c) {
					return
				}
			}
		}
	}
}

// domainProblem says what makes domain, which is not empty (both callers
// report a missing one themselves), unusable; "" when it is fine. A
// domain that is not ASCII must convert to punycode (IDNA 2008, UTS 46), as
// it will when the server does not offer SMTPUTF8.
func domainProblem(domain string) string {
	if strings.HasPrefix(domain, "[") {
		return "" // an address literal: net/mail has checked it
	}
	switch {
	case strings.HasPrefix(domain, "."):
		return "a dot right after the @"
	case strings.HasSuffix(domain, "."):
		return "ends with a dot"
	case strings.Contains(domain, ".."):
		return "two dots in a row"
	case strings.ContainsAny(domain, " \t"):
		return "a space inside the address"
	}
	if i := strings.IndexAny(domain, `,;<>()[]:\"@`); i >= 0 {
		return fmt.Sprintf("%q is not allowed in the domain", domain[i:i+1])
	}
	if !strings.Contains(domain, ".") && domain != "localhost" {
		return fmt.Sprintf("domain %q has no dot", domain)
	}
	if !isASCII(domain) {
		if _, err := idna.Lookup.ToASCII(domain); err != nil {
			return fmt.Sprintf("domain %q is not a valid international domain name", domain)
		}
	}
	return ""
}
