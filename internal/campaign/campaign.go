package campaign

import (
	"errors"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/fsafe"
	"github.com/mailmerge/mailmerge/internal/recipients"
	"github.com/mailmerge/mailmerge/internal/unsubscribe"
)

// Campaign is a loaded campaign file with its templates parsed.
type Campaign struct {
	Path   string // the campaign file as given
	Dir    string // folder relative paths resolve against
	Config *Config

	composer *compose.Composer
	listPath string
	listOpts recipients.Options
	keyLine  map[string]int
	data     []byte
	redirect bool                // Options.RedirectTo was set
	signer   *unsubscribe.Signer // of [unsubscribe]; nil without one
	rows     Selection           // Options.Rows
	shard    Shard               // Options.Shard
	dkim     string              // [dkim] domain when messages are signed
	suppress *suppression        // nil without suppress files
}

// Options change how messages are rendered.
type Options struct {
	// Deterministic fixes Message-IDs, MIME boundaries and Date so that
	// rendering twice gives identical bytes.
	Deterministic bool
	// Mailer is the User-Agent header, e.g. "mailmerge/1.0.0".
	Mailer string
	// RenderTimeout bounds rendering one row's templates; 0 means
	// compose.DefaultTimeout.
	RenderTimeout time.Duration
	// RedirectTo, when set, makes the messages test sends to this address
	// (see compose.Spec.RedirectTo); Send then records them in
	// results.test.csv, never in the campaign's results file.
	RedirectTo *mail.Address
	// Rows, when not every row, limits the run to these rows: the others
	// are not checked one by one, rendered, sent or recorded. What protects
	// the whole list still looks at every row: its header and columns,
	// duplicate addresses, and for a resumed send, rows that changed.
	Rows Selection
	// Shard, when not the whole list, limits a send to the rows whose
	// address is in it, as Rows does, and records them in the shard's own
	// results file (Shard.ResultsPath). It goes with neither Rows, which
	// picks rows by number where a shard picks them by address, nor
	// RedirectTo, whose test sends all go to one address.
	Shard Shard
	// Getenv reads the environment variable that [unsubscribe] secret_env
	// names; only cmd looks at the environment, and passes os.Getenv. Nil
	// reads nothing: a campaign with [unsubscribe] then does not load.
	Getenv func(name string) string
}

// deterministicDate is the Date of every message rendered with
// Options.Deterministic.
func deterministicDate() time.Time { return time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC) }

// Load reads and validates the campaign file and parses its templates.
// Every problem found is returned together (errors.Join).
func Load(path string, opts Options) (*Campaign, error) {
	if !opts.Shard.All() && (!opts.Rows.All() || opts.RedirectTo != nil) {
		return nil, errShardWith
	}
	cfg, data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	c := &Campaign{Path: path, Dir: filepath.Dir(path), Config: cfg, keyLine: keyLines(data), data: data,
		redirect: opts.RedirectTo != nil, rows: opts.Rows, shard: opts.Shard}
	p := &problems{c: c}
	c.listOpts = c.listOptions(p)
	spec := c.composeSpec(opts, p)
	composer, err := compose.New(spec)
	if err != nil {
		p.errs = append(p.errs, err)
	}
	c.composer = composer
	if len(p.errs) == 0 {
		c.loadSuppression(p) // a million addresses take a second: not for a campaign that fails anyway
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// problems collects what Load finds wrong, each at its key's line.
type problems struct {
	c    *Campaign
	errs []error
}

func (p *problems) add(key string, err error, hint string) {
	p.errs = append(p.errs, &ConfigError{File: p.c.Path, Line: p.c.keyLine[key], Err: fmt.Errorf("%s: %w", key, err), Help: hint})
}

// listOptions checks the keys about the recipients list and turns them into
// the reader's options; it sets c.listPath.
func (c *Campaign) listOptions(p *problems) recipients.Options {
	cfg := c.Config
	if cfg.Recipients == "" {
		p.add("recipients", errors.New("is required"), `set recipients = "recipients.csv" in the campaign`)
	} else {
		c.listPath = c.resolve(cfg.Recipients)
		if _, err := os.Stat(c.listPath); err != nil {
			p.add("recipients", fmt.Errorf("%s: %w", c.listPath, fsafe.Cause(err)), "")
		}
	}
	lo := recipients.Options{Encoding: cfg.Encoding, Sheet: cfg.Sheet, HeaderRow: cfg.HeaderRow, SkipHidden: cfg.SkipHidden}
	if err := recipients.CheckEncoding(cfg.Encoding); err != nil {
		var re *recipients.Error
		if errors.As(err, &re) {
			err = re.Err
		}
		p.add("encoding", err, `Excel on a Chinese Windows writes "gbk", on a Western one "windows-1252"; "CSV UTF-8" needs no setting`)
	}
	// A key for the other kind of list is a mistake, not silently ignored.
	misplaced := func(key string, set bool, kind string) {
		if set {
			p.add(key, fmt.Errorf("applies to %s, not to %s", kind, cfg.Recipients), "remove "+key+" from the campaign")
		}
	}
	if ext := strings.ToLower(filepath.Ext(cfg.Recipients)); ext == ".xlsx" || ext == ".xlsm" {
		misplaced("encoding", cfg.Encoding != "", "a CSV list (a workbook is Unicode)")
		misplaced("delimiter", cfg.Delimiter != "", "a CSV list")
		if cfg.HeaderRow < 0 {
			p.add("header_row", fmt.Errorf("%d is not a row number", cfg.HeaderRow), "rows are numbered from 1, as Excel shows them")
		}
	} else if cfg.Recipients != "" {
		misplaced("sheet", cfg.Sheet != "", "a workbook (.xlsx)")
		misplaced("header_row", cfg.HeaderRow != 0, "a workbook (.xlsx)")
		misplaced("skip_hidden", cfg.SkipHidden, "a workbook (.xlsx)")
	}
	switch cfg.Delimiter {
	case "":
	case ",", ";", "|":
		lo.Delimiter = rune(cfg.Delimiter[0])
	case "\t", "tab", `\t`:
		lo.Delimiter = '\t'
	default:
		p.add("delimiter", fmt.Errorf("%q is not a delimiter", cfg.Delimiter), `use ",", ";", "tab" or leave it unset to detect`)
	}
	return lo
}

// composeSpec gathers what compose needs to make the messages: the
// templates with where each was written, the bodies and the size limits.
func (c *Campaign) composeSpec(opts Options, p *problems) compose.Spec {
	cfg := c.Config
	spec := compose.Spec{
		From: c.source("from", cfg.From), To: c.source("to", cfg.To), Cc: c.source("cc", cfg.Cc),
		Bcc: c.source("bcc", cfg.Bcc), ReplyTo: c.source("reply_to", cfg.ReplyTo),
		ToDisplay: c.source("to_display", cfg.ToDisplay), Subject: c.source("subject", cfg.Subject),
		Dir: c.Dir, FileRoots: cfg.FileRoots, Mailer: opts.Mailer, Timeout: opts.RenderTimeout,
		Deterministic: opts.Deterministic, Seed: filepath.Base(c.Path), Date: deterministicDate(),
		RedirectTo: opts.RedirectTo, InlineCSS: cfg.InlineCSS == nil || *cfg.InlineCSS,
	}
	// A missing key still names the campaign file in compose's errors.
	for key, src := range map[string]*compose.Source{"subject": &spec.Subject, "from": &spec.From, "to": &spec.To} {
		if src.IsZero() {
			*src = compose.Source{File: c.Path, Key: key, Line: 1}
		}
	}
	c.bodies(&spec, p)
	spec.Unsubscribe = c.unsubscribeLinks(opts.Getenv, p)
	for i, a := range cfg.Attachments {
		src := c.source("attachments", a)
		src.Key = fmt.Sprintf("attachments[%d]", i)
		spec.Attachments = append(spec.Attachments, src)
	}
	for _, name := range sortedHeaderNames(cfg.Headers) {
		src := c.source("headers."+name, cfg.Headers[name])
		src.Key = "headers." + tomlKey(name)
		spec.Headers = append(spec.Headers, compose.HeaderSpec{Name: name, Value: src})
	}
	if spec.DKIM = c.dkimSigner(p); spec.DKIM != nil {
		c.dkim = spec.DKIM.Domain
	}
	spec.MaxSize = c.size("max_message_size", cfg.MaxMessageSize, p)
	spec.MaxAttachments = c.size("max_attachment_size", cfg.MaxAttachmentSize, p)
	return spec
}

// bodies reads the body templates: markdown (with its layout) or text and
// html. A campaign that names both kinds gets one error, and only its
// Markdown is read.
func (c *Campaign) bodies(spec *compose.Spec, p *problems) {
	cfg := c.Config
	if cfg.Markdown != "" {
		if cfg.Text != "" || cfg.HTML != "" {
			p.add("markdown", errors.New("cannot be used together with text or html"),
				"a Markdown body makes both the text and the HTML part; remove text and html, or markdown")
		}
		spec.Markdown = c.body("markdown", cfg.Markdown, p)
		spec.Layout = c.body("layout", cfg.Layout, p)
		return
	}
	if cfg.Layout != "" {
		p.add("layout", errors.New("is the page of a markdown body, and there is none"),
			`set markdown = "body.md.tmpl", or put the page in the html template`)
	}
	spec.Text = c.body("text", cfg.Text, p)
	spec.HTML = c.body("html", cfg.HTML, p)
}

// body reads the template file named by key; none when unnamed.
func (c *Campaign) body(key, name string, p *problems) compose.Source {
	if name == "" {
		return compose.Source{}
	}
	path := c.resolve(name)
	b, err := os.ReadFile(path)
	if err != nil {
		p.add(key, fmt.Errorf("%s: %w", path, fsafe.Cause(err)), "")
		return compose.Source{File: path, Line: 1} // a body was named: no "no message body" too
	}
	return compose.Source{File: path, Line: 1, Text: strings.TrimPrefix(string(b), "\ufeff")}
}

// size reads a size limit; 0, no limit, when unset.
func (c *Campaign) size(key, text string, p *problems) int64 {
	if text == "" {
		return 0
	}
	n, err := parseSize(text)
	if err != nil {
		p.add(key, err, "")
	}
	return n
}

// source wraps a campaign value as a template source that knows its line.
func (c *Campaign) source(key, text string) compose.Source {
	if text == "" {
		return compose.Source{}
	}
	return compose.Source{File: c.Path, Key: key, Line: valueLine(c.data, c.keyLine[key]), Text: text}
}

func (c *Campaign) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// ResultsPath is where send records outcomes.
func (c *Campaign) ResultsPath() string {
	if c.Config.Send.Results != "" {
		return c.resolve(c.Config.Send.Results)
	}
	return c.resolve("results.csv")
}

// TestResultsName is the results file of test sends (Options.RedirectTo),
// beside the campaign's own.
const TestResultsName = "results.test.csv"

// ParseAddress checks an address given on the command line, such as send
// --redirect-to, by the rules every address of a message follows.
func ParseAddress(v string) (*mail.Address, error) { return compose.ParseAddress(v) }

// tomlKey writes a key as the campaign file must spell it: bare when it can
// be, quoted otherwise, so a key holding a line break prints on one line.
func tomlKey(k string) string {
	for _, r := range k {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return strconv.Quote(k)
		}
	}
	return k
}
