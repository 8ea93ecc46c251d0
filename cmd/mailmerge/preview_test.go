package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const greeting = "../../samples/greeting/campaign.toml"

// lockedBuffer is a bytes.Buffer the command writes to while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestPreviewRefusesToListenBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:8025", ":8025", "[::]:0", "192.0.2.7:8025"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"preview", "--listen", addr, greeting}, nil, &stdout, &stderr); code != exitUsage {
			t.Errorf("--listen %s: exit %d, want %d", addr, code, exitUsage)
		}
		want := `mailmerge: error: listen address "` + addr + `": preview listens on loopback only` + "\n" +
			"mailmerge: hint: the page shows every recipient's message: use 127.0.0.1:PORT, [::1]:PORT or localhost:PORT\n"
		if stderr.String() != want {
			t.Errorf("--listen %s: stderr\n%s\nwant\n%s", addr, stderr.String(), want)
		}
		if stdout.Len() != 0 {
			t.Errorf("--listen %s: stdout %q", addr, stdout.String())
		}
	}
}

func TestPreviewUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"preview"}, "mailmerge: error: preview needs a campaign file\n"},
		{[]string{"preview", "missing.toml"}, "mailmerge: error: missing.toml: no such file or directory\n"},
		{[]string{"preview", "--port", "1", greeting}, "mailmerge: error: flag provided but not defined: -port\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, nil, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.HasPrefix(stderr.String(), tc.stderr) {
			t.Errorf("%v: stderr %q, want it to start %q", tc.args, stderr.String(), tc.stderr)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help", "preview"}, nil, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "Usage: mailmerge preview CAMPAIGN.toml") {
		t.Errorf("help preview: exit %d, %q", code, stdout.String())
	}
}

// TestPreviewServesUntilInterrupted runs the command as a user would, reads
// the address it prints, asks the page for the list and then stops it as
// Ctrl-C would.
func TestPreviewServesUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- servePreview(ctx, greeting, "127.0.0.1:0", false, newUI(&stdout, &stderr)) }()

	addr := regexp.MustCompile(`^preview: (http://127\.0\.0\.1:\d+/)([A-Za-z0-9_-]{32,}/) \(Ctrl-C to stop\)\n$`)
	var url, origin string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := addr.FindStringSubmatch(stdout.String()); m != nil {
			url, origin = m[1]+m[2], m[1]
		}
	}
	if url == "" {
		t.Fatalf("no address printed; stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	if got, want := stderr.String(), "loaded "+greeting+": 5 recipients, 0 with problems\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}

	// Without the token in the printed address, nothing is shown.
	res, err := http.Get(origin + "api/rows")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET api/rows without the token: %d, want 403", res.StatusCode)
	}
	res, err = http.Get(url + "api/rows")
	if err != nil {
		t.Fatal(err)
	}
	var rows struct {
		Total int `json:"total"`
		Rows  []struct {
			To string `json:"to"`
		} `json:"rows"`
	}
	err = json.NewDecoder(res.Body).Decode(&rows)
	res.Body.Close()
	if err != nil || rows.Total != 5 || rows.Rows[0].To != "王小明 <wang.xiaoming@example.com>" {
		t.Errorf("GET api/rows: %+v, %v", rows, err)
	}

	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d after Ctrl-C, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("preview did not stop")
	}
}
