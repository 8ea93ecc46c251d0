package delivery

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net/textproto"
	"testing"
)

// The data writer must put on the wire what textproto's dot writer does,
// however the message is cut into writes. (textproto turns CR CR LF into
// CR CR CR LF; the data writer leaves a CRLF that is already there alone.)
func TestDataWriterMatchesTextproto(t *testing.T) {
	cases := []string{
		"",
		"a",
		".",
		"..\r\n.\r\n",
		"Subject: x\r\n\r\n.hidden\r\nend\r\n",
		"bare\nlines\n.dot\n",
		"cr only\r",
		"cr\rin the middle\r\n",
		"\n\n.\n",
		".\r\n.\r\n.",
		"ends without a break",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab.\r\n")
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, msg := range cases {
		var want bytes.Buffer
		tw := textproto.NewWriter(bufio.NewWriter(&want))
		dw := tw.DotWriter()
		dw.Write([]byte(msg))
		dw.Close()

		var got bytes.Buffer
		bw := bufio.NewWriter(&got)
		d := &dataWriter{w: bw}
		// The same bytes in random pieces, as go-mail's writer hands them.
		for rest := []byte(msg); len(rest) > 0; {
			n := 1 + rng.IntN(len(rest))
			if k, err := d.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			rest = rest[n:]
		}
		if err := d.end(); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if bytes.Contains([]byte(msg), []byte("\r\r")) {
			want.Reset()
			want.WriteString(stuffed(msg))
		}
		if got.String() != want.String() {
			t.Fatalf("message %q:\n got %q\nwant %q", msg, got.String(), want.String())
		}
	}
}

// stuffed is RFC 5321 4.5.2 spelled out a byte at a time.
func stuffed(msg string) string {
	var b []byte
	for i := 0; i < len(msg); i++ {
		if msg[i] == '.' && (i == 0 || msg[i-1] == '\n') {
			b = append(b, '.')
		}
		if msg[i] == '\n' && (i == 0 || msg[i-1] != '\r') {
			b = append(b, '\r')
		}
		b = append(b, msg[i])
	}
	switch {
	case len(msg) == 0:
		return "\r\n.\r\n"
	case msg[len(msg)-1] == '\n':
		return string(b) + ".\r\n"
	case msg[len(msg)-1] == '\r':
		return string(b) + "\n.\r\n"
	}
	return string(b) + "\r\n.\r\n"
}

func BenchmarkDataWriter(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 74)
	var msg []byte
	for range 28 {
		msg = append(append(msg, line...), "\r\n"...)
	}
	bw := bufio.NewWriterSize(&bytes.Buffer{}, 64<<10)
	b.Run("textproto", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			bw.Reset(discard{})
			dw := textproto.NewWriter(bw).DotWriter()
			dw.Write(msg)
			dw.Close()
		}
	})
	b.Run("dataWriter", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			bw.Reset(discard{})
			d := &dataWriter{w: bw}
			d.Write(msg)
			d.end()
			bw.Flush()
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
