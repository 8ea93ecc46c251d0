package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// TestSendRelaysOutageAndKill sends over two relays. Relay b refuses new
// connections after a while and is taken out; the run is killed with
// SIGKILL part-way; --resume finishes. Every recipient has exactly one copy
// across both relays' Maildirs (at most one for a row left unknown), and
// each row's relay column names the relay that has it.
func TestSendRelaysOutageAndKill(t *testing.T) {
	bin := mailmergeBinary(t)
	dir := t.TempDir()
	const rows = 1200
	camp := writeSendCampaign(t, dir, rows)
	var bDown atomic.Bool
	boxes := map[string]string{"a": filepath.Join(dir, "relay-a"), "b": filepath.Join(dir, "relay-b")}
	faults := &sandbox.Faults{Connect: func(int) error {
		if bDown.Load() {
			return sandbox.Refuse(421, "4.3.2", "relay b is shutting down")
		}
		return nil
	}}
	var relays strings.Builder
	for _, name := range []string{"a", "b"} {
		opts := sandbox.Options{Dir: boxes[name], Security: security.None, AllowAnonymous: true}
		if name == "b" {
			opts.Faults = faults
		}
		srv, err := sandbox.Start(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		fmt.Fprintf(&relays, "\n[[relays]]\nname = %q\nhost = \"127.0.0.1\"\nport = %d\nsecurity = \"none\"\nmax_per_connection = 20\n", name, srv.Port())
	}
	appendFile(t, camp, relays.String())

	r := startMailmerge(t, bin, "send", "--yes", camp)
	waitForMessages(t, boxes["b"], 150, r.done)
	bDown.Store(true)
	waitForMessages(t, boxes["a"], 500, r.done)
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	r.wait(t)
	if !strings.Contains(r.stderr.String(), "relay b is out until") {
		t.Errorf("stderr does not say that relay b is out:\n%s", r.stderr.String())
	}

	r = startMailmerge(t, bin, "send", "--yes", "--resume", "--json", camp)
	code := r.wait(t)
	if code != exitOK && code != exitPartial {
		t.Fatalf("resume exited %d\nstderr:\n%s", code, r.stderr.String())
	}
	var out struct {
		Sent   int `json:"sent"`
		Relays []struct {
			Name    string `json:"name"`
			Sent    int    `json:"sent"`
			Outages int    `json:"outages"`
		} `json:"relays"`
	}
	if err := json.Unmarshal(r.stdout.Bytes(), &out); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout.String())
	}
	if len(out.Relays) != 2 || out.Relays[1].Name != "b" || out.Relays[1].Outages < 1 || out.Relays[0].Sent != out.Sent {
		t.Errorf("--json relays = %+v, sent %d: want every message of the resume on a, b out", out.Relays, out.Sent)
	}

	results := filepath.Join(dir, "results.csv")
	status := loadSendResults(t, results)
	inBox := map[string]map[string]int{"a": maildirCopies(t, boxes["a"]), "b": maildirCopies(t, boxes["b"])}
	inA, inB := inBox["a"], inBox["b"]
	got := map[string]int{}
	for _, box := range inBox {
		for to, n := range box {
			got[to] += n
		}
	}
	checkDeliveredOnce(t, rows, status, got)
	for row, relay := range relayColumn(t, results) {
		box, ok := inBox[relay]
		switch {
		case status[row] != "sent":
		case !ok:
			t.Errorf("row %d is sent by relay %q, which is not in the pool", row, relay)
		case box[userAddr(row)] != 1:
			t.Errorf("row %d says relay %s, whose Maildir has %d copies", row, relay, box[userAddr(row)])
		}
	}
	t.Logf("relay a has %d, relay b %d; the resume sent %d; relays %+v", len(inA), len(inB), out.Sent, out.Relays)
	if len(inB) < 150 || len(inB) > rows/2 {
		t.Errorf("relay b has %d messages: want its share until it went out, then none", len(inB))
	}
}

// relayColumn reads row -> relay from a results file.
func relayColumn(t *testing.T, path string) map[int]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, r := range recs[1:] {
		row, _ := strconv.Atoi(r[0])
		out[row] = r[8]
	}
	return out
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}
