// Package throttle paces a campaign's sends to the rate the user set, keeps
// them under its hourly or daily caps, and slows down further when the mail
// server asks it to.
//
// A Limiter is shared by all sending workers. Each Term of its Spec is one
// of two kinds, by the length of its period:
//
//   - A pace, per second or per minute (a period under an hour): a token
//     bucket (golang.org/x/time/rate) refilled at the term's rate and holding
//     Options.Burst tokens (1 unless set). "20/m" sends one message every 3 s.
//   - A cap, per hour or per day (a period of an hour or more): a rolling
//     window. A send may go when fewer than Events sends went out in the
//     Per before it; otherwise it waits until the oldest of them is Per old.
//     "20/m, 500/d" sends 500 messages at 20/m, then the next one a day after
//     the first. A cap counts the sends of this Limiter only, so of one run.
//     Up to 4096 events a cap is exact; above, it counts sends per 1/4096 of
//     its period and may hold a send back up to that much longer, never less.
//
// A send must satisfy every term at once. Most callers need only Wait,
// called once before each message goes out.
// Options.OnCapWait tells when a full cap holds a send back, and until when.
//
// When a server replies that the client is sending too fast (421, 450, 451,
// 452 or 454 with throttling text; deciding that is the caller's job), the
// caller reports it with SlowDown and the Limiter halves its pace for a
// cool-down period, then doubles it back step by step; see SlowDown. Caps
// are not rates and are left as they are.
//
// A Limiter is safe for simultaneous use by multiple goroutines. The zero
// value, like a nil *Limiter, sends without limit until SlowDown is called.
package throttle

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	// defaultCoolDown is how long a slow-down lasts when Options.CoolDown is zero.
	defaultCoolDown = 60 * time.Second

	// coalesceWindow: SlowDown calls this close to the last halving are the
	// same complaint seen by several workers, not a new one.
	coalesceWindow = time.Second

	// maxHalvings bounds the slow-down at 1/64 of the configured rate; deeper
	// levels would change nothing and only lengthen the recovery.
	maxHalvings = 6

	// minConfiguredFloor (one message a minute, per second) is the slowest a
	// configured term is ever slowed to, unless it is configured slower.
	minConfiguredFloor = 1.0 / 60

	// minIntroduced (one message a second) is the slowest an introduced
	// limit goes, since nobody configured anything slower.
	minIntroduced = 1.0

	// observeWindow and observeMax bound how much of the recent unlimited
	// sending is used to estimate the rate SlowDown starts from.
	observeWindow = 10 * time.Second
	observeMax    = 256
)

// Options adjust a Limiter; the zero value gives the defaults.
type Options struct {
	// Burst is how many messages may go out back to back before the pace
	// applies, per pacing term; below 1 means 1. Caps ignore it.
	Burst int

	// CoolDown is how long each halving by SlowDown lasts before the rate
	// doubles back; zero means 60 s.
	CoolDown time.Duration

	// Now is the clock, for tests; nil means time.Now. Wait still sleeps in
	// real time.
	Now func() time.Time

	// OnCapWait, when set, is called by Wait each time a full cap holds a
	// send back, with when the send will go and the cap that holds it: an
	// hour-long wait should not look like a hang. It runs on the waiting
	// goroutine before the wait, without the Limiter's lock, so it may call
	// String; with several waiting workers it may be called at once.
	OnCapWait func(until time.Time, by Term)
}

// A Limiter paces sends to a Spec, slowed down when the server complains.
// Create one with New; see the package documentation for the model.
type Limiter struct {
	spec     Spec
	burst    int
	coolDown time.Duration
	clock    func() time.Time
	capWait  func(until time.Time, by Term)

	mu sync.Mutex
	// buckets, per, base and floor run in parallel: one bucket per pacing
	// term, its period, its configured rate and the slowest SlowDown may
	// take it to (per second). When the spec has no pacing term they hold
	// the single limit SlowDown introduced, if any.
	buckets []*rate.Limiter
	per     []time.Duration
	base    []float64
	floor   []float64
	// caps holds one rolling window per cap term.
	caps []*windowCap
	// reservedAt is the latest time the buckets were reserved at, in the
	// future after a cap's wait; they are changed at no earlier time, so
	// that such a reservation is not forgotten.
	reservedAt time.Time
	// level is the number of halvings in force, at most maxLevel.
	level    int
	maxLevel int
	// lastHalving is when level last went up; lastChange when the
	// current cool-down period began.
	lastHalving time.Time
	lastChange  time.Time
	// recent holds the times of the last sends while there is no configured
	// pace, oldest first, so SlowDown can start from the rate observed.
	recent []time.Time
}

// New returns a Limiter that paces sends to spec; an empty spec sends
// without limit. New panics on a Term whose Events or Per is not positive,
// which Parse never returns.
func New(spec Spec, opts Options) *Limiter {
	l := &Limiter{
		spec:     spec,
		burst:    max(opts.Burst, 1),
		coolDown: opts.CoolDown,
		clock:    opts.Now,
		capWait:  opts.OnCapWait,
		maxLevel: maxHalvings,
	}
	for _, t := range spec {
		if t.Events < 1 || t.Per <= 0 {
			panic("throttle: invalid term " + strconv.Itoa(t.Events) + "/" + t.Per.String())
		}
		if t.isCap() {
			l.caps = append(l.caps, newWindowCap(t))
			continue
		}
		r := t.perSecond()
		l.buckets = append(l.buckets, rate.NewLimiter(rate.Limit(r), l.burst))
		l.per = append(l.per, t.Per)
		l.base = append(l.base, r)
		l.floor = append(l.floor, min(r, minConfiguredFloor))
	}
	return l
}

// paced reports whether the spec has a pacing term: every term that is not
// a cap is one.
func (l *Limiter) paced() bool { return len(l.caps) < len(l.spec) }

func (l *Limiter) now() time.Time {
	if l.clock == nil {
		return time.Now()
	}
	return l.clock()
}

func (l *Limiter) burstSize() int { return max(l.burst, 1) }

func (l *Limiter) coolDownPeriod() time.Duration {
	if l.coolDown <= 0 {
		return defaultCoolDown
	}
	return l.coolDown
}

// Wait blocks until the next message may be sent, or until ctx is done, in
// which case it returns ctx.Err() and gives its place back. Call it once per
// message, just before sending.
func (l *Limiter) Wait(ctx context.Context) error { return l.WaitOr(ctx, nil) }

// WaitOr is Wait that calls idle first, when it is not nil and the wait is
// not over at once: a sender finishes the message it holds back rather than
// keep it for the whole wait.
func (l *Limiter) WaitOr(ctx context.Context, idle func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil {
		return nil
	}
	now := l.now()
	delay, booked := l.reserve(now)
	if delay <= 0 {
		return nil
	}
	if booked.heldBy.Events > 0 && l.capWait != nil {
		l.capWait(booked.at, booked.heldBy)
	}
	if idle != nil {
		idle()
		if delay -= l.now().Sub(now); delay <= 0 {
			return nil
		}
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		l.cancel(booked, l.now())
		return ctx.Err()
	}
}

// A booking is one send planned by reserve, for Wait to take back when it
// is cancelled.
type booking struct {
	at       time.Time // when the send may go
	reserved []*rate.Reservation
	heldBy   Term // the cap that made it wait, if one did
}

// reserve books one send in every term and returns how long after now it
// may go out, with the booking so that Wait can cancel it.
func (l *Limiter) reserve(now time.Time) (time.Duration, booking) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recover(now)
	if !l.paced() {
		l.observe(now)
	}
	// The caps say when the send may go at the earliest; the buckets are
	// asked from then, so that sends after a cap's wait are paced too.
	at, heldBy := l.capsAllow(now)
	l.reservedAt = latest(l.reservedAt, at)
	b := booking{reserved: make([]*rate.Reservation, len(l.buckets)), heldBy: heldBy}
	var pace time.Duration
	for i, bucket := range l.buckets {
		// Burst is at least 1 and no rate is zero, so a single
		// token is always granted, possibly in the future.
		b.reserved[i] = bucket.ReserveN(at, 1)
		pace = max(pace, b.reserved[i].DelayFrom(at))
	}
	b.at = at.Add(pace)
	for _, c := range l.caps {
		c.book(b.at)
	}
	return b.at.Sub(now), b
}

// capsAllow is the earliest time from now that every cap admits a send,
// with the cap that moved it last; the zero Term when none had to.
func (l *Limiter) capsAllow(now time.Time) (time.Time, Term) {
	for _, c := range l.caps {
		c.forget(now)
	}
	at := now
	var heldBy Term
	// Waiting for one cap may move the send into another's busy time.
	for moved := len(l.caps) > 0; moved; {
		moved = false
		for _, c := range l.caps {
			if t := c.earliest(at); t.After(at) {
				at, moved = t, true
				heldBy = Term{Events: c.events, Per: c.window}
			}
		}
	}
	return at, heldBy
}

// cancel gives back the places a send that will not happen had booked.
func (l *Limiter) cancel(b booking, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range b.reserved {
		r.CancelAt(latest(now, l.reservedAt))
	}
	for _, c := range l.caps {
		c.unbook(b.at)
	}
}

// SlowDown reports that the server asked for slower sending. It halves the
// rate of every pacing term for Options.CoolDown (60 s by default); each
// further cool-down without a new SlowDown doubles the rate back, until the
// configured rate is reached again. Caps stay as configured: they bound how
// many messages go out in an hour or a day, not how fast.
//
// Calls within 1 s of the last halving count as the same complaint (several
// workers hit by the same throttling): they do not halve again, but restart
// the cool-down. A term is never slowed below 1/64 of its configured rate nor
// below one message a minute, unless it is configured slower than that, in
// which case it is left alone.
//
// Without a configured pace (no limit, or caps only), the first SlowDown
// introduces one: half the rate of the sends in the last 10 s, but at least
// one message a second. It doubles back like any other, and is dropped a
// cool-down after it has reached the observed rate again.
func (l *Limiter) SlowDown() {
	if l == nil {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recover(now)
	l.lastChange = now
	if l.level > 0 && now.Sub(l.lastHalving) < coalesceWindow {
		return
	}
	l.lastHalving = now
	if !l.paced() && l.level == 0 {
		// Two halvings above the start: recovery goes start, observed
		// rate, unlimited.
		start := max(l.observedRate(now)/2, minIntroduced)
		l.buckets = []*rate.Limiter{rate.NewLimiter(rate.Limit(start), l.burstSize())}
		l.per = []time.Duration{time.Second}
		l.base = []float64{4 * start}
		l.floor = []float64{minIntroduced}
		l.level, l.maxLevel = 2, 2+maxHalvings
		l.recent = nil
		return
	}
	if l.level < l.maxLevel {
		l.level++
		l.apply(now)
	}
}

// recover undoes one halving for each full cool-down since the last change.
func (l *Limiter) recover(now time.Time) {
	if l.level == 0 {
		return
	}
	cool := l.coolDownPeriod()
	steps := 0
	for l.level > 0 && now.Sub(l.lastChange) >= cool {
		l.level--
		l.lastChange = l.lastChange.Add(cool)
		steps++
	}
	if steps == 0 {
		return
	}
	if l.level == 0 && !l.paced() {
		l.buckets, l.per, l.base, l.floor = nil, nil, nil, nil
		l.maxLevel = maxHalvings
		return
	}
	l.apply(now)
}

// apply sets every bucket to its effective rate from now on.
func (l *Limiter) apply(now time.Time) {
	for i, b := range l.buckets {
		b.SetLimitAt(latest(now, l.reservedAt), rate.Limit(l.effective(i)))
	}
}

// effective is the rate of bucket i, per second, at the current level.
func (l *Limiter) effective(i int) float64 {
	return max(math.Ldexp(l.base[i], -l.level), l.floor[i])
}

// observe notes a send while there is no configured pace.
func (l *Limiter) observe(now time.Time) {
	if len(l.recent) == observeMax {
		l.recent = append(l.recent[:0], l.recent[1:]...)
	}
	l.recent = append(l.recent, now)
}

// observedRate is the send rate, per second, over the last observeWindow
// (or the last observeMax sends), counting at least a second so that a few
// sends at once do not look like a flood.
func (l *Limiter) observedRate(now time.Time) float64 {
	var n int
	var oldest time.Time
	for i := len(l.recent) - 1; i >= 0 && now.Sub(l.recent[i]) < observeWindow; i-- {
		n, oldest = n+1, l.recent[i]
	}
	if n == 0 {
		return 0
	}
	return float64(n) / max(now.Sub(oldest), time.Second).Seconds()
}

// Limit is the pace in force now, in messages per second: the slowest
// pacing term, after any slow-down; +Inf without one. Caps do not count.
// It is meant for display.
func (l *Limiter) Limit() float64 {
	if l == nil {
		return math.Inf(1)
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recover(now)
	if len(l.buckets) == 0 {
		return math.Inf(1)
	}
	lowest := math.Inf(1)
	for i := range l.buckets {
		lowest = min(lowest, l.effective(i))
	}
	return lowest
}

// String describes the configured rate and any slow-down in force, such as
// "20/s, 1000/h", "20/s, 1000/h (slowed to 5/s)", "unlimited (slowed to
// 3/s)" or "500/d (slowed to 3/s)".
func (l *Limiter) String() string {
	if l == nil {
		return Spec(nil).String()
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recover(now)
	configured := l.spec.String()
	slowed := false
	terms := make([]string, len(l.buckets))
	for i := range l.buckets {
		eff := l.effective(i)
		per := l.per[i]
		if !l.paced() {
			slowed = true
			if eff < 1 {
				per = time.Minute
			}
		}
		slowed = slowed || eff < l.base[i]
		terms[i] = formatCount(eff*per.Seconds()) + "/" + periodString(per)
	}
	if !slowed {
		return configured
	}
	return configured + " (slowed to " + strings.Join(terms, ", ") + ")"
}

// formatCount writes a message count with at most two decimals: 5, 2.5, 0.16.
func formatCount(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
