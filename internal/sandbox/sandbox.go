// Package sandbox is the loopback SMTP server behind `mailmerge send
// --sandbox DIR` and the server the campaign, CLI and crash tests deliver
// to. It speaks SMTP (RFC 5321) through github.com/emersion/go-smtp with:
//
//   - implicit TLS (RFC 8314, the default), STARTTLS (RFC 3207) or plain
//     text, on 127.0.0.1 only, with a throwaway certificate signed by a
//     throwaway CA that clients trust explicitly through RootCAs or CAPEM;
//   - AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN, required by default;
//   - delivery into a Maildir, one file per envelope recipient, made
//     durable before the reply to DATA, so a client that dies after the
//     server stored a message but before it read the 250 has an unknown
//     outcome, never a lost message;
//   - Faults: hooks that refuse, stall or drop at chosen points.
//
// Start a server, point a client at Addr with RootCAs, and read what
// arrived with Deliveries, Received or ReadMaildir:
//
//	srv, err := sandbox.Start(sandbox.Options{Dir: t.TempDir()})
//	...
//	defer srv.Close()
//
// # Fault recipes
//
// Refuse chosen recipients permanently:
//
//	Faults: &sandbox.Faults{Rcpt: func(to string) error {
//		if to == "gone@example.com" {
//			return sandbox.Refuse(550, "5.1.1", "no such user")
//		}
//		return nil
//	}}
//
// Greylist: refuse every message twice with 451, then accept it:
//
//	Data: sandbox.First[sandbox.Delivery](2, sandbox.Refuse(451, "4.7.1", "greylisted"))
//
// (to count per recipient, keep a map under a mutex inside your own hook).
//
// Reply 421 and hang up after every third message, as providers that cap
// messages per connection do:
//
//	Data: sandbox.Every[sandbox.Delivery](3, sandbox.Refuse(421, "4.7.0", "too many messages"))
//
// Lose the connection after the message arrived, without storing it
// (return ErrDrop) or after storing it (return ErrDropAfterStore, the case
// a client must record as unknown). Lose it in the middle of DATA with
// DropDataAfter. Refuse whole connections with Connect, e.g.
// Every[int](2, Refuse(421, "4.3.2", "busy")). Make the server slow with
// Stall, e.g. to trip a client timeout at StageData; stalls end when the
// server closes, so Close never waits for them.
package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

// Options configure a sandbox server. The zero value is a working server:
// implicit TLS on a free port, random credentials required, nothing stored
// on disk.
type Options struct {
	// Dir is the Maildir messages are stored in; tmp, new and cur are
	// created if missing. "" stores nothing and keeps only the counters
	// and the in-memory log.
	Dir string

	// Port on 127.0.0.1 to listen on; 0 picks a free one.
	Port int

	// Security is the connection protection; default implicit TLS.
	Security security.Mode

	// Certificate replaces the generated one. RootCAs and CAPEM are then
	// nil: the caller knows what signed it.
	Certificate *tls.Certificate

	// Domain is the name in the greeting; default "localhost".
	Domain string

	// Username and Password are the credentials AUTH accepts; each is
	// random if empty (read them back with Server.Username and Password).
	Username, Password string

	// AllowAnonymous accepts MAIL without AUTH. By default a client must
	// authenticate first and gets 530 otherwise.
	AllowAnonymous bool

	// Faults makes the server misbehave for tests; nil is well-behaved.
	Faults *Faults

	// LogLimit is how many deliveries Deliveries keeps; 0 means 10000,
	// negative keeps none (counters only, for long benchmarks). Deliveries
	// past the limit are counted but not logged.
	LogLimit int

	// KeepData keeps each message's bytes in Delivery.Data.
	KeepData bool

	// MaxMessageBytes is the largest message accepted; default 50 MB.
	MaxMessageBytes int64

	// MaxRecipients is the most RCPT TO per message; default 100.
	MaxRecipients int

	// ReadTimeout and WriteTimeout bound each read of a command or a
	// message and each reply; default 60s each.
	ReadTimeout, WriteTimeout time.Duration

	// ErrorLog receives the server's internal errors (failed handshakes,
	// failed stores); default io.Discard so tests stay quiet.
	ErrorLog io.Writer
}

// Delivery is one message the server accepted, as logged by Deliveries.
type Delivery struct {
	From      string   // envelope sender (MAIL FROM)
	To        []string // envelope recipients (RCPT TO), in order
	MessageID string   // Message-ID header without angle brackets, "" if absent
	Size      int      // bytes of the message as received
	Data      []byte   // the message, only with Options.KeepData (always set for Faults.Data)
}

// Server is a running sandbox SMTP server. Its methods are safe for
// concurrent use. Close it to free the port and its goroutines.
type Server struct {
	smtp     *smtp.Server
	raw      net.Listener
	handoff  chan net.Conn // connections ready for go-smtp, greeting faults done
	ca       *throwawayCA  // nil with Options.Certificate
	tls      *tls.Config   // nil in security.None mode
	security security.Mode
	maildir  *maildir // nil without Options.Dir
	faults   Faults
	username string
	password string
	anon     bool
	keepData bool
	logLimit int
	timeout  time.Duration // write deadline for replies the sandbox writes itself
	errorLog *log.Logger

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // accept loop, greeting goroutines, Serve

	mu         sync.Mutex
	conns      map[*trackedConn]struct{}
	closed     bool
	deliveries []Delivery

	received     atomic.Int64
	sessions     atomic.Int64
	authFailures atomic.Int64
}

// Start listens on 127.0.0.1 and serves until Close.
func Start(opts Options) (*Server, error) {
	s := newServer(opts)
	if err := s.useSecurity(opts); err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	if opts.Dir != "" {
		md, err := openMaildir(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("start sandbox: %w", err)
		}
		s.maildir = md
	}
	s.smtp = s.smtpServer(opts)
	s.timeout = s.smtp.WriteTimeout

	raw, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.Port)))
	if err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	s.raw = raw

	s.wg.Add(2)
	go s.acceptLoop()
	go func() {
		defer s.wg.Done()
		// Serve returns once handoffListener.Accept reports the close.
		s.smtp.Serve(handoffListener{s})
	}()
	return s, nil
}

// newServer is a server with opts and their defaults, not yet listening.
func newServer(opts Options) *Server {
	s := &Server{
		handoff:  make(chan net.Conn),
		security: opts.Security,
		username: opts.Username,
		password: opts.Password,
		anon:     opts.AllowAnonymous,
		keepData: opts.KeepData,
		logLimit: opts.LogLimit,
		done:     make(chan struct{}),
		conns:    make(map[*trackedConn]struct{}),
	}
	if opts.Faults != nil {
		s.faults = *opts.Faults
	}
	if s.logLimit == 0 {
		s.logLimit = 10000
	}
	if s.username == "" {
		s.username = "sandbox-" + randomHex(4)
	}
	if s.password == "" {
		s.password = randomHex(16)
	}
	errOut := opts.ErrorLog
	if errOut == nil {
		errOut = io.Discard
	}
	s.errorLog = log.New(errOut, "sandbox: ", log.LstdFlags)
	return s
}

// useSecurity sets up TLS for the SSL and StartTLS modes, with the given
// certificate or one signed by a new throwaway CA.
func (s *Server) useSecurity(opts Options) error {
	switch opts.Security {
	case security.SSL, security.StartTLS:
		cert := opts.Certificate
		if cert == nil {
			ca, err := newThrowawayCA()
			if err != nil {
				return err
			}
			s.ca = ca
			cert = &ca.leaf
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	case security.None:
	default:
		return fmt.Errorf("unknown security mode %d", opts.Security)
	}
	return nil
}

// smtpServer is the go-smtp server that serves s's sessions with opts' limits.
func (s *Server) smtpServer(opts Options) *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	if srv.Domain == "" {
		srv.Domain = "localhost"
	}
	srv.TLSConfig = s.tls
	// security.None mode exists for tests on loopback; let them authenticate there.
	srv.AllowInsecureAuth = opts.Security == security.None
	srv.MaxMessageBytes = orDefault(opts.MaxMessageBytes, 50<<20)
	srv.MaxRecipients = orDefault(opts.MaxRecipients, 100)
	srv.ReadTimeout = orDefault(opts.ReadTimeout, 60*time.Second)
	srv.WriteTimeout = orDefault(opts.WriteTimeout, 60*time.Second)
	srv.ErrorLog = s.errorLog
	return srv
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Addr returns the address clients dial, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.raw.Addr().String() }

// Host returns the address to dial without the port, "127.0.0.1". The
// certificate is also valid for "localhost".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.raw.Addr().(*net.TCPAddr).Port }

// Security returns the connection security mode.
func (s *Server) Security() security.Mode { return s.security }

// RootCAs returns a pool holding only the throwaway CA that signed the
// server certificate, for tls.Config.RootCAs. It is nil in security.None mode or
// with Options.Certificate.
func (s *Server) RootCAs() *x509.CertPool {
	if s.ca == nil || s.tls == nil {
		return nil
	}
	return s.ca.pool
}

// CAPEM returns the throwaway CA certificate in PEM, for clients configured
// by file; nil when RootCAs is nil.
func (s *Server) CAPEM() []byte {
	if s.ca == nil || s.tls == nil {
		return nil
	}
	return append([]byte(nil), s.ca.pem...)
}

// Username returns the user name AUTH accepts.
func (s *Server) Username() string { return s.username }

// Password returns the password AUTH accepts.
func (s *Server) Password() string { return s.password }

// Deliveries returns a copy of the log of accepted messages, oldest first,
// at most Options.LogLimit of them.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Received returns how many messages the server accepted, including those
// stored before a deliberate drop (ErrDropAfterStore).
func (s *Server) Received() int { return int(s.received.Load()) }

// Sessions returns how many connections the server accepted.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// AuthFailures returns how many AUTH attempts gave wrong credentials.
func (s *Server) AuthFailures() int { return int(s.authFailures.Load()) }

// Close stops listening, closes every connection and ends every stall, and
// returns once all the server's goroutines have finished (hooks in
// progress are awaited). Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.raw.Close()
		s.mu.Lock()
		s.closed = true
		conns := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		// Connections first, stalls second: a stall that ends must find
		// its connection gone, or its reply would still reach the client.
		for _, c := range conns {
			c.Close()
		}
		close(s.done)
		s.wg.Wait()
		// Serve has returned, so go-smtp starts no more connection
		// goroutines; Shutdown waits for those still ending.
		s.smtp.Shutdown(context.Background())
	})
	return s.closeErr
}

// stall waits as long as Faults.Stall asks at stage, or until Close, and
// reports whether the server closed meanwhile.
func (s *Server) stall(stage Stage) (closed bool) {
	if s.faults.Stall == nil {
		return false
	}
	d := s.faults.Stall(stage)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-s.done:
		return true
	}
}

// acceptLoop accepts connections and gives each its own goroutine for the
// greeting faults, so a stalled greeting never holds up the next client.
func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		raw, err := s.raw.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does, rather than stop serving.
			s.errorLog.Printf("accept: %v", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-s.done:
				return
			}
			continue
		}
		n := int(s.sessions.Add(1))
		c := &trackedConn{Conn: raw, s: s}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			raw.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.greet(c, n)
	}
}

// greet runs the TLS handshake (implicit TLS), StageGreeting stall and
// Faults.Connect, then hands the connection to go-smtp, which writes the
// greeting.
func (s *Server) greet(c *trackedConn, n int) {
	defer s.wg.Done()
	var conn net.Conn = c
	if s.security == security.SSL {
		tc := tls.Server(c, s.tls)
		c.SetDeadline(time.Now().Add(s.smtp.ReadTimeout))
		if err := tc.Handshake(); err != nil {
			s.errorLog.Printf("tls handshake with %v: %v", c.RemoteAddr(), err)
			c.Close()
			return
		}
		c.SetDeadline(time.Time{})
		conn = tc
	}
	if s.stall(StageGreeting) {
		c.Close()
		return
	}
	if s.faults.Connect != nil {
		if err := s.faults.Connect(n); err != nil {
			if !errors.Is(err, ErrDrop) && !errors.Is(err, ErrDropAfterStore) {
				s.writeReply(conn, asReply(err, 421, smtp.EnhancedCode{4, 0, 0}))
			}
			c.Close()
			return
		}
	}
	select {
	case s.handoff <- conn:
	case <-s.done:
		c.Close()
	}
}

// writeReply writes an SMTP reply straight to the connection, for the
// replies the sandbox sends itself just before hanging up.
func (s *Server) writeReply(conn net.Conn, e *smtp.SMTPError) {
	line := strconv.Itoa(e.Code) + " "
	ec := e.EnhancedCode
	if ec == smtp.EnhancedCodeNotSet {
		ec = smtp.EnhancedCode{e.Code / 100, 0, 0}
	}
	if ec != smtp.NoEnhancedCode {
		line += fmt.Sprintf("%d.%d.%d ", ec[0], ec[1], ec[2])
	}
	conn.SetWriteDeadline(time.Now().Add(s.timeout))
	io.WriteString(conn, line+e.Message+"\r\n")
}

// asReply returns err as an SMTP reply, with code and ec for errors that
// are not one.
func asReply(err error, code int, ec smtp.EnhancedCode) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: err.Error()}
}

// handoffListener is the net.Listener go-smtp serves: it yields the
// connections greet has finished with.
type handoffListener struct{ s *Server }

func (l handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.s.handoff:
		return c, nil
	case <-l.s.done:
		return nil, net.ErrClosed
	}
}

// Close is a no-op: Server.Close owns the real listener.
func (l handoffListener) Close() error   { return nil }
func (l handoffListener) Addr() net.Addr { return l.s.raw.Addr() }

// trackedConn is a raw TCP connection that Close can find and close.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return err
}
