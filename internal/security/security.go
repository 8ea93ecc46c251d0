// Package security holds the one notion of connection security that the
// client (delivery), the server (sandbox) and the campaign file share, and
// the loopback rule that decides where cleartext credentials and local
// pages may go.
package security

import (
	"fmt"
	"net"
	"strings"
)

// Mode says how an SMTP connection is protected. The zero value is SSL.
type Mode int

const (
	// SSL is implicit TLS from the first byte (RFC 8314), default port 465.
	SSL Mode = iota
	// StartTLS upgrades a plain connection (RFC 3207), default port 587. The
	// upgrade is mandatory: a server that does not offer it is an error.
	StartTLS
	// None is plain text, default port 25. AUTH over it is refused unless the
	// server is on a loopback address.
	None
)

// Parse reads the campaign's security setting: "ssl" (or "tls"),
// "starttls" or "none".
func Parse(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "ssl", "tls":
		return SSL, nil
	case "starttls":
		return StartTLS, nil
	case "none":
		return None, nil
	}
	return 0, fmt.Errorf("unknown security %q (want ssl, starttls or none)", s)
}

// String returns the name Parse accepts.
func (m Mode) String() string {
	switch m {
	case SSL:
		return "ssl"
	case StartTLS:
		return "starttls"
	case None:
		return "none"
	}
	return fmt.Sprintf("security.Mode(%d)", int(m))
}

// DefaultPort is the submission port of the mode: 465, 587 or 25.
func (m Mode) DefaultPort() int {
	switch m {
	case SSL:
		return 465
	case StartTLS:
		return 587
	}
	return 25
}

// Loopback reports whether host is this machine: "localhost", 127.0.0.0/8
// or ::1. Names other than localhost are not resolved, so a DNS answer
// cannot make a remote server look local.
func Loopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}
