package compose

import (
	"bytes"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/human"
)

// A template is code from the campaign running on data from the list, so
// every execution is bounded in time and in memory, without trusting
// either. Three rules do it:
//
//   - everything a template writes goes into one limitedBuffer per row,
//     which holds at most max_message_size;
//   - every step that can repeat (an iteration of range, a call of a
//     {{define}}d template, a call of a template function) counts against
//     the row's deadline and fails once it has passed or a limit was hit;
//   - no function builds, in one step, more than the message could hold or
//     more than maxItems values, so no step between two checks is long.

// maxItems is the most values a list or map built by a template may hold,
// nested ones included. Mail templates format a few values per row; a
// limit keeps split, list and friends from filling the memory, and ranging
// over a map (which sorts its keys) from taking long.
const maxItems = 10000

// renderGrace is how long past the time limit a caller waits for a
// running template to stop by itself and say where.
const renderGrace = 500 * time.Millisecond

// limitError is a template that went past a limit of its row.
type limitError struct {
	limit   int64         // bytes, for the size limit
	timeout time.Duration // for the time limit
	call    string        // with timeout: the function whose one call ran past it
	items   string        // the function that built too many values
}

func (e *limitError) Error() string {
	switch {
	case e.timeout > 0 && e.call != "":
		return fmt.Sprintf("%s took longer than the limit of %s", e.call, e.timeout)
	case e.timeout > 0:
		return fmt.Sprintf("rendering took longer than the limit of %s", e.timeout)
	case e.items != "":
		return fmt.Sprintf("%s would build more than %d values, the most a template may hold", e.items, maxItems)
	}
	return fmt.Sprintf("rendered message is larger than the limit of %s", human.Bytes(e.limit))
}

// help says what to change for the limit that was hit.
func (e *limitError) help() string {
	switch {
	case e.timeout > 0 && e.call != "":
		return "one call of " + e.call + " runs long on this row's data: give it less text, or a simpler pattern"
	case e.timeout > 0:
		return "a loop in a template runs away; check nested range and template calls"
	case e.items != "":
		return "split, list and the like are for a few values from a cell, not for building large data"
	}
	return ""
}

// limitedBuffer collects the rendered text of one row, template after
// template, and keeps its limits: the size, the deadline and the values
// built. Once a limit is hit it is sticky: writes are dropped and the next
// step fails, from where text/template reports the line.
type limitedBuffer struct {
	bytes.Buffer // reused for every template of a message: one allocation each, not one per doubling
	limit        int64
	deadline     time.Time
	timeout      time.Duration
	steps        int
	held         int64 // bytes of a Markdown body's values, kept beside the buffer
	err          *limitError
	// calling names the template function running, nil between calls: a
	// row still rendering past its time limit is stuck in that call.
	calling atomic.Pointer[string]
}

// start readies the buffer for a new row.
func (b *limitedBuffer) start(limit int64, timeout time.Duration) {
	b.Reset()
	b.limit, b.timeout, b.deadline, b.steps, b.held, b.err = limit, timeout, time.Now().Add(timeout), 0, 0, nil
	b.calling.Store(nil)
}

// clockEvery is how many cheap steps pass between two looks at the clock:
// reading it on every write would cost more than the write.
const clockEvery = 64

// step counts one cheap step and fails once a limit was hit or, looking
// at the clock every clockEvery steps, the deadline passed.
func (b *limitedBuffer) step() error {
	if b.err == nil {
		if b.steps++; b.steps%clockEvery == 0 {
			b.checkClock()
		}
	}
	return b.error()
}

// checkClock notes a passed deadline.
func (b *limitedBuffer) checkClock() {
	if b.err == nil && time.Now().After(b.deadline) {
		b.err = &limitError{timeout: b.timeout}
	}
}

// ranLong notes a deadline that passed during one call of the function
// name, begun at start: a single call (a regex over a large cell) may be
// the whole row's time, with no step between to look at the clock. The
// call is named when it alone took the whole limit; otherwise the time
// went in the loop around it.
func (b *limitedBuffer) ranLong(name string, start time.Time) error {
	if now := time.Now(); b.err == nil && now.After(b.deadline) {
		b.err = &limitError{timeout: b.timeout}
		if now.Sub(start) >= b.timeout {
			b.err.call = name
		}
	}
	return b.error()
}

// error returns the sticky limit error as an error, nil when there is none.
func (b *limitedBuffer) error() error {
	if b.err == nil {
		return nil
	}
	return b.err
}

// room is how many more bytes the message may hold.
func (b *limitedBuffer) room() int64 { return b.limit - int64(b.Len()) - b.held }

// fits fails when n more bytes would not fit in the message.
func (b *limitedBuffer) fits(n int64) error {
	if b.err == nil && n > b.room() {
		b.err = &limitError{limit: b.limit}
	}
	return b.error()
}

// admits counts a write of n bytes as a step and reports whether it may go
// in. A write it refuses is dropped, not failed: failing would lose the
// line; the next step reports it.
func (b *limitedBuffer) admits(n int) bool {
	return b.step() == nil && b.fits(int64(n)) == nil
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.admits(len(p)) {
		return b.Buffer.Write(p)
	}
	return len(p), nil
}

// WriteString keeps the embedded Buffer's own WriteString, which would skip
// the limits, from being used through io.WriteString.
func (b *limitedBuffer) WriteString(s string) (int, error) {
	if b.admits(len(s)) {
		return b.Buffer.WriteString(s)
	}
	return len(s), nil
}

// measure is an upper bound of how long a value prints with fmt's %v and
// how many values it holds, nested ones included. It stops counting once
// past maxBytes or maxItems, so a list that holds itself many times over
// costs no more to measure than a small one.
type measure struct {
	bytes    int64
	items    int
	depth    int // of the deepest nesting of lists and maps
	maxBytes int64
}

func (m *measure) over() bool { return m.bytes > m.maxBytes || m.items > maxItems }

func (m *measure) add(v reflect.Value, depth int) {
	if m.over() {
		return
	}
	if v.Kind() == reflect.Interface && !v.IsNil() {
		m.add(v.Elem(), depth) // the value inside, not one more
		return
	}
	if k := v.Kind(); depth > 0 || k != reflect.Slice && k != reflect.Array && k != reflect.Map {
		m.items++ // a list or map given is not one of the values it holds
	}
	m.depth = max(m.depth, depth)
	switch v.Kind() {
	case reflect.Invalid:
		m.bytes += len64("<nil>")
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			m.bytes += len64("<nil>")
			return
		}
		m.add(v.Elem(), depth)
	case reflect.String:
		m.bytes += int64(v.Len())
	case reflect.Slice, reflect.Array:
		m.bytes += 2 + int64(v.Len())
		for i := 0; i < v.Len() && !m.over(); i++ {
			m.add(v.Index(i), depth+1)
		}
	case reflect.Map:
		m.bytes += len64("map[]") + 2*int64(v.Len())
		for it := v.MapRange(); it.Next() && !m.over(); {
			m.add(it.Key(), depth+1)
			m.add(it.Value(), depth+1)
		}
	case reflect.Struct:
		m.bytes += 128 // time.Time from toDate, the only struct a template meets
	default:
		m.bytes += 330 // a number: a float64 %v or %f is at most this long
	}
}

func len64(s string) int64 { return int64(len(s)) }

// measureOf measures values, counting no further than maxBytes.
func measureOf(maxBytes int64, vs ...reflect.Value) measure {
	m := measure{maxBytes: maxBytes}
	for _, v := range vs {
		m.add(v, 0)
	}
	return m
}
