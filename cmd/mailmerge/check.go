package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// cmdCheck runs check; with --json it ends, whatever happened, with one
// JSON object on stdout.
func cmdCheck(args []string, ui *ui) int {
	return withJSON(args, ui, func(s *campaign.CheckSummary) int { return check(args, ui, s) },
		func(s campaign.CheckSummary, status int) { ui.checkJSONSummary(s, status) })
}

func check(args []string, ui *ui, sum *campaign.CheckSummary) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.Bool("json", false, "")
	rows := rowsFlag(fs)
	path, ok := parseFlags(fs, args, ui)
	if !ok {
		return exitUsage
	}
	sel, ok := selection(fs, *rows, ui)
	if !ok {
		return exitUsage
	}
	c, err := campaign.Load(path, campaign.Options{Mailer: mailer(), Rows: sel, Getenv: os.Getenv})
	if err != nil {
		ui.loadError(err)
		return exitUsage
	}
	opts := campaign.CheckOptions{PasswordSource: passwordSource(c), CanPrompt: isTerminal(os.Stdin)}
	*sum, err = c.Check(context.Background(), opts, ui.problem)
	if err != nil {
		ui.errorf("%v", err)
		return exitUsage
	}
	ui.suppressedRows(*sum)
	ui.checkSummary("check", *sum)
	if sum.Errors > 0 {
		return exitUsage
	}
	return exitOK
}

// passwordSource says whether send will find a login's password without
// asking: the environment variable is set, or password_command's program
// exists.
func passwordSource(c *campaign.Campaign) func(campaign.Login) error {
	return func(l campaign.Login) error {
		if os.Getenv(l.PasswordEnv) != "" {
			return nil
		}
		cmdline := l.PasswordCommand
		if cmdline == "" {
			return fmt.Errorf("%s is not set", l.PasswordEnv)
		}
		prog := strings.Fields(cmdline)[0]
		if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
			prog = filepath.Join(c.Dir, prog) // password_command runs in the campaign's folder
		}
		if _, err := exec.LookPath(prog); err != nil {
			return fmt.Errorf("password_command: %w", err)
		}
		return nil
	}
}

func mailer() string { return "mailmerge/" + version }
