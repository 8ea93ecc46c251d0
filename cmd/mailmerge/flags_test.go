package main

import (
	"flag"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// commandFlags runs every command that has help with flagsOnly set, and
// returns the flags each one defines, by name. A subcommand is named with
// its group, "dkim keygen"; the group itself ("dkim") only chooses one and
// has no flags of its own.
func commandFlags(t *testing.T) map[string]map[string]bool {
	t.Helper()
	var seen *flag.FlagSet
	flagsOnly = func(fs *flag.FlagSet) { seen = fs }
	defer func() { flagsOnly = nil }()
	all := map[string]map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(commandHelp)) {
		if isGroup(name) {
			continue
		}
		seen = nil
		run(strings.Fields(name), strings.NewReader(""), io.Discard, io.Discard)
		if seen == nil {
			t.Errorf("%s: its flags never reached parseFlags, so this test cannot see them; parse them there", name)
			continue
		}
		all[name] = map[string]bool{}
		seen.VisitAll(func(f *flag.Flag) { all[name][f.Name] = true })
	}
	return all
}

// isGroup reports whether a command is the group of subcommands that have
// help of their own.
func isGroup(name string) bool {
	for other := range commandHelp {
		if strings.HasPrefix(other, name+" ") {
			return true
		}
	}
	return false
}

// flagLine is one flag in a help's Flags section: four spaces, the flag
// and its argument, two spaces or more, and the description on that line.
var (
	flagLine   = regexp.MustCompile(`^    -{1,2}([a-z][a-z0-9-]*)((?: [A-Z]+)?)(?:\s{2,}(\S.*))?$`)
	flagInText = regexp.MustCompile("(?:^|[\\s`(\\[\"/,])--([a-z][a-z0-9-]*)")
	readmeRow  = regexp.MustCompile("^\\| ([a-z]+(?: [a-z]+)?) \\| `--([a-z][a-z0-9-]*)(?: [A-Z]+)?` \\| (.*?) *\\|$")
)

// globalFlags are the flags of mailmerge itself, not of a command.
var globalFlags = map[string]bool{"help": true, "version": true}

// TestEveryFlagHasHelp: every flag of every command has a one-line
// description in the command's help and in the README's flags table, and
// neither names a flag that no command has.
func TestEveryFlagHasHelp(t *testing.T) {
	real := commandFlags(t)
	isFlag := func(name string) bool {
		for _, flags := range real {
			if flags[name] {
				return true
			}
		}
		return globalFlags[name]
	}

	for cmd, flags := range real {
		help := commandHelp[cmd]
		documented := map[string]bool{}
		_, section, _ := strings.Cut(help, "\nFlags:\n")
		for line := range strings.Lines(section) {
			line = strings.TrimRight(line, "\n")
			if line != "" && !strings.HasPrefix(line, " ") {
				break // the next heading
			}
			m := flagLine.FindStringSubmatch(line)
			if m == nil {
				continue // a description's second line
			}
			documented[m[1]] = true
			if m[3] == "" {
				t.Errorf("mailmerge help %s: --%s has no description on its line", cmd, m[1])
			}
		}
		for name := range flags {
			if !documented[name] {
				t.Errorf("mailmerge help %s: --%s is missing from its Flags", cmd, name)
			}
		}
		for _, m := range flagInText.FindAllStringSubmatchIndex(help, -1) {
			name := help[m[2]:m[3]]
			if !flags[name] && !globalFlags[name] && !namesOther(real, help[:m[2]], name) {
				t.Errorf("mailmerge help %s names --%s, which %s does not have", cmd, name, cmd)
			}
		}
	}
	for _, m := range flagInText.FindAllStringSubmatch(usage, -1) {
		if !isFlag(m[1]) {
			t.Errorf("mailmerge --help names --%s, which no command has", m[1])
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for line := range strings.Lines(string(readme)) {
		m := readmeRow.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil {
			continue
		}
		cmd, name, what := m[1], m[2], m[3]
		inTable[cmd+" --"+name] = true
		switch {
		case !real[cmd][name]:
			t.Errorf("README.md flags table: %s --%s does not exist", cmd, name)
		case what == "":
			t.Errorf("README.md flags table: %s --%s has no description", cmd, name)
		}
	}
	for cmd, flags := range real {
		for name := range flags {
			if !inTable[cmd+" --"+name] {
				t.Errorf("README.md flags table has no line for %s --%s", cmd, name)
			}
		}
	}
	// Elsewhere in the README too, a flag named must be one that exists.
	notOurs := map[string]bool{"short": true} // scripts/proof --short
	for _, m := range flagInText.FindAllStringSubmatch(string(readme), -1) {
		if !isFlag(m[1]) && !notOurs[m[1]] {
			t.Errorf("README.md names --%s, which no command has", m[1])
		}
	}
}

// namesOther reports whether the text before a flag, on its line, names
// another command that has the flag, as init's help says "send --sandbox".
func namesOther(real map[string]map[string]bool, before, flag string) bool {
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	words := " " + strings.Join(strings.Fields(before), " ") + " "
	for other, flags := range real {
		if flags[flag] && strings.Contains(words, " "+other+" ") {
			return true
		}
	}
	return false
}
