package throttle

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a fake clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newLimiter parses spec and returns a Limiter on a fake clock.
func newLimiter(t *testing.T, spec string, opts Options) (*Limiter, *clock) {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	opts.Now = c.Now
	return New(s, opts), c
}

// delays books n sends at the clock's current time and returns how long each
// would wait.
func delays(l *Limiter, c *clock, n int) []time.Duration {
	var ds []time.Duration
	for range n {
		d, _ := l.reserve(c.Now())
		ds = append(ds, d)
	}
	return ds
}

func seconds(ss ...float64) []time.Duration {
	var ds []time.Duration
	for _, s := range ss {
		ds = append(ds, time.Duration(s*float64(time.Second)))
	}
	return ds
}

func TestReserveTenPerSecond(t *testing.T) {
	l, c := newLimiter(t, "10/s", Options{})
	for k, d := range delays(l, c, 20) {
		if want := time.Duration(k) * 100 * time.Millisecond; d != want {
			t.Errorf("send %d waits %v, want %v", k, d, want)
		}
	}
	// After a quiet second the bucket holds one token again, not ten.
	c.Advance(3 * time.Second) // the 20 booked sends end at 1.9 s
	if got, want := delays(l, c, 2), seconds(0, 0.1); !slices.Equal(got, want) {
		t.Errorf("after a pause: delays %v, want %v", got, want)
	}
}

func TestReserveBurst(t *testing.T) {
	l, _ := newLimiter(t, "10/s", Options{Burst: 3})
	c := newClock()
	l.clock = c.Now
	if got, want := delays(l, c, 5), seconds(0, 0, 0, 0.1, 0.2); !slices.Equal(got, want) {
		t.Errorf("delays %v, want %v", got, want)
	}
}

func TestReserveSeveralTerms(t *testing.T) {
	tests := []struct {
		spec  string
		burst int
		want  []time.Duration
	}{
		// 3/m with burst 1 spaces sends 20 s apart: the 4th goes at the minute.
		{"2/s, 3/m", 1, seconds(0, 20, 40, 60)},
		// The per-second term binds once the per-minute one has room.
		{"2/s, 600/m", 1, seconds(0, 0.5, 1, 1.5)},
		// Each term keeps its own burst: three at once, then the minute term.
		{"2/s, 3/m", 3, seconds(0, 0, 0, 20, 40)},
		// Order does not matter.
		{"3/m, 2/s", 1, seconds(0, 20, 40, 60)},
	}
	for _, tt := range tests {
		l, c := newLimiter(t, tt.spec, Options{Burst: tt.burst})
		if got := delays(l, c, len(tt.want)); !slices.Equal(got, tt.want) {
			t.Errorf("%q burst %d: delays %v, want %v", tt.spec, tt.burst, got, tt.want)
		}
	}
}

func TestUnlimitedNeverWaits(t *testing.T) {
	for _, l := range []*Limiter{New(nil, Options{}), {}} {
		c := newClock()
		l.clock = c.Now
		for _, d := range delays(l, c, 100) {
			if d != 0 {
				t.Fatalf("unlimited send waits %v", d)
			}
		}
		if !math.IsInf(l.Limit(), 1) || l.String() != "unlimited" {
			t.Errorf("Limit, String = %v, %q; want +Inf, unlimited", l.Limit(), l.String())
		}
	}
	var nilLimiter *Limiter
	if err := nilLimiter.Wait(context.Background()); err != nil {
		t.Errorf("nil Limiter: Wait = %v", err)
	}
	nilLimiter.SlowDown()
	if !math.IsInf(nilLimiter.Limit(), 1) || nilLimiter.String() != "unlimited" {
		t.Errorf("nil Limiter: Limit, String = %v, %q", nilLimiter.Limit(), nilLimiter.String())
	}
}

// check asserts the rate in force, per second, and how String shows it.
func check(t *testing.T, l *Limiter, wantLimit float64, wantString string) {
	t.Helper()
	if got := l.Limit(); math.Abs(got-wantLimit) > 1e-9*wantLimit {
		t.Errorf("Limit() = %v, want %v", got, wantLimit)
	}
	if got := l.String(); got != wantString {
		t.Errorf("String() = %q, want %q", got, wantString)
	}
}

func TestSlowDownHalvesAndRecovers(t *testing.T) {
	l, c := newLimiter(t, "10/s", Options{})
	check(t, l, 10, "10/s")

	l.SlowDown()
	check(t, l, 5, "10/s (slowed to 5/s)")
	// The bucket now refills at 5/s: sends go 200 ms apart.
	if got, want := delays(l, c, 3), seconds(0, 0.2, 0.4); !slices.Equal(got, want) {
		t.Errorf("slowed delays %v, want %v", got, want)
	}

	c.Advance(59 * time.Second)
	check(t, l, 5, "10/s (slowed to 5/s)")
	c.Advance(time.Second)
	check(t, l, 10, "10/s")
	if got, want := delays(l, c, 3), seconds(0, 0.1, 0.2); !slices.Equal(got, want) {
		t.Errorf("recovered delays %v, want %v", got, want)
	}
}

func TestSlowDownStepsBack(t *testing.T) {
	l, c := newLimiter(t, "20/s, 1000/h", Options{CoolDown: 30 * time.Second})
	l.SlowDown()
	c.Advance(2 * time.Second)
	l.SlowDown()
	// The hourly cap is not a rate: it stays 1000 in any hour.
	check(t, l, 5, "20/s, 1000/h (slowed to 5/s)")

	// Each cool-down since the last SlowDown doubles the rate once.
	c.Advance(30 * time.Second)
	check(t, l, 10, "20/s, 1000/h (slowed to 10/s)")
	c.Advance(29 * time.Second)
	check(t, l, 10, "20/s, 1000/h (slowed to 10/s)")
	c.Advance(time.Second)
	check(t, l, 20, "20/s, 1000/h")
	c.Advance(time.Hour)
	check(t, l, 20, "20/s, 1000/h")

	// A complaint mid-recovery halves again from where the rate is.
	l.SlowDown()
	c.Advance(2 * time.Second)
	l.SlowDown()
	c.Advance(30 * time.Second)
	l.SlowDown()
	check(t, l, 5, "20/s, 1000/h (slowed to 5/s)")
}

func TestSlowDownCoalesces(t *testing.T) {
	l, c := newLimiter(t, "10/s", Options{})
	// Four workers hit by the same throttling within a second: one halving.
	for range 4 {
		l.SlowDown()
		c.Advance(300 * time.Millisecond)
	}
	check(t, l, 5, "10/s (slowed to 5/s)")

	// The late reports restarted the cool-down: it ends 60 s after the
	// last one (at 0.9 s), not 60 s after the first.
	c.Advance(60*time.Second - 1200*time.Millisecond) // now 59.9 s
	check(t, l, 5, "10/s (slowed to 5/s)")
	c.Advance(time.Second) // 60.9 s
	check(t, l, 10, "10/s")

	// A second apart is a new complaint.
	l.SlowDown()
	c.Advance(time.Second)
	l.SlowDown()
	check(t, l, 2.5, "10/s (slowed to 2.5/s)")
}

func TestSlowDownFloor(t *testing.T) {
	tests := []struct {
		spec      string
		wantLimit float64 // per second
		want      string
		steps     int // cool-downs to full recovery
	}{
		// 1/64 of the configured rate.
		{"10/s", 10.0 / 64, "10/s (slowed to 0.16/s)", 6},
		// One a minute is higher than 1/64 of 30/m.
		{"30/m", 1.0 / 60, "30/m (slowed to 1/m)", 6},
		// Configured slower than one a minute: left alone.
		{"1/2m", 1.0 / 120, "1/2m", 0},
		{"1/m", 1.0 / 60, "1/m", 0},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			l, c := newLimiter(t, tt.spec, Options{})
			base := l.Limit()
			for range 20 {
				l.SlowDown()
				c.Advance(time.Second)
			}
			check(t, l, tt.wantLimit, tt.want)

			// Recovery takes at most six cool-downs however many complaints came.
			c.Advance(58 * time.Second) // 59 s after the last SlowDown
			for range tt.steps {
				if l.Limit() == base {
					t.Fatalf("recovered too early")
				}
				c.Advance(60 * time.Second)
			}
			check(t, l, base, tt.spec)
		})
	}
}

func TestSlowDownWhenUnlimited(t *testing.T) {
	l, c := newLimiter(t, "", Options{})
	// 20 sends 100 ms apart: 10/s observed.
	for range 20 {
		if d, _ := l.reserve(c.Now()); d != 0 {
			t.Fatalf("unlimited send waits %v", d)
		}
		c.Advance(100 * time.Millisecond)
	}
	l.SlowDown()
	check(t, l, 5, "unlimited (slowed to 5/s)")
	if got, want := delays(l, c, 3), seconds(0, 0.2, 0.4); !slices.Equal(got, want) {
		t.Errorf("slowed delays %v, want %v", got, want)
	}

	l.SlowDown() // coalesced
	c.Advance(time.Second)
	l.SlowDown()
	check(t, l, 2.5, "unlimited (slowed to 2.5/s)")

	// Back to the observed rate step by step, then the limit is dropped.
	c.Advance(60 * time.Second)
	check(t, l, 5, "unlimited (slowed to 5/s)")
	c.Advance(60 * time.Second)
	check(t, l, 10, "unlimited (slowed to 10/s)")
	c.Advance(60 * time.Second)
	check(t, l, math.Inf(1), "unlimited")
	for _, d := range delays(l, c, 10) {
		if d != 0 {
			t.Fatalf("send waits %v after recovery", d)
		}
	}

	// Never below one a second, however slow the sending or deep the slow-down.
	for range 20 {
		l.SlowDown()
		c.Advance(time.Second)
	}
	check(t, l, 1, "unlimited (slowed to 1/s)")
}

func TestSlowDownWhenUnlimitedWithoutSends(t *testing.T) {
	for _, l := range []*Limiter{New(nil, Options{}), {}} {
		c := newClock()
		l.clock = c.Now
		l.SlowDown()
		check(t, l, 1, "unlimited (slowed to 1/s)")
		if got, want := delays(l, c, 3), seconds(0, 1, 2); !slices.Equal(got, want) {
			t.Errorf("delays %v, want %v", got, want)
		}
	}
}

func TestWaitCancelled(t *testing.T) {
	l, c := newLimiter(t, "1/h", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context books nothing, even when a send could go at once.
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The next send is an hour away: cancelling returns at once and gives
	// the place back, so the one after is not pushed to two hours.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Wait(ctx) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after cancel")
	}
	if d, _ := l.reserve(c.Now()); d != time.Hour {
		t.Errorf("after a cancelled Wait the next send waits %v, want 1h", d)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want context.DeadlineExceeded", err)
	}
}

// Every worker gets its own slot: none is booked twice or skipped.
func TestReserveConcurrent(t *testing.T) {
	l, c := newLimiter(t, "1000/s", Options{})
	const workers, each = 8, 50
	got := make(chan time.Duration, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				d, _ := l.reserve(c.Now())
				got <- d
			}
		})
	}
	wg.Wait()
	close(got)
	var ds []time.Duration
	for d := range got {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	for k, d := range ds {
		if want := time.Duration(k) * time.Millisecond; d != want {
			t.Fatalf("slot %d waits %v, want %v", k, d, want)
		}
	}
}

// Workers waiting, complaining and displaying all at once, in real time.
func TestConcurrentUse(t *testing.T) {
	for _, tt := range []struct {
		spec  string
		burst int // large when unlimited, as SlowDown then starts from 1/s
	}{{"", 250}, {"2000/s, 10000000/h", 5}} {
		s, err := Parse(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		l := New(s, Options{Burst: tt.burst, CoolDown: 20 * time.Millisecond})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := range 25 {
					if err := l.Wait(context.Background()); err != nil {
						t.Error(err)
						return
					}
					if (w+i)%10 == 0 {
						l.SlowDown()
					}
					_ = l.Limit()
					_ = l.String()
				}
			})
		}
		wg.Wait()
	}
}

// The one real-time check: Wait really sleeps. The lower bound is safe
// because timers never fire early.
func TestWaitBlocks(t *testing.T) {
	l := New(Spec{{100, time.Second}}, Options{})
	start := time.Now()
	for range 11 {
		if err := l.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("11 sends at 100/s took %v, want at least 100ms", took)
	}
}

func BenchmarkWait(b *testing.B) {
	for _, spec := range []string{"", "1000000/s, 1000000000/h"} {
		s, _ := Parse(spec)
		b.Run(s.String(), func(b *testing.B) {
			l := New(s, Options{Burst: 1000})
			ctx := context.Background()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := l.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// WaitOr calls idle only when it has to wait, and the time idle takes
// counts towards the wait.
func TestWaitOrIdle(t *testing.T) {
	l, c := newLimiter(t, "1/s", Options{})
	calls := 0
	idle := func() { calls++; c.Advance(time.Second) }
	if err := l.WaitOr(context.Background(), idle); err != nil || calls != 0 {
		t.Fatalf("first send: err %v, idle called %d times; want no wait", err, calls)
	}
	// The second send is due in 1 s; idle takes that second, so no timer is left to wait on.
	done := make(chan error, 1)
	go func() { done <- l.WaitOr(context.Background(), idle) }()
	select {
	case err := <-done:
		if err != nil || calls != 1 {
			t.Fatalf("second send: err %v, idle called %d times; want once", err, calls)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitOr kept waiting after idle used up the delay")
	}
}
