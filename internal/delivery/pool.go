package delivery

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a bounded set of kept-alive SMTP connections to one server.
//
// Most callers need only [Pool.Send]: it waits for a free connection (at most
// Config.Workers exist), runs one transaction on it and returns the
// classified [Result]. Connection health follows one rule: a complete SMTP
// reply keeps the connection, anything else (network error, timeout, 421)
// drops it. A connection whose last transaction did not finish cleanly is
// RSET before reuse, one idle for longer than IdleNoop is probed with NOOP,
// and one that has carried MaxPerConnection messages is replaced.
//
// A Pool is safe for concurrent use; callers beyond Workers simply wait.
type Pool struct {
	cfg     Config
	addr    string
	tls     *tls.Config
	secrets []string // never to appear in a transcript line

	// now is the clock for idle accounting; tests replace it. Deadlines use
	// the real clock, they are enforced by the kernel.
	now func() time.Time
	// noPipelining sends every command stepwise even to a server that
	// offers PIPELINING; tests use it to cover that path.
	noPipelining bool

	slots  chan struct{} // one token per connection in use
	done   chan struct{} // closed by Close
	nextID atomic.Int64

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	debugMu sync.Mutex
}

// NewPool checks cfg and returns a pool that will dial on first use.
// A configuration that would send credentials in clear to a host that is not
// loopback fails here with ErrInsecureAuth.
func NewPool(cfg Config) (*Pool, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Pool{
		cfg:   cfg,
		addr:  net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		now:   time.Now,
		slots: make(chan struct{}, cfg.Workers),
		done:  make(chan struct{}),
	}
	p.tls = tlsConfig(cfg)
	if cfg.Password != "" {
		pw := cfg.Password
		p.secrets = []string{
			pw,
			base64.StdEncoding.EncodeToString([]byte(pw)),
			base64.StdEncoding.EncodeToString([]byte("\x00" + cfg.Username + "\x00" + pw)),
			base64.StdEncoding.EncodeToString([]byte("user=" + cfg.Username + "\x01auth=Bearer " + pw + "\x01\x01")),
		}
	}
	return p, nil
}

// Addr is the server's host:port.
func (p *Pool) Addr() string { return p.addr }

// Verify makes sure a connection can be opened, secured and authenticated,
// and keeps it for the first Send. Run it before a campaign so that a wrong
// password stops the run before any message goes out.
func (p *Pool) Verify(ctx context.Context) error {
	if res, ok := p.acquireSlot(ctx); !ok {
		return res.Err
	}
	defer p.releaseSlot()
	c, res := p.getConn(ctx)
	if c == nil {
		return res.Err
	}
	p.putBack(c, keep)
	return nil
}

// Send delivers msg to the envelope's recipients in one SMTP transaction and
// says what became of it. It blocks until a connection is free or ctx is
// done. beforeEnd, when not nil, is called once per transaction that reaches
// the end of DATA, right before any byte of the final CRLF.CRLF can reach
// the server: from then on the outcome may be Unknown, so a caller that
// journals can record the attempt there. If beforeEnd returns an error, the
// dot is not sent, the connection is dropped and the result is Deferred. An envelope
// address with a line break or an angle bracket is Rejected without
// touching the network. A caller with many messages to send one after
// another does better with a [Session].
func (p *Pool) Send(ctx context.Context, env Envelope, msg io.WriterTo, beforeEnd func() error) Result {
	s := p.Session()
	var res Result
	s.Send(ctx, env, msg, beforeEnd, func(r Result) { res = r })
	s.Close(ctx)
	return res
}

// Close says QUIT on idle connections and closes them; connections in use
// are closed when their transaction ends. Later calls to Send fail with
// ErrClosed.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.quit(c)
	}
	return nil
}

func (p *Pool) acquireSlot(ctx context.Context) (Result, bool) {
	closed := Result{Status: Fatal, Stage: StageConnect, Err: fmt.Errorf("smtp %s: %w", p.addr, ErrClosed)}
	select {
	case <-p.done:
		return closed, false
	default:
	}
	select {
	case p.slots <- struct{}{}:
	case <-p.done:
		return closed, false
	case <-ctx.Done():
		return Result{Status: Deferred, Stage: StageConnect,
			Err: fmt.Errorf("smtp %s: waiting for a connection: %w", p.addr, context.Cause(ctx))}, false
	}
	p.mu.Lock()
	isClosed := p.closed
	p.mu.Unlock()
	if isClosed {
		<-p.slots
		return closed, false
	}
	return Result{}, true
}

func (p *Pool) releaseSlot() { <-p.slots }

// getConn returns a ready connection: an idle one that passes its health
// check, else a new one.
func (p *Pool) getConn(ctx context.Context) (*conn, Result) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if p.revive(ctx, c) {
			c.reused = true
			return c, Result{}
		}
		c.close()
	}
	if err := ctx.Err(); err != nil {
		return nil, Result{Status: Deferred, Stage: StageConnect,
			Err: fmt.Errorf("smtp %s: %w", p.addr, context.Cause(ctx))}
	}
	return p.dial(ctx)
}

// revive readies an idle connection: NOOP when it has been idle long enough
// for the server to have dropped it, RSET when its last transaction was left
// unfinished. Any failure means the connection is not worth keeping.
func (p *Pool) revive(ctx context.Context, c *conn) bool {
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer stop()
	if p.now().Sub(c.lastUsed) > p.cfg.IdleNoop {
		if c.deadline(p.cfg.CommandTimeout) != nil || c.client.Noop() != nil {
			return false
		}
	}
	if c.dirty {
		if c.deadline(p.cfg.CommandTimeout) != nil || c.client.Reset() != nil {
			return false
		}
		c.dirty = false
	}
	return ctx.Err() == nil
}

// fate is what happens to a connection after a transaction.
type fate int

const (
	keep fate = iota // back to the idle list
	quit             // QUIT (best effort) and close
	drop             // close without a word: the connection is broken
)

func (p *Pool) putBack(c *conn, f fate) {
	c.lastUsed = p.now()
	if f == keep && c.sent >= p.cfg.MaxPerConnection {
		f = quit
	}
	if f == keep {
		p.mu.Lock()
		if !p.closed {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		f = quit
	}
	if f == quit {
		p.quit(c)
		return
	}
	c.close()
}

// quit ends a connection politely but never waits long for it.
func (p *Pool) quit(c *conn) {
	_ = c.deadline(min(p.cfg.CommandTimeout, 5*time.Second))
	_ = c.client.Quit()
	c.close()
}
