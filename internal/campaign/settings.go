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

// sendSettings are [send], [smtp] and [[relays]] with the flags applied.
type sendSettings struct {
	workers    int // [send] workers or --workers: each relay's default
	attempts   int
	stopAfter  int // 0: never stop for failures in a row
	retryDelay time.Duration
	burst      int
	// relays are where the messages go: [smtp] alone is one relay, and
	// so is the sandbox, which replaces them all.
	relays []relaySettings
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

// settings reads [smtp], [[relays]] and [send] with the flags applied. It
// is the one place that decides whether send accepts the configuration:
// Check reports the same errors, so a campaign that checks clean is not
// refused by send. Warnings are kept apart: send ignores them. Nothing
// touches the network.
func (c *Campaign) settings(o overrides) (set sendSettings, errs []error, warnings []Problem) {
	p := &problems{c: c}
	set = c.sendKeys(o, p)
	rate, rateText := c.sendRate(o, p)
	if rateText == "" && o.server == nil && len(c.Config.Relays) == 0 {
		warnings = append(warnings, Problem{Severity: Warning, Message: c.where("send.rate") + "no [send] rate: messages go out as fast as the server takes them",
			Hint: `providers block accounts that send too fast; set rate = "20/m, 500/d" (or the limits your provider publishes)`})
	}
	c.resultsFolder(o, p)
	set.relays, warnings = c.relaySettings(o, set, rate, p, warnings)
	if c.Config.IMAP != (IMAPConfig{}) {
		c.imapConfig(p) // bounces reads it; check says what it would refuse
	}
	return set, p.errs, warnings
}

// sendRate is [send] rate, or --rate, or the provider's preset, read; the
// text is what it was read from, "" when no rate is set.
func (c *Campaign) sendRate(o overrides, p *problems) (throttle.Spec, string) {
	rateText := c.Config.Send.Rate
	if o.rate != "" {
		rateText = o.rate
	}
	if rateText == "" && o.server == nil {
		if pr, ok := providers[strings.ToLower(c.Config.SMTP.Provider)]; ok {
			rateText = pr.Rate
		}
	}
	rate, err := throttle.Parse(rateText)
	if err != nil && o.rate != "" {
		// The override came from the command line, not the campaign file.
		p.errs = append(p.errs, fmt.Errorf("--rate: %w", err))
	} else if err != nil {
		p.add("send.rate", err, "")
	}
	return rate, rateText
}

// placeholder is the problem with a host under a name reserved for
// examples: an error for send, a warning for check, which must pass on
// the campaign init writes (the sandbox needs no host).
func (c *Campaign) placeholder(o overrides, key, host string, p *problems, warnings []Problem) []Problem {
	if !placeholderHost(host) {
		return warnings
	}
	err := fmt.Errorf("%s is a placeholder: example names (RFC 2606) never take mail", host)
	hint := `set host to your mail server, or provider = "qq" | "163" | "exmail" | "gmail" | "outlook"; send --sandbox DIR needs neither`
	if o.check {
		return append(warnings, Problem{Severity: Warning, Message: c.where(key) + key + ": " + err.Error() + "; send will refuse it", Hint: hint})
	}
	p.add(key, err, hint)
	return warnings
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

// deliveryConfig turns [smtp] or a relay (s, whose keys are key.host and
// so on), or a Server, into the pool's settings.
func (c *Campaign) deliveryConfig(s SMTPConfig, key string, srv *Server, workers, perConn int, p *problems) delivery.Config {
	cfg := delivery.Config{
		Host: s.Host, Port: s.Port, Username: s.Username,
		AuthMechanism: strings.ToLower(s.Auth), HeloName: s.HeloName,
		Workers: workers, MaxPerConnection: max(perConn, 0),
	}
	for _, d := range []struct {
		key string
		val string
		dst *time.Duration
	}{{key + ".dial_timeout", s.DialTimeout, &cfg.DialTimeout}, {key + ".command_timeout", s.CommandTimeout, &cfg.CommandTimeout}, {key + ".data_timeout", s.DataTimeout, &cfg.DataTimeout}} {
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
	c.server(s, key, &cfg, p)
	if len(p.errs) == before {
		// What delivery would refuse when connecting, found now.
		if pool, err := delivery.NewPool(cfg); err != nil {
			p.add(key, err, "")
		} else {
			pool.Close()
		}
	}
	return cfg
}

// server fills host, security, port, auth and CA of [smtp] or a relay
// into cfg.
func (c *Campaign) server(s SMTPConfig, key string, cfg *delivery.Config, p *problems) {
	var pr *Provider
	if s.Provider != "" {
		known, ok := providers[strings.ToLower(s.Provider)]
		if !ok {
			p.add(key+".provider", fmt.Errorf("unknown provider %q", s.Provider), "known providers: qq, 163, exmail, gmail, outlook; or set host, port and security")
		} else {
			pr = &known
		}
	}
	cfg.Security = security.SSL
	if s.Security != "" {
		sec, err := security.Parse(s.Security)
		if err != nil {
			p.add(key+".security", err, `use "ssl" (port 465), "starttls" (port 587) or "none"`)
		}
		cfg.Security = sec
	} else if pr != nil {
		cfg.Security = pr.Security
	}
	if pr != nil && cfg.Host == "" {
		cfg.Host = pr.Host
	}
	if cfg.Host == "" && s.Provider == "" {
		p.add(key, errors.New("no SMTP host"), `set host (and port, security) or provider = "qq" | "163" | "exmail" | "gmail" | "outlook"; send --sandbox DIR needs none`)
	}
	if s.Port < 0 || s.Port > 65535 {
		p.add(key+".port", fmt.Errorf("%d is not a port number", s.Port), "465 for ssl, 587 for starttls; leave it out for the default")
	}
	switch cfg.AuthMechanism {
	case "", "plain", "login", "cram-md5", "xoauth2":
	default:
		p.add(key+".auth", fmt.Errorf("unknown mechanism %q", s.Auth), `use "plain", "login", "cram-md5" or "xoauth2", or leave it out to choose the best offered`)
	}
	if strings.ContainsAny(s.HeloName, " \t\r\n") {
		p.add(key+".helo_name", fmt.Errorf("%q contains white space", s.HeloName), "use this machine's fully qualified host name, or leave it out")
	}
	cfg.RootCAs = c.caPool(s.CAFile, key+".ca_file", p)
}

// caPool reads a ca_file (at key); nil when it is unset or unreadable.
func (c *Campaign) caPool(file, key string, p *problems) *x509.CertPool {
	if file == "" {
		return nil
	}
	pem, err := os.ReadFile(c.resolve(file))
	if err != nil {
		p.add(key, fsafe.Cause(err), "")
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		p.add(key, errors.New("no PEM certificate in the file"), "")
		return nil
	}
	return pool
}
