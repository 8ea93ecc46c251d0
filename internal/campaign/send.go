package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/journal"
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
	// Password is asked for each login ([smtp]'s, a relay's) once the
	// campaign checked out, right before connecting; it is never logged.
	Password func(Login) (string, error)
	// Results overrides the results file path ([send] results).
	Results string

	Resume        bool // continue after an earlier run's rows
	Restart       bool // rotate the old results file away and start over
	RetryFailed   bool // with Resume: send again to rows that failed
	ResendUnknown bool // with Resume: send again to rows whose outcome is unknown
	SkipInvalid   bool // record invalid rows as skipped instead of refusing to send

	Limit   int    // send at most this many messages; 0 means all
	Rate    string // overrides [send] rate; an error in it is reported as --rate
	Workers int    // overrides [send] workers
	Debug   io.Writer

	// Confirm, when set, sees the plan of the run once the list checked
	// out and the results file was read, before anything connects or a
	// password is asked; an error from it ends the run with nothing sent
	// and no results file left that this run created. A run that would
	// send nothing does not ask.
	Confirm func(Plan) error

	// Sending, when set, is called once every refusal is past (the check,
	// the results file, Confirm), just before the run connects.
	Sending func()

	// Stop is closed on the first interrupt: no new message starts, the
	// ones in flight finish and are recorded.
	Stop <-chan struct{}
	// Progress, when set, is called after every outcome, and when a full
	// cap makes the next message wait.
	Progress func(Progress)
	// Report receives the problems of the check that runs first.
	Report func(Problem)
	// RelayOut, when set, hears that a relay of several was taken out
	// until then, and why; its messages go to the others meanwhile.
	RelayOut func(relay, reason string, until time.Time)
}

// Progress is a snapshot of a running send.
type Progress struct {
	Total                          int // recipients this run will try (known after the check)
	Sent, Failed, Skipped, Unknown int
	Retrying                       int
	Rate                           string // the limiter's current rate
	// WaitingUntil, when not zero, is when the next message goes: an hourly
	// or daily cap is full until then. WaitingFor names it ("daily limit").
	WaitingUntil time.Time
	WaitingFor   string
}

// SendSummary is what a run did.
type SendSummary struct {
	Check                          CheckSummary
	Total                          int // rows this run had to deal with
	Sent, Failed, Skipped, Unknown int
	Suppressed                     int            // of Skipped: rows a suppress file holds an address of
	Partial                        int            // sent rows with a recipient (cc, bcc, or the To) who did not get it
	Remaining                      int            // rows this run did not deal with (stopped, --limit): --resume sends them
	Previous                       map[string]int // outcomes of earlier runs, left as they were
	Recovered                      int            // in-flight rows of a crashed run, now unknown
	Elapsed                        time.Duration
	Stopped                        bool   // the run ended early; --resume continues it
	NothingSent                    bool   // it stopped before the first message (login, connection)
	StopReason                     string // why
	StopHint                       string
	// ResultsErr is the failed write or sync of the results file that
	// stopped the run (a full disk): the outcomes recorded before it are
	// kept and --resume continues; StopHint says so.
	ResultsErr error
	// DamagedLines are the lines of the results file that an earlier run
	// left torn (a crash, a power loss) and that were skipped: their rows
	// count as never sent.
	DamagedLines []int
	// Unfixable counts the failed rows refused for that recipient alone
	// (no such mailbox, mailbox full: 5.1.x, 5.2.x; an address that needs
	// SMTPUTF8 the server lacks): --retry-failed would only fail again.
	Unfixable   int
	TopFailures []ReplyCount
	Results     string // path of the results file
	RotatedTo   string // where --restart moved the old results
	// Relays are what each relay did, in the order of the campaign file.
	Relays []RelaySummary
	Shard  string // Options.Shard, "2/4"; "" for the whole list
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
	results, err := c.resultsFor(&opts)
	if err == nil {
		err = c.unmixed(c.resultsOf(opts), opts)
	}
	if err != nil {
		return SendSummary{Results: results, Shard: c.shard.String()}, err
	}
	sum := SendSummary{Results: results, Shard: c.shard.String(), Previous: map[string]int{}}
	set, errs, _ := c.settings(opts.overrides())
	if len(errs) > 0 {
		return sum, errors.Join(errs...)
	}
	for i := range set.relays {
		set.relays[i].delivery.Debug = opts.Debug
	}

	// 1. Nothing is sent unless every row validates.
	check, err := c.check(ctx, checkReport(opts), nil)
	sum.Check = check
	if err != nil {
		return sum, err
	}
	// --skip-invalid skips bad rows, not a selection past the list's end.
	if check.Errors > 0 && (!opts.SkipInvalid || check.Valid == 0 || check.PastEnd != "") {
		return sum, ErrInvalid
	}
	c.suppress.freeze() // the rows check found are all the later walks need

	// 2. The results file: refuse to mix runs by accident. Then the plan,
	// if the user wants to see it before anything goes out.
	rf, err := openResults(results, opts, &sum, c.confirm(ctx, set, opts, results))
	if err != nil {
		return sum, err
	}
	defer rf.release()
	sum.DamagedLines = rf.DamagedLines()

	// 3. Connect and log in once before anything is sent, so a wrong password
	// stops the run with nothing sent.
	if opts.Sending != nil {
		opts.Sending()
	}
	pools, err := c.connect(opts, set.relays)
	if err != nil {
		rf.discardUnused()
		return sum, err
	}
	defer closeAll(pools)
	r := c.newRunner(rf.Journal, pools, set, opts, &sum)
	if err := r.verifyRelays(ctx); err != nil {
		err = c.refusedLogin(ctx, r, rf, err, start) // fills in sum
		sum.Relays = r.relaySummaries()
		return sum, err
	}

	// 4. Send, record, and report.
	err = r.run(ctx)
	sum.Relays = r.relaySummaries()
	sum.Total = r.total
	sum.Elapsed = time.Since(start)
	sum.TopFailures = r.topFailures(3)
	if err != nil {
		return sum, err
	}
	if err := rf.close(); err != nil {
		// The outcomes recorded so far are in the file; the summary says
		// what happened and how to go on.
		r.resultsFailed(err)
	}
	return sum, nil
}

// testResults is where test sends are recorded: results.test.csv beside
// the results file, which must not be that file itself.
func testResults(results string) (string, error) {
	test := filepath.Join(filepath.Dir(results), TestResultsName)
	if filepath.Clean(results) == test {
		return test, fmt.Errorf("[send] results is %s, the name test sends record in: choose another", TestResultsName)
	}
	return test, nil
}

// checkReport is where the problems of send's check go: opts.Report, with
// a bad row a warning when the user chose to skip it.
func checkReport(opts SendOptions) func(Problem) {
	if !opts.SkipInvalid {
		if opts.Report == nil {
			return func(Problem) {}
		}
		return opts.Report
	}
	return skipping(opts.Report)
}

// skipping passes problems on to report (none when nil), a bad row's as a
// warning that it is skipped.
func skipping(report func(Problem)) func(Problem) {
	if report == nil {
		report = func(Problem) {}
	}
	return func(p Problem) {
		if p.Severity == Error && p.Row > 0 {
			p.Severity, p.Message = Warning, "skipped: "+p.Message
		}
		report(p)
	}
}

// resultsFile is the journal of one run, with what it takes to leave no
// trace of a run that never started.
type resultsFile struct {
	*journal.Journal
	path   string
	fresh  bool // this run created the file
	closed bool
}

// openResults opens the results file and refuses to mix runs by accident:
// outcomes of an earlier run need --resume, or --restart, which rotates
// them away first. confirm runs in between, with the outcomes this run
// goes by (nil when it starts afresh): refusing it changes nothing.
func openResults(path string, opts SendOptions, sum *SendSummary, confirm func(prev *journal.Journal) error) (*resultsFile, error) {
	_, statErr := os.Stat(path)
	rf := &resultsFile{path: path, fresh: os.IsNotExist(statErr)}
	if rf.fresh && opts.Resume {
		// A resume that would send everyone is a typo or the wrong folder.
		return nil, fmt.Errorf("%w: there is no results file %s", ErrNothingToResume, path)
	}
	j, err := journal.Open(path)
	if err != nil {
		return nil, err
	}
	rf.Journal = j
	if j.Len() > 0 && !opts.Resume && !opts.Restart {
		n := j.Len()
		j.Abandon()
		return nil, fmt.Errorf("%s: %w (%d rows)", path, ErrResultsExist, n)
	}
	prev := j
	if !opts.Resume {
		prev = nil
	}
	if err := confirm(prev); err != nil {
		if !rf.discardUnused() {
			rf.close() // as it was, with no .inflight beside it
		}
		return nil, err
	}
	if j.Len() > 0 && !opts.Resume {
		if err := j.Abandon(); err != nil {
			return nil, err
		}
		if sum.RotatedTo, err = journal.Rotate(path); err != nil {
			return nil, err
		}
		if j, err = journal.Open(path); err != nil {
			return nil, err
		}
	}
	sum.Recovered = j.Recovered()
	rf.Journal = j
	return rf, nil
}

// discardUnused removes a results file this run created and never used, so
// a run that could not start leaves nothing behind. It says whether it did.
func (rf *resultsFile) discardUnused() bool {
	if !rf.fresh || rf.Len() != 0 {
		return false
	}
	rf.Abandon()
	os.Remove(rf.path)
	os.Remove(journal.InflightPath(rf.path))
	rf.closed = true
	return true
}

// close writes the results file out for good.
func (rf *resultsFile) close() error {
	rf.closed = true
	return rf.Close()
}

// release lets go of a results file the run did not close: the run ended
// with an error.
func (rf *resultsFile) release() {
	if !rf.closed {
		rf.Abandon()
	}
}

// connect asks for the passwords that are needed, each login's once, and
// makes each relay's pool.
func (c *Campaign) connect(opts SendOptions, relays []relaySettings) ([]*delivery.Pool, error) {
	passwords := map[[3]string]string{}
	var pools []*delivery.Pool
	for _, r := range relays {
		cfg := r.delivery
		if l := r.login; opts.Server == nil && l.Username != "" && opts.Password != nil {
			pw, ok := passwords[l.account()]
			if !ok {
				var err error
				if pw, err = opts.Password(l); err != nil {
					closeAll(pools)
					return nil, err
				}
				passwords[l.account()] = pw
			}
			cfg.Password = pw
		}
		p, err := delivery.NewPool(cfg)
		if err != nil {
			closeAll(pools)
			return nil, err
		}
		pools = append(pools, p)
	}
	return pools, nil
}

func closeAll(pools []*delivery.Pool) {
	for _, p := range pools {
		p.Close()
	}
}

// resultsFor is the results file of this run: [send] results or the
// override, or beside it results.test.csv for a test send to oneself.
func (c *Campaign) resultsFor(opts *SendOptions) (string, error) {
	results := c.resultsOf(*opts)
	if !c.shard.All() {
		return c.shard.ResultsPath(results), nil
	}
	if !c.redirect {
		return results, nil
	}
	// Test sends are repeated while the campaign is worked on: each run
	// starts over unless told to resume, and the last one's file is kept.
	opts.Restart = opts.Restart || !opts.Resume
	return testResults(results)
}

// resultsOf is the campaign's results file: [send] results or the
// override, before a shard or a test send picks the one beside it.
func (c *Campaign) resultsOf(opts SendOptions) string {
	if opts.Results != "" {
		return opts.Results
	}
	return c.ResultsPath()
}

// refusedLogin ends a run whose connection or login failed before anything
// was sent: every row it would have sent is counted as remaining, and a
// results file this run created for nothing is removed.
func (c *Campaign) refusedLogin(ctx context.Context, r *runner, rf *resultsFile, err error, start time.Time) error {
	hint := ""
	if errors.Is(err, delivery.ErrAuth) {
		hint = c.AuthHint()
	}
	sum := r.sum
	sum.NothingSent = true
	if err := r.countOnly(ctx, err.Error(), hint); err != nil {
		return err
	}
	sum.Total = r.total
	sum.Elapsed = time.Since(start)
	if rf.discardUnused() {
		return nil
	}
	return rf.close()
}
