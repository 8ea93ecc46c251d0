package main

import (
	"errors"
	"flag"
	"os"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/dkim"
)

// cmdDKIM runs dkim keygen and dkim record.
func cmdDKIM(args []string, ui *ui) int {
	if len(args) > 0 {
		switch args[0] {
		case "keygen":
			return cmdKeygen(args[1:], ui)
		case "record":
			return cmdRecord(args[1:], ui)
		}
		ui.errorf("unknown command \"dkim %s\"", args[0])
	} else {
		ui.errorf("dkim needs a command: keygen or record")
	}
	ui.hint("run mailmerge help dkim")
	return exitUsage
}

// cmdKeygen writes a new key to a new file and prints its DNS record.
func cmdKeygen(args []string, ui *ui) int {
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	domain := fs.String("domain", "", "")
	selector := fs.String("selector", "", "")
	kind := fs.String("type", "rsa", "")
	bits := fs.Int("bits", 2048, "")
	out := fs.String("out", "", "")
	rest, ok := parseArgs(fs, args, ui)
	if !ok {
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		ui.errorf(format, a...)
		ui.hint("run mailmerge help dkim keygen")
		return exitUsage
	}
	switch {
	case len(rest) > 0:
		return usage("dkim keygen takes no arguments, got: %s", strings.Join(rest, " "))
	case *domain == "" || *selector == "" || *out == "":
		return usage("dkim keygen needs --domain, --selector and --out")
	case *kind == "ed25519" && flagSet(fs, "bits"):
		return usage("--bits is for an RSA key; an Ed25519 key has one size")
	}
	d, err := dkim.CheckDomain(*domain)
	if err != nil {
		return usage("--domain: %v", err)
	}
	if err := dkim.CheckSelector(*selector); err != nil {
		return usage("--selector: %v", err)
	}
	if _, err := os.Lstat(*out); err == nil {
		return keyExists(ui, *out)
	}
	key, err := dkim.Generate(*kind, *bits)
	if err != nil {
		return usage("%v", err)
	}
	rec, err := key.Record(d, *selector)
	if err == nil {
		err = dkim.Create(*out, key)
	}
	if errors.Is(err, os.ErrExist) {
		return keyExists(ui, *out)
	}
	if err != nil {
		ui.errorf("%s: %v", *out, err)
		return exitUsage
	}
	ui.keygenDone(*out, key, rec, d, *selector)
	return exitOK
}

func keyExists(ui *ui, out string) int {
	ui.errorf("%s already exists; dkim keygen never replaces a file", out)
	ui.hint("give another --out; a key that is published in DNS must stay as it is")
	return exitUsage
}

// flagSet reports whether a flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// cmdRecord prints the DNS record of a campaign's key again.
func cmdRecord(args []string, ui *ui) int {
	fs := flag.NewFlagSet("dkim record", flag.ContinueOnError)
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	rec, key, err := campaign.DKIMRecord(path)
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	ui.infof("the %s key of %s:", key, path)
	ui.dkimRecord(rec)
	return exitOK
}
