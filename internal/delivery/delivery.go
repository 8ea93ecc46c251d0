// Package delivery hands finished messages to an SMTP server and says, for
// each one, what became of it.
//
// A [Pool] owns up to Workers kept-alive connections to one submission
// server. Each [Pool.Send] runs one mail transaction (MAIL, one RCPT per
// envelope recipient, DATA) on a free connection and classifies every reply
// into a [Result]: delivered, rejected for good, deferred (safe to retry),
// unknown (the end of DATA went out but no reply came back: never resend), or
// fatal (the run must stop: bad credentials, a certificate that does not
// verify, a STARTTLS that is not offered). A caller with a queue of
// messages uses a [Session] instead: with a server that offers PIPELINING
// (RFC 2920), MAIL, RCPT and DATA go out in one write, and each message's
// final dot in the same write as the next message's commands, so a message
// costs one round trip.
//
// Protocols: SMTP (RFC 5321), PIPELINING (RFC 2920), enhanced status codes (RFC 3463), implicit TLS
// submission (RFC 8314), STARTTLS (RFC 3207), AUTH (RFC 4954) with PLAIN
// (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and XOAUTH2. The wire protocol is
// spoken by the smtp package of github.com/wneessen/go-mail; this package
// adds the connection policy, the pool and the classification.
package delivery

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/security"
)

// Errors that stop a run: retrying cannot help, the configuration must change.
// Each Result or error that carries one wraps it, so test with errors.Is.
var (
	// ErrAuth: the server refused the credentials (535, 534, 530 or another
	// permanent reply to AUTH), or no usable AUTH mechanism is on offer.
	ErrAuth = errors.New("authentication failed")
	// ErrTLS: the TLS handshake failed, typically because the server's
	// certificate does not verify against the system roots or Config.RootCAs.
	ErrTLS = errors.New("tls handshake failed")
	// ErrStartTLSUnavailable: Security is security.StartTLS but the server does not
	// offer STARTTLS. Nothing, credentials least of all, was sent in clear.
	ErrStartTLSUnavailable = errors.New("server does not offer STARTTLS")
	// ErrInsecureAuth: credentials would travel over an unencrypted
	// connection to a host that is not a loopback address.
	ErrInsecureAuth = errors.New("refusing to send credentials without TLS")
	// ErrClosed: the pool was closed.
	ErrClosed = errors.New("delivery pool closed")
)

// Config describes the submission server and how hard to use it. Zero
// values take the defaults named on each field.
type Config struct {
	Host     string
	Port     int           // default by Security: 465, 587 or 25
	Security security.Mode // default security.SSL

	// Username enables AUTH; without one no AUTH is attempted. Password is
	// the password, app-specific authorisation code or, for "xoauth2", the
	// OAuth access token. Neither ever appears in an error or transcript.
	Username, Password string
	// AuthMechanism is "" (automatic: PLAIN, else LOGIN, else CRAM-MD5, as
	// the server offers them; PLAIN is preferred because credentials only
	// ever travel inside TLS or to loopback, where CRAM-MD5 buys nothing),
	// or one of "plain", "login", "cram-md5", "xoauth2" to force a choice.
	AuthMechanism string
	// RootCAs is trusted in addition to the system roots (nil: system roots
	// only), for a private relay or a test server.
	RootCAs *x509.CertPool
	// HeloName is sent in EHLO; default the machine's host name when it looks
	// fully qualified, else "localhost".
	HeloName string

	Workers          int // connections at most, default 4
	MaxPerConnection int // messages before a connection is replaced, default 100

	DialTimeout    time.Duration // TCP connect, default 30s
	CommandTimeout time.Duration // each command and its reply, default 60s
	DataTimeout    time.Duration // message transfer plus final reply, default 5m
	IdleNoop       time.Duration // a connection idle longer is probed with NOOP, default 30s

	// Debug, when set, receives the SMTP conversation, one "smtp[N] C: ..." or
	// "smtp[N] S: ..." line per command or reply line (N numbers the
	// connection). AUTH exchanges and message bodies are not written.
	Debug io.Writer
}

// withDefaults validates cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	cfg.Host = strings.TrimSpace(cfg.Host)
	if cfg.Host == "" {
		return cfg, errors.New("smtp host is empty")
	}
	if strings.ContainsAny(cfg.Host, " \t\r\n/") {
		return cfg, fmt.Errorf("smtp host %q is not a host name", cfg.Host)
	}
	switch cfg.Security {
	case security.SSL, security.StartTLS, security.None:
	default:
		return cfg, fmt.Errorf("smtp %s: unknown security %d", cfg.Host, int(cfg.Security))
	}
	if cfg.Port == 0 {
		cfg.Port = cfg.Security.DefaultPort()
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("smtp %s: port %d out of range", cfg.Host, cfg.Port)
	}
	cfg.AuthMechanism = strings.ToLower(strings.TrimSpace(cfg.AuthMechanism))
	switch cfg.AuthMechanism {
	case "", "plain", "login", "cram-md5", "xoauth2":
	default:
		return cfg, fmt.Errorf("smtp %s: unknown auth mechanism %q (want plain, login, cram-md5 or xoauth2)",
			cfg.Host, cfg.AuthMechanism)
	}
	if cfg.AuthMechanism != "" && cfg.Username == "" {
		return cfg, fmt.Errorf("smtp %s: auth mechanism %s needs a username", cfg.Host, cfg.AuthMechanism)
	}
	if strings.ContainsAny(cfg.Username, "\r\n") {
		return cfg, fmt.Errorf("smtp %s: username contains a line break", cfg.Host)
	}
	// Checked here, before anything is dialed, so a misconfigured campaign
	// never puts a password on the wire.
	if cfg.Username != "" && cfg.Security == security.None && !security.Loopback(cfg.Host) {
		return cfg, fmt.Errorf("smtp %s: %w (use security \"ssl\" or \"starttls\")", cfg.Host, ErrInsecureAuth)
	}
	if cfg.HeloName == "" {
		cfg.HeloName = defaultHeloName()
	}
	if strings.ContainsAny(cfg.HeloName, " \t\r\n") {
		return cfg, fmt.Errorf("smtp %s: helo name %q contains white space", cfg.Host, cfg.HeloName)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.MaxPerConnection <= 0 {
		cfg.MaxPerConnection = 100
	}
	setDefault(&cfg.DialTimeout, 30*time.Second)
	setDefault(&cfg.CommandTimeout, 60*time.Second)
	setDefault(&cfg.DataTimeout, 5*time.Minute)
	setDefault(&cfg.IdleNoop, 30*time.Second)
	return cfg, nil
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// defaultHeloName is the host name if it looks fully qualified; servers
// score a bare "mylaptop" as suspicious, "localhost" at least is honest.
func defaultHeloName() string {
	h, err := os.Hostname()
	if err != nil || !strings.Contains(strings.Trim(h, "."), ".") || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	return h
}

// Envelope is the SMTP envelope of one message: bare addresses, no display
// names. It may differ from the message's From/To/Cc headers (Bcc, for one).
type Envelope struct {
	From string   // reverse path; "" for the null sender
	To   []string // one RCPT TO each
}

// check refuses addresses that could break out of the MAIL or RCPT line.
func (env Envelope) check() error {
	if !bare(env.From) {
		return fmt.Errorf("envelope sender %q is not a bare address", env.From)
	}
	if len(env.To) == 0 {
		return errors.New("envelope has no recipients")
	}
	for _, to := range env.To {
		if to == "" || !bare(to) {
			return fmt.Errorf("envelope recipient %q is not a bare address", to)
		}
	}
	return nil
}

// bare reports whether addr has no angle bracket and no control character,
// which not even quoting lets through.
func bare(addr string) bool {
	return !strings.ContainsAny(addr, "<>") && !strings.ContainsFunc(addr, isControl)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Status is what became of one message.
type Status int

const (
	// Delivered: the server accepted the message (2xx after DATA).
	Delivered Status = iota
	// Rejected: a permanent (5xx) reply; retrying will not help.
	Rejected
	// Deferred: a temporary (4xx) reply, or the connection failed before the
	// end of DATA was sent. The server did not take the message; retry.
	Deferred
	// Unknown: the end of DATA was sent but no reply came back. The message
	// may have been accepted; it must not be resent automatically.
	Unknown
	// Fatal: the run must stop (ErrAuth, ErrTLS, ErrStartTLSUnavailable,
	// ErrInsecureAuth, ErrClosed, or a 5xx greeting). Nothing was sent.
	Fatal
)

// String returns the status in lower case, as a results file would show it.
func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Rejected:
		return "rejected"
	case Deferred:
		return "deferred"
	case Unknown:
		return "unknown"
	case Fatal:
		return "fatal"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Stages of a transaction, as found in Result.Stage.
const (
	StageConnect = "connect"  // dial, TLS, greeting, EHLO, STARTTLS, AUTH
	StageMail    = "mail"     // MAIL FROM
	StageRcpt    = "rcpt"     // RCPT TO
	StageData    = "data"     // the DATA command and the message transfer
	StageDataEnd = "data-end" // the reply to the final CRLF.CRLF
)

// RcptReply is the server's refusal of one envelope recipient.
type RcptReply struct {
	Addr     string
	Code     int    // e.g. 550
	Enhanced string // e.g. "5.1.1", "" when the server sent none
	Reply    string // the server's text on one line
}

// Result says what became of one message and why.
type Result struct {
	Status   Status
	Code     int    // the deciding reply code, 0 when there was no reply
	Enhanced string // its enhanced status code ("5.1.1"), if any
	Reply    string // its text (including the enhanced code) on one line
	Stage    string // where it was decided: one of the Stage constants
	// Rcpts lists every recipient the server refused, also when others were
	// accepted and the message was delivered to them.
	Rcpts []RcptReply
	// Throttle hints that the server wants us to slow down: any 421, or a
	// 450/451/452/454 whose enhanced code or text speaks of rate, load or
	// "too many". The caller may lower its sending rate.
	Throttle bool
	// Err describes any status but Delivered; it never contains credentials.
	Err error
}
