package sandbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// maildirSeq makes file names unique between servers of one process that
// share a directory, even within one clock tick.
var maildirSeq atomic.Uint64

// maildir writes messages into a Maildir (https://cr.yp.to/proto/maildir.html).
type maildir struct {
	dir  string
	host string // sanitised hostname for unique names
	pid  int
}

// openMaildir creates dir/tmp, dir/new and dir/cur as needed.
func openMaildir(dir string) (*maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("create maildir: %w", err)
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	// The Maildir spec reserves '/' and ':' in names.
	host = strings.NewReplacer("/", `\057`, ":", `\072`).Replace(host)
	return &maildir{dir: dir, host: host, pid: os.Getpid()}, nil
}

// deliver stores one copy of the message per recipient, each with
// Return-Path and Delivered-To prepended, and returns once every copy is
// durable: written to tmp, synced, renamed into new, and new synced. On
// failure the copies already in new are removed, so a refused message is
// not half delivered.
func (m *maildir) deliver(from string, to []string, data []byte) error {
	var done []string
	for _, rcpt := range to {
		path, err := m.deliverOne(from, rcpt, data)
		if err != nil {
			for _, p := range done {
				os.Remove(p)
			}
			return err
		}
		done = append(done, path)
	}
	if err := fsafe.SyncDir(filepath.Join(m.dir, "new")); err != nil {
		for _, p := range done {
			os.Remove(p)
		}
		return fmt.Errorf("sync maildir: %w", err)
	}
	return nil
}

func (m *maildir) deliverOne(from, rcpt string, data []byte) (string, error) {
	name := strconv.FormatInt(time.Now().UnixNano(), 10) + "." +
		strconv.Itoa(m.pid) + "_" + strconv.FormatUint(maildirSeq.Add(1), 10) + "." + m.host
	tmp := filepath.Join(m.dir, "tmp", name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("store message for %s: %w", rcpt, err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	fmt.Fprintf(w, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, rcpt)
	w.Write(data)
	err = w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		final := filepath.Join(m.dir, "new", name)
		if err = os.Rename(tmp, final); err == nil {
			return final, nil
		}
	}
	os.Remove(tmp)
	return "", fmt.Errorf("store message for %s: %w", rcpt, err)
}

// Stored is one message file found by ReadMaildir: one copy of a message
// for one recipient.
type Stored struct {
	Path        string      // the file, under new/ or cur/
	ReturnPath  string      // envelope sender, without angle brackets
	DeliveredTo string      // envelope recipient this copy was delivered to
	MessageID   string      // Message-ID header without angle brackets, "" if absent
	Header      mail.Header // all header fields, trace fields included
	Message     []byte      // the message as received: the file without the Return-Path and Delivered-To lines the server added
}

// ReadMaildir reads every message in dir/new and dir/cur, ordered by file
// name, which for files written by this package is delivery order. Tests
// use it to count the copies each recipient got. A missing new or cur
// directory counts as empty; an unreadable or unparsable file is an error
// naming it.
func ReadMaildir(dir string) ([]Stored, error) {
	var paths []string
	for _, sub := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read maildir: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				paths = append(paths, filepath.Join(dir, sub, e.Name()))
			}
		}
	}
	slices.SortFunc(paths, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })

	stored := make([]Stored, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read maildir: %w", err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("read maildir: %s: %w", p, err)
		}
		s := Stored{
			Path:        p,
			ReturnPath:  trimAngles(msg.Header.Get("Return-Path")),
			DeliveredTo: strings.TrimSpace(msg.Header.Get("Delivered-To")),
			MessageID:   trimAngles(msg.Header.Get("Message-Id")),
			Header:      msg.Header,
			Message:     data,
		}
		for _, field := range []string{"Return-Path:", "Delivered-To:"} {
			if len(s.Message) >= len(field) && strings.EqualFold(string(s.Message[:len(field)]), field) {
				if i := bytes.IndexByte(s.Message, '\n'); i >= 0 {
					s.Message = s.Message[i+1:]
				}
			}
		}
		stored = append(stored, s)
	}
	return stored, nil
}

// trimAngles turns " <a@b> " into "a@b".
func trimAngles(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	return strings.TrimSuffix(s, ">")
}

// messageID returns the Message-ID of a raw message without angle brackets,
// reading only its header.
func messageID(data []byte) string {
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return ""
	}
	return trimAngles(msg.Header.Get("Message-Id"))
}
