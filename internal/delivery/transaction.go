package delivery

import (
	"context"
	"fmt"
	"io"

	"github.com/wneessen/go-mail/smtp"
)

// transact runs MAIL, RCPT... and DATA on c and classifies the outcome.
func (p *Pool) transact(ctx context.Context, c *conn, env Envelope, msg io.WriterTo, beforeEnd func() error) (res Result, f fate) {
	// Closing the socket is the only way to interrupt a blocked read or
	// write; the connection is then gone and the error classified below.
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer func() {
		if !stop() {
			f = drop
		}
	}()
	c.sent++
	c.dirty = true // until the server answers the end of DATA

	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return p.broken(ctx, StageMail, err, false)
	}
	if err := c.client.Mail("<" + env.From + ">"); err != nil {
		return p.refused(ctx, StageMail, err, false, nil)
	}

	var refusedRcpts []RcptReply
	for _, to := range env.To {
		if err := c.deadline(p.cfg.CommandTimeout); err != nil {
			return p.broken(ctx, StageRcpt, err, false)
		}
		err := c.client.Rcpt("<" + to + ">")
		if err == nil {
			continue
		}
		r, ok := replyOf(err)
		if !ok || r.code == 421 || r.code/100 < 4 {
			return p.refused(ctx, StageRcpt, err, false, refusedRcpts)
		}
		refusedRcpts = append(refusedRcpts, RcptReply{Addr: to, Code: r.code, Enhanced: r.enhanced, Reply: r.text})
	}
	if len(refusedRcpts) == len(env.To) {
		// Nobody to send to: the first refusal decides, the connection is
		// RSET before its next use.
		first := refusedRcpts[0]
		res := replyResult(StageRcpt, reply{code: first.Code, enhanced: first.Enhanced, text: first.Reply})
		res.Err = fmt.Errorf("rcpt to <%s>: server replied %d %s", first.Addr, first.Code, first.Reply)
		res.Rcpts = refusedRcpts
		return res, keep
	}

	if err := c.deadline(p.cfg.CommandTimeout); err != nil {
		return p.broken(ctx, StageData, err, false)
	}
	w, err := c.client.Data()
	if err != nil {
		return p.refused(ctx, StageData, err, false, refusedRcpts)
	}
	// DataCloser.Close drops the error of writing the final dot, which is
	// exactly what tells Deferred from Unknown, so the dot writer is closed
	// and the reply read here instead.
	dc, ok := w.(*smtp.DataCloser)
	if !ok {
		_ = w.Close()
		return p.broken(ctx, StageData, fmt.Errorf("smtp client returned %T for DATA", w), false)
	}
	if err := c.deadline(p.cfg.DataTimeout); err != nil {
		return p.broken(ctx, StageData, err, false)
	}
	ew := &errWriter{w: dc}
	n, err := msg.WriteTo(ew)
	if err != nil {
		if ew.err != nil {
			return p.broken(ctx, StageData, ew.err, false)
		}
		// The message itself failed. There is no way to abort DATA except
		// dropping the connection: a final dot would deliver half a message.
		return Result{Status: Rejected, Stage: StageData, Rcpts: refusedRcpts,
			Err: fmt.Errorf("write message: %w", err)}, drop
	}
	if beforeEnd != nil {
		if err := beforeEnd(); err != nil {
			// The caller could not journal the attempt: without the final dot
			// nothing is delivered, so the outcome stays known.
			return Result{Status: Deferred, Stage: StageData, Rcpts: refusedRcpts,
				Err: fmt.Errorf("before the end of data: %w", err)}, drop
		}
	}
	if err := dc.WriteCloser.Close(); err != nil {
		return p.broken(ctx, StageData, err, false)
	}
	p.note(c.id, "(message, %d bytes, and the final dot sent)", n)
	code, text, err := c.client.Text.ReadResponse(2)
	if err != nil {
		return p.refused(ctx, StageDataEnd, err, true, refusedRcpts)
	}
	p.debug(c.id, "S:", wireReply(code, text))
	c.dirty = false
	res = replyResult(StageDataEnd, parseReply(code, text))
	res.Rcpts = refusedRcpts
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
