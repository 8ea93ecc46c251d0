package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/throttle"
)

// Backoff of a relay that is out: it gets no message for this long, then
// for twice as long each time it fails again, up to the maximum.
const (
	firstRelayBackoff = 5 * time.Second
	maxRelayBackoff   = 5 * time.Minute
	// strikes421 is how many 421 replies in a row take a relay out.
	strikes421 = 3
)

// relay is one server of the pool during a run: its connections, its own
// limiter and workers, and whether it is out.
type relay struct {
	relaySettings
	pool    *delivery.Pool
	limiter *throttle.Limiter
	queue   chan *job // what the dispatcher gave it; its workers take from here

	// The dispatcher's smooth weighted round robin (nginx's): each pick
	// adds every up relay's weight to its current and takes the largest,
	// which then gives back the total. Only the dispatcher touches it.
	current int

	// Under runner.mu.
	outUntil time.Time     // it is out until then
	outCh    chan struct{} // closed when it goes out, for a dispatcher waiting on its queue
	backoff  time.Duration // how long the next outage lasts
	strikes  int           // 421 replies in a row
	counts   RelaySummary
}

// RelaySummary is what one relay did in a run.
type RelaySummary struct {
	Name                  string
	Server                string // host:port
	Sent, Failed, Unknown int
	Outages               int    // times it was taken out
	OutReason             string // the last reason it was taken out
	Out                   bool   // it was out when the run ended
}

// newRelays makes the run's relays from the settings and their pools.
func (r *runner) newRelays(set sendSettings, pools []*delivery.Pool) {
	for i, rs := range set.relays {
		rl := &relay{relaySettings: rs, pool: pools[i], outCh: make(chan struct{}), backoff: firstRelayBackoff}
		rl.limiter = throttle.New(rs.rate, throttle.Options{Burst: rs.burst, CoolDown: slowDownFor, OnCapWait: r.capWait})
		rl.counts = RelaySummary{Name: rs.name, Server: pools[i].Addr()}
		r.relays = append(r.relays, rl)
	}
}

// pooled says whether relays can stand in for each other: with one relay,
// a failure is retried like any other and stop_after_failures applies.
func (r *runner) pooled() bool { return len(r.relays) > 1 }

// dispatch hands every queued job to a relay, by weight among those up,
// until jobs is closed; then it closes the relays' queues. A job for a
// relay whose queue is full waits for it, unless the relay goes out.
func (r *runner) dispatch() {
	defer func() {
		for _, rl := range r.relays {
			close(rl.queue)
		}
	}()
	for jb := range r.jobs {
		for {
			if r.halted() {
				r.abandon()
				break
			}
			rl, out := r.pick()
			if rl == nil {
				r.everyRelayOut()
				r.abandon()
				break
			}
			select {
			case rl.queue <- jb:
			case <-out:
				continue // it went out while the job waited: choose again
			case <-r.halt:
				r.abandon()
			}
			break
		}
	}
}

// pick chooses the relay for the next job: the smooth weighted round
// robin among the relays that are up. It returns nil when every relay is
// out, and the channel that closes when the chosen one goes out.
func (r *runner) pick() (*relay, <-chan struct{}) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var best *relay
	total := 0
	for _, rl := range r.relays {
		if rl.outUntil.After(now) {
			continue
		}
		rl.current += rl.weight
		total += rl.weight
		if best == nil || rl.current > best.current {
			best = rl
		}
	}
	if best == nil {
		return nil, nil
	}
	best.current -= total
	return best, best.outCh
}

// everyRelayOut stops the run: no relay is left to send with. Messages
// already handed to a relay finish; --resume sends the rest.
func (r *runner) everyRelayOut() {
	r.mu.Lock()
	var why []string
	for _, rl := range r.relays {
		why = append(why, rl.name+": "+rl.counts.OutReason)
	}
	r.mu.Unlock()
	r.stop(fmt.Sprintf("%v (%s)", errNoRelay, strings.Join(why, "; ")),
		"fix the relays or wait for them, then --resume sends the rest: nobody gets a second copy")
}

// relayFailed looks at an attempt's result for what it says about the
// relay rather than the message: a connection, TLS or login that failed,
// or a 421 for the strikes421th time in a row, takes the relay out. It
// says whether the message should go to another relay at once, as it
// never left this one. With one relay it does nothing (see pooled).
func (r *runner) relayFailed(rl *relay, res delivery.Result) (moveOn bool) {
	if !r.pooled() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case res.Status == delivery.Delivered:
		rl.strikes = 0
		rl.backoff = firstRelayBackoff
		return false
	case res.Status == delivery.Fatal, res.Stage == delivery.StageConnect && res.Status == delivery.Deferred:
		// It could not connect, start TLS or log in (a 421 greeting too).
	case res.Code == 421:
		rl.strikes++
		if rl.strikes < strikes421 {
			return false
		}
	default:
		return false
	}
	r.takeOutLocked(rl, shortReply(res.Code, replyText(res)))
	// Nothing of this message reached the end of DATA on this relay.
	return res.Status != delivery.Unknown && res.Stage != delivery.StageDataEnd
}

// takeOutLocked takes rl out for its backoff, which doubles for the next
// time; r.mu is held.
func (r *runner) takeOutLocked(rl *relay, reason string) {
	now := time.Now()
	if rl.outUntil.After(now) {
		return // already out: the other workers' failures are the same one
	}
	rl.outUntil = now.Add(rl.backoff)
	rl.backoff = min(rl.backoff*2, maxRelayBackoff)
	rl.strikes = 0
	rl.counts.Outages++
	rl.counts.OutReason = reason
	close(rl.outCh)
	rl.outCh = make(chan struct{})
	if r.opts.RelayOut != nil {
		r.opts.RelayOut(rl.name, reason, rl.outUntil)
	}
}

// isOut says whether rl is out now.
func (r *runner) isOut(rl *relay) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rl.outUntil.After(time.Now())
}

// redispatch gives a job that never left an out relay back to the
// dispatcher, without a wait and without counting an attempt.
func (r *runner) redispatch(jb *job) {
	go func() {
		select {
		case r.jobs <- jb:
		case <-r.halt:
			r.abandon()
		}
	}()
}

// verifyRelays logs in to every relay before anything is sent. With one
// relay its error is returned; in a pool, a relay that fails is out from
// the start, and the error is returned only when every relay failed.
func (r *runner) verifyRelays(ctx context.Context) error {
	errs := make([]error, len(r.relays))
	done := make(chan struct{})
	for i, rl := range r.relays {
		go func() {
			errs[i] = rl.pool.Verify(ctx)
			done <- struct{}{}
		}()
	}
	for range r.relays {
		<-done
	}
	if !r.pooled() {
		return errs[0]
	}
	var failed []error
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, err := range errs {
		if err != nil {
			r.takeOutLocked(r.relays[i], err.Error())
			failed = append(failed, fmt.Errorf("relay %s: %w", r.relays[i].name, err))
		}
	}
	if len(failed) == len(r.relays) {
		return errors.Join(failed...)
	}
	return nil
}

// relaySummaries are the relays' counts at the end of the run.
func (r *runner) relaySummaries() []RelaySummary {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	out := make([]RelaySummary, len(r.relays))
	for i, rl := range r.relays {
		out[i] = rl.counts
		out[i].Out = rl.outUntil.After(now)
	}
	return out
}

// rateText is the pace in force for the progress line: the limiter's, or
// with several relays how many there are and how many are out.
func (r *runner) rateText() string {
	if !r.pooled() {
		return r.relays[0].limiter.String()
	}
	out := 0
	now := time.Now()
	r.mu.Lock()
	for _, rl := range r.relays {
		if rl.outUntil.After(now) {
			out++
		}
	}
	r.mu.Unlock()
	if out == 0 {
		return fmt.Sprintf("%d relays", len(r.relays))
	}
	return fmt.Sprintf("%d relays, %d out", len(r.relays), out)
}
