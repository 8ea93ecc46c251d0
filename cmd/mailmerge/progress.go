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
}

const progressEvery = 5 * time.Second

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
		p.bar.Describe(fmt.Sprintf("sent %d  failed %d  unknown %d", s.Sent, s.Failed, s.Unknown))
		_ = p.bar.Set(done)
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

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		fmt.Fprint(p.ui.stderr, "\r")
	}
}
