package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

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
	dcfg, err := c.deliveryConfig(opts.Server, workers)
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

func firstPositive(vals ...int) int {
	for _, v := range vals {
		if v > 0 {
			return v
		}
	}
	return 0
}
