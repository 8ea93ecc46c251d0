package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const crashEnv = "MAILMERGE_JOURNAL_CRASH_HELPER"

// TestHelperProcess is the sending run that TestKillAtAnyMoment kills. It
// resumes like --resume (rows with an outcome are left alone), sends the
// rest with several workers and prints each row on stdout once Record has
// returned, which is the moment the outcome counts as confirmed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestKillAtAnyMoment")
	}
	rows, _ := strconv.Atoi(os.Getenv(crashEnv + "_ROWS"))
	fmt.Println("opening")
	j, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				row := int(next.Add(1))
				if row > rows {
					return
				}
				if _, done := j.Lookup(row); done {
					continue
				}
				email := fmt.Sprintf("r%d@example.com", row)
				if err := j.Begin(row, email, fmt.Sprintf("<%d@example.com>", row), ""); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				if err := j.Record(Entry{Row: row, Email: email, Status: Sent, Code: 250,
					Reply: "2.0.0 Ok: queued as " + strconv.Itoa(row), Attempts: 1}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Fprintf(os.Stdout, "%d\n", row)
			}
		})
	}
	wg.Wait()
	if err := j.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

// TestKillAtAnyMoment kills a sending run with SIGKILL at random moments,
// resuming it each time on the same results file, and checks the promise
// made to users: no outcome a run reported is lost, a row in flight comes
// back as unknown, and no row is sent twice.
func TestKillAtAnyMoment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	path := filepath.Join(t.TempDir(), "results.csv")
	const rows = 4000
	sentBy := map[int]int{} // row -> round that reported it
	recovered := 0

	for round := 1; round <= 11; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path, crashEnv+"_ROWS="+strconv.Itoa(rows))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter, blind := rng.IntN(600), round%3 == 0
		if round == 11 {
			killAfter = -1 // the last run finishes
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			if sc.Text() == "opening" {
				if blind {
					// Kill it perhaps while it is still opening and recovering.
					time.AfterFunc(time.Duration(rng.IntN(20000))*time.Microsecond, func() { cmd.Process.Kill() })
					killAfter = -1
				}
				continue
			}
			row, err := strconv.Atoi(sc.Text())
			if err != nil {
				t.Fatalf("round %d: child said %q", round, sc.Text())
			}
			if r, dup := sentBy[row]; dup {
				t.Fatalf("round %d sent row %d again, already sent in round %d", round, row, r)
			}
			sentBy[row] = round
			if n++; n == killAfter {
				cmd.Process.Kill()
			}
		}
		err = cmd.Wait()
		t.Logf("round %d: %d rows reported, child: %v", round, n, err)

		j := open(t, path)
		unknown := 0
		for row := 1; row <= rows; row++ {
			p, ok := j.Lookup(row)
			if _, reported := sentBy[row]; reported && (!ok || p.Status != Sent) {
				t.Fatalf("round %d: row %d was reported sent but the file says %q", round, row, p.Status)
			}
			if ok && p.Status == Unknown {
				unknown++
			}
			if ok && p.EmailHash != HashEmail(fmt.Sprintf("r%d@example.com", row)) {
				t.Fatalf("round %d: row %d has the wrong address", round, row)
			}
		}
		if j.Recovered() > 4 {
			t.Fatalf("round %d: %d rows recovered, but only 4 can be in flight", round, j.Recovered())
		}
		// A row can be in the file unreported: killed between Record and the print.
		if j.Len() < len(sentBy) || j.Len() > rows {
			t.Fatalf("round %d: %d rows in the file, %d reported", round, j.Len(), len(sentBy))
		}
		recovered += j.Recovered()
		if unknown != recovered {
			t.Fatalf("round %d: %d unknown rows, but %d were recovered", round, unknown, recovered)
		}
		if err == nil && j.Len() != rows {
			t.Fatalf("round %d: child finished, but %d of %d rows have an outcome", round, j.Len(), rows)
		}
		must(t, j.Abandon())
	}

	j := open(t, path)
	if j.Len() != rows {
		t.Fatalf("after the last run, %d of %d rows have an outcome", j.Len(), rows)
	}
	must(t, j.Close())
	recs := readResults(t, path)
	for i := 1; i < len(recs); i++ {
		a, _ := strconv.Atoi(recs[i-1][0])
		b, _ := strconv.Atoi(recs[i][0])
		if a >= b {
			t.Fatalf("compacted file not in row order at rows %d, %d", a, b)
		}
	}
}
