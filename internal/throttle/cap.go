package throttle

import "time"

const (
	// capFrom is the shortest period that makes a Term a cap rather than a
	// pace: "500/d" means at most 500 in any day, not one every 173 s.
	capFrom = time.Hour

	// capSlots bounds a cap's memory: up to this many events a cap keeps
	// every send time and is exact; above it, it counts sends per slot of
	// 1/capSlots of the window (21 s for a day) and may hold a send back up
	// to one slot longer than needed, never let one go early.
	capSlots = 4096
)

// isCap reports whether t is a rolling-window cap rather than a pace.
func (t Term) isCap() bool { return t.Per >= capFrom }

// A windowCap admits a send when fewer than events sends were booked in the
// window before it. Bookings are never earlier than the last one, so the
// tallies stay in time order.
type windowCap struct {
	events int
	window time.Duration
	slot   time.Duration // 0: one tally per send, exact
	// tallies holds the sends still inside some window, oldest first,
	// with future bookings at the end; total is the sum of their counts.
	tallies []tally
	total   int
}

// A tally is n sends at at, or within the slot that starts at at.
type tally struct {
	at time.Time
	n  int
}

func newWindowCap(t Term) *windowCap {
	c := &windowCap{events: t.Events, window: t.Per}
	if t.Events > capSlots {
		c.slot = t.Per / capSlots
	}
	return c
}

// expiry is when a tally's sends stop counting: a window after the end of
// its slot.
func (c *windowCap) expiry(t tally) time.Time { return t.at.Add(c.slot + c.window) }

// forget drops the tallies that no longer count at now.
func (c *windowCap) forget(now time.Time) {
	k := 0
	for k < len(c.tallies) && !c.expiry(c.tallies[k]).After(now) {
		c.total -= c.tallies[k].n
		k++
	}
	c.tallies = c.tallies[k:]
}

// earliest is the first time at or after t, and not before the last booking,
// when one more send keeps the cap.
func (c *windowCap) earliest(t time.Time) time.Time {
	if len(c.tallies) > 0 {
		t = latest(t, c.tallies[len(c.tallies)-1].at)
	}
	// From the last booking on, only the old tallies leaving the window
	// change the count.
	n := c.total
	for _, old := range c.tallies {
		if end := c.expiry(old); end.After(t) {
			if n < c.events {
				break
			}
			t = end
		}
		n -= old.n
	}
	return t
}

// book counts a send at t, which earliest allowed.
func (c *windowCap) book(t time.Time) {
	if c.slot > 0 {
		t = t.Truncate(c.slot)
	}
	c.total++
	if last := len(c.tallies) - 1; last >= 0 && c.tallies[last].at.Equal(t) {
		c.tallies[last].n++
		return
	}
	c.tallies = append(c.tallies, tally{at: t, n: 1})
}

// unbook takes back a send booked at t that will not happen.
func (c *windowCap) unbook(t time.Time) {
	if c.slot > 0 {
		t = t.Truncate(c.slot)
	}
	for k := len(c.tallies) - 1; k >= 0; k-- {
		if !c.tallies[k].at.Equal(t) {
			continue
		}
		c.total--
		if c.tallies[k].n--; c.tallies[k].n == 0 {
			c.tallies = append(c.tallies[:k], c.tallies[k+1:]...)
		}
		return
	}
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
