// Command profsend runs the send path of mailmerge (check, then deliver) on
// a campaign under the Go CPU profiler, for finding what limits a benchmark
// send. It skips only the command line's flags, progress bar and summary.
//
//	go build -o /tmp/profsend ./bench/profsend
//	/tmp/profsend -cpuprofile send.pprof -workers 4 /tmp/mailmerge-bench/c2k/campaign.toml
//	go tool pprof -top -nodecount 40 /tmp/profsend send.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

func main() {
	cpu := flag.String("cpuprofile", "", "write a CPU profile here")
	mem := flag.String("memprofile", "", "write a heap profile here at the end")
	block := flag.String("blockprofile", "", "write a blocking profile here at the end")
	traceOut := flag.String("trace", "", "write an execution trace here")
	workers := flag.Int("workers", 4, "connections")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: profsend [-cpuprofile FILE] [-workers N] CAMPAIGN.toml")
	}
	c, err := campaign.Load(flag.Arg(0), campaign.Options{Mailer: "mailmerge/profsend"})
	if err != nil {
		log.Fatal(err)
	}
	defer record(*cpu, pprof.StartCPUProfile, pprof.StopCPUProfile)()
	defer record(*traceOut, trace.Start, trace.Stop)()
	if *block != "" {
		runtime.SetBlockProfileRate(1)
	}
	sum, err := c.Send(context.Background(), campaign.SendOptions{Restart: true, Rate: "0", Workers: *workers})
	if err != nil {
		log.Print(err)
	}
	snapshot(*block, func(w io.Writer) error { return pprof.Lookup("block").WriteTo(w, 0) })
	snapshot(*mem, pprof.WriteHeapProfile)
	fmt.Printf("sent %d failed %d unknown %d in %.3fs (%.0f msgs/s)\n",
		sum.Sent, sum.Failed, sum.Unknown, sum.Elapsed.Seconds(), float64(sum.Sent)/sum.Elapsed.Seconds())
}

// record starts a recorder writing to path (none when path is empty) and
// returns what stops it.
func record(path string, start func(io.Writer) error, stop func()) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = start(f)
	}
	if err != nil {
		log.Fatal(err)
	}
	return func() { stop(); f.Close() }
}

// snapshot writes one profile to path, when path is not empty.
func snapshot(path string, write func(io.Writer) error) {
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = write(f)
		f.Close()
	}
	if err != nil {
		log.Print(err)
	}
}
