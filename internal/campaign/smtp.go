package campaign

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/security"
)

// Provider is a mail provider whose submission server mailmerge knows.
// Its port is the default of its security mode (security.Mode.DefaultPort).
type Provider struct {
	Host     string
	Security security.Mode
	// AuthHint is shown when the provider refuses the password.
	AuthHint string
}

// providers fill [smtp] host and security (and so the port) from provider = "...".
var providers = map[string]Provider{
	"qq": {"smtp.qq.com", security.SSL,
		"QQ Mail needs its authorisation code (设置 → 账户 → 开启 SMTP 服务 → 生成授权码), not the QQ password"},
	"163": {"smtp.163.com", security.SSL,
		"163 Mail needs a client authorisation code (设置 → POP3/SMTP/IMAP → 授权码), not the web password"},
	"exmail": {"smtp.exmail.qq.com", security.SSL,
		"Tencent Exmail needs a client-specific password (设置 → 客户端专用密码) when safe login is on"},
	"gmail": {"smtp.gmail.com", security.SSL,
		"Gmail needs an app password (Google Account → Security → App passwords), not the account password"},
	"outlook": {"smtp.office365.com", security.StartTLS,
		"Outlook needs an app password, or SMTP AUTH enabled for the mailbox by its administrator"},
}

// Server is where send delivers, overriding [smtp]; the sandbox uses it.
type Server struct {
	Host     string
	Port     int
	Security security.Mode
	Username string
	Password string
	RootCAs  *x509.CertPool
}

// AuthHint is the provider's hint for an authentication failure, if any.
func (c *Campaign) AuthHint() string {
	if p, ok := providers[strings.ToLower(c.Config.SMTP.Provider)]; ok {
		return p.AuthHint
	}
	return "check username and password; many providers want an app password or authorisation code, not the web password"
}

// deliveryConfig turns [smtp] and [send] (or a Server) into the pool's settings.
func (c *Campaign) deliveryConfig(srv *Server, workers int) (delivery.Config, error) {
	s := c.Config.SMTP
	fail := func(key string, err error, hint string) error {
		return &ConfigError{File: c.Path, Line: c.keyLine[key], Err: fmt.Errorf("%s: %w", key, err), Help: hint}
	}
	cfg := delivery.Config{
		Host: s.Host, Port: s.Port, Username: s.Username,
		AuthMechanism: strings.ToLower(s.Auth), HeloName: s.HeloName,
		Workers: workers, MaxPerConnection: c.Config.Send.MaxPerConnection,
	}
	var sec security.Mode
	if srv != nil {
		cfg.Host, cfg.Port, cfg.Username, cfg.Password, cfg.RootCAs = srv.Host, srv.Port, srv.Username, srv.Password, srv.RootCAs
		cfg.AuthMechanism = ""
		sec = srv.Security
	} else {
		var p *Provider
		if s.Provider != "" {
			pr, ok := providers[strings.ToLower(s.Provider)]
			if !ok {
				return cfg, fail("smtp.provider", fmt.Errorf("unknown provider %q", s.Provider), "known providers: qq, 163, exmail, gmail, outlook; or set host, port and security")
			}
			p = &pr
		}
		sec = security.SSL
		if s.Security != "" {
			var err error
			if sec, err = security.Parse(s.Security); err != nil {
				return cfg, fail("smtp.security", err, `use "ssl" (port 465), "starttls" (port 587) or "none"`)
			}
		} else if p != nil {
			sec = p.Security
		}
		if p != nil && cfg.Host == "" {
			cfg.Host = p.Host
		}
		if cfg.Host == "" {
			return cfg, fail("smtp", errors.New("no SMTP host"), `set [smtp] host (and port, security) or provider = "qq" | "163" | "exmail" | "gmail" | "outlook"; or try --sandbox DIR`)
		}
		if s.CAFile != "" {
			pem, err := os.ReadFile(c.resolve(s.CAFile))
			if err != nil {
				return cfg, fail("smtp.ca_file", fsafe.Cause(err), "")
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fail("smtp.ca_file", errors.New("no PEM certificate in the file"), "")
			}
			cfg.RootCAs = pool
		}
	}
	cfg.Security = sec // delivery.NewPool sets an unset port from it
	for _, d := range []struct {
		key string
		val string
		dst *time.Duration
	}{{"smtp.dial_timeout", s.DialTimeout, &cfg.DialTimeout}, {"smtp.command_timeout", s.CommandTimeout, &cfg.CommandTimeout}, {"smtp.data_timeout", s.DataTimeout, &cfg.DataTimeout}} {
		if v, err := parseDuration(d.val, 0); err != nil {
			return cfg, fail(d.key, err, "")
		} else {
			*d.dst = v
		}
	}
	return cfg, nil
}

// PasswordEnv is the environment variable the password is read from.
func (c *Campaign) PasswordEnv() string {
	if c.Config.SMTP.PasswordEnv != "" {
		return c.Config.SMTP.PasswordEnv
	}
	return "MAILMERGE_PASSWORD"
}
