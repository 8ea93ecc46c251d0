package suppress

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkLoadMillion loads a results-style suppression file of 1,000,000
// addresses (issue #13: under 2 s). retained-MB is what the loaded list
// keeps alive after a collection; alloc-MB is all that the load allocated,
// an upper bound of what it adds to the heap at its peak.
func BenchmarkLoadMillion(b *testing.B) {
	path := filepath.Join(b.TempDir(), "unsubscribed.csv")
	writeMillion(b, path, 1_000_000)
	var before, after runtime.MemStats
	var l *List
	for b.Loop() {
		l = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		var err error
		if l, err = Load(path); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
	}
	if l.Len() != 1_000_000 {
		b.Fatalf("Len = %d", l.Len())
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/(1<<20), "alloc-MB")
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "retained-MB")
	runtime.KeepAlive(l)
}

// writeMillion writes n addresses in the layout File.Add writes.
func writeMillion(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, Header)
	for i := range n {
		fmt.Fprintf(w, "person%d@example%d.com,2026-11-02T03:04:05Z,unsubscribe: one-click\n", i, i%1000)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkHas(b *testing.B) {
	path := filepath.Join(b.TempDir(), "unsubscribed.csv")
	writeMillion(b, path, 1_000_000)
	l, err := Load(path)
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		l.Has(fmt.Sprintf("Person%d@example%d.com", i*2, i%1000))
		i++
	}
}
