package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/sandbox"
	"github.com/mailmerge/mailmerge/internal/suppress"
	"github.com/mailmerge/mailmerge/internal/unsubscribe"
)

const (
	secretEnv = "NEWS_UNSUBSCRIBE_SECRET"
	secret    = "a-secret-of-more-than-sixteen-bytes"
)

func getenv(name string) string {
	if name == secretEnv {
		return secret
	}
	return ""
}

const unsubscribeTable = `
[unsubscribe]
url        = "https://news.example.com/u"
mailto     = "unsubscribe@example.com"
secret_env = "` + secretEnv + `"
`

// writeUnsubscribeCampaign writes a campaign of rows recipients whose
// Markdown body carries the one-click link, with table as its
// [unsubscribe], and returns its path.
func writeUnsubscribeCampaign(t *testing.T, rows int, table string) string {
	t.Helper()
	dir := t.TempDir()
	var list strings.Builder
	list.WriteString("name,email\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&list, "Person %d,%s\n", i, addr(i))
	}
	writeFile(t, filepath.Join(dir, "list.csv"), list.String())
	writeFile(t, filepath.Join(dir, "body.md"), "Dear {{.name}},\n\n[Unsubscribe]({{unsubscribeURL}})\n")
	path := filepath.Join(dir, "campaign.toml")
	writeFile(t, path, `recipients = "list.csv"
from       = "Nami <nami@example.com>"
to         = "{{.name}} <{{.email}}>"
subject    = "Hello {{.name}}"
markdown   = "body.md"
[smtp]
host = "127.0.0.1"
security = "none"
[send]
rate = "100/s"
`+table)
	return path
}

// bodies decodes the text and HTML parts of a received message.
func bodies(t *testing.T, msg *mail.Message) map[string]string {
	t.Helper()
	out := map[string]string{}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[mt] = string(b)
	}
}

// TestSendOneClickLoop: every message received carries List-Unsubscribe
// and List-Unsubscribe-Post with its recipient's token, which the body's
// link repeats; POSTing that link to the endpoint, as Gmail's button does,
// puts exactly that recipient in unsubscribed.csv.
func TestSendOneClickLoop(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{KeepData: true})
	path := writeUnsubscribeCampaign(t, 3, unsubscribeTable)
	c, err := campaign.Load(path, campaign.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if sum := send(t, c, campaign.SendOptions{Server: target(srv)}); sum.Sent != 3 {
		t.Fatalf("sent %d", sum.Sent)
	}
	signer, _ := unsubscribe.NewSigner([]byte(secret))
	links := map[string]string{}
	for _, d := range srv.Deliveries() {
		msg, err := mail.ReadMessage(bytes.NewReader(d.Data))
		if err != nil {
			t.Fatal(err)
		}
		to := d.To[0]
		link := "https://news.example.com/u?t=" + signer.Token(to)
		want := "<" + link + ">, <mailto:unsubscribe@example.com?subject=unsubscribe%20" + signer.Token(to) + ">"
		if got := msg.Header.Get("List-Unsubscribe"); got != want {
			t.Errorf("%s: List-Unsubscribe = %q\nwant %q", to, got, want)
		}
		if got := msg.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
			t.Errorf("%s: List-Unsubscribe-Post = %q", to, got)
		}
		b := bodies(t, msg)
		if !strings.Contains(b["text/html"], `<a href="`+link+`"`) || !strings.Contains(b["text/plain"], link) {
			t.Errorf("%s: the body's link is not the header's %s:\n%s\n%s", to, link, b["text/plain"], b["text/html"])
		}
		links[to] = link
	}

	u, err := campaign.LoadUnsubscribe(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(path), "unsubscribed.csv"); u.File != want {
		t.Errorf("file %s, want %s", u.File, want)
	}
	list, err := suppress.Open(u.File)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	endpoint := httptest.NewServer(unsubscribe.NewEndpoint(u.Signer, list, nil))
	defer endpoint.Close()
	link, _ := url.Parse(links[addr(2)])
	resp, err := http.Post(endpoint.URL+link.Path+"?"+link.RawQuery, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: %s", resp.Status)
	}
	b, _ := os.ReadFile(u.File)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], addr(2)+",") {
		t.Errorf("unsubscribed.csv:\n%s", b)
	}
}

// TestSendRedirectUnsubscribesTester: the links of a test send are the
// tester's, so following one never unsubscribes the row's recipient.
func TestSendRedirectUnsubscribesTester(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{KeepData: true})
	path := writeUnsubscribeCampaign(t, 1, unsubscribeTable)
	c, err := campaign.Load(path, campaign.Options{Getenv: getenv, RedirectTo: &mail.Address{Address: "me@example.net"}})
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, campaign.SendOptions{Server: target(srv)})
	signer, _ := unsubscribe.NewSigner([]byte(secret))
	d := srv.Deliveries()[0]
	if !bytes.Contains(d.Data, []byte("?t="+signer.Token("me@example.net")+">")) || bytes.Contains(d.Data, []byte(signer.Token(addr(1)))) {
		t.Errorf("the test send's links are not the tester's:\n%s", d.Data)
	}
}

// TestUnsubscribeProblems: what is wrong in [unsubscribe] stops the
// campaign from loading, at the key's line, and never shows the secret.
func TestUnsubscribeProblems(t *testing.T) {
	short := func(name string) string {
		if name == secretEnv {
			return "too-short"
		}
		return ""
	}
	for _, tc := range []struct {
		name, table string
		getenv      func(string) string
		want        string // the first problem
		more        int    // problems after it
	}{
		{"secret unset", unsubscribeTable, nil, `campaign.toml:15: unsubscribe.secret_env: ` + secretEnv + ` is not set`, 0},
		{"secret short", unsubscribeTable, short, `campaign.toml:15: unsubscribe.secret_env: ` + secretEnv + ` holds 9 bytes, under the 16 a secret needs`, 0},
		{"no secret_env", strings.Replace(unsubscribeTable, `secret_env`, `#`, 1), getenv, `campaign.toml:13: unsubscribe.secret_env: is required`, 0},
		{"http", strings.Replace(unsubscribeTable, `https://`, `http://`, 1), getenv, `campaign.toml:13: unsubscribe.url: "http://news.example.com/u" is not an https URL`, 0},
		{"mailto name", strings.Replace(unsubscribeTable, `"unsubscribe@example.com"`, `"News <unsubscribe@example.com>"`, 1), getenv, `campaign.toml:14: unsubscribe.mailto: "News <unsubscribe@example.com>": write the address alone`, 0},
		{"mailto bad", strings.Replace(unsubscribeTable, `"unsubscribe@example.com"`, `"unsubscribe"`, 1), getenv, `campaign.toml:14: unsubscribe.mailto: `, 0},
		{"neither", "\n[unsubscribe]\nsecret_env = \"X\"\n", getenv, `campaign.toml:13: [unsubscribe] has neither url nor mailto`, 1}, // and body.md:3 calls unsubscribeURL
		{"function without url", strings.Replace(unsubscribeTable, `url `, `#`, 1), getenv, `body.md:3: {{unsubscribeURL}} needs [unsubscribe] url`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeUnsubscribeCampaign(t, 1, tc.table)
			_, err := campaign.Load(path, campaign.Options{Getenv: tc.getenv})
			ps := campaign.Problems(err)
			if want := 1 + tc.more; len(ps) != want {
				t.Fatalf("problems %+v, want %d", ps, want)
			}
			if msg := strings.TrimPrefix(ps[0].Message, filepath.Dir(path)+string(filepath.Separator)); !strings.HasPrefix(msg, tc.want) {
				t.Errorf("problem %q, want %q", msg, tc.want)
			}
			if strings.Contains(ps[0].Message+ps[0].Hint, "too-short") {
				t.Errorf("the secret shows: %+v", ps[0])
			}
		})
	}
	path := writeUnsubscribeCampaign(t, 1, strings.Replace(strings.Replace(unsubscribeTable, `url `, `#`, 1), "{{unsubscribeURL}}", "x", 1))
	os.WriteFile(filepath.Join(filepath.Dir(path), "body.md"), []byte("Hi"), 0o644)
	if _, err := campaign.LoadUnsubscribe(path, getenv); err == nil || !strings.Contains(err.Error(), "no [unsubscribe] url: there is nothing to serve") {
		t.Errorf("LoadUnsubscribe without url: %v", err)
	}
}

// TestCheckWarnsWithoutUnsubscribe: a list of more than 100 rows without
// [unsubscribe] gets a warning; a smaller one, or one with it, does not.
func TestCheckWarnsWithoutUnsubscribe(t *testing.T) {
	for _, tc := range []struct {
		rows  int
		table string
		warn  bool
	}{{100, "", false}, {101, "", true}, {101, unsubscribeTable, false}} {
		path := writeUnsubscribeCampaign(t, tc.rows, tc.table)
		if tc.table == "" {
			os.WriteFile(filepath.Join(filepath.Dir(path), "body.md"), []byte("Hi"), 0o644)
		}
		c, err := campaign.Load(path, campaign.Options{Getenv: getenv})
		if err != nil {
			t.Fatal(err)
		}
		var ps []campaign.Problem
		sum, err := c.Check(context.Background(), campaign.CheckOptions{}, collect(&ps))
		if err != nil || sum.Errors > 0 {
			t.Fatalf("check: %v, %+v", err, ps)
		}
		warned := false
		for _, p := range ps {
			warned = warned || p.Severity == campaign.Warning && strings.Contains(p.Message, "recipients and no [unsubscribe]")
		}
		if warned != tc.warn {
			t.Errorf("%d rows, [unsubscribe] %t: warned %t; problems %+v", tc.rows, tc.table != "", warned, ps)
		}
	}
}

// TestUnsubscribeFileAlwaysSuppresses: a campaign with [unsubscribe] never
// mails the addresses its endpoint recorded, even when suppress does not
// list the file; the results file says which file held the address.
func TestUnsubscribeFileAlwaysSuppresses(t *testing.T) {
	srv := startSandbox(t, sandbox.Options{})
	path := writeUnsubscribeCampaign(t, 3, unsubscribeTable)
	c, err := campaign.Load(path, campaign.Options{Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	unsubscribeAddrs(t, c, strings.ToUpper(addr(2)))
	if c, err = campaign.Load(path, campaign.Options{Getenv: getenv}); err != nil {
		t.Fatal(err)
	}
	sum := send(t, c, campaign.SendOptions{Server: target(srv)})
	if sum.Sent != 2 || sum.Skipped != 1 {
		t.Fatalf("sent %d, skipped %d; want 2 and 1", sum.Sent, sum.Skipped)
	}
	for _, d := range srv.Deliveries() {
		if d.To[0] == addr(2) {
			t.Errorf("%s unsubscribed and still got the message", addr(2))
		}
	}
	for _, r := range readResults(t, sum.Results) {
		if r.row == 2 && (r.status != "skipped" || r.reply != "suppressed: unsubscribed.csv") {
			t.Errorf("row 2 recorded %q %q, want skipped with suppressed: unsubscribed.csv", r.status, r.reply)
		}
	}
}
