package campaign

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/throttle"
)

// Defaults of [send].
const (
	DefaultWorkers           = 4
	DefaultAttempts          = 5
	DefaultStopAfterFailures = 10
	DefaultRetryDelay        = 2 * time.Second
	maxRetryDelay            = 5 * time.Minute
	syncEvery                = 2 * time.Second
	// slowDownFor is how long a "slow down" reply halves the rate before it
	// may double again: long enough to stop hammering, short enough that a
	// run recovers within minutes from a burst of 421s.
	slowDownFor = 20 * time.Second
)

// SendOptions control one send run. Only cmd fills them from flags.
type SendOptions struct {
	Server *Server // deliver here instead of [smtp] (the sandbox)
	// Password is asked for [smtp] username once the campaign checked out,
	// right before connecting; it is never logged.
	Password func() (string, error)
	// Results overrides the results file path ([send] results).
	Results string

	Resume        bool // continue after an earlier run's rows
	Restart       bool // rotate the old results file away and start over
	RetryFailed   bool // with Resume: send again to rows that failed
	ResendUnknown bool // with Resume: send again to rows whose outcome is unknown
	SkipInvalid   bool // record invalid rows as skipped instead of refusing to send

	Limit   int    // send at most this many messages; 0 means all
	Rate    string // overrides [send] rate
	Workers int    // overrides [send] workers
	Debug   io.Writer

	// Stop is closed on the first interrupt: no new message starts, the
	// ones in flight finish and are recorded.
	Stop <-chan struct{}
	// Progress, when set, is called after every outcome.
	Progress func(Progress)
	// Report receives the problems of the check that runs first.
	Report func(Problem)
}

// Progress is a snapshot of a running send.
type Progress struct {
	Total                          int // recipients this run will try (known after the check)
	Sent, Failed, Skipped, Unknown int
	Retrying                       int
	Rate                           string // the limiter's current rate
}

// SendSummary is what a run did.
type SendSummary struct {
	Check                          CheckSummary
	Total                          int // rows this run had to deal with
	Sent, Failed, Skipped, Unknown int
	Partial                        int            // sent rows with a recipient (cc, bcc, or the To) who did not get it
	Remaining                      int            // rows not dealt with because the run stopped
	Previous                       map[string]int // outcomes of earlier runs, left as they were
	Recovered                      int            // in-flight rows of a crashed run, now unknown
	Elapsed                        time.Duration
	Stopped                        bool   // the run ended early; --resume continues it
	NothingSent                    bool   // it stopped before the first message (login, connection)
	StopReason                     string // why
	StopHint                       string
	TopFailures                    []ReplyCount
	Results                        string // path of the results file
	RotatedTo                      string // where --restart moved the old results
}

// ReplyCount is a failure reply and how often it came.
type ReplyCount struct {
	Reply string
	Count int
}

// Errors that stop send before anything is sent.
var (
	// ErrResultsExist: the results file has rows and neither --resume nor --restart was given.
	ErrResultsExist = errors.New("results file already has outcomes")
	// ErrListChanged: a row's address differs from what the results file recorded for it.
	ErrListChanged = errors.New("the recipients list changed since the results were written")
	// ErrInvalid: check found errors and --skip-invalid was not given.
	ErrInvalid = errors.New("the campaign has errors; nothing was sent")
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
}

// Send checks the campaign, then delivers one message per recipient and
// records each outcome. A returned error means the run could not start or
// could not record; a run that stopped early returns a summary with Stopped.
func (c *Campaign) Send(ctx context.Context, opts SendOptions) (SendSummary, error) {
	start := time.Now()
	results := c.ResultsPath()
	if opts.Results != "" {
		results = opts.Results
	}
	sum := SendSummary{Results: results, Previous: map[string]int{}}
	report := opts.Report
	if report == nil {
		report = func(Problem) {}
	}
	if opts.SkipInvalid {
		// A bad row is not an error when the user chose to skip it.
		inner := report
		report = func(p Problem) {
			if p.Severity == Error && p.Row > 0 {
				p.Severity, p.Message = Warning, "skipped: "+p.Message
			}
			inner(p)
		}
	}
	sc := c.Config.Send
	workers := firstPositive(opts.Workers, sc.Workers, DefaultWorkers)
	attempts := firstPositive(sc.Attempts, DefaultAttempts)
	stopAfter := firstPositive(sc.StopAfterFailures, DefaultStopAfterFailures)
	retryDelay, err := parseDuration(sc.RetryDelay, DefaultRetryDelay)
	if err != nil {
		return sum, &ConfigError{File: c.Path, Line: c.keyLine["send.retry_delay"], Err: err}
	}
	rateText := sc.Rate
	if opts.Rate != "" {
		rateText = opts.Rate
	}
	spec, err := throttle.Parse(rateText)
	if err != nil {
		return sum, &ConfigError{File: c.Path, Line: c.keyLine["send.rate"], Err: err}
	}
	dcfg, err := c.deliveryConfig(opts.Server, "", workers)
	if err != nil {
		return sum, err
	}
	dcfg.Debug = opts.Debug

	// 1. Nothing is sent unless every row validates.
	check, err := c.Check(ctx, report)
	sum.Check = check
	if err != nil {
		return sum, err
	}
	if check.Errors > 0 && (!opts.SkipInvalid || check.Valid == 0) {
		return sum, ErrInvalid
	}

	// 2. The results file: refuse to mix runs by accident.
	_, statErr := os.Stat(results)
	fresh := os.IsNotExist(statErr)
	j, err := journal.Open(results)
	if err != nil {
		return sum, err
	}
	if j.Len() > 0 && !opts.Resume {
		if !opts.Restart {
			n := j.Len()
			j.Abandon()
			return sum, fmt.Errorf("%s: %w (%d rows)", results, ErrResultsExist, n)
		}
		if err := j.Abandon(); err != nil {
			return sum, err
		}
		if sum.RotatedTo, err = journal.Rotate(results); err != nil {
			return sum, err
		}
		if j, err = journal.Open(results); err != nil {
			return sum, err
		}
	}
	sum.Recovered = j.Recovered()
	closed := false
	defer func() {
		if !closed {
			j.Abandon()
		}
	}()

	// 3. Connect and log in once before anything is sent, so a wrong password
	// stops the run with nothing sent.
	// discardFresh removes a results file this run created and never used,
	// so a run that could not start leaves nothing behind.
	discardFresh := func() {
		if fresh && j.Len() == 0 {
			j.Abandon()
			os.Remove(results)
			os.Remove(journal.InflightPath(results))
			closed = true
		}
	}
	if opts.Server == nil && dcfg.Username != "" && opts.Password != nil {
		if dcfg.Password, err = opts.Password(); err != nil {
			discardFresh()
			return sum, err
		}
	}
	pool, err := delivery.NewPool(dcfg)
	if err != nil {
		discardFresh()
		return sum, err
	}
	defer pool.Close()
	if err := pool.Verify(ctx); err != nil {
		sum.Stopped, sum.StopReason = true, err.Error()
		if errors.Is(err, delivery.ErrAuth) {
			sum.StopHint = c.AuthHint()
		}
		sum.Elapsed = time.Since(start)
		sum.NothingSent = true
		if discardFresh(); closed {
			return sum, nil
		}
		closed = true
		return sum, j.Close()
	}

	r := &runner{
		c: c, j: j, pool: pool, opts: opts, sum: &sum,
		limiter:    throttle.New(spec, throttle.Options{Burst: sc.Burst, CoolDown: slowDownFor}),
		attempts:   attempts,
		stopAfter:  stopAfter,
		retryDelay: retryDelay,
		jobs:       make(chan *job, workers*2),
		halt:       make(chan struct{}),
		failures:   map[string]int{},
	}
	r.total = check.Valid
	if opts.SkipInvalid {
		r.total = check.Rows
	}
	err = r.run(ctx, workers)
	sum.Total = r.total
	sum.Elapsed = time.Since(start)
	sum.TopFailures = r.topFailures(3)
	if err != nil {
		return sum, err
	}
	closed = true
	if err := j.Close(); err != nil {
		return sum, err
	}
	return sum, nil
}

// runner is one send run in progress.
type runner struct {
	c       *Campaign
	j       *journal.Journal
	pool    *delivery.Pool
	limiter *throttle.Limiter
	opts    SendOptions
	sum     *SendSummary

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

func (r *runner) run(ctx context.Context, workers int) error {
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
				_ = r.j.Sync()
			case <-syncDone:
				return
			}
		}
	}()
	defer close(syncDone)

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work(ctx)
		}()
	}
	r.produce(ctx)
	r.pending.Wait()
	close(r.jobs)
	wg.Wait()
	return r.produceErr
}

// produce walks the list and queues every recipient that this run sends.
func (r *runner) produce(ctx context.Context) {
	queued := 0
	_, err := r.c.each(ctx, wire, func(rw row) error {
		// Rows an earlier run dealt with stay "previous" after a stop too;
		// only the ones this run would have handled are "remaining".
		if rw.err != nil {
			if rw.rec.Row == 0 {
				return nil // a broken line of the list: check already refused or reported it
			}
			if prev, ok := r.j.Lookup(rw.rec.Row); ok && prev.Status == journal.Skipped {
				r.previous(string(prev.Status))
				return nil
			}
			if r.halted() {
				r.countRemaining()
				return nil
			}
			return r.record(journal.Entry{Row: rw.rec.Row, Status: journal.Skipped, Reply: rw.err.Error()}, nil)
		}
		email := rw.email
		if prev, ok := r.j.Lookup(rw.rec.Row); ok {
			if prev.EmailHash != journal.HashEmail(email) {
				return fmt.Errorf("%s: row %d is now %s: %w", r.c.listPath, rw.rec.Row, email, ErrListChanged)
			}
			switch {
			case prev.Status == journal.Failed && r.opts.RetryFailed,
				prev.Status == journal.Unknown && r.opts.ResendUnknown:
			default:
				r.previous(string(prev.Status))
				return nil
			}
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

// work sends jobs until there are none. Its session sends each message's
// end together with the next message's start while jobs are queued, and
// finishes the last one before waiting for more.
func (r *runner) work(ctx context.Context) {
	s := r.pool.Session()
	defer s.Close(ctx)
	for {
		var jb *job
		var ok bool
		select {
		case jb, ok = <-r.jobs:
		default:
			s.Flush(ctx)
			jb, ok = <-r.jobs
		}
		if !ok {
			return
		}
		r.attempt(ctx, s, jb)
	}
}

func (r *runner) attempt(ctx context.Context, s *delivery.Session, jb *job) {
	if r.halted() || ctx.Err() != nil {
		r.abandon(jb)
		return
	}
	if err := r.limiter.WaitOr(r.haltCtx, func() { s.Flush(ctx) }); err != nil || r.halted() {
		r.abandon(jb)
		return
	}
	jb.attempts++
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
		beginErr = r.j.Begin(jb.row, jb.email, mid)
		return beginErr
	}, func(res delivery.Result) { r.outcome(ctx, jb, res, beginErr) })
}

// outcome deals with the result of one attempt: record it, or retry.
func (r *runner) outcome(ctx context.Context, jb *job, res delivery.Result, beginErr error) {
	mid := "<" + jb.msg.MessageID + ">"
	if beginErr != nil {
		// Not sent: the dot never went out. Stop rather than send blind.
		r.stop("cannot write the results file: "+beginErr.Error(), "")
		r.abandon(jb)
		return
	}
	jb.last = res
	if res.Throttle {
		r.limiter.SlowDown()
	}
	if res.Status == delivery.Delivered {
		// The server took the message for some recipients and may have
		// deferred others (a cc greylisted, a mailbox over quota): those
		// are retried alone, the rest are done.
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
		if len(deferred) > 0 && jb.attempts < r.attempts && ctx.Err() == nil {
			r.retry(jb)
			return
		}
		for _, rc := range res.Rcpts {
			if rc.Code/100 == 4 {
				jb.refused = append(jb.refused, fmt.Sprintf("%s refused: %d %s (gave up after %d attempts)", rc.Addr, rc.Code, rc.Reply, jb.attempts))
			}
		}
	}
	if res.Status == delivery.Deferred && jb.attempts < r.attempts && ctx.Err() == nil {
		r.retry(jb)
		return
	}
	entry := journal.Entry{Row: jb.row, Email: jb.email, Code: res.Code, Reply: replyText(res),
		MessageID: mid, Attempts: jb.attempts}
	if len(jb.delivered) > 0 && res.Status != delivery.Unknown && res.Status != delivery.Fatal {
		// Some copies went out: the row is sent when its own recipient got
		// one, and the reply says who did not.
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
		// The row is sent once any copy went out, so that --retry-failed can
		// never send a second one; who did not get it is in the reply and
		// counted as partial.
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
		return
	}
	switch res.Status {
	case delivery.Rejected:
		entry.Status = journal.Failed
		r.record(entry, &res)
	case delivery.Unknown:
		entry.Status = journal.Unknown
		r.record(entry, &res)
	case delivery.Deferred: // out of attempts, or the run is ending
		entry.Status = journal.Failed
		if ctx.Err() == nil {
			entry.Reply = fmt.Sprintf("gave up after %d attempts: %s", jb.attempts, entry.Reply)
		}
		r.record(entry, &res)
	default: // Fatal: the run stops; this recipient was not sent
		hint := ""
		if errors.Is(res.Err, delivery.ErrAuth) {
			hint = r.c.AuthHint()
		}
		r.stop(replyText(res), hint)
		r.abandon(jb)
	}
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
			r.abandon(jb)
			return
		}
		select {
		case r.jobs <- jb:
		case <-r.halt:
			r.abandon(jb)
		}
	}()
}

// abandon drops a job that this run will not finish; it stays unsent in
// the results file, so --resume sends it.
func (r *runner) abandon(jb *job) {
	r.countRemaining()
	r.pending.Done()
}

// record writes a final outcome. res is nil for rows that were never sent.
func (r *runner) record(e journal.Entry, res *delivery.Result) error {
	e.Time = time.Now()
	err := r.j.Record(e)
	r.mu.Lock()
	switch e.Status {
	case journal.Sent:
		r.sum.Sent++
		r.failStreak = 0
	case journal.Failed:
		r.sum.Failed++
		r.failStreak++
		if key := failureKey(e, res); len(r.failures) < 1000 || r.failures[key] > 0 {
			r.failures[key]++
		}
	case journal.Unknown:
		r.sum.Unknown++
	case journal.Skipped:
		r.sum.Skipped++
	}
	streak := r.failStreak
	p := Progress{Total: r.total, Sent: r.sum.Sent, Failed: r.sum.Failed, Skipped: r.sum.Skipped,
		Unknown: r.sum.Unknown, Retrying: r.retrying}
	r.mu.Unlock()
	if res != nil {
		r.pending.Done()
	}
	if err != nil {
		r.stop("cannot write the results file: "+err.Error(), "")
		return err
	}
	if streak >= r.stopAfter {
		r.stop(fmt.Sprintf("the last %d messages all failed (%s): the server is refusing everything", streak, shortReply(e.Code, e.Reply)),
			"look at the replies in "+r.sum.Results+"; fix the cause and run again with --resume --retry-failed")
	}
	if r.opts.Progress != nil {
		p.Rate = r.limiter.String()
		r.opts.Progress(p)
	}
	return nil
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
	for _, rc := range res.Rcpts {
		parts = append(parts, fmt.Sprintf("[%s refused: %d %s]", rc.Addr, rc.Code, rc.Reply))
	}
	return strings.Join(parts, " ")
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

func shortReply(code int, reply string) string {
	if len(reply) > 120 {
		reply = reply[:120] + "…"
	}
	if code == 0 {
		return reply
	}
	return fmt.Sprintf("%d %s", code, reply)
}

func firstPositive(vals ...int) int {
	for _, v := range vals {
		if v > 0 {
			return v
		}
	}
	return 0
}
