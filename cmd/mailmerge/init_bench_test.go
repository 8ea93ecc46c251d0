package main

import (
	"bytes"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkFirstTenMinutes is the figure of issue #12: a new user's
// init, check and send --sandbox of the campaign init writes, each run as
// the command runs it (in this process, without a terminal). The
// campaign's own pace, rate = "1/s, 500/d", puts a second between its two
// messages: that second is most of the time.
//
//	go test -run '^$' -bench FirstTenMinutes -benchtime 5x ./cmd/mailmerge
func BenchmarkFirstTenMinutes(b *testing.B) {
	base := b.TempDir()
	for i := 0; b.Loop(); i++ {
		dir := filepath.Join(base, strconv.Itoa(i))
		path := filepath.Join(dir, "campaign.toml")
		for _, args := range [][]string{
			{"init", dir},
			{"check", path},
			{"send", "--sandbox", filepath.Join(dir, "inbox"), path},
		} {
			var stderr bytes.Buffer
			if status := run(args, strings.NewReader(""), io.Discard, &stderr); status != exitOK {
				b.Fatalf("mailmerge %s: exit status %d\n%s", strings.Join(args, " "), status, &stderr)
			}
		}
	}
}
