package campaign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/bounce"
	"github.com/mailmerge/mailmerge/internal/journal"
	"github.com/mailmerge/mailmerge/internal/mailbox"
	"github.com/mailmerge/mailmerge/internal/security"
	"github.com/mailmerge/mailmerge/internal/suppress"
)

// BouncedName is the suppression file hard bounces go to, beside the
// campaign file; suppress = ["bounced.csv"] keeps a later campaign from
// mailing them again.
const BouncedName = "bounced.csv"

// BounceOptions are the flags of mailmerge bounces.
type BounceOptions struct {
	Password string    // the [smtp] password; the mailbox takes the same
	Since    time.Time // zero: every message of the folder
	MoveTo   string    // move the reports read to this folder; "" leaves the mailbox untouched
	// Mailbox replaces [imap] and [smtp] as where to read (tests).
	Mailbox *mailbox.Config
}

// BounceSummary is what a bounces run found and did.
type BounceSummary struct {
	Mailbox  string // host and folder read
	Results  string // the results file
	Bounced  string // the suppression file of hard bounces
	Messages int    // messages read
	TooLarge int    // messages skipped for their size
	Broken   int    // messages that could not be parsed

	Hard, Soft, Delayed int // recipients reported, by kind
	Blocked             int // refused for the sender's sake (IP, SPF, DMARC, spam): reported only
	Unmatched           int // recipients no row of the results file matches
	Recorded            int // rows this run marked bounced
	Suppressed          int // addresses this run added to the bounced file
	Moved               int

	// Bounces lists every recipient reported, in mailbox order.
	Bounces []Bounce
	// Unsubscribes are the mailto: unsubscribe replies found. Those whose
	// token the campaign's [unsubscribe] secret made go to its file.
	Unsubscribes []UnsubscribeReply
	Unsubscribed int  // addresses this run added to the unsubscribe file
	Checked      bool // the campaign has an [unsubscribe] secret to check tokens with
}

// Bounce is one recipient a report is about, matched to its row (0: none).
type Bounce struct {
	Row        int
	Email      string // the row's address, else the report's
	Kind       string // hard, blocked, soft, delayed
	Status     string
	Diagnostic string
	MatchedBy  string // "message-id", "address" or ""
	New        bool   // this run recorded it (hard bounces only)
}

// UnsubscribeReply is a reply made by a mailto: unsubscribe link.
type UnsubscribeReply struct {
	From, Token string
	// Address is the address the token names, when the campaign's secret
	// made it; "" for a forged token, or without [unsubscribe] to check it.
	Address string
	New     bool // this run added Address to the unsubscribe file
}

// IMAPConfig is where bounces reads, from [imap], [smtp] and the provider,
// without the password.
func (c *Campaign) IMAPConfig() (mailbox.Config, error) {
	p := &problems{c: c}
	cfg := c.imapConfig(p)
	cfg.RootCAs = c.caPool(c.Config.SMTP.CAFile, "smtp.ca_file", p) // [smtp] ca_file: a private server signs both with one CA
	return cfg, errors.Join(p.errs...)
}

func (c *Campaign) imapConfig(p *problems) mailbox.Config {
	im, sm := c.Config.IMAP, c.Config.SMTP
	cfg := mailbox.Config{Host: im.Host, Port: im.Port, Security: security.SSL, Username: cmpOr(im.Username, sm.Username), Folder: im.Folder}
	if im.Security != "" {
		sec, err := security.Parse(im.Security)
		if err != nil {
			p.add("imap.security", err, `use "ssl" (port 993), "starttls" (port 143) or "none" (loopback only)`)
		}
		cfg.Security = sec
	}
	if im.Port < 0 || im.Port > 65535 {
		p.add("imap.port", fmt.Errorf("%d is not a port number", im.Port), "993 for ssl, 143 for starttls; leave it out for the default")
	}
	if cfg.Host == "" {
		if pr, ok := providers[strings.ToLower(sm.Provider)]; ok {
			cfg.Host = pr.IMAPHost
		} else {
			cfg.Host = sm.Host // one's own server often answers both
		}
	}
	if cfg.Host == "" {
		p.add("imap", errors.New("no IMAP host"), `set [imap] host, or [smtp] provider = "qq" | "163" | "exmail" | "gmail" | "outlook"`)
	}
	return cfg
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Bounces reads the mailbox for reports about this campaign's messages,
// records the hard bounces of rows the server had accepted as bounced in
// the results file, and adds their addresses to bounced.csv. Soft bounces,
// delays and refusals of the sender (blocked) are reported only. Running it again over the same mailbox
// changes nothing.
func (c *Campaign) Bounces(ctx context.Context, opts BounceOptions) (BounceSummary, error) {
	sum := BounceSummary{Results: c.ResultsPath(), Bounced: c.resolve(BouncedName)}
	var cfg mailbox.Config
	if opts.Mailbox != nil {
		cfg = *opts.Mailbox
	} else {
		var err error
		if cfg, err = c.IMAPConfig(); err != nil {
			return sum, err
		}
		cfg.Password = opts.Password
	}
	sum.Mailbox = cfg.Host + " " + cmpOr(cfg.Folder, "INBOX")
	if _, err := os.Stat(sum.Results); err != nil {
		return sum, &ConfigError{File: c.Path, Err: fmt.Errorf("no results file %s: %w", sum.Results, ErrNothingToResume),
			Help: "bounces matches reports to the rows of a send run; send the campaign first"}
	}
	var reports []bounce.Report
	var moves []uint32
	st, err := mailbox.Read(ctx, cfg, mailbox.Options{Since: opts.Since}, func(m mailbox.Message) error {
		r, err := bounce.Classify(m.Raw)
		if err != nil {
			sum.Broken++
			return nil
		}
		if r.Kind == bounce.NotBounce {
			return nil
		}
		reports = append(reports, r)
		moves = append(moves, m.UID)
		return nil
	})
	sum.Messages, sum.TooLarge = st.Messages, len(st.TooLarge)
	if err != nil {
		return sum, err
	}
	m := newMatcher(reports, &sum)
	if err := m.match(sum.Results); err != nil {
		return sum, err
	}
	if err := c.recordBounces(&sum, m); err != nil {
		return sum, err
	}
	if err := c.recordUnsubscribes(&sum); err != nil {
		return sum, err
	}
	if opts.MoveTo != "" {
		if err := mailbox.Move(ctx, cfg, st.UIDValidity, moves, opts.MoveTo); err != nil {
			return sum, err
		}
		sum.Moved = len(moves)
	}
	return sum, nil
}

// matcher finds the rows the reports are about, in two reads of the
// results file: first the rows by Message-ID or address, then their last
// outcome. It keeps the reports, never the file.
type matcher struct {
	sum     *BounceSummary
	byID    map[string][]int // Message-ID -> indexes in sum.Bounces
	byEmail map[string][]int // lower-cased address -> indexes, for reports without a known Message-ID
	rows    map[int]journal.Entry
	last    map[int]journal.Status
}

func newMatcher(reports []bounce.Report, sum *BounceSummary) *matcher {
	m := &matcher{sum: sum, byID: map[string][]int{}, byEmail: map[string][]int{}, rows: map[int]journal.Entry{}, last: map[int]journal.Status{}}
	for _, r := range reports {
		if r.Kind == bounce.Unsubscribe {
			sum.Unsubscribes = append(sum.Unsubscribes, UnsubscribeReply{From: r.From, Token: r.Token})
			continue
		}
		for _, rc := range r.Recipients {
			if rc.Kind == bounce.NotBounce {
				continue
			}
			i := len(sum.Bounces)
			sum.Bounces = append(sum.Bounces, Bounce{Email: rc.Address, Kind: rc.Kind.String(), Status: rc.Status, Diagnostic: rc.Diagnostic})
			if r.MessageID != "" {
				m.byID[r.MessageID] = append(m.byID[r.MessageID], i)
			}
			m.byEmail[strings.ToLower(rc.Address)] = append(m.byEmail[strings.ToLower(rc.Address)], i)
		}
	}
	return m
}

// match reads the results file twice; see matcher.
func (m *matcher) match(path string) error {
	err := journal.Entries(path, func(e journal.Entry) error {
		if e.Status != journal.Sent && e.Status != journal.Unknown && e.Status != journal.Bounced {
			return nil // never accepted by the server: no report can be about it
		}
		for _, i := range m.byID[e.MessageID] {
			m.take(i, e, "message-id")
		}
		for _, i := range m.byEmail[strings.ToLower(e.Email)] {
			if m.sum.Bounces[i].MatchedBy != "message-id" {
				m.take(i, e, "address")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return journal.Entries(path, func(e journal.Entry) error {
		if _, ok := m.rows[e.Row]; ok {
			m.last[e.Row] = e.Status
		}
		return nil
	})
}

func (m *matcher) take(i int, e journal.Entry, by string) {
	b := &m.sum.Bounces[i]
	b.Row, b.Email, b.MatchedBy = e.Row, e.Email, by
	m.rows[e.Row] = e
}

// recordBounces marks the hard-bounced rows bounced and adds their
// addresses to bounced.csv; rows already marked are left as they are, and
// the results file is not opened when there is nothing new.
func (c *Campaign) recordBounces(sum *BounceSummary, m *matcher) error {
	var fresh []int
	for i, b := range sum.Bounces {
		switch {
		case b.Row == 0:
			sum.Unmatched++
		case b.Kind == "hard" && m.last[b.Row] != journal.Bounced && !seenRow(sum.Bounces[:i], b.Row):
			fresh = append(fresh, i)
		}
		switch b.Kind {
		case "hard":
			sum.Hard++
		case "soft":
			sum.Soft++
		case "delayed":
			sum.Delayed++
		case "blocked":
			sum.Blocked++
		}
	}
	if len(fresh) > 0 {
		if err := c.markBounced(sum, m, fresh); err != nil {
			return err
		}
	}
	return c.suppressBounced(sum)
}

func seenRow(bs []Bounce, row int) bool {
	for _, b := range bs {
		if b.Row == row && b.Kind == "hard" {
			return true
		}
	}
	return false
}

func (c *Campaign) markBounced(sum *BounceSummary, m *matcher, fresh []int) error {
	j, err := journal.Open(sum.Results)
	if err != nil {
		return err
	}
	for _, i := range fresh {
		b := &sum.Bounces[i]
		sent := m.rows[b.Row]
		code, _ := strconv.Atoi(basicCode(b.Diagnostic))
		reply := b.Diagnostic
		if !strings.Contains(reply, b.Status) {
			reply = strings.TrimSpace(b.Status + " " + reply)
		}
		if err := j.Record(journal.Entry{Row: b.Row, Email: sent.Email, Status: journal.Bounced, Code: code,
			Reply: reply, MessageID: sent.MessageID, Attempts: sent.Attempts}); err != nil {
			j.Abandon()
			return err
		}
		b.New = true
		sum.Recorded++
	}
	return j.Close()
}

// basicCode is the SMTP reply code a diagnostic starts with, "" if none.
func basicCode(diag string) string {
	if len(diag) >= 3 && (diag[0] == '4' || diag[0] == '5') && diag[1] >= '0' && diag[1] <= '9' && diag[2] >= '0' && diag[2] <= '9' {
		return diag[:3]
	}
	return ""
}

// suppressBounced adds the address of every matched hard bounce to
// bounced.csv, each once. An unmatched report is not trusted that far: its
// address may be misread, or belong to mail this campaign never sent.
func (c *Campaign) suppressBounced(sum *BounceSummary) error {
	var f *suppress.File
	for _, b := range sum.Bounces {
		if b.Row == 0 || b.Kind != "hard" {
			continue
		}
		if f == nil {
			var err error
			if f, err = suppress.Open(sum.Bounced); err != nil {
				return err
			}
		}
		added, err := f.Add(b.Email, "bounce: "+b.Status)
		if err != nil {
			f.Close()
			return err
		}
		if added {
			sum.Suppressed++
		}
	}
	if f != nil {
		return f.Close()
	}
	return nil
}

// recordUnsubscribes adds the address of every reply whose token the
// campaign's secret made to the unsubscribe file, each once. The token,
// not the From of the reply, names the address: only it cannot be forged.
func (c *Campaign) recordUnsubscribes(sum *BounceSummary) error {
	sum.Checked = c.signer != nil
	if c.signer == nil {
		return nil
	}
	var f *suppress.File
	for i := range sum.Unsubscribes {
		u := &sum.Unsubscribes[i]
		addr, err := c.signer.Verify(u.Token)
		if err != nil {
			continue
		}
		u.Address = addr
		if f == nil {
			if f, err = suppress.Open(c.UnsubscribeFile()); err != nil {
				return err
			}
		}
		added, err := f.Add(addr, "unsubscribe: mailto")
		if err != nil {
			f.Close()
			return err
		}
		if added {
			u.New = true
			sum.Unsubscribed++
		}
	}
	if f != nil {
		return f.Close()
	}
	return nil
}
