// Command faultsmtp is the misbehaving server of the proof's fault, crash and
// hostile-input runs: the sandbox SMTP server (internal/sandbox) on
// 127.0.0.1, storing one Maildir copy per envelope recipient with a
// Delivered-To line, and, with -profile faults, failing on a seeded random
// schedule: 421 and hang up, 451/452, 550 for chosen recipients, connections
// dropped in the middle of DATA and after it (before or after storing), and
// stalls past the client's deadline. It writes its port and CA to files,
// serves until SIGTERM or SIGINT, then writes how many faults of each kind
// it injected as JSON.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// schedule draws the faults from one seeded generator under a mutex, so a
// run with the same seed and the same order of events misbehaves the same way.
type schedule struct {
	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
	stall  time.Duration
	refuse map[string]bool
	only   string
}

// hit reports whether an event with probability p happens now, counting it.
func (s *schedule) hit(kind string, p float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng.Float64() < p && strings.HasPrefix(kind, s.only) {
		s.counts[kind]++
		return true
	}
	return false
}

func (s *schedule) count(kind string) {
	s.mu.Lock()
	s.counts[kind]++
	s.mu.Unlock()
}

func (s *schedule) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rng.IntN(n)
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("faultsmtp: ")
	dir := flag.String("dir", "", "Maildir to store messages in")
	portFile := flag.String("port-file", "", "write the port here once listening")
	caFile := flag.String("ca-file", "", "write the throwaway CA (PEM) here")
	statsFile := flag.String("stats-file", "", "write fault counts (JSON) here on exit")
	securityName := flag.String("security", "ssl", "ssl | starttls | none")
	user := flag.String("user", "proof", "AUTH user name")
	pass := flag.String("pass", "proof-secret", "AUTH password")
	seed := flag.Uint64("seed", 1, "seed of the fault schedule")
	profile := flag.String("profile", "clean", "clean | faults")
	refuse := flag.String("refuse", "", "comma-separated recipients refused with 550 5.1.1")
	tempfail := flag.String("tempfail", "", "comma-separated recipients refused once with 451 4.3.0 at RCPT (then accepted)")
	stall := flag.Duration("stall", 3*time.Second, "how long a stall lasts (past the client's deadline)")
	rate := flag.Float64("rate", 1, "multiplier of every fault probability")
	only := flag.String("only", "", "inject only the faults whose name starts with this (to isolate one kind)")
	flag.Parse()

	s := &schedule{only: *only, rng: rand.New(rand.NewPCG(*seed, 7)), counts: map[string]int{}, stall: *stall, refuse: map[string]bool{}}
	for _, a := range strings.Split(*refuse, ",") {
		if a = strings.TrimSpace(strings.ToLower(a)); a != "" {
			s.refuse[a] = true
		}
	}
	opts := sandbox.Options{Dir: *dir, Username: *user, Password: *pass, LogLimit: -1, Domain: "faultsmtp.localhost",
		MaxRecipients: 1000, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	mode, err := security.Parse(*securityName)
	if err != nil {
		log.Fatalf("-security: %v", err)
	}
	opts.Security = mode
	temp := map[string]bool{}
	for _, a := range strings.Split(*tempfail, ",") {
		if a = strings.TrimSpace(strings.ToLower(a)); a != "" {
			temp[a] = true
		}
	}
	f := &sandbox.Faults{
		Rcpt: func(to string) error {
			s.mu.Lock()
			once := temp[strings.ToLower(to)]
			delete(temp, strings.ToLower(to))
			s.mu.Unlock()
			if once {
				s.count("rcpt 451 once, chosen recipient")
				return sandbox.Refuse(451, "4.3.0", "try again later")
			}
			if s.refuse[strings.ToLower(to)] {
				s.count("rcpt 550 chosen recipient")
				return sandbox.Refuse(550, "5.1.1", "no such user here")
			}
			return nil
		},
	}
	if *profile == "faults" {
		r := *rate
		f.Connect = func(int) error {
			if s.hit("connect 421 + disconnect", 0.1*r) {
				return sandbox.Refuse(421, "4.3.2", "too busy, try later")
			}
			return nil
		}
		f.Mail = func(string) error {
			if s.hit("mail 451", 0.01*r) {
				return sandbox.Refuse(451, "4.3.0", "local error in processing")
			}
			return nil
		}
		chosen := f.Rcpt
		f.Rcpt = func(to string) error {
			if err := chosen(to); err != nil {
				return err
			}
			switch {
			case s.hit("rcpt 451", 0.015*r):
				return sandbox.Refuse(451, "4.7.1", "greylisted, try again")
			case s.hit("rcpt 452", 0.01*r):
				return sandbox.Refuse(452, "4.5.3", "too many recipients right now")
			case s.hit("rcpt 421 + disconnect", 0.005*r):
				return sandbox.Refuse(421, "4.7.0", "closing connection")
			}
			return nil
		}
		f.DropDataAfter = func(d sandbox.Delivery) int {
			if s.hit("drop mid-DATA", 0.01*r) {
				return 1 + s.intn(2000)
			}
			return 0
		}
		f.Data = func(d sandbox.Delivery) error {
			switch {
			case s.hit("data 451", 0.015*r):
				return sandbox.Refuse(451, "4.3.0", "queue file write error")
			case s.hit("data 452", 0.005*r):
				return sandbox.Refuse(452, "4.3.1", "insufficient system storage")
			case s.hit("data 421 + disconnect", 0.01*r):
				return sandbox.Refuse(421, "4.4.2", "timeout, closing")
			case s.hit("drop after DATA, not stored", 0.01*r):
				return sandbox.ErrDrop
			case s.hit("drop after DATA, stored", 0.01*r):
				return sandbox.ErrDropAfterStore
			}
			return nil
		}
		f.Stall = func(st sandbox.Stage) time.Duration {
			p := 0.001 * r
			if st == sandbox.StageData {
				p = 0.004 * r
			}
			if s.hit("stall past deadline at "+string(st), p) {
				return s.stall
			}
			return 0
		}
	}
	opts.Faults = f
	srv, err := sandbox.Start(opts)
	if err != nil {
		log.Fatal(err)
	}
	if *caFile != "" {
		if err := os.WriteFile(*caFile, srv.CAPEM(), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if *portFile != "" {
		tmp := *portFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(strconv.Itoa(srv.Port())), 0o644); err != nil {
			log.Fatal(err)
		}
		if err := os.Rename(tmp, *portFile); err != nil {
			log.Fatal(err)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
	if *statsFile != "" {
		s.mu.Lock()
		out := map[string]any{"faults": s.counts, "sessions": srv.Sessions(), "received": srv.Received(), "seed": *seed, "profile": *profile}
		s.mu.Unlock()
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(*statsFile, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
