package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
)

// tail is a message whose final dot is written, perhaps still in the
// write buffer, and whose reply is not read yet.
type tail struct {
	refused   []RcptReply  // recipients the server refused
	done      func(Result) // takes the outcome
	beforeEnd func() error // still to run before the buffer goes out; nil once run
}

// begin runs t's beforeEnd, if it has not run: the buffer holding t's dot
// is about to be written.
func (t *tail) begin() error {
	f := t.beforeEnd
	t.beforeEnd = nil
	if f == nil {
		return nil
	}
	if err := f(); err != nil {
		return fmt.Errorf("before the end of data: %w", err)
	}
	return nil
}

// errConnEnded marks a message that never started because the reply to the
// message before it on the same connection ended the connection.
var errConnEnded = errors.New("the connection ended after the previous message")

// transact runs MAIL, RCPT... and DATA on c and writes the message and its
// final dot into the write buffer. On success the returned tail waits for
// its reply (settle reads it); otherwise res and f are the outcome. prev,
// when not nil, is the message before on c: its dot goes out in the same
// write as this message's commands, and its reply, read before theirs, goes
// to prev.done.
func (p *Pool) transact(ctx context.Context, c *conn, env Envelope, msg io.WriterTo, beforeEnd func() error, prev *tail) (*tail, Result, fate) {
	// Only an envelope that is not ASCII can fail here, and such a one is
	// never pipelined: prev is nil.
	wire, back, err := env.onWire(c.smtputf8)
	if err != nil {
		return nil, Result{Status: Rejected, Stage: StageMail, Err: err}, keep
	}
	c.sent++
	c.dirty = true // until the server answers the end of DATA

	var refused []RcptReply
	var res Result
	var f fate
	var ok bool
	if p.pipelines(c, env) {
		refused, res, f, ok = p.pipelined(ctx, c, wire, prev)
	} else {
		refused, res, f, ok = p.stepwise(ctx, c, wire) // the Session flushed any prev
	}
	if !ok {
		restore(back, res.Rcpts)
		return nil, res, f
	}
	restore(back, refused)
	if err := c.deadline(p.cfg.DataTimeout); err != nil {
		res, f := p.broken(ctx, StageData, err, false)
		return nil, res, f
	}
	dot := &dataWriter{w: c.client.Text.W}
	ew := &errWriter{w: dot}
	n, err := msg.WriteTo(ew)
	if err != nil {
		if ew.err != nil {
			res, f := p.broken(ctx, StageData, ew.err, false)
			return nil, res, f
		}
		// The message itself failed. There is no way to abort DATA except
		// dropping the connection: a final dot would deliver half a message.
		return nil, Result{Status: Rejected, Stage: StageData, Rcpts: refused,
			Err: fmt.Errorf("write message: %w", err)}, drop
	}
	// beforeEnd runs as late as it can, right before the buffer with the dot
	// is written (see begin), so that a crash in between leaves as few
	// attempts as possible journaled but not sent. When the dot does not fit
	// in the buffer, writing it sends part of it: beforeEnd runs now.
	t := &tail{refused: refused, beforeEnd: beforeEnd}
	if c.client.Text.W.Available() < endOfData {
		if err := t.begin(); err != nil {
			// The caller could not journal the attempt: without the final dot
			// nothing is delivered, so the outcome stays known.
			return nil, notBegun(refused, err), drop
		}
	}
	if err := dot.end(); err != nil {
		res, f := p.broken(ctx, StageData, err, false)
		return nil, res, f
	}
	p.note(c.id, "(message, %d bytes, and the final dot)", n)
	return t, Result{}, keep
}

// notBegun is the outcome of a message whose beforeEnd failed: its dot
// never went out.
func notBegun(refused []RcptReply, err error) Result {
	return Result{Status: Deferred, Stage: StageData, Rcpts: refused, Err: err}
}

// settle sends whatever is still buffered of t and reads its reply.
func (p *Pool) settle(ctx context.Context, c *conn, t *tail) (Result, fate) {
	if res, f, stopped := p.heldBack(ctx, c, t); stopped {
		return res, f
	}
	if err := t.begin(); err != nil {
		return notBegun(t.refused, err), drop
	}
	if err := c.deadline(p.cfg.DataTimeout); err != nil {
		return p.broken(ctx, StageData, err, false)
	}
	// The dot is the last thing in the buffer: an error means it did not
	// all go out, so nothing was delivered.
	if err := c.client.Text.W.Flush(); err != nil {
		return p.broken(ctx, StageData, err, false)
	}
	return p.finalReply(ctx, c, t)
}

// heldBack ends t without sending it when ctx is done while the end of its
// final dot is still in the write buffer: the server cannot have taken it.
func (p *Pool) heldBack(ctx context.Context, c *conn, t *tail) (Result, fate, bool) {
	if ctx.Err() == nil || c.client.Text.W.Buffered() == 0 {
		return Result{}, keep, false
	}
	res, f := p.broken(ctx, StageDataEnd, context.Cause(ctx), false)
	res.Rcpts = t.refused
	return res, f, true
}

// finalReply reads the reply to the final dot of t, which has gone out, or
// may have: without a reply the outcome is Unknown.
func (p *Pool) finalReply(ctx context.Context, c *conn, t *tail) (Result, fate) {
	code, text, err := c.client.Text.ReadResponse(2)
	if err != nil {
		return p.refused(ctx, StageDataEnd, err, true, t.refused)
	}
	p.debugReply(c.id, code, text)
	c.dirty = false
	res := replyResult(StageDataEnd, parseReply(code, text))
	res.Rcpts = t.refused
	return res, keep
}

// replyResult is the Result an SMTP reply decides.
func replyResult(stage string, r reply) Result {
	return Result{Status: statusOf(r.code), Code: r.code, Enhanced: r.enhanced, Reply: r.text,
		Stage: stage, Throttle: throttleHint(r)}
}

// refused classifies an error that may carry a server reply. A 4xx or 5xx
// keeps the connection (the server is in a known state), except 421, which
// announces that the server closes it.
func (p *Pool) refused(ctx context.Context, stage string, err error, dataEndSent bool, rcpts []RcptReply) (Result, fate) {
	r, ok := replyOf(err)
	if !ok || r.code/100 < 4 {
		res, f := p.broken(ctx, stage, err, dataEndSent)
		res.Rcpts = rcpts
		return res, f
	}
	res := replyResult(stage, r)
	res.Rcpts = rcpts
	res.Err = fmt.Errorf("%s: server replied %d %s", stageCommand(stage), r.code, r.text)
	if r.code == 421 {
		return res, quit
	}
	return res, keep
}

// broken classifies a failure without a usable reply: the connection is
// dropped, and the message is Deferred unless the end of DATA had gone out.
func (p *Pool) broken(ctx context.Context, stage string, err error, dataEndSent bool) (Result, fate) {
	res := Result{Status: Deferred, Stage: stage}
	if dataEndSent {
		res.Status = Unknown
	}
	what := stageCommand(stage)
	switch {
	case ctx.Err() != nil:
		res.Err = fmt.Errorf("%s: interrupted: %w", what, context.Cause(ctx))
	case isTimeout(err):
		limit := p.cfg.CommandTimeout
		if stage == StageData || stage == StageDataEnd {
			limit = p.cfg.DataTimeout
		}
		res.Err = fmt.Errorf("%s: no reply within %s: %w", what, limit, err)
	default:
		res.Err = fmt.Errorf("%s: connection lost: %w", what, err)
	}
	if dataEndSent {
		res.Err = fmt.Errorf("%w (the message may have been accepted)", res.Err)
	}
	return res, drop
}

func stageCommand(stage string) string {
	switch stage {
	case StageMail:
		return "mail from"
	case StageRcpt:
		return "rcpt to"
	case StageData:
		return "data"
	case StageDataEnd:
		return "end of data"
	}
	return stage
}

// errWriter remembers the first write error, telling a broken connection
// apart from a message that failed to render itself.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	n, err := e.w.Write(b)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}

// stepwise sends each command and reads its reply before the next. When
// ok, the server waits for the message; otherwise res and f are the outcome.
func (p *Pool) stepwise(ctx context.Context, c *conn, env Envelope) ([]RcptReply, Result, fate, bool) {
	fail := func(res Result, f fate) ([]RcptReply, Result, fate, bool) {
		return nil, res, f, false
	}
	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return fail(p.broken(ctx, StageMail, err, false))
	}
	if err := c.client.Mail("<" + env.From + ">"); err != nil {
		return fail(p.refused(ctx, StageMail, err, false, nil))
	}
	var refused []RcptReply
	for _, to := range env.To {
		if err := c.deadline(p.cfg.CommandTimeout); err != nil {
			return fail(p.broken(ctx, StageRcpt, err, false))
		}
		err := c.client.Rcpt("<" + to + ">")
		if err == nil {
			continue
		}
		r, ok := replyOf(err)
		if !ok || r.code == 421 || r.code/100 < 4 {
			return fail(p.refused(ctx, StageRcpt, err, false, refused))
		}
		refused = append(refused, RcptReply{Addr: to, Code: r.code, Enhanced: r.enhanced, Reply: r.text})
	}
	if len(refused) == len(env.To) {
		return fail(nobodyAccepted(refused), keep)
	}
	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return fail(p.broken(ctx, StageData, err, false))
	}
	// Not client.Data: the dot writer it opens would end the next command
	// with a stray "." unless closed, and closing it sends the dot.
	p.debug(c.id, "C:", "DATA")
	text := c.client.Text
	id, err := text.Cmd("DATA")
	if err != nil {
		return fail(p.broken(ctx, StageData, err, false))
	}
	text.StartResponse(id)
	code, msg, err := text.ReadResponse(354)
	text.EndResponse(id)
	if err != nil {
		return fail(p.refused(ctx, StageData, err, false, refused))
	}
	p.debugReply(c.id, code, msg)
	return refused, Result{}, keep, true
}

// pipelined writes MAIL, every RCPT and DATA in one go and then reads their
// replies in order (RFC 2920): one round trip instead of three or more,
// which is most of the cost of a small message on a kept-alive connection.
// The end of prev, when not nil, leads the same write (the message content
// may be the first "command" of a group) and its reply is read first.
func (p *Pool) pipelined(ctx context.Context, c *conn, env Envelope, prev *tail) ([]RcptReply, Result, fate, bool) {
	fail := func(res Result, f fate) ([]RcptReply, Result, fate, bool) {
		return nil, res, f, false
	}
	text := c.client.Text
	if prev != nil {
		if res, f, ok := p.lead(ctx, c, prev); !ok {
			return fail(res, f)
		}
	}
	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return fail(p.broken(ctx, StageMail, err, false))
	}
	cmds := make([]string, 0, len(env.To)+2)
	cmds = append(cmds, "MAIL FROM:<"+env.From+">")
	for _, to := range env.To {
		cmds = append(cmds, "RCPT TO:<"+to+">")
	}
	cmds = append(cmds, "DATA")
	for _, cmd := range cmds {
		p.debug(c.id, "C:", cmd)
		text.W.WriteString(cmd)
		if _, err := text.W.Write(crlf); err != nil { // bufio keeps the first error
			return fail(p.broken(ctx, StageMail, err, false))
		}
	}
	if res, f, ok := p.flushGroup(ctx, c, prev); !ok {
		return fail(res, f)
	}
	g, res, f, ok := p.readGroup(ctx, c, env)
	if !ok {
		return fail(res, f)
	}
	return p.groupOutcome(ctx, c, env, g)
}

// lead readies prev, the message before on c, to lead the next group: its
// dot goes out with the group's commands. Unless ok, prev has its outcome
// and res and f are the next message's.
func (p *Pool) lead(ctx context.Context, c *conn, prev *tail) (res Result, f fate, ok bool) {
	if pres, pf, stopped := p.heldBack(ctx, c, prev); stopped {
		prev.done(pres)
		res, _ := p.broken(ctx, StageMail, context.Cause(ctx), false)
		return res, pf, false
	}
	// The commands may fill the buffer and send it, dot and all.
	if err := prev.begin(); err != nil {
		prev.done(notBegun(prev.refused, err))
		return Result{Status: Deferred, Stage: StageMail, Err: fmt.Errorf("mail from: %w", errConnEnded)}, drop, false
	}
	return Result{}, keep, true
}

// flushGroup sends the buffered group and, when prev led it, reads prev's
// final reply and hands prev its outcome. Unless ok, res and f are the
// outcome of the group's message.
func (p *Pool) flushGroup(ctx context.Context, c *conn, prev *tail) (res Result, f fate, ok bool) {
	if prev != nil {
		// The server may take as long over the previous message as over any.
		if err := c.deadline(p.cfg.DataTimeout); err != nil {
			res, f := p.broken(ctx, StageMail, err, false)
			return res, f, false
		}
	}
	flushErr := c.client.Text.W.Flush()
	if prev != nil {
		// Even when the write failed the dot may have gone out before it, and
		// the reply may be waiting: read it, or the outcome is Unknown.
		pres, pf := p.finalReply(ctx, c, prev)
		prev.done(pres)
		if flushErr == nil && pf != keep {
			// A 421 or a lost connection: this message never started.
			return Result{Status: Deferred, Stage: StageMail, Err: fmt.Errorf("mail from: %w", errConnEnded)}, pf, false
		}
		if err := c.deadline(p.cfg.CommandTimeout); flushErr == nil && err != nil {
			flushErr = err
		}
	}
	if flushErr != nil {
		res, f := p.broken(ctx, StageMail, flushErr, false)
		return res, f, false
	}
	return Result{}, keep, true
}

// group is what the server answered to one pipelined group.
type group struct {
	mailErr error       // MAIL refused
	rcptErr error       // the first RCPT reply that ends the transaction (421)
	refused []RcptReply // every RCPT refused
	dataErr error       // DATA refused
	// closing: a 421 said the server closes the connection, so the
	// replies to the commands after it never come.
	closing bool
}

// readGroup reads the reply to every command of the group. Every command
// gets a reply, so all of them are read even after a refusal: the connection
// stays in step for RSET and the next message. Unless ok, a reply is
// missing, and res and f are the outcome.
func (p *Pool) readGroup(ctx context.Context, c *conn, env Envelope) (g group, res Result, f fate, ok bool) {
	broken := func(stage string, err error) (group, Result, fate, bool) {
		res, f := p.broken(ctx, stage, err, false)
		return group{}, res, f, false
	}
	mail, err := p.readReply(c, 250)
	if err != nil && mail.code == 0 {
		return broken(StageMail, err)
	}
	g.mailErr = err
	if mail.code == 421 {
		g.closing = true
		return g, Result{}, keep, true
	}
	for _, to := range env.To {
		r, err := p.readReply(c, 25)
		if err != nil && r.code == 0 {
			return broken(StageRcpt, err)
		}
		if err == nil {
			continue
		}
		g.refused = append(g.refused, RcptReply{Addr: to, Code: r.code, Enhanced: r.enhanced, Reply: r.text})
		if r.code == 421 {
			g.rcptErr, g.closing = err, true
			return g, Result{}, keep, true
		}
	}
	data, err := p.readReply(c, 354)
	if err != nil && data.code == 0 {
		return broken(StageData, err)
	}
	g.dataErr = err
	return g, Result{}, keep, true
}

// readReply reads one reply of a group; a reply that is not the expected
// one comes back with an error and its code, a missing reply with code 0.
func (p *Pool) readReply(c *conn, expect int) (reply, error) {
	code, msg, err := c.client.Text.ReadResponse(expect)
	if err == nil {
		p.debugReply(c.id, code, msg)
		return parseReply(code, msg), nil
	}
	if r, ok := replyOf(err); ok {
		p.debugReply(c.id, r.code, msg)
		return r, err
	}
	return reply{}, err
}

// groupOutcome decides from g whether the server now waits for the message
// (ok) or what the outcome is.
func (p *Pool) groupOutcome(ctx context.Context, c *conn, env Envelope, g group) ([]RcptReply, Result, fate, bool) {
	// The server took DATA although MAIL or every RCPT failed. Ending the
	// data, even empty, could deliver a blank message to whoever the server
	// still counts as a recipient; the only way out of DATA without that is
	// to hang up.
	abandon := !g.closing && g.dataErr == nil && (g.mailErr != nil || g.rcptErr != nil || len(g.refused) == len(env.To))
	outcome := func(res Result, f fate) ([]RcptReply, Result, fate, bool) {
		if abandon {
			p.note(c.id, "(DATA was accepted with nothing to deliver: hanging up)")
			f = drop
		}
		return nil, res, f, false
	}
	switch {
	case g.mailErr != nil:
		return outcome(p.refused(ctx, StageMail, g.mailErr, false, nil))
	case g.rcptErr != nil:
		return outcome(p.refused(ctx, StageRcpt, g.rcptErr, false, g.refused))
	case len(g.refused) == len(env.To):
		return outcome(nobodyAccepted(g.refused), keep)
	case g.dataErr != nil:
		res, f := p.refused(ctx, StageData, g.dataErr, false, g.refused)
		return nil, res, f, false
	}
	return g.refused, Result{}, keep, true
}

// nobodyAccepted is the outcome when the server refused every recipient:
// the first refusal decides, and the connection is RSET before its next use.
func nobodyAccepted(refused []RcptReply) Result {
	first := refused[0]
	res := replyResult(StageRcpt, reply{code: first.Code, enhanced: first.Enhanced, text: first.Reply})
	res.Err = fmt.Errorf("rcpt to <%s>: server replied %d %s", first.Addr, first.Code, first.Reply)
	res.Rcpts = refused
	return res
}

// pipelines reports whether env goes out pipelined on c; only then can it
// carry the dot of the message before it.
func (p *Pool) pipelines(c *conn, env Envelope) bool {
	return p.pipelining(c) && asciiEnvelope(env)
}

// pipelining reports whether commands go out in groups on c.
func (p *Pool) pipelining(c *conn) bool { return c.pipelining && !p.noPipelining }

// asciiEnvelope reports whether every address is ASCII; others need the
// SMTPUTF8 parameter, which the stepwise path lets go-mail add.
func asciiEnvelope(env Envelope) bool {
	return isASCII(env.From) && !slices.ContainsFunc(env.To, func(a string) bool { return !isASCII(a) })
}
