package throttle

import "time"

// Duration estimates how long n messages take under the spec, sent as fast
// as it allows: the paces (terms per second or minute) space them out, and
// each cap (a term per hour or more, a rolling window) lets Events of them
// through per Per, so n messages wait ceil(n/Events)-1 whole windows and
// are paced within the last. Bursts, slow-downs and the server's own time
// are left out: it is an estimate to show before a run, not a promise.
func (s Spec) Duration(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	var paces, caps Spec
	for _, t := range s {
		if t.isCap() {
			caps = append(caps, t)
		} else {
			paces = append(paces, t)
		}
	}
	paced := func(n int) time.Duration {
		var d time.Duration
		for _, t := range paces {
			d = max(d, time.Duration(n-1)*t.Per/time.Duration(t.Events))
		}
		return d
	}
	d := paced(n)
	for _, t := range caps {
		windows := (n+t.Events-1)/t.Events - 1
		last := n - windows*t.Events
		d = max(d, time.Duration(windows)*t.Per+paced(last))
	}
	return d
}
