package campaign

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/throttle"
)

// job is one recipient on its way to the server.
type job struct {
	row      int
	email    string
	msg      *compose.Message
	wire     []byte // msg written out ahead; nil for a large one
	attempts int
	last     delivery.Result
	// pending are the envelope recipients still to be sent to: all of them
	// at first, then those a server deferred while it took the others.
	pending   []string
	delivered []string        // envelope recipients the server accepted
	accepted  delivery.Result // the reply that accepted them
	refused   []string        // "addr: reply" for recipients refused for good
	relay     *relay          // where the last attempt went
}

// runner is one send run in progress.
type runner struct {
	c      *Campaign
	j      *journal.Journal
	relays []*relay // in the order of the campaign file
	named  map[string]*relay
	opts   SendOptions
	sum    *SendSummary

	attempts   int
	stopAfter  int
	retryDelay time.Duration
	total      int

	jobs    chan *job
	haltCtx context.Context // done when halt closes: ends waits for the limiter
	pending sync.WaitGroup  // jobs created and not yet final or abandoned
	halt    chan struct{}   // closed when the run must stop taking work
	once    sync.Once

	mu         sync.Mutex
	failures   map[string]int
	failStreak int
	retrying   int
	produceErr error
	// waitUntil is when the next message goes while a full cap holds the
	// sends back; waitFor names that cap.
	waitUntil time.Time
	waitFor   string
}

// newRunner makes the runner of one send run, after the check: pools has
// the pool of each of set.relays.
func (c *Campaign) newRunner(j *journal.Journal, pools []*delivery.Pool, set sendSettings, opts SendOptions, sum *SendSummary) *runner {
	r := &runner{
		c: c, j: j, opts: opts, sum: sum,
		attempts:   set.attempts,
		stopAfter:  set.stopAfter,
		retryDelay: set.retryDelay,
		halt:       make(chan struct{}),
		failures:   map[string]int{},
		named:      map[string]*relay{},
	}
	r.newRelays(set, pools)
	workers := 0
	for _, rl := range r.relays {
		workers += rl.workers
		r.named[rl.name] = rl
	}
	r.jobs = make(chan *job, workers*2)
	for _, rl := range r.relays {
		rl.queue = r.jobs // one relay needs no dispatcher: its workers take from jobs
		if r.pooled() {
			rl.queue = make(chan *job, rl.workers*2)
		}
	}
	r.total = sum.Check.Valid
	if opts.SkipInvalid {
		r.total = sum.Check.Rows
	}
	return r
}

// stop ends the intake of new work, once, with a reason for the summary.
func (r *runner) stop(reason, hint string) {
	r.once.Do(func() {
		r.mu.Lock()
		r.sum.Stopped, r.sum.StopReason, r.sum.StopHint = true, reason, hint
		r.mu.Unlock()
		close(r.halt)
	})
}

func (r *runner) halted() bool {
	select {
	case <-r.halt:
		return true
	default:
		return false
	}
}

func (r *runner) run(ctx context.Context) error {
	haltCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.haltCtx = haltCtx
	go func() {
		select {
		case <-r.halt:
			cancel()
		case <-haltCtx.Done():
		}
	}()
	if r.opts.Stop != nil {
		go func() {
			select {
			case <-r.opts.Stop:
				r.stop("interrupted", "")
			case <-r.halt:
			}
		}()
	}
	// Sync now and then: power loss loses at most the last few seconds.
	syncDone := make(chan struct{})
	go func() {
		t := time.NewTicker(syncEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := r.j.Sync(); err != nil {
					r.resultsFailed(err)
				}
			case <-syncDone:
				return
			}
		}
	}()
	defer close(syncDone)

	var wg sync.WaitGroup
	for _, rl := range r.relays {
		for range rl.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.work(ctx, rl)
			}()
		}
	}
	if r.pooled() {
		go r.dispatch()
	}
	r.produce(ctx)
	r.pending.Wait()
	close(r.jobs) // ends the workers: through dispatch, which closes the relays' queues, or directly
	wg.Wait()
	return r.produceErr
}

// countOnly counts the rows this run would have dealt with, as remaining,
// when it stops before the first message (a refused connection or login).
func (r *runner) countOnly(ctx context.Context, reason, hint string) error {
	r.stop(reason, hint)
	r.produce(ctx)
	return r.produceErr
}

// resultsFailed stops the run because the results file cannot be written
// or synced: nothing more is sent whose outcome could not be kept. It wins
// over any other reason to stop, since it decides what to do next.
func (r *runner) resultsFailed(err error) {
	hint := human.Hint(err)
	if hint == "" {
		hint = "free space on its disk, then resume the run: every outcome recorded before the failure is kept"
	}
	r.stop("", "")
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sum.ResultsErr != nil {
		return
	}
	r.sum.ResultsErr = err
	r.sum.StopReason, r.sum.StopHint = "cannot write the results file: "+err.Error(), hint
}

// produce walks the list and queues every recipient that this run sends.
// Once the run is halted it only counts the rest as remaining, and then
// the messages need not be built.
func (r *runner) produce(ctx context.Context) {
	queued := 0
	level := wire
	if r.halted() {
		level = validate
	}
	var settled func(int) bool
	// Only a resume has settled rows; asking the results file about every
	// row of a fresh run would only contend with the workers for its lock.
	// Test sends record the tester, whom only a message knows.
	if !r.c.redirect && r.j.Len() > 0 {
		settled = r.settled
	}
	_, err := r.c.eachSettled(ctx, level, settled, func(rw row) error {
		if rw.outside {
			return r.c.unchanged(r.j, rw)
		}
		// Rows an earlier run dealt with stay "previous" after a stop too;
		// only the ones this run would have handled are "remaining".
		if rw.err != nil {
			if rw.rec.Row == 0 {
				return nil // a broken line of the list: check already refused or reported it
			}
			// An earlier outcome stands: a row sent then and invalid now
			// (--skip-invalid) recorded skipped over it would be sent
			// again by a later --resume once it is corrected.
			if prev, ok := r.j.Lookup(rw.rec.Row); ok && (prev.Status == journal.Skipped || !resends(prev.Status, r.opts)) {
				r.previous(string(prev.Status))
				return nil
			}
			if r.halted() {
				r.countRemaining()
				return nil
			}
			email := ""
			if rw.rec.Fields != nil { // else the list itself refused the row
				email = r.c.composer.Recipient(rw.rec.Fields)
			}
			r.record(journal.Entry{Row: rw.rec.Row, Email: email, Status: journal.Skipped, Reply: rw.err.Error()}, nil)
			return nil // a failed record halted the run: the rest count as remaining
		}
		email := rw.email
		send, prev, err := r.c.sendsRow(r.j, r.opts, rw.rec.Row, email)
		if err != nil {
			return err
		}
		if !send {
			r.previous(string(prev))
			return nil
		}
		if rw.suppressed > 0 {
			r.suppressed(rw)
			return nil
		}
		if r.halted() || r.opts.Limit > 0 && queued >= r.opts.Limit {
			r.countRemaining()
			return nil
		}
		queued++
		r.pending.Add(1)
		select {
		case r.jobs <- &job{row: rw.rec.Row, email: email, msg: rw.msg, wire: rw.wire}:
		case <-r.halt:
			r.pending.Done()
			r.countRemaining()
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		r.mu.Lock()
		r.produceErr = err
		r.mu.Unlock()
		r.stop(err.Error(), "")
	}
}

// settled says whether an earlier run dealt with row for good: this run
// does not send it, so its message need not be made (eachSettled).
func (r *runner) settled(row int) bool {
	prev, ok := r.j.Lookup(row)
	return ok && !resends(prev.Status, r.opts)
}

// suppressed records a row that a suppress file holds an address of as
// skipped. A row an earlier run recorded skipped stays as it was: suppressed
// then too, or invalid then (its reply keeps saying so).
func (r *runner) suppressed(rw row) {
	if prev, ok := r.j.Lookup(rw.rec.Row); ok && prev.Status == journal.Skipped {
		r.previous(string(prev.Status))
		return
	}
	if r.halted() {
		r.countRemaining()
		return
	}
	reply := SuppressedReply + r.c.suppress.name(rw.suppressed)
	if r.record(journal.Entry{Row: rw.rec.Row, Email: rw.email, Status: journal.Skipped, Reply: reply}, nil) {
		r.mu.Lock()
		r.sum.Suppressed++
		r.mu.Unlock()
	}
}

func (r *runner) previous(status string) {
	r.mu.Lock()
	r.sum.Previous[status]++
	r.total--
	r.mu.Unlock()
}

func (r *runner) countRemaining() {
	r.mu.Lock()
	r.sum.Remaining++
	r.mu.Unlock()
}

// work sends the jobs given to rl until there are none. Its session sends
// each message's end together with the next message's start while jobs
// are queued, and finishes the last one before waiting for more.
func (r *runner) work(ctx context.Context, rl *relay) {
	s := rl.pool.Session()
	defer s.Close(ctx)
	for {
		var jb *job
		var ok bool
		select {
		case jb, ok = <-rl.queue:
		default:
			s.Flush(ctx)
			jb, ok = <-rl.queue
		}
		if !ok {
			return
		}
		if r.pooled() && r.isOut(rl) {
			r.redispatch(jb) // queued before rl went out: another relay takes it
			continue
		}
		r.attempt(ctx, s, rl, jb)
	}
}

func (r *runner) attempt(ctx context.Context, s *delivery.Session, rl *relay, jb *job) {
	if r.halted() || ctx.Err() != nil {
		r.abandon()
		return
	}
	if err := rl.limiter.WaitOr(r.haltCtx, func() { s.Flush(ctx) }); err != nil || r.halted() {
		r.abandon()
		return
	}
	jb.attempts++
	jb.relay = rl
	if jb.pending == nil {
		jb.pending = jb.msg.Envelope.To
	}
	env := delivery.Envelope{From: jb.msg.Envelope.From, To: jb.pending}
	mid := "<" + jb.msg.MessageID + ">"
	var body io.WriterTo = jb.msg
	if jb.wire != nil {
		body = bytes.NewReader(jb.wire)
	}
	var beginErr error
	s.Send(ctx, env, body, func() error {
		beginErr = r.j.Begin(jb.row, jb.email, mid, rl.name)
		return beginErr
	}, func(res delivery.Result) { r.outcome(ctx, jb, res, beginErr) })
}

// retry queues a deferred job again after an exponential backoff with
// jitter, without holding up the worker.
func (r *runner) retry(jb *job) {
	d := r.retryDelay << (jb.attempts - 1)
	if d > maxRetryDelay || d <= 0 {
		d = maxRetryDelay
	}
	d += time.Duration(rand.Int64N(int64(d)/2 + 1))
	r.mu.Lock()
	r.retrying++
	r.mu.Unlock()
	go func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.halt:
		}
		r.mu.Lock()
		r.retrying--
		r.mu.Unlock()
		if r.halted() {
			r.abandon()
			return
		}
		select {
		case r.jobs <- jb:
		case <-r.halt:
			r.abandon()
		}
	}()
}

// abandon drops a job that this run will not finish; it stays unsent in
// the results file, so --resume sends it.
func (r *runner) abandon() {
	r.countRemaining()
	r.pending.Done()
}

// record writes a final outcome and reports whether it did. res is nil for
// rows that were never sent. A failure to write stops the run (resultsFailed).
func (r *runner) record(e journal.Entry, res *delivery.Result) (written bool) {
	e.Time = time.Now()
	err := r.j.Record(e)
	r.mu.Lock()
	switch {
	case err != nil && (e.Status == journal.Sent || e.Status == journal.Unknown || res != nil && res.Stage == delivery.StageDataEnd):
		// Begun but not recorded: the next run finds it in flight, unknown.
		r.sum.Unknown++
	case err != nil:
		r.sum.Remaining++ // never begun: --resume sends it
	case e.Status == journal.Sent:
		r.sum.Sent++
		r.failStreak = 0
		if rl := r.named[e.Relay]; rl != nil && res != nil {
			rl.counts.Sent++
		}
	case e.Status == journal.Failed:
		r.sum.Failed++
		// A refusal of this recipient alone says nothing about the server:
		// it neither adds to the streak nor breaks it.
		if refusesEverything(res) {
			r.failStreak++
		}
		if unfixable(res) {
			r.sum.Unfixable++
		}
		if rl := r.named[e.Relay]; rl != nil && res != nil {
			rl.counts.Failed++
		}
		if key := failureKey(e, res); len(r.failures) < 1000 || r.failures[key] > 0 {
			r.failures[key]++
		}
	case e.Status == journal.Unknown:
		r.sum.Unknown++
		if rl := r.named[e.Relay]; rl != nil && res != nil {
			rl.counts.Unknown++
		}
	case e.Status == journal.Skipped:
		r.sum.Skipped++
	}
	streak := r.failStreak
	p := r.progress()
	r.mu.Unlock()
	if res != nil {
		r.pending.Done()
	}
	if err != nil {
		r.resultsFailed(err)
		return false
	}
	if r.stopAfter > 0 && streak >= r.stopAfter {
		r.stop(fmt.Sprintf("%d messages in a row failed (%s): the server is refusing everything", streak, shortReply(e.Code, e.Reply)),
			"look at the replies in "+r.sum.Results+" and fix the cause")
	}
	r.report(p)
	return true
}

// capWait is told by the limiter that a full cap holds a send back: the
// user sees until when, instead of a run that looks stuck. With several
// workers waiting, the earliest of their times is the next message.
func (r *runner) capWait(until time.Time, by throttle.Term) {
	r.mu.Lock()
	if !r.waitUntil.After(time.Now()) || until.Before(r.waitUntil) {
		r.waitUntil, r.waitFor = until, capName(by)
	}
	p := r.progress()
	r.mu.Unlock()
	r.report(p)
}

// capName is what the user calls a cap.
func capName(t throttle.Term) string {
	switch t.Per {
	case time.Hour:
		return "hourly limit"
	case 24 * time.Hour:
		return "daily limit"
	}
	return "limit of " + t.String()
}

// progress is the snapshot for opts.Progress; r.mu is held.
func (r *runner) progress() Progress {
	p := Progress{Total: r.total, Sent: r.sum.Sent, Failed: r.sum.Failed, Skipped: r.sum.Skipped,
		Unknown: r.sum.Unknown, Retrying: r.retrying}
	if r.waitUntil.After(time.Now()) {
		p.WaitingUntil, p.WaitingFor = r.waitUntil, r.waitFor
	}
	return p
}

// report hands a snapshot to opts.Progress, with the rate in force.
func (r *runner) report(p Progress) {
	if r.opts.Progress != nil {
		p.Rate = r.rateText()
		r.opts.Progress(p)
	}
}

func (r *runner) topFailures(n int) []ReplyCount {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []ReplyCount
	for reply, count := range r.failures {
		out = append(out, ReplyCount{reply, count})
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].Count != out[k].Count {
			return out[i].Count > out[k].Count
		}
		return out[i].Reply < out[k].Reply
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
