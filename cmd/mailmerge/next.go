package main

import (
	"flag"
	"strconv"
	"strings"
)

// command is the send command these flags make, as a hint prints it:
// --sandbox first, then the campaign, then the other flags. Every hint
// that names a send command builds it here, so that following a hint never
// drops --sandbox and sends a rehearsal to the real server.
func (f sendFlags) command(path string) string {
	args := []string{"mailmerge", "send"}
	if f.sandbox != "" {
		args = append(args, "--sandbox", f.sandbox)
	}
	args = append(args, path)
	if f.redirectTo != "" {
		args = append(args, "--redirect-to", f.redirectTo)
	}
	if f.rate != "" {
		args = append(args, "--rate", f.rate)
	}
	if f.workers > 0 {
		args = append(args, "--workers", strconv.Itoa(f.workers))
	}
	if f.rows != "" {
		args = append(args, "--rows", f.rows)
	}
	if !f.shard.All() {
		args = append(args, "--shard", f.shard.String())
	}
	if f.limit > 0 {
		args = append(args, "--limit", strconv.Itoa(f.limit))
	}
	for _, b := range []struct {
		on   bool
		flag string
	}{
		{f.resume, "--resume"}, {f.restart, "--restart"},
		{f.retryFailed, "--retry-failed"}, {f.resendUnknown, "--resend-unknown"},
		{f.skipInvalid, "--skip-invalid"}, {f.quiet, "--quiet"}, {f.asJSON, "--json"}, {f.debug, "--debug"},
		{f.yes, "--yes"},
	} {
		if b.on {
			args = append(args, b.flag)
		}
	}
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// next is the flags of the run that follows this one: where and how it
// sends (--sandbox, --redirect-to, --rate, --workers, --skip-invalid),
// which rows (--rows: going on with a selection stays in it), how it
// reports (--quiet, --json) and --yes (a script that said yes once runs
// the hint unattended too) carry over. --limit does not: after a trial of the
// first rows the next step is the rest. --debug does not, nor the choice
// of what to resume, which each hint makes for itself.
func (f sendFlags) next() sendFlags {
	f.limit, f.debug = 0, false
	f.resume, f.restart, f.retryFailed, f.resendUnknown = false, false, false, false
	return f
}

// resumeCommand is the command that continues this run, sending also the
// failed rows again, or the unknown ones, when asked.
func (f sendFlags) resumeCommand(path string, retryFailed, resendUnknown bool) string {
	g := f.next()
	g.resume, g.retryFailed, g.resendUnknown = true, retryFailed, resendUnknown
	return g.command(path)
}

// asRun is a command other than send as it was run: the campaign, then
// the flags given, in the order of their names.
func asRun(fs *flag.FlagSet, path string) string {
	args := []string{"mailmerge", fs.Name(), shellQuote(path)}
	fs.Visit(func(f *flag.Flag) {
		switch v := f.Value.String(); {
		case v == "true":
			args = append(args, "--"+f.Name)
		case v != "false":
			args = append(args, "--"+f.Name, shellQuote(v))
		}
	})
	return strings.Join(args, " ")
}

// shellQuote quotes an argument for a POSIX shell when it needs it, so
// that a hint can be pasted as it is.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=@%+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
