package recipients

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

var bigBook struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// TestMain removes the benchmark's workbook, made once per run.
func TestMain(m *testing.M) {
	code := m.Run()
	if bigBook.dir != "" {
		os.RemoveAll(bigBook.dir)
	}
	os.Exit(code)
}

// writeBigBook writes a member list of n rows with the stream writer:
// a zero-padded ID, name, address, a date and a score per row.
func writeBigBook(path string, n int) error {
	f := excelize.NewFile()
	defer f.Close()
	code := "yyyy-mm-dd"
	date, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	if err := sw.SetRow("A1", []any{"id", "name", "email", "joined", "score"}); err != nil {
		return err
	}
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		row := []any{
			fmt.Sprintf("%07d", i), fmt.Sprintf("会员 %d", i), fmt.Sprintf("member%d@example.com", i),
			excelize.Cell{StyleID: date, Value: day.AddDate(0, 0, i%2000)}, float64(i%1000) / 10,
		}
		if err := sw.SetRow(cellName(1, i+1), row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.SaveAs(path)
}

// BenchmarkWorkbook200k reads a 200,000-row workbook; peak-heap-MB is the
// largest live heap seen while reading, sampled every 10,000 rows.
func BenchmarkWorkbook200k(b *testing.B) {
	rows := benchRows()
	bigBook.once.Do(func() {
		bigBook.dir, bigBook.err = os.MkdirTemp("", "mailmerge-bench-")
		if bigBook.err == nil {
			bigBook.path = filepath.Join(bigBook.dir, "members.xlsx")
			bigBook.err = writeBigBook(bigBook.path, rows)
		}
	})
	if bigBook.err != nil {
		b.Fatal(bigBook.err)
	}
	var peak uint64
	var ms runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		r, err := Open(bigBook.path, Options{})
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
			if n++; n%10_000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
		if err := r.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

func benchRows() int {
	if s := os.Getenv("MAILMERGE_BENCH_ROWS"); s != "" {
		var n int
		fmt.Sscan(s, &n)
		return n
	}
	return 200_000
}
