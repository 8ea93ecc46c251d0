package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// progress shows a live bar on a terminal and a line every few seconds
// elsewhere (a log file, CI).
type progress struct {
	ui    *ui
	off   bool
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	last  time.Time
	start time.Time
	// waitShown is the end of the last cap wait written as a line.
	waitShown time.Time
}

const progressEvery = 5 * time.Second

// waitWorthShowing: a cap that lets messages out one by one as old ones
// leave its window holds each back a few seconds; only a longer wait
// looks like a hang and needs saying.
const waitWorthShowing = 5 * time.Second

func newProgress(u *ui, off bool) *progress {
	return &progress{ui: u, off: off, start: time.Now(), last: time.Now()}
}

func (p *progress) update(s campaign.Progress) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	done := s.Sent + s.Failed + s.Skipped + s.Unknown
	now := time.Now()
	waiting := s.WaitingUntil.Sub(now) >= waitWorthShowing
	if isTerminal(p.ui.stderr) {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(max(s.Total, 1),
				progressbar.OptionSetWriter(p.ui.stderr),
				progressbar.OptionSetDescription("sending"),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString("msg"),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		if waiting {
			p.bar.Describe(capWaitText(s, now))
		} else {
			p.bar.Describe(fmt.Sprintf("sent %d  failed %d  unknown %d", s.Sent, s.Failed, s.Unknown))
		}
		_ = p.bar.Set(done)
		return
	}
	if waiting && !s.WaitingUntil.Equal(p.waitShown) {
		p.waitShown = s.WaitingUntil
		fmt.Fprintf(p.ui.stderr, "progress: %d/%d done, %s\n", done, s.Total, capWaitText(s, now))
		return
	}
	if time.Since(p.last) >= progressEvery {
		p.last = time.Now()
		p.line(s, done)
	}
}

func (p *progress) line(s campaign.Progress, done int) {
	elapsed := time.Since(p.start).Seconds()
	fmt.Fprintf(p.ui.stderr, "progress: %d/%d done, sent %d, failed %d, unknown %d, retrying %d, %.1f msg/s\n",
		done, s.Total, s.Sent, s.Failed, s.Unknown, s.Retrying, float64(done)/max(elapsed, 0.001))
}

// capWaitText says why nothing is being sent and until when:
// "daily limit reached: next message at 14:05 (rate 20/m, 500/d)".
func capWaitText(s campaign.Progress, now time.Time) string {
	return fmt.Sprintf("%s reached: next message at %s (rate %s)", s.WaitingFor, clockTime(s.WaitingUntil, now), s.Rate)
}

// clockTime writes t as a local wall-clock time, with the day when it is
// not today: "14:05", "tomorrow 09:30", "Mon 2 Jun 14:05".
func clockTime(t, now time.Time) string {
	day := func(t time.Time) time.Time {
		y, m, d := t.Local().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.Local)
	}
	switch today := day(now); {
	case day(t).Equal(today):
		return t.Local().Format("15:04")
	case day(t).Equal(today.AddDate(0, 0, 1)):
		return "tomorrow " + t.Local().Format("15:04")
	}
	return t.Local().Format("Mon 2 Jan 15:04")
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		fmt.Fprint(p.ui.stderr, "\r")
	}
}
