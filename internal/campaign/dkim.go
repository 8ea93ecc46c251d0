package campaign

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/dkim"
)

// dkimSigner reads [dkim]: nil, and no problem, when the table sets no key.
// The key is loaded here, so check, render, send and preview all refuse a
// key that is missing, unreadable or too weak.
func (c *Campaign) dkimSigner(p *problems) *compose.DKIM {
	if c.Config.DKIM == (DKIMConfig{}) {
		return nil
	}
	domain, key, ok := c.dkimSetup(p)
	if !ok {
		return nil
	}
	return &compose.DKIM{Domain: domain, Selector: c.Config.DKIM.Selector, Key: key.Signer}
}

// keygenHint is how to make a key.
const keygenHint = "make a key with: mailmerge dkim keygen --domain example.com --selector mail2026 --out dkim.pem"

// dkimSetup checks the keys of [dkim] and loads its key, adding each
// problem to p. The domain comes back in ASCII.
func (c *Campaign) dkimSetup(p *problems) (domain string, key *dkim.Key, ok bool) {
	cfg := c.Config.DKIM
	ok = true
	fail := func(key string, err error, hint string) {
		p.add(key, err, hint)
		ok = false
	}
	if cfg.Domain == "" {
		fail("dkim.domain", errors.New("is required"), `the domain the key is published under, usually the From's: domain = "example.com"`)
	} else if d, err := dkim.CheckDomain(cfg.Domain); err != nil {
		fail("dkim.domain", err, "")
	} else {
		domain = d
	}
	if cfg.Selector == "" {
		fail("dkim.selector", errors.New("is required"), `the name the key is published under: selector = "mail2026"`)
	} else if err := dkim.CheckSelector(cfg.Selector); err != nil {
		fail("dkim.selector", err, "")
	}
	if cfg.KeyFile == "" {
		fail("dkim.key_file", errors.New("is required"), keygenHint)
		return domain, nil, false
	}
	path := c.resolve(cfg.KeyFile)
	key, err := dkim.Read(path)
	if err != nil {
		fail("dkim.key_file", fmt.Errorf("%s: %w", path, err), keygenHint)
	}
	return domain, key, ok
}

// DKIMRecord reads the campaign file's [dkim] and returns the DNS record
// that publishes its key, and the key. It reads nothing else: the list and
// the templates may be unfinished.
func DKIMRecord(path string) (dkim.Record, *dkim.Key, error) {
	cfg, data, err := readConfig(path)
	if err != nil {
		return dkim.Record{}, nil, err
	}
	c := &Campaign{Path: path, Dir: filepath.Dir(path), Config: cfg, keyLine: keyLines(data), data: data}
	if cfg.DKIM == (DKIMConfig{}) {
		return dkim.Record{}, nil, &ConfigError{File: path, Err: errors.New("has no [dkim] table"),
			Help: keygenHint + ", then add the [dkim] table it prints"}
	}
	p := &problems{c: c}
	domain, key, ok := c.dkimSetup(p)
	if !ok {
		return dkim.Record{}, nil, errors.Join(p.errs...)
	}
	rec, err := key.Record(domain, cfg.DKIM.Selector)
	return rec, key, err
}

// dkimAlignment notes the valid rows whose From domain a signature of
// domain d does not align with, naming the first.
type dkimAlignment struct {
	d        string // nil campaign DKIM: ""
	first    string // the first From domain out of line
	firstRow int
	count    int
}

func (a *dkimAlignment) add(row int, from string) {
	if a.d == "" {
		return
	}
	at := strings.LastIndexByte(from, '@')
	fromDomain, err := dkim.CheckDomain(from[at+1:])
	if err == nil && aligned(a.d, fromDomain) {
		return
	}
	if a.count++; a.count == 1 {
		a.first, a.firstRow = from[at+1:], row
	}
}

// warning is check's warning about the rows out of line.
func (a *dkimAlignment) warning(c *Campaign) Problem {
	rows := fmt.Sprintf("row %d", a.firstRow)
	if a.count > 1 {
		rows = fmt.Sprintf("row %d and %d more", a.firstRow, a.count-1)
	}
	return Problem{Severity: Warning, Row: a.firstRow,
		Message: fmt.Sprintf("%sdkim.domain %q does not align with the From domain %s (%s): DMARC will not count the signature",
			c.where("dkim.domain"), a.d, a.first, rows),
		Hint: "sign with the From's domain or a parent of it: set [dkim] domain to it and publish the key there"}
}

// aligned reports whether a DKIM signature of domain d passes DMARC's
// relaxed alignment (RFC 7489 3.1.1) for mail from fromDomain: both have
// the same organisational domain, as the public suffix list cuts it.
func aligned(d, fromDomain string) bool {
	d, fromDomain = strings.ToLower(d), strings.ToLower(fromDomain)
	if d == fromDomain {
		return true
	}
	od, err1 := publicsuffix.EffectiveTLDPlusOne(d)
	of, err2 := publicsuffix.EffectiveTLDPlusOne(fromDomain)
	return err1 == nil && err2 == nil && od == of
}
