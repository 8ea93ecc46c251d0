package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/wneessen/go-mail/smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

// conn is one SMTP connection, owned by at most one Send at a time.
type conn struct {
	id       int64
	raw      net.Conn // the TCP connection; closing it unblocks any I/O
	client   *smtp.Client
	sent     int       // transactions started on this connection
	lastUsed time.Time // by Pool.now
	dirty    bool      // the last transaction did not finish: RSET before reuse
	reused   bool      // taken from the idle list rather than freshly dialed
	// pipelining: the server offers PIPELINING (RFC 2920) after EHLO/STARTTLS.
	pipelining bool
	smtputf8   bool // the server offers SMTPUTF8 (RFC 6531)
}

// deadline bounds the next command and its reply; a stalled server then
// fails the read instead of hanging the worker.
func (c *conn) deadline(d time.Duration) error {
	if c.client == nil {
		return c.raw.SetDeadline(time.Now().Add(d))
	}
	return c.client.UpdateDeadline(d)
}

func (c *conn) close() {
	if c.client != nil {
		_ = c.client.Close()
	}
	_ = c.raw.Close()
}

// tlsConfig verifies the server against the system roots and, when given,
// Config.RootCAs too. crypto/tls accepts only one pool and a CertPool cannot
// be merged into another, so with extra roots the chain is checked in
// VerifyConnection against each pool in turn, with the same rules
// crypto/tls applies (server auth usage, host name, expiry).
func tlsConfig(cfg Config) *tls.Config {
	tc := &tls.Config{
		ServerName:         cfg.Host,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(cfg.Workers),
	}
	if cfg.RootCAs == nil {
		return tc
	}
	extra := cfg.RootCAs
	host := cfg.Host
	tc.InsecureSkipVerify = true // replaced by VerifyConnection below, never skipped
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: server sent no certificate")
		}
		opts := x509.VerifyOptions{
			DNSName:       host,
			Intermediates: x509.NewCertPool(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(opts); err == nil { // Roots nil: system roots
			return nil
		}
		opts.Roots = extra
		_, err := leaf.Verify(opts)
		return err
	}
	return tc
}

// dial opens, secures and authenticates a new connection. On failure the
// Result says why, with Stage "connect".
func (p *Pool) dial(ctx context.Context) (*conn, Result) {
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, p.connectResult(Deferred, fmt.Errorf("smtp %s: connect: %w", p.addr, err))
	}
	c := &conn{id: p.nextID.Add(1), raw: raw, lastUsed: p.now()}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	res, ok := p.setUp(ctx, c)
	if !stop() {
		// ctx ended mid-way and closed the connection under us; whatever
		// the error looks like, the cause is the interruption.
		ok = false
		res = p.connectResult(Deferred, fmt.Errorf("smtp %s: connect: %w", p.addr, context.Cause(ctx)))
	}
	if !ok {
		c.close()
		return nil, res
	}
	return c, Result{}
}

// setUp runs TLS, the greeting, EHLO, STARTTLS and AUTH on a dialed conn.
func (p *Pool) setUp(ctx context.Context, c *conn) (Result, bool) {
	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return p.connectResult(Deferred, fmt.Errorf("smtp %s: %w", p.addr, err)), false
	}
	var nc net.Conn = c.raw
	if p.cfg.Security == security.SSL {
		tc := tls.Client(c.raw, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return p.failedStep("tls handshake", err), false
		}
		nc = tc
	}
	client, err := smtp.NewClient(nc, p.cfg.Host)
	if err != nil {
		return p.failedStep("greeting", err), false
	}
	c.client = client
	if p.cfg.Debug != nil {
		client.SetLogger(transcript{p: p, id: c.id})
		client.SetDebugLog(true)
		p.note(c.id, "connected to %s (%s)", p.addr, p.cfg.Security)
	}
	if err := client.Hello(p.cfg.HeloName); err != nil {
		return p.failedStep("ehlo", err), false
	}
	if p.cfg.Security == security.StartTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			// Stop here: going on would mean AUTH and the message in clear.
			return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w (check the port, 587 usually offers it, or use security \"ssl\")",
				p.addr, ErrStartTLSUnavailable)), false
		}
		if err := c.deadline(p.cfg.CommandTimeout); err != nil {
			return p.failedStep("starttls", err), false
		}
		if err := client.StartTLS(p.tls); err != nil {
			return p.failedStep("starttls", err), false
		}
	}
	c.pipelining, _ = client.Extension("PIPELINING")
	c.smtputf8, _ = client.Extension("SMTPUTF8")
	if p.cfg.Username != "" {
		return p.authenticate(c)
	}
	return Result{}, true
}

// connectResult is a Result for a failure before any transaction.
func (p *Pool) connectResult(s Status, err error) Result {
	return Result{Status: s, Stage: StageConnect, Err: err}
}

// failedStep classifies a failure while setting up a connection. A 5xx
// there will come back for every message, so it stops the run; a 4xx or a
// network error is Deferred and the caller's failure count decides.
func (p *Pool) failedStep(step string, err error) Result {
	if r, ok := replyOf(err); ok {
		res := Result{Status: Deferred, Code: r.code, Enhanced: r.enhanced, Reply: r.text,
			Stage: StageConnect, Throttle: throttleHint(r)}
		if r.code/100 != 4 {
			res.Status = Fatal
		}
		res.Err = fmt.Errorf("smtp %s: %s: server replied %d %s", p.addr, step, r.code, r.text)
		return res
	}
	if isTLSError(err) {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && p.cfg.Security == security.SSL {
			return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w: %w (the server speaks plain SMTP on this port: use security \"starttls\", or port 465)",
				p.addr, ErrTLS, err))
		}
		return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w: %w", p.addr, ErrTLS, err))
	}
	if isTimeout(err) {
		return p.connectResult(Deferred, fmt.Errorf("smtp %s: %s: no reply within %s: %w", p.addr, step, p.cfg.CommandTimeout, err))
	}
	return p.connectResult(Deferred, fmt.Errorf("smtp %s: %s: %w", p.addr, step, err))
}

// authMechanisms in order of preference for automatic choice. Credentials
// only ever travel inside TLS or to loopback, so PLAIN (one round trip) is
// as safe as CRAM-MD5 and, unlike it, lets the server store hashed passwords.
var authMechanisms = []string{"plain", "login", "cram-md5"}

// chooseMechanism picks the configured mechanism or the best one offered.
func (p *Pool) chooseMechanism(offered string) string {
	if p.cfg.AuthMechanism != "" {
		return p.cfg.AuthMechanism
	}
	for _, want := range authMechanisms {
		for _, m := range strings.Fields(offered) {
			if strings.EqualFold(m, want) {
				return want
			}
		}
	}
	return ""
}

func (p *Pool) authenticate(c *conn) (Result, bool) {
	hasAuth, offered := c.client.Extension("AUTH")
	if !hasAuth && p.cfg.AuthMechanism == "" {
		return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w: server offers no AUTH (remove the username to send without it)",
			p.addr, ErrAuth)), false
	}
	mech := p.chooseMechanism(offered)
	var a smtp.Auth
	// The go-mail mechanisms refuse cleartext except to a few loopback
	// names; our own rule (TLS, or any loopback address) was enforced
	// before dialing, so theirs is switched off.
	host, user, pass := p.cfg.Host, p.cfg.Username, p.cfg.Password
	switch mech {
	case "plain":
		a = smtp.PlainAuth("", user, pass, host, true)
	case "login":
		a = smtp.LoginAuth(user, pass, host, true)
	case "cram-md5":
		a = smtp.CRAMMD5Auth(user, pass)
	case "xoauth2":
		a = smtp.XOAuth2Auth(user, pass)
	default:
		return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w: server offers AUTH %s, none of PLAIN, LOGIN, CRAM-MD5",
			p.addr, ErrAuth, offered)), false
	}
	p.note(c.id, "AUTH %s (credentials not shown)", strings.ToUpper(mech))
	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return p.failedStep("auth", err), false
	}
	err := c.client.Auth(a)
	if err == nil {
		return Result{}, true
	}
	if r, ok := replyOf(err); ok {
		if r.code/100 == 4 { // 454 temporary authentication failure
			return p.failedStep("auth", err), false
		}
		return Result{Status: Fatal, Code: r.code, Enhanced: r.enhanced, Reply: r.text, Stage: StageConnect,
			Err: fmt.Errorf("smtp %s: %w: AUTH %s: server replied %d %s",
				p.addr, ErrAuth, strings.ToUpper(mech), r.code, r.text)}, false
	}
	if isNetworkError(err) {
		return p.failedStep("auth", err), false
	}
	// The mechanism itself gave up (unexpected challenge and the like).
	return p.connectResult(Fatal, fmt.Errorf("smtp %s: %w: AUTH %s: %w", p.addr, ErrAuth, strings.ToUpper(mech), err)), false
}
