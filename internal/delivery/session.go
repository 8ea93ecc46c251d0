package delivery

import (
	"context"
	"errors"
	"io"
)

// A Session sends messages one after another for one caller, such as a
// campaign worker, and holds one of the pool's Workers slots until Close.
//
// With a server that offers PIPELINING, a message's final dot waits in the
// write buffer for the next message's MAIL, RCPT and DATA and goes out in
// the same write (RFC 2920 lets the message content lead a group of
// commands); its reply is read before theirs. A message then costs one
// round trip instead of two. Its outcome therefore reaches the done func
// given to Send during that Send or a later Send, Flush or Close, always on
// the caller's goroutine. Call Flush before waiting for anything, so that
// no message is held back.
//
// A Session is not safe for concurrent use.
type Session struct {
	p    *Pool
	held bool  // owns a slot of the pool
	c    *conn // the connection tail is on; nil when tail is
	tail *tail
}

// Session returns a new session on p.
func (p *Pool) Session() *Session { return &Session{p: p} }

// Send delivers msg as [Pool.Send] does and hands the outcome to done,
// perhaps only in a later call (see [Session]).
func (s *Session) Send(ctx context.Context, env Envelope, msg io.WriterTo, beforeEnd func() error, done func(Result)) {
	p := s.p
	if err := env.check(); err != nil {
		done(Result{Status: Rejected, Stage: StageMail, Err: err})
		return
	}
	if !s.held {
		res, ok := p.acquireSlot(ctx)
		if !ok {
			done(res)
			return
		}
		s.held = true
	}
	if s.tail != nil && !p.pipelines(s.c, env) {
		s.Flush(ctx) // this one goes stepwise, which cannot carry a dot
	}
	for attempt := 0; ; attempt++ {
		c, prev := s.c, s.tail
		s.c, s.tail = nil, nil
		reused := true
		if c == nil {
			var res Result
			if c, res = p.getConn(ctx); c == nil {
				done(res)
				return
			}
			reused = c.reused
		}
		// Closing the socket is the only way to interrupt a blocked read or
		// write; the connection is then gone and the error classified.
		stop := context.AfterFunc(ctx, func() { c.raw.Close() })
		t, res, f := p.transact(ctx, c, env, msg, beforeEnd, prev)
		interrupted := !stop()
		if t != nil {
			t.done = done
			s.c, s.tail = c, t
			if interrupted || !p.chains(c) {
				s.Flush(ctx)
			}
			return
		}
		if interrupted {
			f = drop
		}
		p.putBack(c, f)
		// Nothing was committed when the connection ended before this
		// message started, or when a kept-alive connection turns out to have
		// died quietly (server idle timeout) at MAIL: try once on a fresh one.
		if attempt == 0 && ctx.Err() == nil && (errors.Is(res.Err, errConnEnded) ||
			reused && prev == nil && res.Stage == StageMail &&
				(res.Code == 421 || (res.Code == 0 && res.Status == Deferred && !isTimeout(res.Err)))) {
			continue
		}
		done(res)
		return
	}
}

// chains reports whether c may hold a dot back for the next message: the
// server pipelines and c takes another transaction.
func (p *Pool) chains(c *conn) bool {
	return p.pipelining(c) && c.sent < p.cfg.MaxPerConnection
}

// Flush sends the message waiting for its final write, reads its reply and
// hands the outcome to its done func; the connection goes back to the pool.
func (s *Session) Flush(ctx context.Context) {
	if s.tail == nil {
		return
	}
	c, t := s.c, s.tail
	s.c, s.tail = nil, nil
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	res, f := s.p.settle(ctx, c, t)
	if !stop() {
		f = drop
	}
	s.p.putBack(c, f)
	t.done(res)
}

// Close flushes and gives the session's slot back to the pool.
func (s *Session) Close(ctx context.Context) {
	s.Flush(ctx)
	if s.held {
		s.held = false
		s.p.releaseSlot()
	}
}
