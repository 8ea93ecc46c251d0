package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkRecord measures outcomes recorded per second, each a Begin and a
// Record as in a run, without Sync (the run syncs every few seconds).
func BenchmarkRecord(b *testing.B) {
	entry := func(row int) Entry {
		return Entry{Row: row, Email: fmt.Sprintf("recipient%d@example.com", row), Status: Sent, Code: 250,
			Reply: "2.0.0 Ok: queued as 4F2A1C3D9E", MessageID: "<20250314092653.4f2a@example.com>", Attempts: 1, Time: t0}
	}
	b.Run("single", func(b *testing.B) {
		j := open(b, filepath.Join(b.TempDir(), "results.csv"))
		defer j.Abandon()
		row := 0
		for b.Loop() {
			row = row%MaxRow + 1
			e := entry(row)
			if err := j.Begin(row, e.Email, e.MessageID, ""); err != nil {
				b.Fatal(err)
			}
			if err := j.Record(e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("parallel", func(b *testing.B) {
		j := open(b, filepath.Join(b.TempDir(), "results.csv"))
		defer j.Abandon()
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				row := int(next.Add(1)%MaxRow) + 1
				e := entry(row)
				if err := j.Begin(row, e.Email, e.MessageID, ""); err != nil {
					b.Error(err)
					return
				}
				if err := j.Record(e); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkOpenMillion measures Open of a results file of 1,000,000 sent
// rows, the work --resume does before it sends anyone: read every line back
// and keep the ~17-byte index. The file is written once, through the journal,
// with a Postfix-style reply and a relay named like a host, as [smtp] alone
// names its relay. bench/scale.sh quotes it.
func BenchmarkOpenMillion(b *testing.B) {
	const rows = 1_000_000
	path := filepath.Join(b.TempDir(), "results.csv")
	j := open(b, path)
	for row := 1; row <= rows; row++ {
		e := Entry{Row: row, Email: fmt.Sprintf("recipient%d@example.com", row), Status: Sent, Code: 250,
			Reply: "2.0.0 Ok: queued as 4F2A1C3D9E", MessageID: fmt.Sprintf("<20250314092653.%d@example.com>", row),
			Attempts: 1, Time: t0, Relay: "smtp.example.com"}
		if err := j.Begin(row, e.Email, e.MessageID, e.Relay); err != nil {
			b.Fatal(err)
		}
		if err := j.Record(e); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		j := open(b, path)
		if j.Len() != rows {
			b.Fatalf("Len = %d, want %d", j.Len(), rows)
		}
		if err := j.Abandon(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(st.Size())/rows, "file-B/row")
}
