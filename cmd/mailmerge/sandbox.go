package main

import (
	"path/filepath"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/security"
)

// startSandbox starts the loopback server behind --sandbox, storing a
// Maildir in dir, and points the run at it. The caller closes the server.
func startSandbox(dir string, opts *campaign.SendOptions, ui *ui) (*sandbox.Server, error) {
	srv, err := sandbox.Start(sandbox.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	opts.Server = &campaign.Server{Host: "localhost", Port: srv.Port(), Security: security.SSL,
		Username: srv.Username(), Password: srv.Password(), RootCAs: srv.RootCAs()}
	// A rehearsal must never mark anyone as sent in the real results file.
	opts.Results = filepath.Join(dir, "results.csv")
	// Said only once the run goes ahead: a refused run sends nothing there.
	opts.Sending = func() {
		ui.infof("sandbox: SMTP server on %s (implicit TLS, AUTH), storing a Maildir in %s", srv.Addr(), dir)
	}
	return srv, nil
}
