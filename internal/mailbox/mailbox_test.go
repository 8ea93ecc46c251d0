package mailbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

func start(t *testing.T, msgs ...string) (*sandbox.IMAPServer, Config) {
	t.Helper()
	srv, err := sandbox.StartIMAP("nami@example.com", "s3cret", "Bounces")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, m := range msgs {
		if err := srv.Append("INBOX", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(srv.Addr)
	p, _ := strconv.Atoi(port)
	return srv, Config{Host: host, Port: p, Security: security.SSL, Username: srv.Username, Password: srv.Password, RootCAs: srv.RootCAs()}
}

func msg(i int) string {
	return fmt.Sprintf("From: MAILER-DAEMON@example.org\r\nSubject: failure notice %d\r\nMessage-ID: <%d@example.org>\r\n\r\nbody %d\r\n", i, i, i)
}

// Reading leaves the mailbox as it was: no \Seen, nothing moved or deleted.
func TestReadChangesNothing(t *testing.T) {
	srv, cfg := start(t, msg(1), msg(2), msg(3))
	var subjects []string
	st, err := Read(context.Background(), cfg, Options{}, func(m Message) error {
		subjects = append(subjects, strings.SplitN(strings.SplitN(string(m.Raw), "Subject: ", 2)[1], "\r\n", 2)[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 3 || strings.Join(subjects, ",") != "failure notice 1,failure notice 2,failure notice 3" {
		t.Errorf("stats %+v, read %q", st, subjects)
	}
	left, err := srv.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 3 {
		t.Fatalf("INBOX holds %d messages, want 3", len(left))
	}
	for _, m := range left {
		if len(m.Flags) != 0 {
			t.Errorf("message %d has flags %v after a read-only run", m.UID, m.Flags)
		}
	}
}

func TestMoveMovesOnlyThoseNamed(t *testing.T) {
	srv, cfg := start(t, msg(1), msg(2), msg(3))
	var uids []uint32
	st, err := Read(context.Background(), cfg, Options{}, func(m Message) error {
		if !strings.Contains(string(m.Raw), "notice 2") {
			uids = append(uids, m.UID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Move(context.Background(), cfg, st.UIDValidity+1, uids, "Bounces"); err == nil {
		t.Errorf("moved after the folder was renumbered")
	}
	if err := Move(context.Background(), cfg, st.UIDValidity, uids, "Bounces"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := srv.Messages("INBOX")
	moved, _ := srv.Messages("Bounces")
	if len(inbox) != 1 || len(moved) != 2 || !strings.Contains(string(inbox[0].Raw), "notice 2") {
		t.Errorf("INBOX %d, Bounces %d", len(inbox), len(moved))
	}
}

func TestTooLargeIsSkippedUnread(t *testing.T) {
	big := msg(9) + strings.Repeat("x", 2000) + "\r\n"
	_, cfg := start(t, msg(1), big)
	var read int
	st, err := Read(context.Background(), cfg, Options{MaxSize: 1000}, func(Message) error { read++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if read != 1 || len(st.TooLarge) != 1 || st.TooLarge[0] != 2 {
		t.Errorf("read %d, too large %v", read, st.TooLarge)
	}
}

func TestSinceSearches(t *testing.T) {
	_, cfg := start(t, msg(1))
	var read int
	if _, err := Read(context.Background(), cfg, Options{Since: time.Now().AddDate(0, 0, 2)}, func(Message) error { read++; return nil }); err != nil {
		t.Fatal(err)
	}
	if read != 0 {
		t.Errorf("--since after every message read %d", read)
	}
}

func TestWrongPasswordSaysSo(t *testing.T) {
	_, cfg := start(t)
	cfg.Password = "wrong"
	_, err := Read(context.Background(), cfg, Options{}, func(Message) error { return nil })
	var me *Error
	if !errors.As(err, &me) || me.Op != "log in" || !strings.Contains(human.Hint(err), "password") {
		t.Fatalf("got %v", err)
	}
}

func TestUntrustedCertificateIsRefused(t *testing.T) {
	_, cfg := start(t)
	cfg.RootCAs = nil
	_, err := Read(context.Background(), cfg, Options{}, func(Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got %v", err)
	}
}

func TestCleartextOnlyToLoopback(t *testing.T) {
	_, err := Read(context.Background(), Config{Host: "imap.example.com", Security: security.None, Username: "a", Password: "b"},
		Options{}, func(Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("got %v", err)
	}
}
