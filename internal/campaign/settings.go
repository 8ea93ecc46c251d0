package campaign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/security"
	"github.com/mailmerge/mailmerge/internal/throttle"
)

// sendSettings are [send] and [smtp] with the flags applied.
type sendSettings struct {
	workers    int
	attempts   int
	stopAfter  int // 0: never stop for failures in a row
	retryDelay time.Duration
	rate       throttle.Spec
	burst      int
	delivery   delivery.Config
}

// overrides are what flags change in [smtp] and [send].
type overrides struct {
	server  *Server // the sandbox instead of [smtp]
	check   bool    // for check: what only a real send refuses is a warning
	rate    string
	workers int
	results string
}

func (o SendOptions) overrides() overrides {
	return overrides{server: o.Server, rate: o.Rate, workers: o.Workers, results: o.Results}
}

// settings reads [smtp] and [send] with the flags applied. It is the one
// place that decides whether send accepts the configuration: Check reports
// the same errors, so a campaign that checks clean is not refused by send.
// Warnings are kept apart: send ignores them. Nothing touches the network.
func (c *Campaign) settings(o overrides) (set sendSettings, errs []error, warnings []Problem) {
	p := &problems{c: c}
	set = c.sendKeys(o, p)
	rateText := c.Config.Send.Rate
	if o.rate != "" {
		rateText = o.rate
	}
	if rateText == "" && o.server == nil {
		if pr, ok := providers[strings.ToLower(c.Config.SMTP.Provider)]; ok {
			rateText = pr.Rate
		}
	}
	var err error
	if set.rate, err = throttle.Parse(rateText); err != nil && o.rate != "" {
		// The override came from the command line, not the campaign file.
		p.errs = append(p.errs, fmt.Errorf("--rate: %w", err))
	} else if err != nil {
		p.add("send.rate", err, "")
	} else if rateText == "" && o.server == nil {
		warnings = append(warnings, Problem{Severity: Warning, Message: c.where("send.rate") + "no [send] rate: messages go out as fast as the server takes them",
			Hint: `providers block accounts that send too fast; set rate = "20/m, 500/d" (or the limits your provider publishes)`})
	}
	c.resultsFolder(o, p)
	set.delivery = c.deliveryConfig(o.server, set.workers, p)
	if c.Config.IMAP != (IMAPConfig{}) {
		c.imapConfig(p) // bounces reads it; check says what it would refuse
	}
	if o.server == nil && placeholderHost(set.delivery.Host) {
		err := fmt.Errorf("%s is a placeholder: example names (RFC 2606) never take mail", set.delivery.Host)
		hint := `set host to your mail server, or provider = "qq" | "163" | "exmail" | "gmail" | "outlook"; send --sandbox DIR needs neither`
		if o.check {
			// The campaign init writes checks clean and sends to the
			// sandbox; the warning says what a real send will refuse.
			warnings = append(warnings, Problem{Severity: Warning, Message: c.where("smtp.host") + "smtp.host: " + err.Error() + "; send will refuse it", Hint: hint})
		} else {
			p.add("smtp.host", err, hint)
		}
	}
	return set, p.errs, warnings
}

// placeholderHost reports whether host is one of the names reserved for
// examples (RFC 2606, RFC 6761), such as the smtp.example.com that init
// and the samples write: a real send to it can only fail.
func placeholderHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, d := range []string{"example.com", "example.net", "example.org"} {
		if h == d || strings.HasSuffix(h, "."+d) {
			return true
		}
	}
	for _, tld := range []string{"example", "invalid", "test"} {
		if h == tld || strings.HasSuffix(h, "."+tld) {
			return true
		}
	}
	return false
}

// where is "campaign.toml:12: " for a key, or "campaign.toml: " when it is unset.
func (c *Campaign) where(key string) string {
	if n := c.keyLine[key]; n > 0 {
		return fmt.Sprintf("%s:%d: ", c.Path, n)
	}
	return c.Path + ": "
}

// sendKeys reads the counts and the retry delay of [send].
func (c *Campaign) sendKeys(o overrides, p *problems) sendSettings {
	sc := c.Config.Send
	set := sendSettings{workers: DefaultWorkers, attempts: DefaultAttempts, stopAfter: DefaultStopAfterFailures, burst: sc.Burst}
	count := func(key string, n int, dst *int) {
		switch {
		case n < 0:
			p.add(key, fmt.Errorf("%d is negative", n), "leave it out for the default")
		case n > 0:
			*dst = n
		}
	}
	count("send.workers", sc.Workers, &set.workers)
	if o.workers > 0 {
		set.workers = o.workers
	}
	count("send.attempts", sc.Attempts, &set.attempts)
	count("send.burst", sc.Burst, &set.burst)
	var perConn int
	count("send.max_per_connection", sc.MaxPerConnection, &perConn)
	if n := sc.StopAfterFailures; n != nil {
		if *n < 0 {
			p.add("send.stop_after_failures", fmt.Errorf("%d is negative", *n), "0 never stops; leave it out to stop after 10")
		} else {
			set.stopAfter = *n
		}
	}
	var err error
	if set.retryDelay, err = parseDuration(sc.RetryDelay, DefaultRetryDelay); err != nil {
		p.add("send.retry_delay", err, "")
	}
	return set
}

// resultsFolder checks that the results file can be created: its folder
// exists and takes a new file. The probe file is removed at once.
func (c *Campaign) resultsFolder(o overrides, p *problems) {
	path := c.ResultsPath()
	if o.results != "" {
		path = o.results
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a folder")
	}
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".mailmerge-check-*"); err == nil {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err != nil {
		p.add("send.results", fmt.Errorf("folder %s: %w", dir, fsafe.Cause(err)), "the results file is written there; create the folder or choose another")
	}
}

// deliveryConfig turns [smtp] (or a Server) into the pool's settings.
func (c *Campaign) deliveryConfig(srv *Server, workers int, p *problems) delivery.Config {
	s := c.Config.SMTP
	cfg := delivery.Config{
		Host: s.Host, Port: s.Port, Username: s.Username,
		AuthMechanism: strings.ToLower(s.Auth), HeloName: s.HeloName,
		Workers: workers, MaxPerConnection: max(c.Config.Send.MaxPerConnection, 0),
	}
	for _, d := range []struct {
		key string
		val string
		dst *time.Duration
	}{{"smtp.dial_timeout", s.DialTimeout, &cfg.DialTimeout}, {"smtp.command_timeout", s.CommandTimeout, &cfg.CommandTimeout}, {"smtp.data_timeout", s.DataTimeout, &cfg.DataTimeout}} {
		v, err := parseDuration(d.val, 0)
		if err != nil {
			p.add(d.key, err, "")
		}
		*d.dst = v
	}
	if srv != nil {
		cfg.Host, cfg.Port, cfg.Username, cfg.Password, cfg.RootCAs = srv.Host, srv.Port, srv.Username, srv.Password, srv.RootCAs
		cfg.AuthMechanism = ""
		cfg.Security = srv.Security
		return cfg
	}
	before := len(p.errs)
	c.server(&cfg, p)
	if len(p.errs) == before {
		// What delivery would refuse when connecting, found now.
		if pool, err := delivery.NewPool(cfg); err != nil {
			p.add("smtp", err, "")
		} else {
			pool.Close()
		}
	}
	return cfg
}

// server fills host, security, port, auth and CA of [smtp] into cfg.
func (c *Campaign) server(cfg *delivery.Config, p *problems) {
	s := c.Config.SMTP
	var pr *Provider
	if s.Provider != "" {
		known, ok := providers[strings.ToLower(s.Provider)]
		if !ok {
			p.add("smtp.provider", fmt.Errorf("unknown provider %q", s.Provider), "known providers: qq, 163, exmail, gmail, outlook; or set host, port and security")
		} else {
			pr = &known
		}
	}
	cfg.Security = security.SSL
	if s.Security != "" {
		sec, err := security.Parse(s.Security)
		if err != nil {
			p.add("smtp.security", err, `use "ssl" (port 465), "starttls" (port 587) or "none"`)
		}
		cfg.Security = sec
	} else if pr != nil {
		cfg.Security = pr.Security
	}
	if pr != nil && cfg.Host == "" {
		cfg.Host = pr.Host
	}
	if cfg.Host == "" && s.Provider == "" {
		p.add("smtp", errors.New("no SMTP host"), `set [smtp] host (and port, security) or provider = "qq" | "163" | "exmail" | "gmail" | "outlook"; send --sandbox DIR needs none`)
	}
	if s.Port < 0 || s.Port > 65535 {
		p.add("smtp.port", fmt.Errorf("%d is not a port number", s.Port), "465 for ssl, 587 for starttls; leave it out for the default")
	}
	switch cfg.AuthMechanism {
	case "", "plain", "login", "cram-md5", "xoauth2":
	default:
		p.add("smtp.auth", fmt.Errorf("unknown mechanism %q", s.Auth), `use "plain", "login", "cram-md5" or "xoauth2", or leave it out to choose the best offered`)
	}
	if strings.ContainsAny(s.HeloName, " \t\r\n") {
		p.add("smtp.helo_name", fmt.Errorf("%q contains white space", s.HeloName), "use this machine's fully qualified host name, or leave it out")
	}
	cfg.RootCAs = c.caPool(p)
}

// caPool reads [smtp] ca_file; nil when it is unset or unreadable.
func (c *Campaign) caPool(p *problems) *x509.CertPool {
	if c.Config.SMTP.CAFile == "" {
		return nil
	}
	pem, err := os.ReadFile(c.resolve(c.Config.SMTP.CAFile))
	if err != nil {
		p.add("smtp.ca_file", fsafe.Cause(err), "")
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		p.add("smtp.ca_file", errors.New("no PEM certificate in the file"), "")
		return nil
	}
	return pool
}
