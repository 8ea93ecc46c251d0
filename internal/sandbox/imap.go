package sandbox

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPServer is a loopback IMAP server (go-imap's in-memory one) behind
// implicit TLS with a throwaway CA, holding one user's mailbox, for the
// tests of mailmerge bounces. Read what the client left with Messages.
type IMAPServer struct {
	Addr     string // 127.0.0.1:port
	Username string
	Password string

	srv  *imapserver.Server
	user *imapmemserver.User
	ca   *throwawayCA
	ln   net.Listener
	done chan struct{}
}

// StartIMAP starts a server for username and password with an INBOX and
// the given other folders. Close it when done.
func StartIMAP(username, password string, folders ...string) (*IMAPServer, error) {
	ca, err := newThrowawayCA()
	if err != nil {
		return nil, err
	}
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(username, password)
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := user.Create(f, nil); err != nil {
			return nil, fmt.Errorf("imap sandbox: folder %s: %w", f, err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:   imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		Logger: log.New(io.Discard, "", 0),
	})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imap sandbox: %w", err)
	}
	ln := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{ca.leaf}, MinVersion: tls.VersionTLS12})
	s := &IMAPServer{Addr: raw.Addr().String(), Username: username, Password: password,
		srv: srv, user: user, ca: ca, ln: ln, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// RootCAs trusts the throwaway CA that signed the server's certificate.
func (s *IMAPServer) RootCAs() *x509.CertPool { return s.ca.pool }

// CAPEM is the same CA as PEM, for a campaign's ca_file.
func (s *IMAPServer) CAPEM() []byte { return s.ca.pem }

// Append stores a message in folder.
func (s *IMAPServer) Append(folder string, raw []byte) error {
	_, err := s.user.Append(folder, literal{bytes.NewReader(raw)}, &imap.AppendOptions{})
	return err
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

// StoredMessage is a message as the server keeps it.
type StoredMessage struct {
	UID   uint32
	Flags []string
	Raw   []byte
}

// Messages lists a folder's messages with their flags, read over a
// connection of its own that opens the folder with EXAMINE and reads with
// BODY.PEEK, so that looking changes nothing.
func (s *IMAPServer) Messages(folder string) ([]StoredMessage, error) {
	c, err := imapclient.DialTLS(s.Addr, &imapclient.Options{TLSConfig: &tls.Config{RootCAs: s.ca.pool, ServerName: "127.0.0.1"}})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(s.Username, s.Password).Wait(); err != nil {
		return nil, err
	}
	mbox, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	if mbox.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(seq(mbox.NumMessages)...), &imap.FetchOptions{UID: true, Flags: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, err
	}
	var out []StoredMessage
	for _, m := range msgs {
		sm := StoredMessage{UID: uint32(m.UID), Raw: m.FindBodySection(section)}
		for _, f := range m.Flags {
			sm.Flags = append(sm.Flags, string(f))
		}
		out = append(out, sm)
	}
	return out, c.Logout().Wait()
}

func seq(n uint32) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i) + 1
	}
	return out
}

// Close stops the server.
func (s *IMAPServer) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
