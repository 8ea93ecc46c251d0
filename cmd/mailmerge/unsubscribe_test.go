package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mailmerge/mailmerge/internal/unsubscribe"
)

// lockedWriter lets the endpoint's handlers log at once.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// TestUnsubscribeServe runs unsubscribe serve on a real listener: it says
// where it listens, a one-click POST lands in unsubscribed.csv beside the
// campaign, and the end of its context (Ctrl-C) ends it with status 0.
func TestUnsubscribeServe(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "campaign.toml")
	os.WriteFile(path, []byte("[unsubscribe]\nurl = \"https://news.example.com/u\"\nsecret_env = \"NEWS_SECRET\"\n"), 0o644)
	const secret = "a-long-enough-secret-for-links"
	t.Setenv("NEWS_SECRET", secret)

	out, w := io.Pipe()
	stderr := &lockedWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	status := make(chan int, 1)
	go func() {
		status <- serveUnsubscribe(ctx, path, "127.0.0.1:0", false, newUI(w, stderr))
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%v; stderr: %s", err, stderr.b.String())
	}
	_, rest, _ := strings.Cut(line, "listening on ")
	base, _, _ := strings.Cut(rest, " ")
	if !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(line, filepath.Join(dir, "unsubscribed.csv")) {
		t.Fatalf("serve says %q", line)
	}
	go io.Copy(io.Discard, out)

	signer, _ := unsubscribe.NewSigner([]byte(secret))
	resp, err := http.Post(signer.URL(base+"/u", "alice@example.com"), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST: %s", resp.Status)
	}
	cancel()
	if s := <-status; s != exitOK {
		t.Errorf("exit status %d; stderr: %s", s, stderr.b.String())
	}
	b, err := os.ReadFile(filepath.Join(dir, "unsubscribed.csv"))
	if err != nil || !strings.Contains(string(b), "\nalice@example.com,") {
		t.Errorf("unsubscribed.csv: %q, %v", b, err)
	}
	if strings.Contains(stderr.b.String(), secret) {
		t.Error("the secret shows on stderr")
	}
}
