package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// Off a terminal, a long wait for a full cap is written once as a line,
// with the time the next message goes; a short one, as when a full cap
// lets messages out one by one, is not.
func TestProgressCapWaitLine(t *testing.T) {
	var stderr bytes.Buffer
	p := newProgress(newUI(&bytes.Buffer{}, &stderr), false)
	next := time.Now().Add(3 * time.Hour)
	wait := campaign.Progress{Total: 800, Sent: 500, Rate: "20/m, 500/d", WaitingUntil: next, WaitingFor: "daily limit"}
	p.update(wait)
	p.update(wait) // a second worker told the same
	short := wait
	short.Sent, short.WaitingUntil = 501, time.Now().Add(2*time.Second)
	p.update(short)

	want := "progress: daily limit reached: next message at " + clockTime(next, time.Now()) + " (rate 20/m, 500/d)\n"
	if got := stderr.String(); got != want {
		t.Errorf("progress wrote\n%q\nwant\n%q", got, want)
	}
}

func TestClockTime(t *testing.T) {
	now := time.Date(2025, 6, 2, 14, 0, 0, 0, time.Local) // a Monday
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{now.Add(5*time.Minute + 30*time.Second), "14:05"},
		{time.Date(2025, 6, 3, 9, 30, 0, 0, time.Local), "tomorrow 09:30"},
		{time.Date(2025, 6, 4, 9, 30, 0, 0, time.Local), "Wed 4 Jun 09:30"},
	} {
		if got := clockTime(tt.at, now); got != tt.want {
			t.Errorf("clockTime(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
	if got := clockTime(now.Add(time.Hour).UTC(), now); got != "15:00" {
		t.Errorf("a UTC time is written %q, want local 15:00", got)
	}
}

// The bar's count and its "sent" figure come from the same snapshot: the
// frame drawn after the first outcome says 1 of 30 done, not 0.
func TestProgressBarCountMatchesSent(t *testing.T) {
	var stderr bytes.Buffer
	p := newProgress(newUI(&bytes.Buffer{}, &stderr), false)
	p.updateBar(campaign.Progress{Total: 30, Sent: 1}, 1, false, false, time.Now())
	frames := strings.Split(stderr.String(), "\r")
	last := frames[len(frames)-1]
	if !strings.Contains(last, "1/30") || !strings.Contains(last, "sent 1 ") || strings.Contains(last, "0/30") {
		t.Errorf("the bar shows %q after the first message was sent, want 1/30 and sent 1", last)
	}
}
