package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// password finds the password of a login ([smtp]'s or a relay's): the
// environment, password_command, or a prompt on a terminal. It is never a
// flag and never printed.
func password(ctx context.Context, c *campaign.Campaign, l campaign.Login, stdin io.Reader, ui *ui) (string, error) {
	if p, ok := os.LookupEnv(l.PasswordEnv); ok && p != "" {
		return p, nil
	}
	if l.PasswordCommand != "" {
		return passwordCommand(ctx, c, l.PasswordCommand, ui)
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return promptPassword(ctx, f, l.Username, ui)
	}
	return "", &campaign.ConfigError{File: c.Path, Err: fmt.Errorf("no password for %s: %s is not set", l.Username, l.PasswordEnv),
		Help: fmt.Sprintf("export %s=... (the app password or authorisation code), or set %s password_command", l.PasswordEnv, l.Table())}
}

// passwordCommand runs [smtp] password_command in the campaign's folder;
// its first line of output is the password.
func passwordCommand(ctx context.Context, c *campaign.Campaign, cmdline string, ui *ui) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
	cmd.Dir = c.Dir
	cmd.Stderr = ui.stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: password_command failed: %w", c.Path, err)
	}
	p := strings.TrimRight(string(out), "\r\n")
	if p == "" {
		return "", fmt.Errorf("%s: password_command printed nothing", c.Path)
	}
	return p, nil
}

// promptPassword asks on the terminal without echo. Quitting at once (a
// second Ctrl-C) gives up on the answer and turns the echo back on.
func promptPassword(ctx context.Context, tty *os.File, user string, ui *ui) (string, error) {
	fd := int(tty.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(ui.stderr, "Password for %s (not shown): ", user)
	type answer struct {
		b   []byte
		err error
	}
	got := make(chan answer, 1)
	go func() { // ReadPassword cannot be interrupted; the process ends soon after a quit
		b, err := term.ReadPassword(fd)
		got <- answer{b, err}
	}()
	select {
	case a := <-got:
		fmt.Fprintln(ui.stderr)
		if a.err != nil {
			return "", a.err
		}
		return strings.TrimRight(string(a.b), "\r\n"), nil
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		fmt.Fprintln(ui.stderr)
		return "", ctx.Err()
	}
}
