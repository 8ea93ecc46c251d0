package delivery

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailmerge/mailmerge/internal/security"
)

// outcomes collects what a Session hands to done, checking that every
// message gets exactly one.
type outcomes struct {
	t   *testing.T
	got map[int]Result
}

func (o *outcomes) done(i int) func(Result) {
	return func(res Result) {
		if _, dup := o.got[i]; dup {
			o.t.Errorf("message %d: a second outcome %+v", i, res)
		}
		o.got[i] = res
	}
}

// sendAll sends messages 1..n on one session and returns the outcomes.
func sendAll(t *testing.T, p *Pool, n int) map[int]Result {
	t.Helper()
	o := &outcomes{t: t, got: map[int]Result{}}
	s := p.Session()
	for i := 1; i <= n; i++ {
		s.Send(context.Background(), friend, testMessage(i), nil, o.done(i))
	}
	s.Close(context.Background())
	if len(o.got) != n {
		t.Fatalf("%d outcomes for %d messages", len(o.got), n)
	}
	return o.got
}

// receivedOnce checks that the server got each of messages 1..n exactly
// once, except those in missing.
func receivedOnce(t *testing.T, ts *testServer, n int, missing ...int) {
	t.Helper()
	// A server that drops a connection stores the message after the client
	// saw the drop: give it a moment.
	for end := time.Now().Add(2 * time.Second); len(ts.received()) < n-len(missing) && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	count := map[int]int{}
	for _, m := range ts.received() {
		i := messageNumber(m.Data)
		if i == 0 {
			t.Fatalf("unexpected message %q", m.Data)
		}
		count[i]++
	}
	for i := 1; i <= n; i++ {
		want := 1
		if slices.Contains(missing, i) {
			want = 0
		}
		if count[i] != want {
			t.Errorf("message %d received %d times, want %d", i, count[i], want)
		}
	}
}

// messageNumber is the i of testMessage(i) in data, or 0.
func messageNumber(data []byte) int {
	var i int
	if k := bytes.Index(data, []byte("Subject: hello ")); k >= 0 {
		fmt.Sscanf(string(data[k:]), "Subject: hello %d", &i)
	}
	return i
}

// onMessage starts a server that runs act on message n of testMessage and
// takes every other one.
func onMessage(t *testing.T, n int, act func(*session) error) *testServer {
	t.Helper()
	return newTestServer(t, plainServer, func(ts *testServer) {
		ts.onData = func(s *session, data []byte) error {
			if messageNumber(data) == n {
				return act(s)
			}
			return nil
		}
	})
}

// wantOutcomes checks that every message was Delivered except those in
// except, which have the status given there.
func wantOutcomes(t *testing.T, got map[int]Result, except map[int]Status) {
	t.Helper()
	for i, res := range got {
		want, ok := except[i]
		if !ok {
			want = Delivered
		}
		if res.Status != want {
			t.Errorf("message %d: %+v, want %v", i, res, want)
		}
	}
}

// Back to back on one session, each final dot goes out with the next
// message's commands, and every message arrives once, in order.
func TestSessionChainsMessages(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	wantOutcomes(t, sendAll(t, p, 20), nil)
	receivedOnce(t, ts, 20)
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	// 19 dots could ride with the next MAIL; loopback keeps one write in one read.
	if n := ts.chained.Load(); n < 15 {
		t.Errorf("%d of 19 final dots went out with the next message's commands", n)
	}
	got := ts.received()
	for i, m := range got {
		if !strings.Contains(string(m.Data), fmt.Sprintf("Subject: hello %d\r\n", i+1)) {
			t.Fatalf("message %d out of order", i+1)
		}
	}
}

// Without PIPELINING nothing is chained, and each message is finished before
// the next starts.
func TestSessionStepwise(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	p.noPipelining = true
	wantOutcomes(t, sendAll(t, p, 5), nil)
	receivedOnce(t, ts, 5)
	if n := ts.chained.Load(); n != 0 {
		t.Errorf("%d chained writes without PIPELINING", n)
	}
}

// A refusal at the end of one message does not disturb the next, which
// was already on its way.
func TestSessionRefusalAtDataEnd(t *testing.T) {
	ts := onMessage(t, 3, func(*session) error {
		return &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "message refused"}
	})
	p := newPool(t, ts.config(security.None))
	got := sendAll(t, p, 6)
	wantOutcomes(t, got, map[int]Status{3: Rejected})
	if got[3].Code != 554 || got[3].Stage != StageDataEnd {
		t.Errorf("message 3: %+v", got[3])
	}
	receivedOnce(t, ts, 6, 3)
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// The connection dies right after the server took a message: that message
// is Unknown, never resent, and the one whose commands went out behind its
// dot starts again on a fresh connection.
func TestSessionDropAfterDataEnd(t *testing.T) {
	ts := onMessage(t, 2, func(s *session) error { s.drop(); return nil })
	p := newPool(t, ts.config(security.None))
	wantOutcomes(t, sendAll(t, p, 5), map[int]Status{2: Unknown})
	receivedOnce(t, ts, 5) // the server has message 2; the client cannot know
	if n := ts.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// A 421 at the end of a message closes the connection: the message is
// Deferred with the reply, and the next one goes out on a new connection.
func TestSession421AtDataEnd(t *testing.T) {
	ts := onMessage(t, 2, func(*session) error {
		return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "too busy, closing"}
	})
	p := newPool(t, ts.config(security.None))
	got := sendAll(t, p, 4)
	wantOutcomes(t, got, map[int]Status{2: Deferred})
	if got[2].Code != 421 {
		t.Errorf("message 2: %+v", got[2])
	}
	receivedOnce(t, ts, 4, 2)
	if n := ts.accepts.Load(); n != 2 {
		t.Errorf("%d connections, want the 421 one replaced", n)
	}
}

// MaxPerConnection holds with chaining: the last message on a connection
// is finished before the connection is replaced.
func TestSessionMaxPerConnection(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	cfg := ts.config(security.None)
	cfg.MaxPerConnection = 3
	p := newPool(t, cfg)
	wantOutcomes(t, sendAll(t, p, 7), nil)
	receivedOnce(t, ts, 7)
	if n := ts.accepts.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// A message held back for the next one is not sent when the context ends
// first: it comes back Deferred, and the server has nothing.
func TestSessionCancelledWithMessageHeld(t *testing.T) {
	ts := newTestServer(t, plainServer, nil)
	p := newPool(t, ts.config(security.None))
	ctx, cancel := context.WithCancel(context.Background())
	o := &outcomes{t: t, got: map[int]Result{}}
	s := p.Session()
	s.Send(ctx, friend, testMessage(1), nil, o.done(1))
	if len(o.got) != 0 {
		t.Fatalf("outcome before the next message or Flush: %+v", o.got)
	}
	cancel()
	s.Close(ctx)
	wantStatus(t, o.got[1], Deferred)
	receivedOnce(t, ts, 1, 1)
}

// A message whose envelope needs SMTPUTF8 goes stepwise, after the one held
// back is finished.
func TestSessionNonASCIIEnvelope(t *testing.T) {
	ts := newTestServer(t, plainServer, func(ts *testServer) { ts.smtputf8 = true })
	p := newPool(t, ts.config(security.None))
	o := &outcomes{t: t, got: map[int]Result{}}
	s := p.Session()
	s.Send(context.Background(), friend, testMessage(1), nil, o.done(1))
	s.Send(context.Background(), Envelope{From: "nami@example.com", To: []string{"王@example.com"}}, testMessage(2), nil, o.done(2))
	s.Send(context.Background(), friend, testMessage(3), nil, o.done(3))
	s.Close(context.Background())
	for i := 1; i <= 3; i++ {
		wantStatus(t, o.got[i], Delivered)
	}
	receivedOnce(t, ts, 3)
}

// beforeEnd runs before the server can have the final dot, whether the dot
// waits in the buffer for the next message or the message is larger than
// the buffer; and a message that never went out was never begun.
func TestSessionBeforeEndPrecedesDot(t *testing.T) {
	var begun sync.Map // message number -> true
	ts := newTestServer(t, plainServer, func(ts *testServer) {
		ts.onData = func(_ *session, data []byte) error {
			i := messageNumber(data)
			if _, ok := begun.Load(i); !ok {
				t.Errorf("message %d reached the server before beforeEnd ran", i)
			}
			return nil
		}
	})
	p := newPool(t, ts.config(security.None))
	o := &outcomes{t: t, got: map[int]Result{}}
	s := p.Session()
	for i := 1; i <= 12; i++ {
		msg := testMessage(i)
		if i%3 == 0 {
			msg = append(msg, strings.Repeat("A longer line of the message body.\r\n", 400)...) // ~14 KB
		}
		s.Send(context.Background(), friend, msg, func() error { begun.Store(i, true); return nil }, o.done(i))
	}
	s.Close(context.Background())
	wantOutcomes(t, o.got, nil)
	receivedOnce(t, ts, 12)

	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	s = p.Session()
	s.Send(ctx, friend, testMessage(13), func() error { calls++; return nil }, o.done(13))
	cancel()
	s.Close(ctx)
	if calls != 0 {
		t.Errorf("beforeEnd ran %d times for a message that never went out", calls)
	}
	wantStatus(t, o.got[13], Deferred)
}
