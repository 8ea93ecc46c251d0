package throttle

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Term is one "events per period" limit of a Spec, such as 10/s.
type Term struct {
	Events int           // messages allowed per Per, at least 1
	Per    time.Duration // the period, positive
}

// A Spec is a parsed send rate: every Term holds at once, so "20/s, 1000/h"
// sends at most 20 messages in any second and at most 1000 in any hour.
// An empty Spec means no limit.
type Spec []Term

// rateHint ends every Parse error: it shows the forms that are accepted.
const rateHint = `(use /s, /m, /h or /d, e.g. "10/s, 1000/h")`

// units maps the accepted unit spellings to their length.
var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// Parse reads a send rate as written in a campaign's [send] rate setting:
// comma-separated terms COUNT/UNIT with UNIT one of s, m, h, d (also sec,
// min, hour, day and their plurals), optionally preceded by a whole number
// of units ("1/2s", "100/5m"). "", "0" and "unlimited" mean no limit and
// give an empty Spec.
//
// An error names the whole setting and, when there are several terms, the
// offending one, and ends with the accepted forms.
func Parse(s string) (Spec, error) {
	trimmed := strings.TrimSpace(s)
	if trimmed == "" || trimmed == "0" || strings.EqualFold(trimmed, "unlimited") {
		return nil, nil
	}
	parts := strings.Split(trimmed, ",")
	var spec Spec
	for _, part := range parts {
		term, problem := parseTerm(strings.TrimSpace(part))
		if problem != "" {
			where := ""
			if len(parts) > 1 && strings.TrimSpace(part) != "" {
				where = fmt.Sprintf(" in %q", strings.TrimSpace(part))
			}
			return nil, fmt.Errorf("rate %q: %s%s %s", s, problem, where, rateHint)
		}
		spec = append(spec, term)
	}
	return spec, nil
}

// parseTerm reads one COUNT/[N]UNIT term; problem describes what is wrong
// with it, without the surrounding context.
func parseTerm(t string) (Term, string) {
	if t == "" {
		return Term{}, "empty term"
	}
	count, period, found := strings.Cut(t, "/")
	count, period = strings.TrimSpace(count), strings.TrimSpace(period)
	if !found || period == "" {
		return Term{}, fmt.Sprintf("no time unit after %q", count)
	}
	events, err := strconv.Atoi(count)
	if err != nil {
		return Term{}, fmt.Sprintf("count %q is not a whole number", count)
	}
	if events < 1 {
		return Term{}, fmt.Sprintf("count %q must be at least 1", count)
	}

	// An optional whole number of units comes first: the 2 of "1/2s".
	digits := len(period) - len(strings.TrimLeft(period, "0123456789"))
	mult := int64(1)
	if digits > 0 {
		mult, err = strconv.ParseInt(period[:digits], 10, 64)
		if err != nil {
			return Term{}, fmt.Sprintf("period %q is too long", period)
		}
	}
	name := strings.TrimSpace(period[digits:])
	unit, ok := units[strings.ToLower(name)]
	if !ok {
		return Term{}, fmt.Sprintf("unknown unit %q", name)
	}
	switch {
	case mult == 0:
		return Term{}, fmt.Sprintf("period %q is zero", period)
	case mult > math.MaxInt64/int64(unit):
		return Term{}, fmt.Sprintf("period %q is too long", period)
	}
	return Term{Events: events, Per: time.Duration(mult) * unit}, ""
}

// String gives the term back in the form Parse reads, with the largest unit
// that divides the period: "10/s", "1000/h", "1/2s", "90/90s".
func (t Term) String() string {
	return strconv.Itoa(t.Events) + "/" + periodString(t.Per)
}

// perSecond is the term's rate in events per second.
func (t Term) perSecond() float64 {
	return float64(t.Events) / t.Per.Seconds()
}

// periodString writes a period as a unit with an optional multiple: "s",
// "2s", "h"; a period that is not a whole number of seconds, which Parse
// never gives, falls back to time.Duration's form.
func periodString(d time.Duration) string {
	for _, u := range []struct {
		name string
		len  time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d%u.len != 0 {
			continue
		}
		if n := d / u.len; n != 1 {
			return strconv.FormatInt(int64(n), 10) + u.name
		}
		return u.name
	}
	return d.String()
}

// String gives the spec back in the form Parse reads, "unlimited" when empty.
func (s Spec) String() string {
	if len(s) == 0 {
		return "unlimited"
	}
	terms := make([]string, len(s))
	for i, t := range s {
		terms[i] = t.String()
	}
	return strings.Join(terms, ", ")
}
