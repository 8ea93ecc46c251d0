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
	trace_ := flag.String("trace", "", "write an execution trace here")
	workers := flag.Int("workers", 4, "connections")
	flag.Parse()
	if flag.NArg() != 1 {
		log.Fatal("usage: profsend [-cpuprofile FILE] [-workers N] CAMPAIGN.toml")
	}
	c, err := campaign.Load(flag.Arg(0), campaign.Options{Mailer: "mailmerge/profsend"})
	if err != nil {
		log.Fatal(err)
	}
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *block != "" {
		runtime.SetBlockProfileRate(1)
	}
	if *trace_ != "" {
		f, err := os.Create(*trace_)
		if err != nil {
			log.Fatal(err)
		}
		if err := trace.Start(f); err != nil {
			log.Fatal(err)
		}
		defer trace.Stop()
	}
	sum, err := c.Send(context.Background(), campaign.SendOptions{Restart: true, Rate: "0", Workers: *workers})
	if err != nil {
		log.Print(err)
	}
	if *block != "" {
		if f, err := os.Create(*block); err == nil {
			pprof.Lookup("block").WriteTo(f, 0)
			f.Close()
		}
	}
	if *mem != "" {
		f, err := os.Create(*mem)
		if err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	fmt.Printf("sent %d failed %d unknown %d in %.3fs (%.0f msgs/s)\n",
		sum.Sent, sum.Failed, sum.Unknown, sum.Elapsed.Seconds(), float64(sum.Sent)/sum.Elapsed.Seconds())
}
