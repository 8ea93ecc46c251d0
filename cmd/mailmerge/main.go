// Command mailmerge sends personalised e-mail from a spreadsheet: one
// message per row, rendered from templates, checked before anything leaves
// the machine, delivered over kept-alive TLS SMTP connections with one
// result per recipient.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
)

// version is the release, set at build time with -ldflags
// "-X main.version=..."; --version adds the commit the build recorded.
var version = "0.1.0-dev"

// Exit statuses, as the README promises.
const (
	exitOK      = 0 // all done
	exitPartial = 1 // finished, but some recipients failed or are unknown
	exitUsage   = 2 // bad input or usage: nothing was sent
	exitStopped = 3 // stopped early; resumable
)

const usage = `mailmerge sends personalised e-mail from a spreadsheet: one message per row.

Usage:
    mailmerge init   [DIR] [--xlsx]              write a ready-to-run campaign to start from
    mailmerge check  CAMPAIGN.toml               validate everything; send nothing; no network
    mailmerge render CAMPAIGN.toml --out DIR     dry run: one .eml file per recipient in DIR
    mailmerge render CAMPAIGN.toml --show 1      print the first message on the terminal
    mailmerge send   CAMPAIGN.toml [flags]       deliver over SMTP; shows the plan and asks
                                                 first (--yes: don't ask, for scripts)
    mailmerge send   --sandbox DIR CAMPAIGN.toml deliver to a built-in loopback SMTP server
                                                 (TLS + AUTH) that stores a Maildir in DIR
    mailmerge preview CAMPAIGN.toml [--open]     local web page showing every message; follows edits
    mailmerge unsubscribe serve CAMPAIGN.toml    the one-click unsubscribe endpoint of the
                                                 campaign's links, behind your web server
    mailmerge dkim keygen --domain D --selector S --out FILE
                                                 a DKIM key and the DNS record to publish
    mailmerge dkim record CAMPAIGN.toml          the DNS record of the campaign's key, again
    mailmerge bounces CAMPAIGN.toml [--since D]  read bounces back over IMAP (read-only) into
                                                 the results file and bounced.csv
    mailmerge send   CAMPAIGN.toml --shard I/N   send one of N shards of the list (by address),
                                                 into results.shard-I-of-N.csv
    mailmerge results merge CAMPAIGN.toml        join the shards' results into the results file
    mailmerge help   COMMAND                     more about one command
    mailmerge --version

A campaign is a TOML file naming the recipients list (CSV or .xlsx), the templates
and the SMTP server. Every header and the plain body are Go text/template,
the HTML body is html/template: {{.name}} is the "name" column of the row,
{{index . "First Name"}} a column whose name has spaces.

Examples:
    mailmerge init spring-meetup
    mailmerge check samples/greeting/campaign.toml
    mailmerge render samples/greeting/campaign.toml --out out/preview
    mailmerge preview samples/greeting/campaign.toml --open
    mailmerge send --sandbox out/inbox samples/greeting/campaign.toml
    MAILMERGE_PASSWORD=app-code mailmerge send campaign.toml --limit 1
    mailmerge send campaign.toml --redirect-to me@example.com
    mailmerge send campaign.toml --rows 2-10,15
    mailmerge send campaign.toml --resume
    mailmerge send campaign.toml --resume --yes --quiet    (from a script or cron)
    mailmerge send campaign.toml --shard 2/4 --yes         (one of four machines)
    mailmerge results merge campaign.toml
    mailmerge bounces campaign.toml --since 2026-11-01

Exit status: 0 all done; 1 finished but some recipients of the campaign
failed or are unknown; 2 bad input or usage (nothing was sent); 3 stopped
early (authentication failure, the server refusing everything, a results
file that cannot be written, interrupt): run again with --resume.
`

var commandHelp = map[string]string{
	"bounces":       bouncesHelp,
	"results":       resultsHelp,
	"results merge": resultsMergeHelp,
	"init": `Usage: mailmerge init [DIR] [--xlsx]

Writes a campaign to start from into DIR (default: the current folder),
creating the folder when it is missing:

    campaign.toml    every key with a one-line comment; those it does not
                     use are commented out
    recipients.csv   the list: a header row and two example rows
    body.md.tmpl     the message, in Markdown with the row's columns
    welcome.pdf      a small attachment

check passes on it as written and send --sandbox delivers it. init then
prints the commands to run next: check, preview, send --sandbox, a test
send to yourself with --redirect-to, and the real send (after you set
from and [smtp] in campaign.toml).

It never replaces a file: when any of these files exists it writes
nothing and exits 2.

Flags:
    --xlsx    write the list as the workbook recipients.xlsx, not recipients.csv

Examples:
    mailmerge init spring-meetup
    mailmerge init --xlsx
`,
	"check": `Usage: mailmerge check CAMPAIGN.toml [--rows LIST] [--json]

Validates the whole campaign without touching the network: the campaign
file (unknown keys are errors), the recipients list (encoding, delimiter,
ragged rows, header names), every template against the list's columns,
every rendered address, every attachment and inline image. It reports every
problem it finds (up to 100) with the file and line, then a summary.
Duplicate recipient addresses are warnings.

With --rows, only the rows selected are checked one by one; the list's
header and columns are still checked, and duplicates are looked for across
the whole list. A selection naming rows past the end of the list is an
error.

Exit status 0 when the campaign can be sent, 2 when anything is wrong.

Flags:
    --rows LIST    check only these rows, numbered as in results.csv (1 is
                   the first row below the header): 2-10,15
    --json         print one JSON object on stdout whatever the outcome: rows,
                   valid, errors, warnings, exit_status, error and hint when it
                   failed, and problems (severity, row, message, hint; row 0 is
                   not about one recipient), with --rows selected and list_rows;
                   the human lines stay on stderr

Examples:
    mailmerge check samples/greeting/campaign.toml
    mailmerge check members.toml 2>problems.txt
    mailmerge check members.toml --json 2>/dev/null
    mailmerge check members.toml --rows 120-140
`,
	"render": `Usage: mailmerge render CAMPAIGN.toml --out DIR [--force] [--limit N] [--rows LIST]
                        [--skip-invalid] [--show N] [--deterministic]
       mailmerge render CAMPAIGN.toml --show N [--rows LIST]

The dry run. Checks the campaign first, then writes one .eml file per
recipient into DIR (DIR/00001-alice@example.com.eml: the row and the
address) and DIR/index.csv (row,to,subject,file,bytes). Open the .eml files
in any mail program to see exactly what each person will get.

Nothing is written unless every row is valid; with --skip-invalid the
valid rows are written and the others listed, each with its row and reason,
and index.csv lists only the files written. DIR must be empty or missing
unless --force is given. --force replaces an earlier render: once the new
render is complete it removes index.csv and the files index.csv lists, and
nothing else. It refuses, removing nothing, when DIR holds any other file,
or is or holds the campaign file, the list, a template, a file a message
attaches or shows inline, or the results file. DIR and index.csv are
readable only by you: they list every address.

--show N prints the first N messages (From, To, Cc, Subject and the text
part, which a campaign without a text template makes from the HTML) on the
terminal. Without --out, that is all render writes: nothing goes to disk.

Exit status 0 when it wrote (or showed) the messages, with --skip-invalid
also when it left invalid rows out; 2 when the campaign has errors and
nothing was written: with --skip-invalid, when no row is valid or the
problem is the list's, not a row's.

Flags:
    --out DIR          folder for the .eml files (required without --show)
    --force            replace an earlier render in DIR (see above)
    --limit N          write only the first N messages (all rows are still checked)
    --rows LIST        render only these rows, numbered as in results.csv: 2-10,15
    --skip-invalid     write the valid rows and list the invalid ones, row and reason
    --show N           print the first N messages' headers and text part on the terminal
    --deterministic    fixed Message-IDs, boundaries and Date: identical bytes
                       on every run, for reviews and golden tests

Examples:
    mailmerge render samples/greeting/campaign.toml --out out/preview
    mailmerge render campaign.toml --out review --limit 10 --force
    mailmerge render campaign.toml --show 1 --rows 15
`,
	"preview": `Usage: mailmerge preview CAMPAIGN.toml [--listen ADDR] [--open] [--rows LIST]

Starts a local web page that lists every recipient (row, to, subject,
attachments; rows that fail check first, with their errors), searchable and
paged, and shows the selected one's message as it will be sent: headers
decoded, the HTML part (no scripts, no remote content; inline images
shown), the text part, the attachments and the .eml to download.

The page follows the campaign file, the templates and the recipients list:
save a change and it updates. Nothing can be sent from it. It listens on
this machine only and runs until Ctrl-C.

Flags:
    --listen ADDR    loopback address to listen on (default 127.0.0.1 and a
                     free port); any other interface is refused
    --open           open the page in the default browser
    --rows LIST      list only these rows, numbered as in results.csv: 2-10,15

Examples:
    mailmerge preview samples/greeting/campaign.toml --open
    mailmerge preview campaign.toml --listen 127.0.0.1:8025
`,
	"unsubscribe": `Usage: mailmerge unsubscribe serve CAMPAIGN.toml [--listen ADDR] [--public]

The endpoint of the campaign's one-click unsubscribe links ([unsubscribe]
url, RFC 8058), to run behind your web server, which terminates HTTPS and
passes the requests on. It needs the campaign file and the secret
([unsubscribe] secret_env) only, not the list or the templates, and
records each unsubscribe in [unsubscribe] file (default unsubscribed.csv
beside the campaign), once per address, written to disk before it answers.

    POST with List-Unsubscribe=One-Click   what a mail provider's unsubscribe
                                           button sends: the address is recorded, 200
    GET (a person, or a link scanner)      a page asking to confirm, whose button
                                           POSTs; nothing is recorded
    a link that was changed or forged      400, and nothing is recorded

It answers on every path, so the web server may pass on /u or any other.
Ctrl-C (or SIGTERM) lets the requests under way finish and ends it.

Flags:
    --listen ADDR    address to listen on (default 127.0.0.1:8025); a loopback
                     address unless --public
    --public         allow an address other machines can reach, for a proxy on
                     another machine or container; use HTTPS in front

Examples:
    MAILMERGE_UNSUBSCRIBE_SECRET=... mailmerge unsubscribe serve campaign.toml
    mailmerge unsubscribe serve campaign.toml --listen 127.0.0.1:9000
    mailmerge unsubscribe serve campaign.toml --listen 0.0.0.0:8025 --public
`,
	"dkim": `Usage: mailmerge dkim keygen --domain D --selector S --out FILE [--type rsa|ed25519] [--bits N]
       mailmerge dkim record CAMPAIGN.toml

DKIM signs every message with a key whose public half is published in
DNS, so that receivers (Gmail, Yahoo, Outlook) can tell your mail from a
forgery; bulk mail without it is refused or filed as spam. keygen makes a
key and prints the DNS record to publish; record prints it again from a
campaign's [dkim] table. See mailmerge help dkim keygen.
`,
	"dkim keygen": `Usage: mailmerge dkim keygen --domain D --selector S --out FILE [--type rsa|ed25519] [--bits N]

Makes a new DKIM key, writes it to FILE (PEM, PKCS#8) readable only by
you, and prints the DNS TXT record that publishes its public half:

    S._domainkey.D. TXT "v=DKIM1; k=rsa; p=MIIBIjANBg..."

on stdout, in strings of at most 255 bytes, and on stderr the same record
for a DNS provider's web form and the [dkim] table to add to the campaign.
Publish the record before you send: until receivers find it, a signed
message fails DKIM.

It never replaces a file: when FILE exists it writes nothing and exits 2.

Flags:
    --domain D       the domain the key signs for (d=): the From's domain, or
                     a parent of it, for DMARC
    --selector S     the key's name under D (s=), such as mail2026: a new
                     selector lets a new key replace an old one
    --type T         rsa (default; every receiver verifies it) or ed25519
                     (short, but not verified everywhere yet)
    --bits N         the size of an RSA key: 2048 (default) to 4096
    --out FILE       the file to write the private key to; must not exist

Examples:
    mailmerge dkim keygen --domain example.com --selector mail2026 --out dkim.pem
    mailmerge dkim keygen --domain example.com --selector ed2026 --type ed25519 --out dkim-ed.pem
`,
	"dkim record": `Usage: mailmerge dkim record CAMPAIGN.toml

Prints the DNS TXT record of the key in the campaign's [dkim] table, as
dkim keygen printed it: the zone-file line on stdout, the form for a DNS
provider's web page on stderr. It reads only the campaign file and the key.

Exit status 0 when it printed the record, 2 when the campaign has no
[dkim] table or its key is missing, unreadable, not a PEM private key, an
RSA key shorter than 2048 bits or of another type.

Examples:
    mailmerge dkim record campaign.toml
`,
	"send": `Usage: mailmerge send CAMPAIGN.toml [flags]
       mailmerge send --sandbox DIR CAMPAIGN.toml

Checks the campaign, then delivers one message per recipient over SMTP and
records each outcome in the results file ([send] results, default
results.csv beside the campaign): row,email,status,code,reply,message_id,
attempts,time,relay, with status sent, failed, skipped, unknown or bounced,
and relay the name of the server that took the row.

The password comes from the environment variable named by [smtp]
password_env (default MAILMERGE_PASSWORD), from [smtp] password_command, or
from a prompt when standard input is a terminal. It is never a flag.

With [[relays]] in the campaign, the messages are spread over those relays
by weight, each at its own rate and with its own workers. A relay that
fails to connect, to start TLS or to log in, or answers 421 three times in
a row, is out for a while (5 s, doubling up to 5 min) and the others take
its share; the run stops only when every relay is out. A message with an
unknown outcome on one relay is never tried on another. --rate and
--workers set every relay's. Each login's password is asked for once.

Before anything connects or a password is asked, send shows the plan on a
terminal: how many messages this run sends (after the rows an earlier run
recorded and --limit), the server and account, the From, the rate with how
long the run should take, and the results file. It then asks
"Send N messages? [y/N]"; anything but y or yes sends nothing (exit 2).
--yes skips the question. Where nobody can answer (standard input is not a
terminal: a script, cron, CI) send to a real server needs --yes and exits 2
without it. --sandbox never asks.

If the results file already has rows, send refuses to start until told
what to do: --resume skips everyone already sent or unknown, and the
skipped rows that are still invalid (a skipped row you corrected is sent);
--restart keeps the old file under a new name and starts over. --resume
with no results file is refused: there is nothing to resume.

--rows 2-10,15 sends only those rows, numbered as in the results file and
check's errors (1 is the first row below the header). The others are not
checked one by one, sent or recorded, so a later --resume without --rows
sends them. Duplicates are still looked for across the whole list, and
with --resume a changed row anywhere in it is still refused. With --rows,
--limit counts within the selection, the exit status and the hints are
about the rows selected, and the hints that go on keep --rows. A
selection naming rows past the end of the list sends nothing (exit 2).

--shard I/N sends only shard I of N (0 to N-1): the rows whose recipient
address hashes to it (FNV-1a 64 of the address, trimmed and lower-cased,
modulo N; for a row whose address is invalid, its To as written), so that
N processes on N machines send one list with no coordinator. Each records
in results.shard-I-of-N.csv beside the results file, which --resume,
--restart, --retry-failed and --resend-unknown work on. The other shards'
rows are left alone as --rows leaves rows. --shard auto/N takes I from
JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). It goes with neither
--rows nor --redirect-to. mailmerge results merge joins the shards' files.

--redirect-to ADDRESS sends test messages to yourself: the messages of the
first 3 rows (or --limit N, or the rows of --rows) go to ADDRESS alone,
with "[TEST] " before the Subject, no Cc or Bcc, and the row's To in
X-Mailmerge-Original-To. Their
outcomes go to results.test.csv beside the results file (each test starts
it over, keeping the last one renamed), never to the results file, so the
real run afterwards starts afresh. It works with --sandbox.

Every hint that names a command gives it in full, as you ran it: with
--sandbox, --redirect-to, --rows, --rate, --workers, --skip-invalid,
--quiet, --json and --yes (not --limit: after a trial of the first rows,
the next step is the rest).

Flags:
    --sandbox DIR       send to a built-in loopback server (TLS + AUTH) that
                        stores every message as a Maildir in DIR, not to [smtp]
    --limit N           send only the first N messages, N >= 1 (send yourself one first)
    --rows LIST         send only these rows, numbered as in results.csv: 2-10,15
    --redirect-to ADDR  send the first 3 messages (or --limit) to ADDR only, as
                        tests: [TEST] subject, no Cc/Bcc, results.test.csv
    --rate SPEC         override [send] rate: "10/s", "600/m", "20/s, 1000/h"
    --workers N         override [send] workers (connections), N >= 1
    --resume            continue an earlier run
    --restart           start over; the old results file is kept, renamed
    --retry-failed      with --resume: also retry recipients that failed
    --resend-unknown    with --resume: also resend recipients whose outcome is
                        unknown (they may get a second copy)
    --skip-invalid      send the valid rows and record invalid ones as skipped
    --yes               send without showing the plan and asking first
    --quiet             no progress, only errors and the summary
    --json              print one JSON object on stdout whatever the outcome:
                        this run's counts (remaining: rows it did not deal
                        with), the results file's (campaign) and its
                        failure_classes, exit_status, error and hint when
                        it failed, problems; the table and the human lines
                        go to stderr
    --debug             print the SMTP conversation (passwords redacted)
    --shard SHARD       I/N: send only shard I of N (0 to N-1) of the list, by address,
                        into results.shard-I-of-N.csv; auto/N: I from JOB_COMPLETION_INDEX

Exit status: 0 every row of the results file (with --rows, every row
selected) is sent or skipped; 1 the run finished but rows of the results
file (this run's or earlier ones'; with --rows, the rows selected) failed
or are unknown, or a message missed one of its recipients: the
hints give the commands that go on; 2 bad input or usage, nothing was
sent; 3 stopped early (a refused login, the server refusing everything, a
results file that cannot be written, Ctrl-C): the hint gives the --resume
command.

Examples:
    mailmerge send --sandbox out/inbox samples/greeting/campaign.toml
    MAILMERGE_PASSWORD=app-code mailmerge send campaign.toml --limit 1
    mailmerge send campaign.toml --resume
    mailmerge send campaign.toml --rows 2-10,15 --resume
    mailmerge send campaign.toml --shard 2/4 --yes --quiet
    mailmerge send campaign.toml --resume --yes --quiet    (from a script or cron)
`,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// tuneGC makes a send collect less often than Go's default. Its live heap
// is small (the list is streamed) while rendering allocates a lot, so
// letting the heap grow to four times the live data before collecting buys
// about a tenth more messages a second. The live heap still grows by a few
// bytes a recipient (the results index that resume needs, pointer-free and
// cheap to collect), so a soft limit stops the headroom from growing with
// it: a million recipients of small messages peak under 60 MB at no cost in
// speed (measured: bench/RESULTS.md). The limit is that base plus what the
// messages queued in the run may hold (queued bytes), so that a campaign of
// large messages on many cores does not collect without end. GOGC and
// GOMEMLIMIT still win. The returned function restores the previous settings.
func tuneGC(queued int64) (restore func()) {
	const base = 48 << 20
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(base + queued)
	}
	return func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	}
}

// run is the whole program; it returns the exit status so that deferred
// work (flushing the results file) always happens.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ui := newUI(stdout, stderr)
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "-version", "--version", "version":
		info, ok := debug.ReadBuildInfo()
		fmt.Fprint(stdout, versionText(version, info, ok))
		return exitOK
	case "help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		if name := strings.Join(args[1:], " "); commandHelp[name] != "" {
			fmt.Fprint(stdout, commandHelp[name])
			return exitOK
		}
		ui.errorf("unknown command %q", strings.Join(args[1:], " "))
		ui.hint("the commands are " + commandList)
		return exitUsage
	}
	if name, n := commandName(args); name != "" && asksHelp(args[n:]) {
		fmt.Fprint(stdout, commandHelp[name])
		return exitOK
	}
	switch args[0] {
	case "init":
		return cmdInit(args[1:], ui)
	case "check":
		return cmdCheck(args[1:], ui)
	case "render":
		return cmdRender(args[1:], ui)
	case "send":
		return cmdSend(args[1:], stdin, ui)
	case "preview":
		return cmdPreview(args[1:], ui)
	case "unsubscribe":
		return cmdUnsubscribe(args[1:], ui)
	case "dkim":
		return cmdDKIM(args[1:], ui)
	case "bounces":
		return cmdBounces(args[1:], stdin, ui)
	case "results":
		return cmdResults(args[1:], ui)
	}
	ui.errorf("unknown command %q", args[0])
	ui.hint("run mailmerge --help; the commands are " + commandList)
	return exitUsage
}

// commandList names the commands, for hints.
const commandList = "init, check, render, send, preview, bounces, results, unsubscribe and dkim"

// commandName is the command args start with that has help: "dkim keygen"
// for a subcommand, "dkim" for the group, and how many arguments it took.
func commandName(args []string) (string, int) {
	if len(args) >= 2 && commandHelp[args[0]+" "+args[1]] != "" {
		return args[0] + " " + args[1], 2
	}
	if len(args) >= 1 && commandHelp[args[0]] != "" {
		return args[0], 1
	}
	return "", 0
}

// asksHelp reports whether a command's arguments ask for its help (-h,
// --help, -help=...) anywhere before "--". It is looked at before the
// flags are parsed so that help exits 0 whatever else is on the line, and
// prints nothing else (check --json would add its JSON object).
func asksHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "h" || name == "help") {
			return true
		}
	}
	return false
}

// flagsOnly, when a test sets it, is handed each command's flag set as
// parseArgs is about to parse it, and the command then stops with
// nothing done: that is how the help test finds every flag there is.
var flagsOnly func(*flag.FlagSet)

// parseFlags parses flags that may come before or after the one campaign
// argument, as the examples write them.
func parseFlags(fs *flag.FlagSet, args []string, ui *ui) (string, bool) {
	positional, ok := parseArgs(fs, args, ui)
	if !ok {
		return "", false
	}
	if len(positional) != 1 {
		if len(positional) == 0 {
			ui.errorf("%s needs a campaign file", fs.Name())
		} else {
			ui.errorf("%s takes one campaign file, got %d arguments: %s", fs.Name(), len(positional), strings.Join(positional, " "))
		}
		ui.hint("run mailmerge help " + fs.Name())
		return "", false
	}
	return positional[0], true
}

// parseArgs parses flags wherever they stand among the other arguments and
// returns those. Everything after "--" is a file name, as in asksHelp: run
// has printed the help for any -h before it.
func parseArgs(fs *flag.FlagSet, args []string, ui *ui) ([]string, bool) {
	if flagsOnly != nil {
		flagsOnly(fs)
		return nil, false
	}
	fs.SetOutput(io.Discard)
	var after []string // after "--": file names only
	if i := slices.Index(args, "--"); i >= 0 {
		args, after = args[:i], args[i+1:]
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			ui.errorf("%v", err)
			ui.hint("run mailmerge help " + fs.Name())
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return append(positional, after...), true
}
