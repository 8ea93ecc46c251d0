package campaign

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/throttle"
)

// relaySettings are one relay's, read: where it is, how hard to use it and
// how to log in. [smtp] alone makes one relay named after its host.
type relaySettings struct {
	name     string
	weight   int
	workers  int
	rate     throttle.Spec
	burst    int
	login    Login
	delivery delivery.Config
}

// Login is an account that send logs in with, and where its password
// comes from. Relays that share one are asked for it once.
type Login struct {
	Relay           string // the relay's name ("" for [smtp] alone)
	Username        string
	PasswordEnv     string // the variable that holds the password
	PasswordCommand string // a command whose first line is the password
	// table is where the login is set: "smtp", or "relays.2" for a relay
	// with a username or password source of its own.
	table string
}

// account is what makes two logins one: the relays that share it are
// asked for its password once.
func (l Login) account() [3]string {
	return [3]string{l.Username, l.PasswordEnv, l.PasswordCommand}
}

// Table names where the login is set, for a hint: "[smtp]" or "relay b's".
func (l Login) Table() string {
	if l.table == "smtp" || l.table == "" {
		return "[smtp]"
	}
	return "relay " + l.Relay + "'s"
}

// sandboxRelay names the sandbox in the results file.
const sandboxRelay = "sandbox"

// relaySettings reads the relays: the sandbox, [smtp] alone, or every
// [[relays]] table over [smtp]'s values.
func (c *Campaign) relaySettings(o overrides, set sendSettings, rate throttle.Spec, p *problems, warnings []Problem) ([]relaySettings, []Problem) {
	perConn := c.Config.Send.MaxPerConnection
	if o.server != nil || len(c.Config.Relays) == 0 {
		s := c.Config.SMTP
		r := relaySettings{name: s.Host, weight: 1, workers: set.workers, rate: rate, burst: set.burst}
		r.delivery = c.deliveryConfig(s, "smtp", o.server, set.workers, perConn, p)
		r.login = c.login(s, "", "smtp")
		if o.server != nil {
			r.name, r.login = sandboxRelay, Login{}
			return []relaySettings{r}, warnings
		}
		if r.name == "" {
			r.name = r.delivery.Host // the provider's
		}
		return []relaySettings{r}, c.placeholder(o, "smtp.host", r.delivery.Host, p, warnings)
	}
	var out []relaySettings
	names := map[string]int{}
	for i, rc := range c.Config.Relays {
		key := fmt.Sprintf("relays.%d", i+1)
		r := c.relay(o, set, rate, rc, key, p)
		if first, ok := names[strings.ToLower(r.name)]; ok {
			p.add(key+".name", fmt.Errorf("%q names relays %d and %d", r.name, first, i+1), "give each [[relays]] its own name: the results file records it")
		}
		names[strings.ToLower(r.name)] = i + 1
		warnings = c.placeholder(o, key+".host", r.delivery.Host, p, warnings)
		if len(r.rate) == 0 {
			warnings = append(warnings, Problem{Severity: Warning, Message: c.where(key) + fmt.Sprintf("relay %s has no rate: it sends as fast as it takes messages", r.name),
				Hint: `set its rate = "…" to the relay's limit, or [send] rate for every relay`})
		}
		out = append(out, r)
	}
	return out, warnings
}

// relay reads one [[relays]] table, at key.
func (c *Campaign) relay(o overrides, set sendSettings, rate throttle.Spec, rc RelayConfig, key string, p *problems) relaySettings {
	s := rc.over(c.Config.SMTP)
	r := relaySettings{name: strings.TrimSpace(rc.Name), weight: 1, workers: set.workers, rate: rate, burst: set.burst}
	switch {
	case rc.Weight < 0:
		p.add(key+".weight", fmt.Errorf("%d is negative", rc.Weight), "a relay's share of the messages: 1 or more, default 1")
	case rc.Weight > 0:
		r.weight = rc.Weight
	}
	if rc.Workers < 0 {
		p.add(key+".workers", fmt.Errorf("%d is negative", rc.Workers), "leave it out for [send] workers")
	} else if rc.Workers > 0 && o.workers == 0 {
		r.workers = rc.Workers
	}
	if rc.Rate != "" && o.rate == "" {
		var err error
		if r.rate, err = throttle.Parse(rc.Rate); err != nil {
			p.add(key+".rate", err, "")
		}
	}
	perConn := c.Config.Send.MaxPerConnection
	if rc.MaxPerConnection < 0 {
		p.add(key+".max_per_connection", fmt.Errorf("%d is negative", rc.MaxPerConnection), "leave it out for [send] max_per_connection")
	} else if rc.MaxPerConnection > 0 {
		perConn = rc.MaxPerConnection
	}
	r.delivery = c.deliveryConfig(s, key, nil, r.workers, perConn, p)
	if r.name == "" {
		r.name = r.delivery.Host
	}
	if strings.ContainsAny(r.name, "\r\n\t,\"") {
		p.add(key+".name", fmt.Errorf("%q has a comma, quote or line break", r.name), "name relays with letters, digits, dots and dashes")
	}
	table := "smtp"
	if rc.Username != "" || rc.PasswordEnv != "" || rc.PasswordCommand != "" {
		table = key
	}
	r.login = c.login(s, r.name, table)
	return r
}

// over is the relay's [smtp] keys with s's values where the relay left
// them out. A relay naming a provider does not inherit [smtp]'s host,
// port or security: they come from the provider.
func (rc RelayConfig) over(s SMTPConfig) SMTPConfig {
	if rc.Provider != "" && rc.Host == "" {
		s.Host = ""
		if rc.Security == "" {
			s.Port, s.Security = 0, ""
		}
	}
	m := reflect.ValueOf(&s).Elem()
	own := reflect.ValueOf(rc.SMTPConfig)
	for i := range own.NumField() {
		if !own.Field(i).IsZero() {
			m.Field(i).Set(own.Field(i))
		}
	}
	return s
}

// login is where s's password comes from; table is where it is set.
func (c *Campaign) login(s SMTPConfig, relay, table string) Login {
	env := s.PasswordEnv
	if env == "" {
		env = c.PasswordEnv()
	}
	return Login{Relay: relay, Username: s.Username, PasswordEnv: env, PasswordCommand: s.PasswordCommand, table: table}
}

// Logins are the accounts a real send logs in with, one per distinct
// username and password source, in the order of the relays.
func (c *Campaign) Logins() []Login {
	set, _, _ := c.settings(overrides{check: true})
	var out []Login
	seen := map[[3]string]bool{}
	for _, r := range set.relays {
		if l := r.login; l.Username != "" && !seen[l.account()] {
			seen[l.account()] = true
			out = append(out, l)
		}
	}
	return out
}

// SMTPLogin is where [smtp]'s password comes from, which mailmerge
// bounces uses for the mailbox: its password_env (default
// MAILMERGE_PASSWORD) and password_command, even when [smtp] has no
// username because [imap] names the mailbox's.
func (c *Campaign) SMTPLogin() Login { return c.login(c.Config.SMTP, "", "smtp") }

// errNoRelay is the error of a run whose every relay is out.
var errNoRelay = errors.New("every relay is out")
