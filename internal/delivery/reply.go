package delivery

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

// reply is one SMTP reply, parsed.
type reply struct {
	code     int
	enhanced string // "5.1.1" or ""
	text     string // all lines joined by a space
}

// replyOf extracts the server's reply from an error of the smtp client,
// which reports every unexpected reply as a *textproto.Error.
func replyOf(err error) (reply, bool) {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return reply{}, false
	}
	return parseReply(te.Code, te.Msg), true
}

// parseReply turns textproto's code and "\n"-joined lines into a reply. The
// enhanced code (RFC 3463) leads the first line or, as go-smtp writes it, the
// last; its class must match the reply code's.
func parseReply(code int, msg string) reply {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	r := reply{code: code, text: strings.Join(lines, " ")}
	for _, line := range []string{lines[0], lines[len(lines)-1]} {
		first, _, _ := strings.Cut(line, " ")
		if isEnhanced(first, code) {
			r.enhanced = first
			break
		}
	}
	return r
}

func isEnhanced(s string, code int) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return false
	}
	for _, p := range parts[1:] {
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 999 || p == "" || p[0] == '+' {
			return false
		}
	}
	return true
}

// throttleWords are the only place text matters: servers signal "slow down"
// in prose far more often than with a dedicated code.
var throttleWords = regexp.MustCompile(`(?i)\brate\b|rate.?limit|too many|throttl|slow down|busy|congest|frequen`)

// greylisting asks for a later retry of this one message, not a slower rate.
var greylisting = regexp.MustCompile(`(?i)gr[ae]y.?list`)

// throttleHint reports whether a reply asks the sender to slow down.
func throttleHint(r reply) bool {
	switch r.code {
	case 421:
		return true // "service not available, closing channel": always back off
	case 450, 451, 452, 454:
	default:
		return false
	}
	if greylisting.MatchString(r.text) {
		return false
	}
	// 4.7.x is policy (rate limits); 4.3.2 and 4.4.5 are "not accepting
	// messages" and "system congestion".
	if strings.HasPrefix(r.enhanced, "4.7.") || r.enhanced == "4.3.2" || r.enhanced == "4.4.5" {
		return true
	}
	return throttleWords.MatchString(r.text)
}

// statusOf maps a reply's class to a status: only the reply to the end of
// DATA can deliver; 4xx anywhere defers; 5xx rejects.
func statusOf(code int) Status {
	switch code / 100 {
	case 2:
		return Delivered
	case 4:
		return Deferred
	}
	return Rejected
}

// isNetworkError reports a transport failure (reset, EOF, timeout, closed)
// as opposed to a TLS or protocol failure.
func isNetworkError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "remote error" {
		return false // a TLS alert from the peer, see isTLSError
	}
	return opErr != nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		isTimeout(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isCertificateError reports a certificate that failed verification, the
// one TLS failure that is certainly not the network's fault.
func isCertificateError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		sr  x509.SystemRootsError
	)
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &sr)
}

// isTLSError reports a handshake failure that retrying will not cure: a
// certificate problem, an alert, or a peer that does not speak TLS at all
// (implicit TLS configured against a STARTTLS port, say).
func isTLSError(err error) bool {
	if isCertificateError(err) {
		return true
	}
	var (
		opErr *net.OpError
		rh    tls.RecordHeaderError
	)
	if (errors.As(err, &opErr) && opErr.Op == "remote error") || errors.As(err, &rh) {
		return true
	}
	return !isNetworkError(err) && strings.HasPrefix(err.Error(), "tls: ")
}
