package campaign

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/unsubscribe"
)

// DefaultUnsubscribeFile is where unsubscribes are recorded when
// [unsubscribe] file is unset, beside the campaign.
const DefaultUnsubscribeFile = "unsubscribed.csv"

// unsubscribeWarnRows is the size of list above which check asks for
// [unsubscribe]: Gmail and Yahoo want one-click unsubscribe of bulk mail.
const unsubscribeWarnRows = 100

// Unsubscribing reports whether the messages carry unsubscribe links.
func (c *Campaign) Unsubscribing() bool {
	u := c.Config.Unsubscribe
	return u.URL != "" || u.Mailto != ""
}

// UnsubscribeFile is the file unsubscribes are recorded in, resolved
// against the campaign's folder.
func (c *Campaign) UnsubscribeFile() string {
	if f := c.Config.Unsubscribe.File; f != "" {
		return c.resolve(f)
	}
	return c.resolve(DefaultUnsubscribeFile)
}

// unsubscribeLinks reads [unsubscribe] into the links compose writes; nil
// when the campaign has none. When [unsubscribe] is wrong the campaign
// does not load and the links never run; they are there so that compose
// does not also say that {{unsubscribeURL}} has no url.
func (c *Campaign) unsubscribeLinks(getenv func(string) string, p *problems) *compose.Unsubscribe {
	s := c.unsubscribeSigner(getenv, p)
	c.signer = s // bounces checks the tokens of mailto: replies with it
	u := c.Config.Unsubscribe
	if !c.Unsubscribing() {
		return nil
	}
	links := &compose.Unsubscribe{}
	if u.URL != "" {
		links.URL = func(addr string) string { return s.URL(u.URL, addr) }
	}
	if u.Mailto != "" {
		links.Mailto = func(addr string) string { return s.Mailto(u.Mailto, addr) }
	}
	return links
}

// unsubscribeSigner checks the keys of [unsubscribe] and makes the signer
// of its secret; nil when the campaign has no [unsubscribe] or it is
// wrong. The secret itself is never in an error.
func (c *Campaign) unsubscribeSigner(getenv func(string) string, p *problems) *unsubscribe.Signer {
	u := c.Config.Unsubscribe
	if !c.Unsubscribing() {
		if u.SecretEnv != "" || u.File != "" {
			p.errs = append(p.errs, &ConfigError{File: c.Path, Line: c.unsubscribeLine(), Err: errors.New("[unsubscribe] has neither url nor mailto"),
				Help: `set url = "https://…" (one-click, which Gmail and Yahoo want), mailto, or both`})
		}
		return nil
	}
	before := len(p.errs)
	if u.URL != "" {
		if err := unsubscribe.CheckURL(u.URL); err != nil {
			p.add("unsubscribe.url", err, "the address of mailmerge unsubscribe serve behind your web server, such as https://news.example.com/u")
		}
	}
	if u.Mailto != "" {
		if a, err := compose.ParseAddress(u.Mailto); err != nil {
			p.add("unsubscribe.mailto", err, "")
		} else if a.Name != "" || a.Address != u.Mailto {
			p.add("unsubscribe.mailto", fmt.Errorf("%q: write the address alone, without a name or <>", u.Mailto), "")
		}
	}
	s := c.secret(getenv, p)
	if len(p.errs) > before {
		return nil
	}
	return s
}

// unsubscribeLine is the line of the first key of [unsubscribe], for what
// is wrong with the table as a whole.
func (c *Campaign) unsubscribeLine() int {
	for _, k := range []string{"url", "mailto", "secret_env", "file"} {
		if n := c.keyLine["unsubscribe."+k]; n > 0 {
			return n
		}
	}
	return 0
}

// secret makes the signer of the variable secret_env names.
func (c *Campaign) secret(getenv func(string) string, p *problems) *unsubscribe.Signer {
	name := c.Config.Unsubscribe.SecretEnv
	hint := fmt.Sprintf("export %s=\"$(openssl rand -base64 32)\", and keep it: links already sent stop working when it changes", name)
	if name == "" {
		p.errs = append(p.errs, &ConfigError{File: c.Path, Line: c.unsubscribeLine(), Err: errors.New("unsubscribe.secret_env: is required: the links are signed with a secret"),
			Help: `set secret_env = "MAILMERGE_UNSUBSCRIBE_SECRET" in [unsubscribe] and export that variable`})
		return nil
	}
	var v string
	if getenv != nil {
		v = getenv(name)
	}
	if v == "" {
		p.add("unsubscribe.secret_env", fmt.Errorf("%s is not set", name), hint)
		return nil
	}
	s, err := unsubscribe.NewSigner([]byte(v))
	if err != nil {
		p.add("unsubscribe.secret_env", fmt.Errorf("%s holds %d bytes, under the %d a secret needs", name, len(v), unsubscribe.MinSecret), hint)
		return nil
	}
	return s
}

// Unsubscriptions is what mailmerge unsubscribe serve needs of a campaign.
type Unsubscriptions struct {
	Signer *unsubscribe.Signer
	URL    string // [unsubscribe] url
	File   string // where unsubscribes are recorded
}

// LoadUnsubscribe reads only the campaign file's [unsubscribe], which must
// have a url: the endpoint may run where the list and templates are not.
func LoadUnsubscribe(path string, getenv func(string) string) (*Unsubscriptions, error) {
	cfg, data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	c := &Campaign{Path: path, Dir: filepath.Dir(path), Config: cfg, keyLine: keyLines(data), data: data}
	p := &problems{c: c}
	if cfg.Unsubscribe.URL == "" {
		return nil, &ConfigError{File: path, Err: errors.New("no [unsubscribe] url: there is nothing to serve"),
			Help: `add [unsubscribe] with url = "https://…" (where your web server passes requests on to this command) and secret_env`}
	}
	s := c.unsubscribeSigner(getenv, p)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return &Unsubscriptions{Signer: s, URL: cfg.Unsubscribe.URL, File: c.UnsubscribeFile()}, nil
}

// unsubscribeWarning is check's warning for a large list without
// [unsubscribe]; false when there is none to give.
func (c *Campaign) unsubscribeWarning(rows int) (Problem, bool) {
	if rows <= unsubscribeWarnRows || c.Unsubscribing() {
		return Problem{}, false
	}
	return Problem{Severity: Warning,
		Message: fmt.Sprintf("%s: %d recipients and no [unsubscribe]: Gmail and Yahoo junk or refuse bulk mail without one-click unsubscribe", c.Path, rows),
		Hint:    `add [unsubscribe] with url = "https://…" and secret_env, and run mailmerge unsubscribe serve behind your web server (README: one-click unsubscribe)`}, true
}
