package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
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
	// waitShown is the end of the last cap wait shown.
	waitShown time.Time
	drawn     time.Time // when the bar was last drawn
}

const (
	progressEvery = 5 * time.Second
	barEvery      = 100 * time.Millisecond // updateBar skips redraws closer than this

	// waitWorthShowing: a cap that lets messages out one by one as old ones
	// leave its window holds each back a few seconds; only a longer wait
	// looks like a hang and needs saying.
	waitWorthShowing = 5 * time.Second
)

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
	newWait := waiting && !s.WaitingUntil.Equal(p.waitShown)
	if newWait {
		p.waitShown = s.WaitingUntil
	}
	if isTerminal(p.ui.stderr) {
		p.updateBar(s, done, waiting, newWait, now)
		return
	}
	if newWait {
		// No counts: the wait is told before the outcomes of the messages
		// that filled the cap come in.
		fmt.Fprintf(p.ui.stderr, "progress: %s\n", capWaitText(s, now))
		return
	}
	if time.Since(p.last) >= progressEvery {
		p.last = time.Now()
		p.line(s, done)
	}
}

// updateBar draws s on the bar; p.mu is held.
func (p *progress) updateBar(s campaign.Progress, done int, waiting, newWait bool, now time.Time) {
	if p.bar == nil {
		p.bar = progressbar.NewOptions(max(s.Total, 1),
			progressbar.OptionSetWriter(p.ui.stderr),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("msg"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	}
	// The bar's own throttle would draw Describe's text with the count
	// before Set ("sent 5 (4/30)"); throttled here, both change before
	// the frame that counts, the second of the two drawn.
	if now.Sub(p.drawn) < barEvery && done < s.Total && !newWait {
		return
	}
	p.drawn = now
	_ = p.bar.Set(done)
	description := fmt.Sprintf("sent %d  failed %d  unknown %d", s.Sent, s.Failed, s.Unknown)
	if waiting {
		description = capWaitText(s, now)
	}
	p.bar.Describe(description)
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

// relayOut says that a relay is out and until when, on a line of its
// own: the bar is cleared first and drawn again by the next update. It
// is said with the progress off too (a --json or --quiet run's stderr).
func (p *progress) relayOut(name, reason string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Clear()
		fmt.Fprint(p.ui.stderr, "\r")
	}
	p.ui.warnf("relay %s is out until %s, its messages go to the others: %s", name, until.Local().Format("15:04:05"), human.Clip(reason, 160))
	p.drawn = time.Time{}
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
