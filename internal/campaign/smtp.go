package campaign

import (
	"crypto/x509"
	"strings"

	"github.com/mailmerge/mailmerge/internal/security"
)

// Provider is a mail provider whose submission server mailmerge knows.
// Its port is the default of its security mode (security.Mode.DefaultPort).
type Provider struct {
	Host     string
	Security security.Mode
	// Rate is the default [send] rate: a pace the provider tolerates and its
	// published daily cap, a rolling 24-hour window (throttle's package doc);
	// README.md, "Sending safely", gives the sources.
	Rate string
	// AuthHint is shown when the provider refuses the password.
	AuthHint string
	// IMAPHost is where the provider's mailboxes are read (SSL, port 993).
	IMAPHost string
}

// providers fill [smtp] host and security (and so the port), and [send]
// rate when it is unset, from provider = "...".
var providers = map[string]Provider{
	"qq": {"smtp.qq.com", security.SSL, "10/m, 500/d",
		"QQ Mail needs its authorisation code (设置 → 账户 → 开启 SMTP 服务 → 生成授权码), not the QQ password", "imap.qq.com"},
	"163": {"smtp.163.com", security.SSL, "10/m, 300/d",
		"163 Mail needs a client authorisation code (设置 → POP3/SMTP/IMAP → 授权码), not the web password", "imap.163.com"},
	"exmail": {"smtp.exmail.qq.com", security.SSL, "20/m, 1000/d",
		"Tencent Exmail needs a client-specific password (设置 → 客户端专用密码) when safe login is on", "imap.exmail.qq.com"},
	"gmail": {"smtp.gmail.com", security.SSL, "20/m, 500/d",
		"Gmail needs an app password (Google Account → Security → App passwords), not the account password", "imap.gmail.com"},
	"outlook": {"smtp.office365.com", security.StartTLS, "20/m, 300/d",
		"Outlook needs an app password, or SMTP AUTH enabled for the mailbox by its administrator", "outlook.office365.com"},
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

// PasswordEnv is the environment variable the password is read from.
func (c *Campaign) PasswordEnv() string {
	if c.Config.SMTP.PasswordEnv != "" {
		return c.Config.SMTP.PasswordEnv
	}
	return "MAILMERGE_PASSWORD"
}
