package delivery

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

// testServer is a real go-smtp server on 127.0.0.1 with a small backend that
// stores what it receives and lets a test script its replies.
type testServer struct {
	host string
	port int

	accepts atomic.Int32 // TCP connections accepted
	chained atomic.Int32 // reads that brought the end of a message and the next MAIL together
	auths   atomic.Int32 // AUTH exchanges started

	mu       sync.Mutex
	wire     bytes.Buffer // the server's view of every conversation
	messages []received
	mechUsed []string
	sessions []*session

	// Set before the first connection.
	quiet      bool        // keep neither the conversation nor the messages (benchmarks)
	serverTLS  *tls.Config // default: a certificate for 127.0.0.1, ::1, localhost
	mechs      []string    // advertised AUTH mechanisms
	user, pass string
	smtputf8   bool // offer SMTPUTF8 (RFC 6531)
	onMail     func(s *session, from string) error
	onRcpt     func(s *session, to string) error
	onData     func(s *session, data []byte) error
}

type received struct {
	From string
	To   []string
	Data []byte
	UTF8 bool // MAIL carried the SMTPUTF8 parameter
}

type serverMode int

const (
	plainServer    serverMode = iota // no TLS at all
	startTLSServer                   // offers STARTTLS
	implicitServer                   // TLS from the first byte
)

// newTestServer starts a server; configure hooks through setup, which runs
// before it accepts connections.
func newTestServer(t testing.TB, mode serverMode, setup func(*testServer)) *testServer {
	t.Helper()
	ts := &testServer{user: "nami", pass: "s3cret-app-code", mechs: []string{sasl.Plain}, serverTLS: testPKI(t).serverTLS}
	if setup != nil {
		setup(ts)
	}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		s := &session{ts: ts, conn: c}
		ts.mu.Lock()
		ts.sessions = append(ts.sessions, s)
		ts.mu.Unlock()
		return s, nil
	}))
	srv.Domain = "mx.test"
	srv.EnableSMTPUTF8 = ts.smtputf8
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if !ts.quiet {
		srv.Debug = lockedWriter{&ts.mu, &ts.wire}
	}
	srv.AllowInsecureAuth = mode == plainServer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = &countingListener{Listener: ln, n: &ts.accepts, chained: &ts.chained}
	switch mode {
	case startTLSServer:
		srv.TLSConfig = ts.serverTLS
	case implicitServer:
		srv.TLSConfig = ts.serverTLS
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().(*net.TCPAddr)
	ts.host, ts.port = "127.0.0.1", addr.Port
	return ts
}

// config is a client configuration for this server.
func (ts *testServer) config(sec security.Mode) Config {
	return Config{Host: ts.host, Port: ts.port, Security: sec, HeloName: "client.test",
		RootCAs: testPKI(nil).roots, CommandTimeout: 5 * time.Second, DataTimeout: 5 * time.Second}
}

// conversation is what the server saw on the wire, all connections mixed.
func (ts *testServer) conversation() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.wire.String()
}

// commands counts client commands starting with verb (server replies start
// with a digit, so they never match).
func (ts *testServer) commands(verb string) int {
	n := 0
	for line := range strings.SplitSeq(ts.conversation(), "\n") {
		if strings.HasPrefix(strings.ToUpper(line), verb) {
			n++
		}
	}
	return n
}

func (ts *testServer) received() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.messages...)
}

// dropAll closes every connection under the server without a word, as an
// idle timeout or a restart would.
func (ts *testServer) dropAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, s := range ts.sessions {
		s.drop()
	}
}

type session struct {
	ts   *testServer
	conn *gosmtp.Conn
	from string
	to   []string
	utf8 bool
}

func (s *session) AuthMechanisms() []string { return s.ts.mechs }

func (s *session) Auth(mech string) (sasl.Server, error) {
	s.ts.auths.Add(1)
	s.ts.mu.Lock()
	s.ts.mechUsed = append(s.ts.mechUsed, mech)
	s.ts.mu.Unlock()
	check := func(user, pass string) error {
		if user != s.ts.user || pass != s.ts.pass {
			return gosmtp.ErrAuthFailed
		}
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	case "XOAUTH2":
		return &xoauth2Server{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.ts.onMail != nil {
		if err := s.ts.onMail(s, from); err != nil {
			return err
		}
	}
	s.from, s.utf8 = from, opts.UTF8
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.ts.onRcpt != nil {
		if err := s.ts.onRcpt(s, to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.ts.onData != nil {
		if err := s.ts.onData(s, data); err != nil {
			return err
		}
	}
	if !s.ts.quiet {
		s.ts.mu.Lock()
		s.ts.messages = append(s.ts.messages, received{From: s.from, To: s.to, Data: data, UTF8: s.utf8})
		s.ts.mu.Unlock()
	}
	return nil
}

func (s *session) Reset()        { s.from, s.to, s.utf8 = "", nil, false }
func (s *session) Logout() error { return nil }

// drop closes the connection under the server, as a crash or a middlebox
// would: the client gets no reply to its last command.
func (s *session) drop() { _ = s.conn.Conn().Close() }

// loginServer is the LOGIN mechanism (go-sasl only has the client side).
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	}
	return nil, true, l.check(l.user, string(resp))
}

// xoauth2Server is Google's XOAUTH2: "user=U\x01auth=Bearer T\x01\x01".
type xoauth2Server struct {
	check func(user, token string) error
}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	var user, token string
	for field := range strings.SplitSeq(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(field, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(field, "auth=Bearer "); ok {
			token = v
		}
	}
	return nil, true, x.check(user, token)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

type countingListener struct {
	net.Listener
	n       *atomic.Int32
	chained *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
		c = &sniffConn{Conn: c, chained: l.chained}
	}
	return c, err
}

// sniffConn counts the reads in which a final dot and the next MAIL arrive
// together: the client wrote them in one go.
type sniffConn struct {
	net.Conn
	chained *atomic.Int32
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if bytes.Contains(b[:n], []byte("\r\n.\r\nMAIL FROM:")) {
		c.chained.Add(1)
	}
	return n, err
}

// pki is a throwaway CA, a leaf for 127.0.0.1, ::1 and localhost, and one
// for another name.
type pki struct {
	roots     *x509.CertPool
	serverTLS *tls.Config
	otherTLS  *tls.Config // certificate for mail.other.test only
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
	pkiErr  error
)

func testPKI(t testing.TB) *pki {
	pkiOnce.Do(func() { pkiVal, pkiErr = makePKI() })
	if pkiErr != nil {
		if t == nil {
			panic(pkiErr)
		}
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func makePKI() (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailmerge test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(serial int64, dns []string, ips []net.IP) (*tls.Config, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: dns[0]},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			DNSNames:     dns,
			IPAddresses:  ips,
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, err
		}
		return &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}},
			MinVersion:   tls.VersionTLS12,
		}, nil
	}
	local, err := leaf(2, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback})
	if err != nil {
		return nil, err
	}
	other, err := leaf(3, []string{"mail.other.test"}, nil)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &pki{roots: roots, serverTLS: local, otherTLS: other}, nil
}

// message is a small RFC 5322 message; WriteTo is all Send needs.
type message []byte

func (m message) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(m)
	return int64(n), err
}

func testMessage(i int) message {
	return message("From: Nami <nami@example.com>\r\nTo: friend <friend@example.com>\r\n" +
		"Subject: hello " + strconv.Itoa(i) + "\r\n\r\nHello number " + strconv.Itoa(i) + ".\r\n")
}

// failingMessage fails half-way, like a template that errors mid-render.
type failingMessage struct{}

func (failingMessage) WriteTo(w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, "Subject: half\r\n\r\nfirst half\r\n")
	return int64(n), errors.New("attachment report.pdf: file does not exist")
}
