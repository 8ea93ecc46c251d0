package campaign_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/dkim"
	"github.com/mailmerge/mailmerge/internal/sandbox"
)

// dkimCampaign writes a campaign signed with a new key of kind into a
// fresh folder: a Chinese subject, a PDF attached, a body line that SMTP
// must dot-stuff, a bcc and the one-click unsubscribe headers.
func dkimCampaign(t *testing.T, kind string, rows int, opts campaign.Options) (*campaign.Campaign, dkim.Record, string) {
	t.Helper()
	dir := t.TempDir()
	key, err := dkim.Generate(kind, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := dkim.Create(filepath.Join(dir, "dkim.pem"), key); err != nil {
		t.Fatal(err)
	}
	rec, err := key.Record("example.com", "mail2026")
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	list.WriteString("name,email\n")
	for i := 1; i <= rows; i++ {
		list.WriteString("李雷 " + addr(i)[:8] + "," + addr(i) + "\n")
	}
	writeFile(t, filepath.Join(dir, "list.csv"), list.String())
	writeFile(t, filepath.Join(dir, "body.txt"), "亲爱的 {{.name}}:\n\n.a line that starts with a dot\n\ttabbed   spaces  \nsee the report.\n")
	writeFile(t, filepath.Join(dir, "report.pdf"), "%PDF-1.4\n"+strings.Repeat("binary \x00\x01\xff ", 300)+"\n%%EOF\n")
	writeFile(t, filepath.Join(dir, "campaign.toml"), `recipients = "list.csv"
from        = "娜美 <nami@news.example.com>"
to          = "{{.name}} <{{.email}}>"
bcc         = "audit@example.net"
subject     = "来自娜美的问候 — 你的月度报告已经准备好了，请查收附件 {{.name}}"
text        = "body.txt"
attachments = ["report.pdf"]

[headers]
List-Unsubscribe      = "<https://news.example.com/u?t={{.email}}>"
List-Unsubscribe-Post = "List-Unsubscribe=One-Click"

[smtp]
[send]
retry_delay = "10ms"

[dkim]
domain   = "example.com"
selector = "mail2026"
key_file = "dkim.pem"
`)
	c, err := campaign.Load(filepath.Join(dir, "campaign.toml"), opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c, rec, dir
}

// verify checks msg's DKIM signature with go-msgauth, an implementation
// independent of go-mail's signer, whose DNS answers with rec alone.
func verify(t *testing.T, rec dkim.Record, msg []byte) (*msgauth.Verification, error) {
	t.Helper()
	lookups := 0
	opts := &msgauth.VerifyOptions{LookupTXT: func(domain string) ([]string, error) {
		lookups++
		if domain != strings.TrimSuffix(rec.Name, ".") {
			return nil, errors.New("no such record: " + domain)
		}
		return []string{rec.Value}, nil
	}}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(msg), opts)
	if err != nil {
		t.Fatalf("reading the message: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("%d signatures, want 1", len(vs))
	}
	return vs[0], vs[0].Err
}

// TestDKIMVerifiesAsReceived: every message, as the sandbox's SMTP server
// stored it in its Maildir, carries a signature go-msgauth verifies, for an
// RSA and an Ed25519 key; it signs the unsubscribe headers and never names
// the bcc; a copy with one body byte changed fails.
func TestDKIMVerifiesAsReceived(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			mail := t.TempDir()
			srv := startSandbox(t, sandbox.Options{Dir: mail})
			c, rec, _ := dkimCampaign(t, kind, 3, campaign.Options{})
			if sum := send(t, c, campaign.SendOptions{Server: target(srv)}); sum.Sent != 3 {
				t.Fatalf("summary = %+v", sum)
			}
			stored, err := sandbox.ReadMaildir(mail)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) != 6 { // each message to its To and the bcc
				t.Fatalf("%d messages stored, want 6", len(stored))
			}
			for _, s := range stored {
				v, err := verify(t, rec, s.Message)
				if err != nil {
					t.Fatalf("%s: signature does not verify: %v\n%s", s.Path, err, head(s.Message))
				}
				if v.Domain != "example.com" {
					t.Errorf("d=%s, want example.com", v.Domain)
				}
				keys := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
				for _, h := range []string{"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type", "reply-to", "list-unsubscribe", "list-unsubscribe-post"} {
					if !slices.Contains(strings.Split(keys, ":"), h) {
						t.Errorf("h=%s does not sign %s", keys, h)
					}
				}
				if strings.Contains(keys, "bcc") || bytes.Contains(s.Message, []byte("audit@example.net")) {
					t.Errorf("%s: the bcc shows in the signed message (h=%s)", s.Path, keys)
				}
				if !bytes.Contains(s.Message, []byte("\r\n.a line that starts with a dot")) {
					t.Errorf("%s: the dot-stuffed line did not arrive as written", s.Path)
				}
			}
			tampered := tamperBody(t, stored[0].Message)
			if _, err := verify(t, rec, tampered); err == nil {
				t.Fatal("a message with one body byte changed still verifies")
			}
		})
	}
}

// tamperBody changes one letter of the text part.
func tamperBody(t *testing.T, msg []byte) []byte {
	t.Helper()
	out := bytes.Clone(msg)
	i := bytes.Index(out, []byte("see the report"))
	if i < 0 {
		t.Fatalf("the body is not in the message:\n%s", out)
	}
	out[i] = 'S'
	return out
}

func head(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i]
	}
	return msg
}

// TestDKIMRenderDeterministic: render --deterministic of a signed campaign
// gives the same bytes twice, t= is the fixed Date, and the .eml files
// verify.
func TestDKIMRenderDeterministic(t *testing.T) {
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			c, rec, dir := dkimCampaign(t, kind, 2, campaign.Options{Deterministic: true})
			var runs [2][][]byte
			for i := range runs {
				out := filepath.Join(dir, "out"+string(rune('1'+i)))
				if _, err := c.Render(context.Background(), out, campaign.RenderOptions{}, func(p campaign.Problem) {}); err != nil {
					t.Fatal(err)
				}
				files, _ := filepath.Glob(filepath.Join(out, "*.eml"))
				if len(files) != 2 {
					t.Fatalf("%d .eml files, want 2", len(files))
				}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					runs[i] = append(runs[i], b)
				}
			}
			for j := range runs[0] {
				if !bytes.Equal(runs[0][j], runs[1][j]) {
					t.Fatalf("message %d differs between two deterministic renders:\n%s\n---\n%s", j+1, head(runs[0][j]), head(runs[1][j]))
				}
				v, err := verify(t, rec, runs[0][j])
				if err != nil {
					t.Fatalf("rendered message %d does not verify: %v", j+1, err)
				}
				if want := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC); !v.Time.Equal(want) {
					t.Errorf("t= is %v, want the deterministic Date %v", v.Time, want)
				}
			}
		})
	}
}
