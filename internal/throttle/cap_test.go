package throttle

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// sendTimes sends n messages one after another as a single worker would:
// each waits its delay on the fake clock, then goes. It returns when each
// went, from the clock's time at the start.
func sendTimes(l *Limiter, c *clock, n int) []time.Duration {
	start := c.Now()
	var ts []time.Duration
	for range n {
		d, _ := l.reserve(c.Now())
		c.Advance(d)
		ts = append(ts, c.Now().Sub(start))
	}
	return ts
}

func TestCapDaily(t *testing.T) {
	l, c := newLimiter(t, "20/m, 500/d", Options{})
	got := sendTimes(l, c, 503)
	// 500 at 20/m: one every 3 s, so the last of them at 1497 s, not one
	// every 173 s as a pace of 500/d would.
	for k, at := range got[:500] {
		if want := time.Duration(3*k) * time.Second; at != want {
			t.Fatalf("send %d at %v, want %v", k, at, want)
		}
	}
	// Then the cap: the 501st waits until the first is a day old, and the
	// ones after follow as the first ones leave the window, at 20/m.
	day := 24 * time.Hour
	if want := []time.Duration{day, day + 3*time.Second, day + 6*time.Second}; !slices.Equal(got[500:], want) {
		t.Errorf("after the cap: sends at %v, want %v", got[500:], want)
	}
	check(t, l, 20.0/60, "20/m, 500/d")
}

func TestCapHourly(t *testing.T) {
	l, c := newLimiter(t, "2/s, 5/h", Options{})
	want := seconds(0, 0.5, 1, 1.5, 2, 3600, 3600.5, 3601, 3601.5, 3602, 7200)
	if got := sendTimes(l, c, len(want)); !slices.Equal(got, want) {
		t.Errorf("sends at %v, want %v", got, want)
	}
}

// Sends booked ahead by several waiting workers keep the cap too.
func TestCapBookedAhead(t *testing.T) {
	l, c := newLimiter(t, "3/h", Options{})
	want := seconds(0, 0, 0, 3600, 3600, 3600, 7200)
	if got := delays(l, c, len(want)); !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}

// A cap is not a rate: SlowDown leaves it alone, and with no pace
// configured introduces one, as when there is no limit at all.
func TestCapSlowDown(t *testing.T) {
	l, _ := newLimiter(t, "20/m, 500/d", Options{})
	l.SlowDown()
	check(t, l, 10.0/60, "20/m, 500/d (slowed to 10/m)")

	l, c := newLimiter(t, "500/d", Options{})
	check(t, l, math.Inf(1), "500/d")
	l.SlowDown()
	check(t, l, 1, "500/d (slowed to 1/s)")
	if got, want := sendTimes(l, c, 3), seconds(0, 1, 2); !slices.Equal(got, want) {
		t.Errorf("slowed sends at %v, want %v", got, want)
	}
	c.Advance(3 * time.Minute)
	check(t, l, math.Inf(1), "500/d")
}

// A Wait cancelled while the cap is full gives its place back.
func TestCapWaitCancelled(t *testing.T) {
	l, c := newLimiter(t, "2/h", Options{})
	for range 2 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.WaitOr(ctx, func() { cancel() }) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	// Both places of the next hour are free again.
	if got, want := delays(l, c, 3), seconds(3600, 3600, 7200); !slices.Equal(got, want) {
		t.Errorf("after a cancelled Wait: delays %v, want %v", got, want)
	}
}

// Workers asking at random times, some giving up while they wait: no
// rolling window ever holds more sends than a cap allows, and an exact cap
// holds no send back longer than it must.
func TestCapHoldsInEveryWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		spec string
		gap  time.Duration // between workers asking, on average: more than the caps allow
	}{{"5/h", 20 * time.Second}, {"3/s, 40/h", 20 * time.Second}, {"1000/h, 30/m", time.Second},
		{"10/h, 50/d", time.Minute}, {"5000/h", 300 * time.Millisecond}} {
		t.Run(tt.spec, func(t *testing.T) {
			l, c := newLimiter(t, tt.spec, Options{})
			var sent []time.Time
			type waiting struct {
				at time.Time
				b  booking
			}
			var queue []waiting
			for range 20000 {
				c.Advance(time.Duration(rng.ExpFloat64() * float64(tt.gap)))
				now := c.Now()
				// Those whose time has come send; some others give up.
				queue = slices.DeleteFunc(queue, func(w waiting) bool {
					if !w.at.After(now) {
						sent = append(sent, w.at)
						return true
					}
					if rng.IntN(1000) == 0 {
						l.cancel(w.b, now)
						return true
					}
					return false
				})
				if len(queue) < 8 {
					d, b := l.reserve(now)
					queue = append(queue, waiting{now.Add(d), b})
				}
			}
			slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
			for _, term := range l.spec {
				if !term.isCap() {
					continue
				}
				fullest := 0
				for i, end := range sent {
					first, _ := slices.BinarySearchFunc(sent, end.Add(-term.Per), func(a, b time.Time) int {
						if !a.After(b) {
							return -1
						}
						return 1
					})
					fullest = max(fullest, i+1-first)
				}
				// Full, but never over.
				if fullest != term.Events {
					t.Errorf("at most %d sends in a rolling %v, want %v", fullest, term.Per, term)
				}
			}
		})
	}
}

// A single cap, one worker sending at random times: a send that waits
// goes exactly when the send N before it is a window old.
func TestCapExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		spec  string
		slack time.Duration // how late a send may go
	}{{"7/h", 0}, {"4096/h", 0}, {"5000/h", time.Hour / capSlots}} {
		l, c := newLimiter(t, tt.spec, Options{})
		term := l.spec[0]
		var sent []time.Time
		for range 20000 {
			c.Advance(time.Duration(rng.ExpFloat64() * float64(term.Per) / float64(term.Events) * 0.8))
			asked := c.Now()
			d, _ := l.reserve(asked)
			c.Advance(d)
			want := asked
			if k := len(sent) - term.Events; k >= 0 {
				want = latest(want, sent[k].Add(term.Per))
			}
			if late := c.Now().Sub(want); late < 0 || late > tt.slack {
				t.Fatalf("%s: send %d asked at %v went at %v, want %v", tt.spec, len(sent), asked, c.Now(), want)
			}
			sent = append(sent, c.Now())
		}
	}
}

// A large cap keeps a bounded number of tallies, however many sends.
func TestCapMemoryBounded(t *testing.T) {
	l, c := newLimiter(t, "20000/h", Options{})
	for range 80000 { // four hours, full
		d, _ := l.reserve(c.Now())
		c.Advance(d + 100*time.Millisecond)
	}
	if n := len(l.caps[0].tallies); n > capSlots+2 {
		t.Errorf("%d tallies, want at most %d", n, capSlots+2)
	}
}

// Wait tells OnCapWait when a full cap holds a send back, with when it will
// go and which cap holds it; a wait for the pace alone is not reported.
func TestCapWaitReported(t *testing.T) {
	type report struct {
		until time.Time
		by    Term
	}
	var got []report
	l, c := newLimiter(t, "2/s, 5/h", Options{OnCapWait: func(until time.Time, by Term) {
		got = append(got, report{until, by})
	}})
	start := c.Now()
	// waitCancelled waits for the next send, giving up as soon as it must
	// wait at all, and says whether it had to.
	waitCancelled := func() bool {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		return l.WaitOr(ctx, cancel) != nil
	}
	if waitCancelled() {
		t.Fatal("the first send waited")
	}
	if !waitCancelled() || len(got) != 0 {
		t.Fatalf("the second send, held by 2/s: reports %v, want a wait and none", got)
	}
	sendTimes(l, c, 4) // the cancelled one gave its place back: 5 sent by 2 s
	if !waitCancelled() {
		t.Fatal("the sixth send did not wait")
	}
	want := []report{{start.Add(time.Hour), Term{5, time.Hour}}}
	if !slices.Equal(got, want) {
		t.Errorf("reports %v, want %v", got, want)
	}
}

// The cap reported is the one that holds the send back last.
func TestCapWaitHeldBy(t *testing.T) {
	l, c := newLimiter(t, "3/h, 4/d", Options{})
	for k, want := range []struct {
		delay time.Duration
		by    Term
	}{{0, Term{}}, {0, Term{}}, {0, Term{}}, {time.Hour, Term{3, time.Hour}}, {24 * time.Hour, Term{4, 24 * time.Hour}}} {
		d, b := l.reserve(c.Now())
		if d != want.delay || b.heldBy != want.by {
			t.Errorf("send %d: waits %v held by %v, want %v held by %v", k, d, b.heldBy, want.delay, want.by)
		}
	}
}
