package unsubscribe

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/mailmerge/mailmerge/internal/security"
)

// maxBase bounds the url key: the link, a token of a long address added,
// must fit in a header line of 998 bytes.
const maxBase = 400

// CheckURL accepts the base of the one-click links: an absolute https URL
// (http only to a loopback host, for tests), with no user, password or
// fragment, written in characters a header and a URL take as they are.
func CheckURL(raw string) error {
	if len(raw) > maxBase {
		return fmt.Errorf("%d characters; at most %d leave room for the token", len(raw), maxBase)
	}
	for _, r := range raw {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>"{}|\^`+"`", r) {
			return fmt.Errorf("%q holds %q; write it percent-encoded", raw, r)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "http" && security.Loopback(u.Hostname()):
	case u.Scheme != "https":
		return fmt.Errorf("%q is not an https URL; mail providers only POST to https", raw)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return fmt.Errorf("%q holds a user name", raw)
	case strings.Contains(raw, "#"):
		return fmt.Errorf("%q has a fragment (#), which the token cannot follow", raw)
	}
	return nil
}
