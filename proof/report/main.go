// Command report writes docs/PROOF.md from the records scripts/proof
// collected (one JSON object per line, each with a "section" and a "pass"),
// so nothing in the document is typed by hand.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
)

type column struct{ title, key string }

type section struct {
	id, title, intro string
	cols             []column
}

var sections = []section{
	{"interop", "2. Interoperability matrix", "Each campaign sent to each real server on 127.0.0.1; every copy read back from the server (Maildir or HTTP API) and matched to the list: envelope recipient, decoded headers (Subject, From, To, Cc, X-Proof-City against the CSV), attachment and inline image against the files byte for byte.",
		[]column{{"Server", "server"}, {"Campaign", "campaign"}, {"Security", "security"}, {"Rows", "rows"}, {"Expected copies", "envelope_rcpts"}, {"Received exactly once", "delivered_once"}, {"Duplicates", "duplicates"}, {"Lost", "lost"}, {"Wrong envelope", "wrong_envelope"}, {"Header errors", "header_errors"}, {"Attachment/inline errors", "attachment_errors"}, {"Exit", "exit"}, {"Result", "pass"}}},
	{"strict", "3a. Python `email` parser, `policy=email.policy.strict`", "Every rendered sample message parsed by Python's standard library with the strict policy (which raises on the first defect); defects of every header and MIME part are listed.",
		[]column{{"Message", "file"}, {"Subject (decoded by Python)", "subject"}, {"Defects", "defects"}, {"Result", "pass"}}},
	{"spam", "3b. SpamAssassin (`spamassassin -L`, local tests only)", "Expected: score below 3.0 for every rendered sample.",
		[]column{{"Message", "file"}, {"Score", "score"}, {"Rules that fired", "rules"}, {"Result", "pass"}}},
	{"htmlcheck", "3c. Mailpit html-check", "Mailpit's HTML compatibility check of the first HTML message of each campaign (percentages of tested HTML/CSS features supported by mail clients); recorded, not judged.",
		[]column{{"Campaign", "campaign"}, {"Supported %", "supported"}, {"Partial %", "partial"}, {"Unsupported %", "unsupported"}, {"Tests", "tests"}, {"Result", "pass"}}},
	{"fault", "4. Fault run", "Servers that misbehave on a seeded random schedule (proof/faultsmtp on internal/sandbox: 421 and hang up at connect, RCPT and end of DATA; 451/452 at MAIL, RCPT and end of DATA; 550 for every 97th recipient; connections dropped in the middle of DATA and after it, before and after storing; stalls of 3 s past the 2 s deadlines), and Mailpit's own chaos triggers. Counts are per envelope recipient (to, cc and bcc). *Failed with server's reply* includes a cc/bcc refused with 5xx at RCPT while the others got the message (the row is `sent`, the refusal is in its reply). *Lost* is a recipient with no copy whose row says `sent` without a permanent refusal for it, or with neither a result nor a copy; a *duplicate* is any second copy; *unknown (stored / not)* splits the unknown outcomes by whether the server in fact kept the message. Expected: duplicates 0, lost 0, failed-but-delivered 0. The run is resumed with `--resume` while it stops early (exit 3).",
		[]column{{"Run", "run"}, {"Rows", "rows"}, {"Envelope recipients", "envelope_rcpts"}, {"Delivered exactly once", "delivered_once"}, {"Failed with server's reply", "failed_with_reply"}, {"Unknown (stored / not)", "unknown_split"}, {"Duplicates", "duplicates"}, {"Lost", "lost"}, {"…of which: row recorded sent, a recipient's 4xx at RCPT never retried", "sent_but_rcpt_refused_4xx_not_retried"}, {"Failed but delivered", "failed_but_delivered"}, {"Sends", "sends"}, {"Faults injected", "faults"}, {"Result", "pass"}}},
	{"faultreplies", "4b. Fault run: failures as reported in the results file", "",
		[]column{{"Run", "run"}, {"Replies (count × code and text)", "top_replies"}}},
	{"crash", "5. Crash run", "Each run: a fresh send, SIGKILL at a random moment, then `send --resume` until it finishes. Expected: duplicates 0 (apart from recipients reported unknown, which --resume does not resend), lost 0.",
		[]column{{"Run", "run"}, {"Rows", "rows"}, {"Killed after", "killed_after"}, {"Results rows at kill", "rows_at_kill"}, {"Sent", "sent"}, {"Failed", "failed"}, {"Unknown (stored / not)", "unknown_split"}, {"Duplicates", "duplicates"}, {"Lost", "lost"}, {"Result", "pass"}}},
	{"corpus", "6a. Bad-input corpus", "The CLI's bad-input scenarios (cmd/mailmerge/testdata/bad_*.txtar, testscript): each must fail with its expected message and exit status, sending nothing.",
		[]column{{"Corpus", "corpus"}, {"Cases tried", "cases"}, {"Passed", "passed"}, {"Failed", "failed"}, {"Result", "pass"}}},
	{"fuzz", "6b. Fuzzers", "Each fuzzer run for a set time; a crash is any failing input (panic, hang, extra header or recipient).",
		[]column{{"Fuzzer", "fuzzer"}, {"Package", "package"}, {"Seconds", "seconds"}, {"Executions", "execs"}, {"Corpus (cases)", "corpus"}, {"Crashes", "crashes"}, {"Result", "pass"}}},
	{"hostile", "6c. Hostile headers on the wire", "A campaign whose data puts each payload into every templated header (From, To, Cc, Reply-To, Subject, X-Proof-Note, X-Proof-City; cells for address payloads), sent with `--skip-invalid` to the sandbox server. Every stored copy is compared with the benign control row: *extra headers* counts header fields beyond the control's, *extra recipients* copies delivered to an address not in the row's to/cc/bcc, *smuggled* addresses in To/Cc/From/Reply-To beyond the template's one (or any evil.test address), *long lines* lines over 998 octets.",
		[]column{{"Attempt", "attempt"}, {"Cell", "field"}, {"Outcome", "status"}, {"Copies", "copies"}, {"Extra headers", "extra_headers"}, {"Extra recipients", "extra_recipients"}, {"Smuggled addresses", "smuggled_header_addresses"}, {"Long lines", "long_lines"}, {"Result", "pass"}}},
	{"hostilecases", "6d. Hostile data and hurried hands", "One CLI scenario per case of issue #11 (cmd/mailmerge/testdata/hostile_*.txtar, testscript, run against the built binary): a cell naming a file outside the campaign folder, a device, a FIFO or a glob; `render --force` over the campaign; hints that must repeat `--sandbox`; flags typed in haste; formula cells; runaway templates; addresses that need quoting, punycode or SMTPUTF8. Each scenario asserts the exit status, the message, and what was not read, sent, written or removed.",
		[]column{{"Scenario", "case"}, {"What it tries", "what"}, {"Result", "pass"}}},
	{"deliverability", "6e. Deliverability", "Issue #13 on real servers (scripts/deliverability/*.sh): DKIM signatures verified by Debian's python3-dkim, with the DNS answered from the record `dkim keygen` printed, on each copy as a private Postfix, aiosmtpd and Mailpit received it (RSA and Ed25519, a tampered copy must fail, both RFC 8058 headers signed); and the bounce loop: a private Postfix bounces unknown users into the sender's Maildir, a private Dovecot serves it over IMAP with TLS, `mailmerge bounces` records them, and `send --resume` and a second campaign that suppresses bounced.csv send nobody a copy.",
		[]column{{"Script", "script"}, {"Check", "check"}, {"Result", "pass"}}},
	{"scalefailover", "6f. Relay failover", "Issue #14 on real MTAs (scripts/scale/relays.sh): three private Postfix instances a, b and c act as relays, each delivering into its own Maildir. 20,000 rows go over them; b is stopped (`postfix stop`) once a third is recorded and started again at half, while the run goes on. Every row of the results file is reconciled against the three Maildirs by Message-ID. A connection cut by the stop after the end of DATA leaves a row `unknown` on its relay, never retried on another; the unknown rows found in no Maildir are then resent as send's hint says (`--resume --resend-unknown --rows`), and every row must be in exactly one Maildir.",
		[]column{{"Check", "check"}, {"Result", "pass"}}},
	{"scalerate", "6g. Three relays against one", "The same rows sent through one relay and through three, each relay limited to the same rate; wall time of the whole `send`, and three must finish at least 2.7 times faster.",
		[]column{{"Check", "check"}, {"Result", "pass"}}},
	{"scaleshards", "6h. Shards", "Four `send --shard i/4` processes over 100,000 rows, started at the same time against the three Postfix relays, then `mailmerge results merge`: every row exactly once in the merged file and in the Maildirs.",
		[]column{{"Check", "check"}, {"Result", "pass"}}},
	{"scalefigures", "6i. Figures measured by scripts/scale/relays.sh", "Quoted by docs/SCALE.md. Wall times are of a busy 2-core box; the relays are Postfix on tmpfs.",
		[]column{{"What", "what"}, {"Figure", "value"}}},
	{"bench", "7. Benchmarks", "", []column{{"Item", "item"}, {"Value", "value"}, {"Result", "pass"}}},
	{"skipped", "Rows not run", "", []column{{"What", "what"}, {"Why", "why"}}},
}

func main() {
	log.SetFlags(0)
	in := flag.String("records", "", "records (JSON lines)")
	meta := flag.String("meta", "", "meta record (JSON)")
	out := flag.String("out", "docs/PROOF.md", "")
	flag.Parse()
	recs := map[string][]map[string]any{}
	f, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	fails := 0
	total := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			log.Fatalf("%s: %v", *in, err)
		}
		s, _ := m["section"].(string)
		recs[s] = append(recs[s], m)
		if p, ok := m["pass"]; ok {
			total++
			if p != true {
				fails++
			}
		}
	}
	var md map[string]any
	if b, err := os.ReadFile(*meta); err == nil {
		json.Unmarshal(b, &md)
	}
	var w strings.Builder
	w.WriteString("# Proof\n\n<!-- Generated by scripts/proof (proof/report); do not edit: re-run the script. -->\n\n")
	w.WriteString("What mailmerge does against real servers, hostile servers, crashes and hostile input, measured on one machine. Every figure below was written by `scripts/proof`; every server listened on 127.0.0.1 only.\n\n")
	verdict := "✅ all %d checks passed"
	if fails > 0 {
		verdict = "❌ %d of %d checks failed"
		fmt.Fprintf(&w, "**Verdict: "+verdict+".**\n\n", fails, total)
	} else {
		fmt.Fprintf(&w, "**Verdict: "+verdict+".**\n\n", total)
	}
	w.WriteString("| | |\n|---|---|\n")
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&w, "| %s | %s |\n", k, cell(md[k]))
	}
	w.WriteString("\n")
	for _, s := range sections {
		rs := recs[s.id]
		if len(rs) == 0 {
			continue
		}
		fmt.Fprintf(&w, "## %s\n\n", s.title)
		if s.intro != "" {
			w.WriteString(s.intro + "\n\n")
		}
		for _, c := range s.cols {
			fmt.Fprintf(&w, "| %s ", c.title)
		}
		w.WriteString("|\n")
		for range s.cols {
			w.WriteString("|---")
		}
		w.WriteString("|\n")
		for _, r := range rs {
			for _, c := range s.cols {
				fmt.Fprintf(&w, "| %s ", cell(r[c.key]))
			}
			w.WriteString("|\n")
		}
		w.WriteString("\n")
		for _, r := range rs {
			if p, ok := r["problems"].([]any); ok && len(p) > 0 && r["pass"] != true {
				fmt.Fprintf(&w, "Problems in %s:\n\n", cell(firstOf(r, "server", "run", "campaign", "attempt")))
				for _, x := range p {
					fmt.Fprintf(&w, "- `%s`\n", strings.ReplaceAll(fmt.Sprint(x), "`", "'"))
				}
				w.WriteString("\n")
			}
		}
	}
	if err := os.WriteFile(*out, []byte(w.String()), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("report: %s: %d checks, %d failed\n", *out, total, fails)
	if fails > 0 {
		os.Exit(1)
	}
}

func firstOf(r map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := r[k]; ok {
			return v
		}
	}
	return ""
}

func cell(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = ""
	case bool:
		if x {
			s = "✅"
		} else {
			s = "❌"
		}
	case float64:
		if x == float64(int64(x)) {
			s = fmt.Sprint(int64(x))
		} else {
			s = fmt.Sprintf("%.2f", x)
		}
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, cell(e))
		}
		s = strings.Join(parts, "; ")
		if s == "" {
			s = "none"
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+": "+cell(x[k]))
		}
		s = strings.Join(parts, "; ")
	default:
		s = fmt.Sprint(x)
	}
	s = strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
