package compose

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// TestSignWhatGoesOut: a message with a bare LF is signed as SMTP DATA
// sends it (CRLF), the signature field has no fold inside a tag but b=,
// and go-msgauth verifies the result with the unsubscribe headers signed.
func TestSignWhatGoesOut(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	d := &DKIM{Domain: "example.com", Selector: "mail2026", Key: key}
	msg := []byte("From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n" +
		"List-Unsubscribe: <https://example.com/u>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" +
		"\r\nline one\nline two\r\n")
	out := crlfLines(msg)
	if bytes.Contains(bytes.ReplaceAll(out, []byte("\r\n"), nil), []byte("\n")) {
		t.Fatalf("a bare LF is left: %q", out)
	}
	field, err := d.sign(out, time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSuffix(field, "\r\n"), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d bytes long", i+1, len(line))
		}
		// A continuation starts a tag, or goes on with b='s base64.
		if i > 0 && !strings.HasPrefix(line, " ") {
			t.Errorf("line %d is not folded: %q", i+1, line)
		}
	}
	if !strings.Contains(field, " h=From:To:Cc:Subject:Date:Message-ID:MIME-Version:Content-Type:Reply-To:List-Unsubscribe:List-Unsubscribe-Post;") {
		t.Errorf("h= is folded or incomplete:\n%s", field)
	}
	lookup := func(string) ([]string, error) {
		return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
	}
	vs, err := msgauth.VerifyWithOptions(bytes.NewReader(append([]byte(field), out...)), &msgauth.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 1 || vs[0].Err != nil {
		t.Fatalf("does not verify: %v %+v\n%s", err, vs, field)
	}
	changed := bytes.ReplaceAll(out, []byte("line two"), []byte("line 2"))
	vs, _ = msgauth.VerifyWithOptions(bytes.NewReader(append([]byte(field), changed...)), &msgauth.VerifyOptions{LookupTXT: lookup})
	if len(vs) != 1 || vs[0].Err == nil {
		t.Error("a changed body still verifies")
	}
}
