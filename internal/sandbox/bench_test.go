package sandbox

import (
	"testing"
)

// BenchmarkDeliver measures one message over one TLS connection with
// counters only, the setup of long campaign benchmarks.
func BenchmarkDeliver(b *testing.B) {
	benchDeliver(b, Options{LogLimit: -1})
}

// BenchmarkDeliverMaildir adds the durable Maildir write (two fsyncs per
// message).
func BenchmarkDeliverMaildir(b *testing.B) {
	benchDeliver(b, Options{Dir: b.TempDir(), LogLimit: -1})
}

func benchDeliver(b *testing.B, opts Options) {
	srv, err := Start(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	c, err := dialErr(srv, srv.RootCAs())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(mailsmtpPlain(srv)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := send(c, "ann@example.com", []string{"bob@example.com"}, msg); err != nil {
			b.Fatal(err)
		}
	}
	if srv.Received() < b.N {
		b.Fatalf("received %d of %d", srv.Received(), b.N)
	}
}
