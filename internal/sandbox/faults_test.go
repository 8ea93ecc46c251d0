package sandbox

import (
	"sync"
	"testing"
	"time"
)

// startFaulty starts an anonymous implicit-TLS server storing into a fresh
// Maildir, with the given faults.
func startFaulty(t *testing.T, f *Faults) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	return start(t, Options{Dir: dir, AllowAnonymous: true, Faults: f}), dir
}

func storedFor(t *testing.T, dir string) map[string]int {
	t.Helper()
	stored, err := ReadMaildir(dir)
	if err != nil {
		t.Fatal(err)
	}
	copies := map[string]int{}
	for _, s := range stored {
		copies[s.DeliveredTo]++
	}
	return copies
}

func TestRcptRefusedForChosenRecipient(t *testing.T) {
	srv, dir := startFaulty(t, &Faults{Rcpt: func(to string) error {
		if to == "gone@example.com" {
			return Refuse(550, "5.1.1", "no such user")
		}
		return nil
	}})
	c := dial(t, srv)
	if err := c.Mail("<ann@example.com>"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("<gone@example.com>"); replyCode(err) != 550 {
		t.Fatalf("RCPT gone: %v, want 550", err)
	}
	if err := c.Rcpt("<bob@example.com>"); err != nil {
		t.Fatalf("RCPT bob: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(msg))
	if err := w.Close(); err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if got := storedFor(t, dir); len(got) != 1 || got["bob@example.com"] != 1 {
		t.Errorf("stored copies %v, want only bob", got)
	}
}

func TestTemporaryRefusalThenAccept(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	srv, dir := startFaulty(t, &Faults{Data: func(d Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		calls[d.To[0]]++
		if calls[d.To[0]] <= 2 {
			return Refuse(451, "4.7.1", "greylisted")
		}
		return nil
	}})
	c := dial(t, srv)
	for attempt := 1; attempt <= 3; attempt++ {
		err := send(c, "ann@example.com", []string{"bob@example.com"}, msg)
		if attempt < 3 && replyCode(err) != 451 {
			t.Fatalf("attempt %d: %v, want 451", attempt, err)
		}
		if attempt == 3 && err != nil {
			t.Fatalf("attempt 3: %v", err)
		}
	}
	if got := storedFor(t, dir); got["bob@example.com"] != 1 {
		t.Errorf("stored copies %v, want bob once", got)
	}
	if srv.Received() != 1 {
		t.Errorf("Received = %d, want 1", srv.Received())
	}
}

func TestFirstHelper(t *testing.T) {
	srv, _ := startFaulty(t, &Faults{Mail: First[string](1, Refuse(451, "4.3.0", "later"))})
	c := dial(t, srv)
	if err := c.Mail("<ann@example.com>"); replyCode(err) != 451 {
		t.Fatalf("first MAIL: %v, want 451", err)
	}
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("second try: %v", err)
	}
}

// A dropped connection reaches the client as an I/O error, not a reply.
func TestDropAfterData(t *testing.T) {
	tests := []struct {
		name   string
		faults *Faults
		stored int
	}{
		{"before store", &Faults{Data: func(Delivery) error { return ErrDrop }}, 0},
		{"after store", &Faults{Data: func(Delivery) error { return ErrDropAfterStore }}, 1},
		{"mid data", &Faults{DropDataAfter: func(d Delivery) int {
			if len(d.To) != 1 || d.To[0] != "bob@example.com" {
				t.Errorf("DropDataAfter got %+v", d)
			}
			return 40
		}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, dir := startFaulty(t, tt.faults)
			c := dial(t, srv)
			err := send(c, "ann@example.com", []string{"bob@example.com"}, msg)
			if err == nil || replyCode(err) != 0 {
				t.Fatalf("send: %v, want a lost connection", err)
			}
			t.Logf("client saw: %v", err)
			if got := storedFor(t, dir)["bob@example.com"]; got != tt.stored {
				t.Errorf("stored %d copies, want %d", got, tt.stored)
			}
			if srv.Received() != tt.stored {
				t.Errorf("Received = %d, want %d", srv.Received(), tt.stored)
			}
			// The server goes on serving other connections.
			c2 := dial(t, srv)
			if err := c2.Noop(); err != nil {
				t.Errorf("next connection: %v", err)
			}
		})
	}
}

func TestEveryThirdMessage421(t *testing.T) {
	srv, dir := startFaulty(t, &Faults{Data: Every[Delivery](3, Refuse(421, "4.7.0", "too many messages"))})
	c := dial(t, srv)
	for i := 1; i <= 2; i++ {
		if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); replyCode(err) != 421 {
		t.Fatalf("message 3: %v, want 421", err)
	}
	if err := c.Noop(); err == nil {
		t.Fatal("connection still open after 421")
	}
	c = dial(t, srv)
	if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
		t.Fatalf("message 4 on a new connection: %v", err)
	}
	if got := storedFor(t, dir)["bob@example.com"]; got != 3 {
		t.Errorf("stored %d copies, want 3", got)
	}
}

func TestConnectRefused(t *testing.T) {
	srv, _ := startFaulty(t, &Faults{Connect: Every[int](2, Refuse(421, "4.3.2", "busy"))})
	dial(t, srv).Close()
	if _, err := dialErr(srv, srv.RootCAs()); replyCode(err) != 421 {
		t.Fatalf("second connection: %v, want 421 greeting", err)
	}
	dial(t, srv).Close()
	if srv.Sessions() != 3 {
		t.Errorf("Sessions = %d, want 3", srv.Sessions())
	}
}

func TestMailDrop(t *testing.T) {
	srv, _ := startFaulty(t, &Faults{Mail: func(string) error { return ErrDrop }})
	c := dial(t, srv)
	if err := c.Mail("<ann@example.com>"); err == nil || replyCode(err) != 0 {
		t.Fatalf("MAIL: %v, want a lost connection", err)
	}
}

func TestStallAtDataEndsOnClose(t *testing.T) {
	srv, dir := startFaulty(t, &Faults{Stall: func(s Stage) time.Duration {
		if s == StageData {
			return time.Hour
		}
		return 0
	}})
	c := dial(t, srv)
	result := make(chan error, 1)
	go func() { result <- send(c, "ann@example.com", []string{"bob@example.com"}, msg) }()
	// The message is on disk before the stalled reply: a client timing out
	// here must count it as unknown, not failed.
	for srv.Received() == 0 {
		time.Sleep(time.Millisecond)
	}
	if got := storedFor(t, dir)["bob@example.com"]; got != 1 {
		t.Fatalf("stored %d copies before the reply, want 1", got)
	}
	select {
	case err := <-result:
		t.Fatalf("reply arrived during the stall: %v", err)
	default:
	}
	srv.Close()
	if err := <-result; err == nil {
		t.Error("send succeeded although the server closed before replying")
	}
}
