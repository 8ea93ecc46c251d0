package recipients

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// fuzzEncodings are the encodings FuzzReader picks from by index.
var fuzzEncodings = []string{"", "gbk", "big5", "shift_jis", "windows-1252", "utf-16", "euc-kr", "gb18030"}

// FuzzReader checks that no list makes the reader panic or loop, that every
// recipient has exactly the header's columns, and that all text is UTF-8.
func FuzzReader(f *testing.F) {
	seeds := []string{
		"name,email\nAnn,ann@example.com\n",
		"\xEF\xBB\xBFname;email\r\nAnn;\"a;b\"\r\n",
		"name\temail\n\"multi\nline\"\tx\n",
		"name,size\nTV,27\" screen\nRadio,\"open\n",
		"name,email,city\nBob,b@example.com\n,,\nCid,c,d,e\n",
		"a,a\n",
		",\n",
		"\xFF\xFEn\x00\n\x00",
		encode(simplifiedchinese.GBK, "姓名,邮箱\n张三,zhang@example.com\n"),
		"",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint8(i), uint8(0))
	}
	f.Add([]byte("a;b\n1;2\n"), uint8(0), uint8(';'))
	f.Fuzz(func(t *testing.T, data []byte, enc, delim uint8) {
		opts := Options{Encoding: fuzzEncodings[int(enc)%len(fuzzEncodings)]}
		if delim%4 == 1 {
			opts.Delimiter = rune(delim) // sometimes an invalid one, which must be refused cleanly
		}
		r, err := NewReader("fuzz.csv", bytes.NewReader(data), opts)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("NewReader: %v (%T) is not an *Error", err, err)
			}
			return
		}
		columns := r.Columns()
		if len(columns) == 0 {
			t.Fatal("a header with no columns")
		}
		seen := make(map[string]bool)
		for _, c := range columns {
			if c == "" || seen[c] || !utf8.ValidString(c) || strings.TrimSpace(c) != c {
				t.Fatalf("bad column name %q in %q", c, columns)
			}
			seen[c] = true
		}
		// Every call consumes input or ends the list, so this many calls suffice.
		for range len(data) + 3 {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Next: %v (%T) is not an *Error", err, err)
				}
				continue
			}
			if len(rec.Fields) != len(columns) {
				t.Fatalf("row %d has %d fields for %d columns", rec.Row, len(rec.Fields), len(columns))
			}
			for _, c := range columns {
				v, ok := rec.Fields[c]
				if !ok {
					t.Fatalf("row %d lacks column %q", rec.Row, c)
				}
				if !utf8.ValidString(v) {
					t.Fatalf("row %d, column %q: %q is not UTF-8", rec.Row, c, v)
				}
			}
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("no io.EOF after %d calls to Next (last: %v)", len(data)+3, err)
		}
	})
}

// benchmarkList is a 100,000-row member list as Excel would export it.
func benchmarkList(rows int) string {
	var b strings.Builder
	b.WriteString("id,name,email,city,amount,note\r\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,Member %d,member%d@example.com,城市 %d,%d.%02d,\"paid, thank you\"\r\n",
			i+1, i, i, i%100, i%1000, i%100)
	}
	return b.String()
}

func BenchmarkReader(b *testing.B) {
	list := benchmarkList(100_000)
	cases := []struct {
		name string
		data []byte
		opts Options
	}{
		{"utf-8", []byte(list), Options{}},
		{"gbk", []byte(encode(simplifiedchinese.GBK, list)), Options{Encoding: "gbk"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := NewReader("bench.csv", bytes.NewReader(c.data), c.opts)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				if n != 100_000 {
					b.Fatalf("read %d recipients, want 100000", n)
				}
			}
		})
	}
}
