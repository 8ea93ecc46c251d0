package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/security"
)

// BenchmarkSendPlain measures pool throughput against an in-process go-smtp
// server on loopback: 2 KB messages, 4 kept-alive connections, no TLS.
func BenchmarkSendPlain(b *testing.B) {
	ts := newTestServer(b, plainServer, func(ts *testServer) { ts.quiet = true })
	cfg := ts.config(security.None)
	cfg.Workers = 4
	cfg.MaxPerConnection = 1 << 30
	p, err := NewPool(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 2048/78)
	msg := message("From: nami@example.com\r\nTo: friend@example.com\r\nSubject: bench\r\n\r\n" + body)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if res := p.Send(context.Background(), friend, msg, nil); res.Status != Delivered {
				b.Errorf("status %v: %v", res.Status, res.Err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
