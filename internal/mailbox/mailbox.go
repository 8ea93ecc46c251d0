// Package mailbox reads the sender's mailbox over IMAP (RFC 3501, with
// MOVE, RFC 6851, where the server has it), for the reports that come
// back after a send.
//
// [Read] only reads: the folder is opened with EXAMINE and every message
// is fetched with BODY.PEEK[], so no flag changes, not even \Seen. Only
// [Move], called on purpose afterwards, opens the folder for writing.
package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailmerge/mailmerge/internal/security"
)

// Config is where the mailbox is and who logs in.
type Config struct {
	Host     string
	Port     int           // 0: 993 for SSL, 143 otherwise
	Security security.Mode // SSL (the default), StartTLS or None (loopback only)
	Username string
	Password string
	Folder   string         // "" is INBOX
	RootCAs  *x509.CertPool // nil: the system's
	Timeout  time.Duration  // per network operation; 0 is one minute
}

// Options choose the messages and what happens to them.
type Options struct {
	Since   time.Time // zero: every message; else SEARCH SINCE its date
	MaxSize int64     // larger messages are skipped unread; 0 is DefaultMaxSize
}

// DefaultMaxSize is the largest message read: a report is a few kilobytes,
// and one that returns the original's attachments rarely passes 10 MB.
const DefaultMaxSize = 10 << 20

// Message is one message of the folder.
type Message struct {
	UID  uint32
	Raw  []byte
	Size int64
}

// Stats is what Read went through.
type Stats struct {
	Messages    int      // messages that matched the search
	TooLarge    []uint32 // UIDs of the messages skipped for their size
	UIDValidity uint32   // the folder's, for Move
}

// Error is a failure to reach or use the mailbox; Help says what to do.
type Error struct {
	Op   string // "connect", "log in", "open folder", ...
	Err  error
	Help string
}

func (e *Error) Error() string { return fmt.Sprintf("imap %s: %v", e.Op, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Hint says how to resolve the problem.
func (e *Error) Hint() string { return e.Help }

// batch is how many messages one FETCH asks for.
const batch = 50

// Read logs in, opens the folder read-only and calls fn with every
// message the search finds, oldest first. An error from fn stops the read
// and is returned.
func Read(ctx context.Context, cfg Config, opts Options, fn func(Message) error) (Stats, error) {
	var st Stats
	c, err := login(ctx, cfg)
	if err != nil {
		return st, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	mbox, err := c.Select(cfg.folder(), &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return st, ctxErr(ctx, &Error{Op: "open folder " + strconv.Quote(cfg.folder()), Err: err, Help: "set [imap] folder to a folder the account has"})
	}
	st.UIDValidity = mbox.UIDValidity
	crit := &imap.SearchCriteria{}
	if !opts.Since.IsZero() {
		crit.Since = opts.Since
	}
	found, err := c.UIDSearch(crit, nil).Wait()
	if err != nil {
		return st, ctxErr(ctx, &Error{Op: "search", Err: err})
	}
	uids := found.AllUIDs()
	st.Messages = len(uids)
	small, err := sizes(c, uids, opts.maxSize(), &st)
	if err != nil {
		return st, ctxErr(ctx, err)
	}
	for i := 0; i < len(small); i += batch {
		if err := fetch(c, small[i:min(i+batch, len(small))], opts.maxSize(), &st, fn); err != nil {
			return st, ctxErr(ctx, err)
		}
	}
	_ = c.Logout().Wait() // the work is done; a failed goodbye changes nothing
	return st, ctx.Err()
}

// Move moves the messages uids of the folder to the folder dest: MOVE
// (RFC 6851), or COPY, then \Deleted and UID EXPUNGE of just those.
// uidValidity is the folder's as Read saw it: if the server renumbered
// the folder since, nothing is moved.
func Move(ctx context.Context, cfg Config, uidValidity uint32, uids []uint32, dest string) error {
	if len(uids) == 0 {
		return nil
	}
	c, err := login(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	mbox, err := c.Select(cfg.folder(), nil).Wait()
	if err != nil {
		return ctxErr(ctx, &Error{Op: "open folder " + strconv.Quote(cfg.folder()), Err: err})
	}
	if mbox.UIDValidity != uidValidity {
		return &Error{Op: "move", Err: fmt.Errorf("folder %s was renumbered by the server since it was read", cfg.folder()),
			Help: "run the command again"}
	}
	set := imap.UIDSet{}
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	if _, err := c.Move(set, dest).Wait(); err != nil {
		return ctxErr(ctx, &Error{Op: "move to " + strconv.Quote(dest), Err: err, Help: "create the folder first, or leave out --move-to"})
	}
	_ = c.Logout().Wait()
	return ctx.Err()
}

func (cfg Config) folder() string {
	if cfg.Folder == "" {
		return "INBOX"
	}
	return cfg.Folder
}

// login connects and logs in.
func login(ctx context.Context, cfg Config) (*imapclient.Client, error) {
	c, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Login(cfg.Username, cfg.Password).Wait(); err != nil {
		c.Close()
		return nil, ctxErr(ctx, &Error{Op: "log in", Err: err,
			Help: "the mailbox takes the same password as [smtp]; many providers want IMAP turned on and an app password"})
	}
	if c.Caps().Has(imap.CapID) {
		// 163 Mail refuses SELECT ("Unsafe Login") from a client that has not said who it is.
		_, _ = c.ID(&imap.IDData{Name: "mailmerge"}).Wait()
	}
	return c, nil
}

func (o Options) maxSize() int64 {
	if o.MaxSize > 0 {
		return o.MaxSize
	}
	return DefaultMaxSize
}

// ctxErr prefers the cancellation that closed the connection to the error it caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func dial(ctx context.Context, cfg Config) (*imapclient.Client, error) {
	if cfg.Host == "" {
		return nil, &Error{Op: "connect", Err: errors.New("no IMAP host"), Help: "set [imap] host, or [smtp] provider"}
	}
	if cfg.Security == security.None && !security.Loopback(cfg.Host) {
		return nil, &Error{Op: "connect", Err: fmt.Errorf("security \"none\" to %s would send the password in clear", cfg.Host),
			Help: `use security = "ssl" (port 993) or "starttls" (port 143) in [imap]`}
	}
	port := cfg.Port
	if port == 0 {
		port = 143
		if cfg.Security == security.SSL {
			port = 993
		}
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = time.Minute
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	d := &net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &Error{Op: "connect", Err: err, Help: "check [imap] host and port (993 for ssl, 143 for starttls)"}
	}
	conn = &deadlineConn{Conn: conn, timeout: timeout}
	opts := &imapclient.Options{TLSConfig: &tls.Config{ServerName: cfg.Host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}}
	var c *imapclient.Client
	switch cfg.Security {
	case security.SSL:
		tc := tls.Client(conn, opts.TLSConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &Error{Op: "connect", Err: err, Help: "the server must offer TLS on this port with a certificate for " + cfg.Host}
		}
		c = imapclient.New(tc, opts)
	case security.StartTLS:
		// A server that does not offer STARTTLS is an error, never a
		// silent fall back to cleartext.
		if c, err = imapclient.NewStartTLS(conn, opts); err != nil {
			conn.Close()
			return nil, &Error{Op: "connect", Err: err, Help: "the server must offer STARTTLS with a certificate for " + cfg.Host}
		}
	default:
		c = imapclient.New(conn, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return nil, &Error{Op: "connect", Err: err}
	}
	return c, nil
}

// deadlineConn gives every read and write its own deadline, so that a
// server that stops answering ends the run instead of hanging it.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// sizes asks for every message's size and keeps those within max.
func sizes(c *imapclient.Client, uids []imap.UID, max int64, st *Stats) ([]imap.UID, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true}).Collect()
	if err != nil {
		return nil, &Error{Op: "fetch sizes", Err: err}
	}
	var small []imap.UID
	for _, m := range msgs {
		if m.RFC822Size > max {
			st.TooLarge = append(st.TooLarge, uint32(m.UID))
			continue
		}
		small = append(small, m.UID)
	}
	return small, nil
}

// fetch reads one batch of messages, one at a time off the connection.
func fetch(c *imapclient.Client, uids []imap.UID, max int64, st *Stats, fn func(Message) error) error {
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer cmd.Close()
	for {
		data := cmd.Next()
		if data == nil {
			break
		}
		var m Message
		for item := data.Next(); item != nil; item = data.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				m.UID = uint32(it.UID)
			case imapclient.FetchItemDataRFC822Size:
				m.Size = it.Size
			case imapclient.FetchItemDataBodySection:
				if it.Literal != nil {
					// The size was checked, but a server may send more than it said.
					b, err := io.ReadAll(io.LimitReader(it.Literal, max+1))
					if err == nil {
						_, err = io.Copy(io.Discard, it.Literal)
					}
					if err != nil {
						return &Error{Op: "fetch", Err: err}
					}
					m.Raw = b
				}
			}
		}
		if m.UID == 0 || m.Raw == nil {
			continue
		}
		if int64(len(m.Raw)) > max {
			st.TooLarge = append(st.TooLarge, m.UID)
			continue
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := cmd.Close(); err != nil {
		return &Error{Op: "fetch", Err: err}
	}
	return nil
}
