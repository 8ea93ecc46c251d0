package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// onInterrupt turns Ctrl-C (or SIGTERM) into the two ways a send stops.
// The first closes stop: no new message starts, and the ones in flight
// finish and are recorded. The second cancels ctx: connections close at
// once, and Send returns so that the results file is still closed in good
// order; messages whose end of DATA had gone out are recorded as unknown.
// Past that, signals get their default handling again, so a third Ctrl-C
// kills the process should anything not heed ctx.
//
// resume is the command that continues the run. release stops listening; call it when the run is over.
func onInterrupt(ui *ui, resume string) (ctx context.Context, stop <-chan struct{}, release func()) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(ui.stderr, "\nmailmerge: stopping: no new messages; finishing the ones in flight (Ctrl-C again to quit at once)")
		close(stopped)
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(ui.stderr, "mailmerge: quit at once; messages that were in flight are reported unknown; continue with: "+resume)
		signal.Stop(signals)
		cancel()
	}()
	return ctx, stopped, func() {
		signal.Stop(signals)
		close(done)
		cancel()
	}
}
