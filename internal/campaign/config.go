package campaign

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/fsafe"
)

// Config is the campaign file as written. Paths are relative to the file.
type Config struct {
	Recipients string `toml:"recipients"`
	Encoding   string `toml:"encoding"`
	Delimiter  string `toml:"delimiter"`
	// Sheet, HeaderRow and SkipHidden apply to a workbook (.xlsx, .xlsm):
	// the sheet to read (default the first visible one), the row that names
	// the columns (default 1) and whether rows hidden in Excel are left out.
	Sheet      string `toml:"sheet"`
	HeaderRow  int    `toml:"header_row"`
	SkipHidden bool   `toml:"skip_hidden"`

	From      string `toml:"from"`
	To        string `toml:"to"`
	ToDisplay string `toml:"to_display"`
	Cc        string `toml:"cc"`
	Bcc       string `toml:"bcc"`
	ReplyTo   string `toml:"reply_to"`
	Subject   string `toml:"subject"`
	Text      string `toml:"text"`
	HTML      string `toml:"html"`
	// Markdown is a body instead of Text and HTML: both parts are made
	// from it; Layout is the HTML page it is shown in.
	Markdown    string            `toml:"markdown"`
	Layout      string            `toml:"layout"`
	Attachments []string          `toml:"attachments"`
	Headers     map[string]string `toml:"headers"`
	// InlineCSS is nil when unset: <style> rules are inlined (true).
	InlineCSS *bool `toml:"inline_css"`

	// MaxMessageSize limits one message, attachments included ("25MB").
	MaxMessageSize string `toml:"max_message_size"`
	// MaxAttachmentSize limits the attachments of one message ("20MB").
	MaxAttachmentSize string `toml:"max_attachment_size"`
	// FileRoots are folders besides the campaign's own that a path written
	// with data (attachments, <img src>) may name.
	FileRoots []string `toml:"file_roots"`
	// Suppress names files of addresses never to send to (unsubscribed,
	// bounced): a row with one of them is skipped.
	Suppress []string `toml:"suppress"`

	SMTP SMTPConfig `toml:"smtp"`
	// Relays, when set, are the servers send spreads the messages over
	// ([[relays]]); [smtp] holds their defaults.
	Relays      []RelayConfig     `toml:"relays"`
	Send        SendConfig        `toml:"send"`
	Unsubscribe UnsubscribeConfig `toml:"unsubscribe"`
	DKIM        DKIMConfig        `toml:"dkim"`
	IMAP        IMAPConfig        `toml:"imap"`
}

// UnsubscribeConfig is the [unsubscribe] table (see unsubscribe.go).
type UnsubscribeConfig struct {
	URL       string `toml:"url"`        // base of the one-click links
	Mailto    string `toml:"mailto"`     // address of mailto: unsubscribes
	SecretEnv string `toml:"secret_env"` // variable holding the HMAC secret
	File      string `toml:"file"`       // default unsubscribed.csv
}

// DKIMConfig is the [dkim] table: sign every message with the key in
// KeyFile, published in DNS at Selector._domainkey.Domain.
type DKIMConfig struct {
	Domain   string `toml:"domain"`
	Selector string `toml:"selector"`
	KeyFile  string `toml:"key_file"`
}

// IMAPConfig is the [imap] table: the mailbox mailmerge bounces reads.
// Unset keys come from [smtp] (username, the password, ca_file) and its
// provider (host); security defaults to ssl, port to 993 (143 for
// starttls), folder to INBOX.
type IMAPConfig struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Security string `toml:"security"`
	Username string `toml:"username"`
	Folder   string `toml:"folder"`
}

// SMTPConfig is the [smtp] table.
type SMTPConfig struct {
	Provider        string `toml:"provider"`
	Host            string `toml:"host"`
	Port            int    `toml:"port"`
	Security        string `toml:"security"` // ssl, starttls, none
	Username        string `toml:"username"`
	PasswordEnv     string `toml:"password_env"`
	PasswordCommand string `toml:"password_command"`
	Auth            string `toml:"auth"` // "", plain, login, cram-md5, xoauth2
	CAFile          string `toml:"ca_file"`
	HeloName        string `toml:"helo_name"`
	DialTimeout     string `toml:"dial_timeout"`
	CommandTimeout  string `toml:"command_timeout"`
	DataTimeout     string `toml:"data_timeout"`
}

// RelayConfig is one [[relays]] table: the keys of [smtp], whose values
// are its defaults, and how much of the run it takes. Rate, Workers and
// MaxPerConnection default to [send]'s.
type RelayConfig struct {
	SMTPConfig
	Name             string `toml:"name"`
	Weight           int    `toml:"weight"` // its share of the messages, default 1
	Rate             string `toml:"rate"`
	Workers          int    `toml:"workers"`
	MaxPerConnection int    `toml:"max_per_connection"`
}

// SendConfig is the [send] table.
type SendConfig struct {
	Rate             string `toml:"rate"`
	Burst            int    `toml:"burst"`
	Workers          int    `toml:"workers"`
	Results          string `toml:"results"`
	MaxPerConnection int    `toml:"max_per_connection"`
	Attempts         int    `toml:"attempts"`
	// StopAfterFailures is nil when unset (DefaultStopAfterFailures); 0
	// turns the stop off.
	StopAfterFailures *int   `toml:"stop_after_failures"`
	RetryDelay        string `toml:"retry_delay"`
}

// knownKeys lists every key, for "did you mean" hints.
var knownKeys = []string{
	"recipients", "encoding", "delimiter", "sheet", "header_row", "skip_hidden", "from", "to", "to_display", "cc", "bcc", "reply_to",
	"subject", "text", "html", "markdown", "layout", "inline_css", "attachments", "file_roots", "headers", "max_message_size", "max_attachment_size", "suppress", "smtp", "send",
	"provider", "host", "port", "security", "username", "password_env", "password_command", "auth",
	"ca_file", "helo_name", "dial_timeout", "command_timeout", "data_timeout",
	"rate", "burst", "workers", "results", "max_per_connection", "attempts", "stop_after_failures", "retry_delay",
	"unsubscribe", "url", "mailto", "secret_env", "file",
	"dkim", "domain", "selector", "key_file",
	"imap", "folder",
	"relays", "name", "weight",
}

// readConfig parses the campaign file strictly: an unknown key is an error
// that names it and its line.
func readConfig(path string) (*Config, []byte, error) {
	name := filepath.Base(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, &ConfigError{File: path, Err: fsafe.Cause(err)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var cfg Config
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) && len(sm.Errors) > 0 {
			de := sm.Errors[0]
			row, _ := de.Position()
			key := de.Key()
			last := key[len(key)-1]
			ce := &ConfigError{File: name, Line: row, Err: fmt.Errorf("unknown key %q", strings.Join(key, "."))}
			if s := compose.Closest(last, knownKeys); s != "" {
				ce.Help = fmt.Sprintf("did you mean %q?", s)
			}
			return nil, nil, ce
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, nil, &ConfigError{File: name, Line: row, Err: errors.New(de.Error())}
		}
		return nil, nil, &ConfigError{File: name, Err: err}
	}
	return &cfg, data, nil
}

// keyLines maps "key" (top level), "table.key" and, in the Nth table of an
// array such as [[relays]], "relays.N.key" to the line where the key is
// set, so errors can point into the campaign file.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	reTable := regexp.MustCompile(`^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]`)
	reArray := regexp.MustCompile(`^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]`)
	arrays := map[string]int{} // [[name]] seen so far
	reKey := regexp.MustCompile(`^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=`)
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if m := reArray.FindStringSubmatch(line); m != nil {
			// The keys of the second [[relays]] are "relays.2.host".
			arrays[m[1]]++
			table = fmt.Sprintf("%s.%d", m[1], arrays[m[1]])
			lines[table] = n
			continue
		}
		if m := reTable.FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		if m := reKey.FindStringSubmatch(line); m != nil {
			k := strings.Trim(m[1], `"'`)
			if strings.HasPrefix(m[1], `"`) {
				// A basic string key has escapes, "X-Evil\r\nBcc"; Go's
				// quoting reads the common ones the same way.
				if u, err := strconv.Unquote(m[1]); err == nil {
					k = u
				}
			}
			if table != "" {
				k = table + "." + k
			}
			if _, seen := lines[k]; !seen {
				lines[k] = n
			}
		}
	}
	return lines
}

// valueLine returns the line where a key's value starts; a multi-line
// string that opens with """ on the key's line starts on the next line.
func valueLine(data []byte, line int) int {
	if line < 1 {
		return 1
	}
	all := bytes.Split(data, []byte("\n"))
	if line-1 < len(all) {
		l := bytes.TrimSpace(all[line-1])
		if bytes.HasSuffix(l, []byte(`"""`)) || bytes.HasSuffix(l, []byte(`'''`)) {
			return line + 1
		}
	}
	return line
}

// parseSize reads "25MB", "512 KB", "1048576".
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: write it like \"25MB\" or \"512KB\"", s)
	}
	return int64(n * float64(mult)), nil
}

// parseDuration reads a Go duration, empty meaning def.
func parseDuration(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("duration %q: write it like \"30s\" or \"5m\"", s)
	}
	return d, nil
}

// sortedHeaderNames gives [headers] in a stable order.
func sortedHeaderNames(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
