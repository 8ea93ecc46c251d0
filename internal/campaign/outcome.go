package campaign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// outcome deals with the result of one attempt: record it, or retry.
// It runs on the worker's goroutine, perhaps inside the Send of the next
// message (see doc.go).
func (r *runner) outcome(ctx context.Context, jb *job, res delivery.Result, beginErr error) {
	if beginErr != nil {
		// Not sent: the dot never went out. Stop rather than send blind.
		r.resultsFailed(beginErr)
		r.abandon()
		return
	}
	jb.last = res
	if res.Throttle {
		jb.relay.limiter.SlowDown()
	}
	if r.relayFailed(jb.relay, res) {
		// The relay is out and the message never left it: another relay
		// takes it now, and this attempt does not count.
		jb.attempts--
		r.redispatch(jb)
		return
	}
	if res.Status == delivery.Delivered {
		jb.sortRecipients(res)
		if len(jb.pending) > 0 && r.mayRetry(ctx, jb) {
			r.retry(jb)
			return
		}
		jb.giveUpDeferred(res)
	}
	if res.Status == delivery.Deferred && r.mayRetry(ctx, jb) {
		r.retry(jb)
		return
	}
	entry := journal.Entry{Row: jb.row, Email: jb.email, Code: res.Code, Reply: replyText(res),
		MessageID: "<" + jb.msg.MessageID + ">", Attempts: jb.attempts, Relay: jb.relay.name}
	if len(jb.delivered) > 0 && res.Status != delivery.Unknown && res.Status != delivery.Fatal {
		r.recordPartlySent(jb, entry, res)
		return
	}
	r.recordFinal(ctx, jb, entry, res)
}

// mayRetry says whether a deferred job gets another attempt.
func (r *runner) mayRetry(ctx context.Context, jb *job) bool {
	return jb.attempts < r.attempts && ctx.Err() == nil
}

// sortRecipients deals with a message the server took for some recipients
// and may have deferred for others (a cc greylisted, a mailbox over
// quota): those are retried alone, the rest are done.
func (jb *job) sortRecipients(res delivery.Result) {
	var deferred []string
	refusedNow := map[string]bool{}
	for _, rc := range res.Rcpts {
		refusedNow[rc.Addr] = true
		if rc.Code/100 == 4 {
			deferred = append(deferred, rc.Addr)
		} else {
			jb.refused = append(jb.refused, fmt.Sprintf("%s refused: %d %s", rc.Addr, rc.Code, rc.Reply))
		}
	}
	for _, a := range jb.pending {
		if !refusedNow[a] {
			jb.delivered = append(jb.delivered, a)
		}
	}
	jb.pending = deferred
	jb.accepted = res
}

// giveUpDeferred counts the recipients still deferred as refused: the job
// is out of attempts, or the run is ending.
func (jb *job) giveUpDeferred(res delivery.Result) {
	for _, rc := range res.Rcpts {
		if rc.Code/100 == 4 {
			jb.refused = append(jb.refused, fmt.Sprintf("%s refused: %d %s (gave up after %d attempts)", rc.Addr, rc.Code, rc.Reply, jb.attempts))
		}
	}
}

// recordPartlySent records a row some copies of which went out: the row is
// sent, so that --retry-failed can never send a second one; the reply says
// who did not get it, and it counts as partial.
func (r *runner) recordPartlySent(jb *job, entry journal.Entry, res delivery.Result) {
	if res.Status != delivery.Delivered {
		for _, rc := range res.Rcpts {
			jb.refused = append(jb.refused, fmt.Sprintf("%s refused: %d %s", rc.Addr, rc.Code, rc.Reply))
		}
		if len(res.Rcpts) == 0 {
			for _, a := range jb.pending {
				jb.refused = append(jb.refused, fmt.Sprintf("%s refused: %d %s", a, res.Code, replyText(res)))
			}
		}
	}
	entry.Status, entry.Code, entry.Reply = journal.Sent, jb.accepted.Code, jb.accepted.Reply
	if !slices.Contains(jb.delivered, jb.email) {
		entry.Reply += " [delivered to " + strings.Join(jb.delivered, ", ") + " only]"
	}
	if len(jb.refused) > 0 {
		entry.Reply += " [not delivered: " + strings.Join(jb.refused, "; ") + "]"
		r.mu.Lock()
		r.sum.Partial++
		r.mu.Unlock()
	}
	r.record(entry, &res)
}

// recordFinal records a row no copy of which went out, or stops the run
// when the server or the login failed for good (Fatal).
func (r *runner) recordFinal(ctx context.Context, jb *job, entry journal.Entry, res delivery.Result) {
	switch res.Status {
	case delivery.Rejected:
		entry.Status = journal.Failed
		r.record(entry, &res)
	case delivery.Unknown:
		entry.Status = journal.Unknown
		r.record(entry, &res)
	case delivery.Deferred: // out of attempts, or the run quit at once
		if ctx.Err() != nil {
			// The message did not go out (its end of DATA had not): --resume sends it.
			r.abandon()
			return
		}
		entry.Status = journal.Failed
		entry.Reply = fmt.Sprintf("gave up after %d attempts: %s", jb.attempts, entry.Reply)
		r.record(entry, &res)
	default: // Fatal: the run stops; this recipient was not sent
		hint := ""
		if errors.Is(res.Err, delivery.ErrAuth) {
			hint = r.c.AuthHint()
		}
		r.stop(replyText(res), hint)
		r.abandon()
	}
}

// replyText is the server's reply, or the error when there was none.
func replyText(res delivery.Result) string {
	var parts []string
	if res.Enhanced != "" && !strings.HasPrefix(res.Reply, res.Enhanced) {
		parts = append(parts, res.Enhanced)
	}
	if res.Reply != "" {
		parts = append(parts, res.Reply)
	}
	if len(parts) == 0 && res.Err != nil {
		parts = append(parts, res.Err.Error())
	}
	if res.Stage != "" && res.Status != delivery.Delivered {
		parts = append(parts, "(at "+res.Stage+")")
	}
	for i, rc := range res.Rcpts {
		if i == 0 && deciding(res, rc) {
			continue // the row's own refusal, said once above
		}
		parts = append(parts, fmt.Sprintf("[%s refused: %d %s]", rc.Addr, rc.Code, rc.Reply))
	}
	return strings.Join(parts, " ")
}

// deciding says whether a recipient's refusal is the reply of the whole
// message: when the server refused every recipient, the first refusal
// decides (it is the row's own address, the envelope's first).
func deciding(res delivery.Result, rc delivery.RcptReply) bool {
	return res.Stage == delivery.StageRcpt && rc.Code == res.Code && rc.Reply == res.Reply
}

// failureKey groups failures by the server's reply without the refused
// addresses, so the summary shows the common causes, not one line each.
func failureKey(e journal.Entry, res *delivery.Result) string {
	reply := e.Reply
	if res != nil && len(res.Rcpts) > 0 {
		r := *res
		r.Rcpts = nil
		reply = replyText(r)
	}
	return shortReply(e.Code, reply)
}

// shortReply is a reply cut to 120 characters for one line of a summary.
func shortReply(code int, reply string) string {
	reply = human.Clip(reply, 120)
	if code == 0 {
		return reply
	}
	return fmt.Sprintf("%d %s", code, reply)
}

// refusesEverything says whether a failure speaks of the server or the
// account rather than of the recipient: a connection, TLS or login that
// failed, a 421, a refused MAIL or DATA, or every recipient refused for a
// reason that is not about their mailbox. Only these, in a row, stop a run.
func refusesEverything(res *delivery.Result) bool {
	switch {
	case res == nil, errors.Is(res.Err, delivery.ErrNoSMTPUTF8):
		return false // a row that needs SMTPUTF8 says nothing about the others
	case res.Code == 421, res.Stage == delivery.StageConnect:
		return true
	case res.Code == 0:
		// No reply: the connection was lost, unless the message itself
		// could not be written (Rejected without a reply).
		return res.Status != delivery.Rejected
	case res.Stage == delivery.StageRcpt:
		return !recipientRefused(res)
	}
	return res.Stage == delivery.StageMail || res.Stage == delivery.StageData || res.Stage == delivery.StageDataEnd
}

// unfixable says whether a failure would only come again with
// --retry-failed: the recipient's mailbox was refused for good, or the row
// needs SMTPUTF8, which the server lacks.
func unfixable(res *delivery.Result) bool {
	if res == nil {
		return false
	}
	return errors.Is(res.Err, delivery.ErrNoSMTPUTF8) || res.Status == delivery.Rejected && recipientRefused(res)
}

// Lasting says whether a failure in the results file would only come again
// with --retry-failed, read back from the code and reply the run wrote: a
// mailbox refused for good at RCPT (the reply starts with its enhanced code
// and names the stage), or a row that needs SMTPUTF8 from a server without
// it. It is unfixable for the rows of earlier runs, whose Result is gone.
func Lasting(e journal.Entry) bool {
	if e.Status != journal.Failed {
		return false
	}
	if strings.HasPrefix(e.Reply, delivery.ErrNoSMTPUTF8.Error()) {
		return true
	}
	if e.Code/100 != 5 || !strings.Contains(e.Reply, "(at "+delivery.StageRcpt+")") {
		return false
	}
	enhanced, _, _ := strings.Cut(e.Reply, " ")
	if !isEnhancedCode(enhanced) {
		enhanced = ""
	}
	return mailboxReply(e.Code, enhanced)
}

// isEnhancedCode reports whether s is an RFC 3463 status code, "5.1.1".
func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0]) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// recipientRefused says whether the server refused every recipient for a
// reason about that mailbox alone (RFC 3463 x.1.x address, x.2.x mailbox
// status; without an enhanced code, or with the undefined x.0.x, RFC
// 5321's 450 and 550-553).
func recipientRefused(res *delivery.Result) bool {
	if res == nil || res.Stage != delivery.StageRcpt || len(res.Rcpts) == 0 {
		return false
	}
	for _, rc := range res.Rcpts {
		if !mailboxReply(rc.Code, rc.Enhanced) {
			return false
		}
	}
	return true
}

func mailboxReply(code int, enhanced string) bool {
	_, rest, _ := strings.Cut(enhanced, ".")
	switch subject, _, _ := strings.Cut(rest, "."); subject {
	case "1", "2":
		return true
	case "", "0":
	default:
		return false
	}
	switch code {
	case 450, 550, 551, 552, 553:
		return true
	}
	return false
}
