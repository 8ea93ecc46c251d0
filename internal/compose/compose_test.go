package compose_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/human"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.eml")

// src makes a campaign-file template source.
func src(key, text string) compose.Source {
	return compose.Source{File: "campaign.toml", Key: key, Line: 1, Text: text}
}

// file makes a template-file source.
func file(name, text string) compose.Source {
	return compose.Source{File: name, Line: 1, Text: text}
}

// greetingSpec is the classic lesson's message: Chinese From name, text and
// HTML, an inline logo and a per-recipient attachment.
func greetingSpec() compose.Spec {
	return compose.Spec{
		From:        src("from", "来自娜美的问候 <nami@example.com>"),
		To:          src("to", "{{.name}} <{{.email}}>"),
		ReplyTo:     src("reply_to", "Nami <nami@example.com>"),
		Subject:     src("subject", "来自娜美的问候 {{.year}} · Greetings, {{.name}}"),
		Headers:     []compose.HeaderSpec{{Name: "X-Campaign", Value: src("headers.X-Campaign", "greeting-{{.year}}")}},
		Text:        file("greeting.txt", "{{.name}}，你好！\n\nYour card number is {{.id}}.\n"),
		HTML:        file("greeting.html", "<p><img src=\"logo.png\" alt=\"logo\"></p>\n<h1>{{.name}}，你好！</h1>\n<p>Card <code>{{.id}}</code> &amp; more.</p>\n"),
		Attachments: []compose.Source{src("attachments", "{{.file}}")},
		Dir:         "testdata",
		Mailer:      "mailmerge/test",
	}
}

var greetingRow = map[string]string{
	"id": "1001", "name": "王小明", "email": "wang.xiaoming@example.com", "year": "2026", "file": "report.pdf",
}

func deterministic(s compose.Spec) compose.Spec {
	s.Deterministic = true
	s.Seed = "campaign.toml"
	s.Date = time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	return s
}

func mustCompose(t testing.TB, spec compose.Spec, row int, fields map[string]string) *compose.Message {
	t.Helper()
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Compose(row, fields)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func render(t testing.TB, m *compose.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := m.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// checkLines enforces RFC 5322 2.1.1 and 2.3: CRLF line ends, no bare CR or
// LF, at most 998 octets a line. The body's last line may end without CRLF
// (SMTP adds one before the final dot).
func checkLines(t *testing.T, b []byte) {
	t.Helper()
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, line := range lines {
		if len(line) == 0 {
			continue
		}
		if i == len(lines)-1 && !bytes.ContainsAny(line, "\r\n") {
			line = append(line[:len(line):len(line)], "\r\n"...)
		}
		if !bytes.HasSuffix(line, []byte("\r\n")) {
			t.Fatalf("line %d does not end in CRLF: %q", i+1, line)
		}
		body := line[:len(line)-2]
		if bytes.ContainsAny(body, "\r\n") {
			t.Fatalf("line %d holds a bare CR: %q", i+1, line)
		}
		if len(body) > 998 {
			t.Fatalf("line %d is %d octets long", i+1, len(body))
		}
	}
}

// part is one leaf of a parsed message, its body decoded.
type part struct {
	contentType string
	params      map[string]string
	header      map[string][]string
	body        []byte
}

// parseBack reads a rendered message with net/mail and mime/multipart.
func parseBack(t testing.TB, raw []byte) (*mail.Message, []part) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, raw)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatal(err)
	}
	var parts []part
	var walk func(h map[string][]string, body []byte)
	walk = func(h map[string][]string, body []byte) {
		get := func(k string) string {
			if v := h[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		mt, params, err := mime.ParseMediaType(get("Content-Type"))
		if err != nil {
			t.Fatalf("content type %q: %v", get("Content-Type"), err)
		}
		if strings.HasPrefix(mt, "multipart/") {
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err == io.EOF {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(p)
				if err != nil {
					t.Fatal(err)
				}
				walk(p.Header, b)
			}
		}
		switch strings.ToLower(get("Content-Transfer-Encoding")) {
		case "quoted-printable":
			body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		case "base64":
			body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		}
		if err != nil {
			t.Fatalf("%s body: %v", mt, err)
		}
		parts = append(parts, part{contentType: mt, params: params, header: h, body: body})
	}
	walk(msg.Header, body)
	return msg, parts
}

var dec = &mime.WordDecoder{}

func decoded(t testing.TB, h mail.Header, key string) string {
	t.Helper()
	v, err := dec.DecodeHeader(h.Get(key))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return v
}

func headerNames(h mail.Header) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// TestGolden compares deterministic renders with testdata/golden/*.eml;
// go test -update rewrites them.
func TestGolden(t *testing.T) {
	textOnly := compose.Spec{
		From:    src("from", "Nami <nami@example.com>"),
		To:      src("to", "{{.name}} <{{.email}}>"),
		Subject: src("subject", "Hello {{.name}}"),
		Text:    file("body.txt", "Hi {{.name}},\nsee you in {{.city}}.\n"),
		Mailer:  "mailmerge/test",
	}
	display := compose.Spec{
		From:      src("from", "来自娜美的问候 <nami@example.com>"),
		To:        src("to", "{{.email}}"),
		ToDisplay: src("to_display", "有缘人"),
		Cc:        src("cc", "{{.cc1}}, {{.cc2}}, {{.cc3}}"),
		Bcc:       src("bcc", "audit@example.com"),
		Subject:   src("subject", "来自娜美的问候"),
		HTML:      file("body.html", "<p>{{.name}}，你好！<br>见附件。</p>\n"),
		Mailer:    "mailmerge/test",
	}
	long := textOnly
	long.Subject = src("subject", strings.Repeat("月度报告 Monthly report for {{.name}} ", 12))
	for _, tc := range []struct {
		name   string
		spec   compose.Spec
		fields map[string]string
	}{
		{"text-only", textOnly, map[string]string{"name": "Alice", "email": "alice@example.com", "city": "Zürich"}},
		{"greeting", greetingSpec(), greetingRow},
		{"to-display", display, map[string]string{"name": "王小明", "email": "wang@example.com", "cc1": "li@example.com", "cc2": "zhao@example.com", "cc3": ""}},
		{"long-subject", long, map[string]string{"name": "张伟", "email": "zhang.wei@example.com", "city": "北京"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(t, mustCompose(t, deterministic(tc.spec), 1, tc.fields))
			checkLines(t, got)
			again := render(t, mustCompose(t, deterministic(tc.spec), 1, tc.fields))
			if !bytes.Equal(got, again) {
				t.Fatal("two deterministic renders differ")
			}
			path := filepath.Join("testdata", "golden", tc.name+".eml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s", path, got)
			}
		})
	}
}

// TestParseBack renders the greeting and reads it back as a mail program
// would: every decoded header and part matches the source data.
func TestParseBack(t *testing.T) {
	m := mustCompose(t, greetingSpec(), 1, greetingRow)
	raw := render(t, m)
	checkLines(t, raw)
	msg, parts := parseBack(t, raw)

	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "来自娜美的问候" || from[0].Address != "nami@example.com" {
		t.Errorf("From = %v, %v", from, err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "王小明" || to[0].Address != "wang.xiaoming@example.com" {
		t.Errorf("To = %v, %v", to, err)
	}
	if got, want := decoded(t, msg.Header, "Subject"), "来自娜美的问候 2026 · Greetings, 王小明"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got := msg.Header.Get("X-Campaign"); got != "greeting-2026" {
		t.Errorf("X-Campaign = %q", got)
	}
	if got := msg.Header.Get("Message-Id"); !regexp.MustCompile(`^<[^@<>]+@example\.com>$`).MatchString(got) {
		t.Errorf("Message-ID %q is not on the sender's domain", got)
	}
	if "<"+m.MessageID+">" != msg.Header.Get("Message-Id") {
		t.Errorf("Message.MessageID %q does not match the header %q", m.MessageID, msg.Header.Get("Message-Id"))
	}
	if d, err := msg.Header.Date(); err != nil || time.Since(d) > time.Hour || time.Until(d) > time.Hour {
		t.Errorf("Date = %v, %v; want about now", d, err)
	}

	var types []string
	byType := map[string]part{}
	for _, p := range parts {
		types = append(types, p.contentType)
		byType[p.contentType] = p
	}
	if want := []string{"text/plain", "text/html", "image/png", "application/pdf"}; !slices.Equal(types, want) {
		t.Fatalf("parts %v, want %v", types, want)
	}
	if text := string(byType["text/plain"].body); !strings.Contains(text, "王小明，你好！") || !strings.Contains(text, "card number is 1001") {
		t.Errorf("text part does not hold the personal text:\n%s", text)
	}
	html := string(byType["text/html"].body)
	if !strings.Contains(html, "<h1>王小明，你好！</h1>") || !strings.Contains(html, "<code>1001</code>") {
		t.Errorf("HTML part does not hold the personal text:\n%s", html)
	}

	img := byType["image/png"]
	logo, _ := os.ReadFile("testdata/logo.png")
	if !bytes.Equal(img.body, logo) {
		t.Error("inline image bytes differ from logo.png")
	}
	cid := strings.Trim(img.header["Content-Id"][0], "<>")
	if !strings.Contains(html, `src="cid:`+cid+`"`) {
		t.Errorf("HTML does not point at the inline image cid:%s:\n%s", cid, html)
	}

	pdf := byType["application/pdf"]
	want, _ := os.ReadFile("testdata/report.pdf")
	if !bytes.Equal(pdf.body, want) {
		t.Error("attachment bytes differ from report.pdf")
	}
	if _, dp, _ := mime.ParseMediaType(pdf.header["Content-Disposition"][0]); dp["filename"] != "report.pdf" {
		t.Errorf("attachment disposition %q", pdf.header["Content-Disposition"])
	}
	if len(m.Attachments) != 1 || filepath.Base(m.Attachments[0]) != "report.pdf" {
		t.Errorf("Message.Attachments = %v", m.Attachments)
	}
	if len(m.Images) != 1 || filepath.Base(m.Images[0]) != "logo.png" {
		t.Errorf("Message.Images = %v", m.Images)
	}
}

// TestHTMLOnly derives the plain part from the HTML.
func TestHTMLOnly(t *testing.T) {
	spec := greetingSpec()
	spec.Text = compose.Source{}
	_, parts := parseBack(t, render(t, mustCompose(t, spec, 1, greetingRow)))
	if parts[0].contentType != "text/plain" || parts[1].contentType != "text/html" {
		t.Fatalf("first parts are %s, %s", parts[0].contentType, parts[1].contentType)
	}
	text := string(parts[0].body)
	if !strings.Contains(text, "王小明，你好！") || strings.Contains(text, "<h1>") || !strings.Contains(text, "& more") {
		t.Errorf("derived text part:\n%s", text)
	}
}

// TestEnvelope: bcc goes to the envelope only; to_display shows its text
// while the envelope carries the addresses of to.
func TestEnvelope(t *testing.T) {
	spec := greetingSpec()
	spec.ToDisplay = src("to_display", "有缘人")
	spec.Cc = src("cc", "Li <li@example.com>")
	spec.Bcc = src("bcc", "{{.bcc1}}, {{.bcc2}}")
	row := map[string]string{"id": "1", "name": "王小明", "email": "wang@example.com", "year": "2026", "file": "report.pdf",
		"bcc1": "audit@example.com", "bcc2": "boss@example.com"}
	m := mustCompose(t, spec, 3, row)
	raw := render(t, m)
	msg, _ := parseBack(t, raw)
	if want := []string{"wang@example.com", "li@example.com", "audit@example.com", "boss@example.com"}; !slices.Equal(m.Envelope.To, want) {
		t.Errorf("Envelope.To = %v, want %v", m.Envelope.To, want)
	}
	if m.Envelope.From != "nami@example.com" || m.Recipient() != "wang@example.com" || m.Row != 3 {
		t.Errorf("Envelope.From %q, Recipient %q, Row %d", m.Envelope.From, m.Recipient(), m.Row)
	}
	if v, ok := msg.Header["Bcc"]; ok || bytes.Contains(raw, []byte("audit@")) || bytes.Contains(raw, []byte("boss@")) {
		t.Errorf("bcc shows in the message: %q", v)
	}
	if got := decoded(t, msg.Header, "To"); got != "有缘人:;" {
		t.Errorf("To = %q, want the empty group 有缘人:;", got)
	}
	if bytes.Contains(raw, []byte("wang@example.com")) {
		t.Error("the envelope recipient shows in the message although to_display is set")
	}
	if got := msg.Header.Get("Cc"); !strings.Contains(got, "li@example.com") {
		t.Errorf("Cc = %q", got)
	}
}

// TestLongLines: headers fold and bodies wrap so that no line passes 998
// octets, and long subjects decode back exactly.
func TestLongLines(t *testing.T) {
	var words []string
	for i := 0; len(strings.Join(words, " ")) < 2000; i++ {
		words = append(words, "word"+strings.Repeat("x", i%7))
	}
	ascii := strings.Join(words, " ")[:2000]
	ascii = strings.TrimRight(ascii, " ")
	chinese := strings.Repeat("来自娜美的问候月度报告", 50) // 500 characters
	longLine := strings.Repeat("长", 2000) + strings.Repeat("a", 3000)
	for name, subject := range map[string]string{"ascii": ascii, "chinese": chinese} {
		t.Run(name, func(t *testing.T) {
			spec := greetingSpec()
			spec.Subject = src("subject", "{{.subject}}")
			spec.Text = file("body.txt", "{{.line}}\n")
			spec.HTML = file("body.html", "<p>{{.line}}</p>")
			row := map[string]string{"id": "1", "name": "Alice", "email": "alice@example.com", "year": "2026",
				"file": "report.pdf", "subject": subject, "line": longLine}
			m := mustCompose(t, spec, 1, row)
			raw := render(t, m)
			checkLines(t, raw)
			msg, parts := parseBack(t, raw)
			if got := decoded(t, msg.Header, "Subject"); got != subject {
				t.Errorf("Subject decodes to\n%q\nwant\n%q", got, subject)
			}
			if m.Subject != subject {
				t.Errorf("Message.Subject = %q", m.Subject)
			}
			if got := strings.TrimSpace(string(parts[0].body)); got != longLine {
				t.Errorf("text part decodes to %d bytes, want %d", len(got), len(longLine))
			}
		})
	}
}

// TestLongDisplayNames: an ASCII name is one quoted string that cannot be
// folded, so a name too long for a header line fails the row; a Chinese name
// is encoded in foldable words and renders. (Found by FuzzHeaders.)
func TestLongDisplayNames(t *testing.T) {
	spec := compose.Spec{
		From: src("from", "{{.name}} <nami@example.com>"), To: src("to", "{{.name}} <bob@example.com>"),
		ToDisplay: src("to_display", "{{.display}}"), Subject: src("subject", "Hi"), Text: file("body.txt", "Hi"),
	}
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []map[string]string{
		{"name": strings.Repeat("0", 996), "display": "Friends"},
		{"name": strings.Repeat("0", 500) + "\t" + strings.Repeat("0", 496), "display": "Friends"},
		{"name": "Nami", "display": strings.Repeat("friends ", 200)},
	} {
		if _, err := c.Compose(1, row); err == nil || !strings.Contains(err.Error(), "a mail header line holds at most 998") {
			t.Errorf("Compose(%.20q) = %v", row["name"], err)
		}
	}
	m, err := c.Compose(1, map[string]string{"name": strings.Repeat("娜美", 500), "display": strings.Repeat("有缘人", 300)})
	if err != nil {
		t.Fatal(err)
	}
	raw := render(t, m)
	checkLines(t, raw)
	msg, _ := parseBack(t, raw)
	if got := decoded(t, msg.Header, "To"); got != strings.Repeat("有缘人", 300)+":;" {
		t.Errorf("To decodes to %q", got)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || from[0].Name != strings.Repeat("娜美", 500) {
		t.Errorf("From = %v, %v", from, err)
	}
}

// TestHeaderInjection puts a CR LF and a Bcc line into every templated
// header: it never creates a header or a recipient. Address headers refuse
// the row; the others get the text on one line.
func TestHeaderInjection(t *testing.T) {
	const evil = "x\r\nBcc: x@evil.com\r\nX-Injected: yes"
	spec := compose.Spec{
		From:      src("from", "{{.fromname}} <nami@example.com>"),
		To:        src("to", "{{.toname}} <bob@example.com>"),
		Cc:        src("cc", "{{.ccname}} <cc@example.com>"),
		ReplyTo:   src("reply_to", "{{.replyname}} <reply@example.com>"),
		ToDisplay: src("to_display", "{{.display}}"),
		Subject:   src("subject", "Hello {{.subject}}"),
		Headers:   []compose.HeaderSpec{{Name: "X-Note", Value: src("headers.X-Note", "{{.note}}")}},
		Text:      file("body.txt", "Hi"),
	}
	clean := map[string]string{"fromname": "Nami", "toname": "Bob", "ccname": "Cc", "replyname": "Reply",
		"display": "Friends", "subject": "there", "note": "plain"}
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	base, err := c.Compose(1, clean)
	if err != nil {
		t.Fatal(err)
	}
	baseMsg, _ := parseBack(t, render(t, base))
	for field := range clean {
		t.Run(field, func(t *testing.T) {
			row := maps(clean)
			row[field] = evil
			m, err := c.Compose(1, row)
			switch field {
			case "fromname", "toname", "ccname", "replyname":
				var te *compose.TemplateError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), "line break") {
					t.Fatalf("Compose = %v, want a line-break error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw := render(t, m)
			checkLines(t, raw)
			msg, _ := parseBack(t, raw)
			if got, want := headerNames(msg.Header), headerNames(baseMsg.Header); !slices.Equal(got, want) {
				t.Errorf("headers %v, want %v", got, want)
			}
			if !slices.Equal(m.Envelope.To, base.Envelope.To) {
				t.Errorf("Envelope.To = %v, want %v", m.Envelope.To, base.Envelope.To)
			}
			if bytes.Contains(raw, []byte("\nBcc:")) || bytes.Contains(raw, []byte("\nX-Injected:")) {
				t.Errorf("an injected header line shows:\n%s", raw)
			}
		})
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestNameCannotAddRecipient: a display name that holds an address and a
// comma stays a name.
func TestNameCannotAddRecipient(t *testing.T) {
	spec := compose.Spec{
		From: src("from", "Nami <nami@example.com>"), To: src("to", "{{.name}} <{{.email}}>"),
		Subject: src("subject", "Hi"), Text: file("body.txt", "Hi"),
	}
	m := mustCompose(t, spec, 1, map[string]string{"name": "x@evil.com, Bob", "email": "bob@example.com"})
	if !slices.Equal(m.Envelope.To, []string{"bob@example.com"}) {
		t.Fatalf("Envelope.To = %v", m.Envelope.To)
	}
	msg, _ := parseBack(t, render(t, m))
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "x@evil.com, Bob" {
		t.Errorf("To = %v, %v", to, err)
	}
}

// TestHeaderNames: [headers] names are validated when the campaign loads.
func TestHeaderNames(t *testing.T) {
	for _, name := range []string{"X-Evil\r\nBcc", "X Evil", "X-Evil:", "", "Bcc", "bcc", "Content-Type",
		"content-transfer-encoding", "Message-ID", "Date", "From", "X-Ünicode", strings.Repeat("X", 77)} {
		spec := compose.Spec{
			From: src("from", "Nami <nami@example.com>"), To: src("to", "bob@example.com"), Text: file("b.txt", "Hi"),
			Headers: []compose.HeaderSpec{{Name: name, Value: src("headers.X", "v")}},
		}
		if _, err := compose.New(spec); err == nil {
			t.Errorf("header name %q accepted", name)
		} else if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("header name %q: error spans lines: %q", name, err)
		}
	}
	for _, name := range []string{"X-Campaign", "List-Unsubscribe", "X_Under.score"} {
		spec := compose.Spec{
			From: src("from", "Nami <nami@example.com>"), To: src("to", "bob@example.com"), Text: file("b.txt", "Hi"),
			Headers: []compose.HeaderSpec{{Name: name, Value: src("headers."+name, "v")}},
		}
		if _, err := compose.New(spec); err != nil {
			t.Errorf("header name %q refused: %v", name, err)
		}
	}
}

// TestTemplateErrors: problems name the file and line, and the columns.
func TestTemplateErrors(t *testing.T) {
	base := func() compose.Spec {
		return compose.Spec{From: src("from", "Nami <nami@example.com>"), To: src("to", "{{.email}}"),
			Subject: compose.Source{File: "campaign.toml", Key: "subject", Line: 4, Text: "Hi {{.name}}"},
			Text:    file("body.txt", "Hi\n{{.name}}\n")}
	}
	cols := []string{"name", "email", "First Name"}

	s := base()
	s.Text = file("body.txt", "Hi\n\n{{.nmae}} and {{index . \"First Name\"}} and {{index . \"Last Name\"}}\n")
	c, err := compose.New(s)
	if err != nil {
		t.Fatal(err)
	}
	errs := c.CheckColumns(cols)
	if len(errs) != 2 {
		t.Fatalf("CheckColumns = %v, want 2 errors", errs)
	}
	if got := errs[0].Error(); got != `body.txt:3: unknown column "nmae"` {
		t.Errorf("error %q", got)
	}
	var te *compose.TemplateError
	if !errors.As(errs[0], &te) || !strings.Contains(te.Help, `did you mean "name"?`) || !strings.Contains(te.Help, `"First Name"`) {
		t.Errorf("hint %q", te.Help)
	}
	if got := errs[1].Error(); got != `body.txt:3: unknown column "Last Name"` {
		t.Errorf("error %q", got)
	}

	s = base()
	s.Subject.Text = "Hi {{.First}}"
	c, _ = compose.New(s)
	if errs := c.CheckColumns(cols); len(errs) != 1 || errs[0].Error() != `campaign.toml:4: subject: unknown column "First"` {
		t.Errorf("CheckColumns = %v", errs)
	}

	for _, fn := range []string{"env", "expandenv", "now", "randAlpha", "uuidv4", "repeat", "readFile"} {
		s = base()
		s.Text = file("body.txt", "Hi\n{{"+fn+" \"x\"}}\n")
		_, err := compose.New(s)
		if err == nil || !strings.HasPrefix(err.Error(), "body.txt:2: ") || !strings.Contains(err.Error(), `function "`+fn+`" not defined`) {
			t.Errorf("%s: New = %v", fn, err)
		}
	}

	s = base()
	s.HTML = file("body.html", "<p>\n{{.name}\n</p>")
	if _, err := compose.New(s); err == nil || !strings.HasPrefix(err.Error(), "body.html:2: ") {
		t.Errorf("html parse error = %v", err)
	}
}

// TestMissingKey: a column missing from the fields fails at render time
// (missingkey=error) instead of rendering "<no value>".
func TestMissingKey(t *testing.T) {
	c, err := compose.New(compose.Spec{From: src("from", "Nami <nami@example.com>"), To: src("to", "{{.email}}"),
		Subject: src("subject", "Hi {{.name}}"), Text: file("body.txt", "Hi")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Compose(1, map[string]string{"email": "bob@example.com"})
	if err == nil || !strings.Contains(err.Error(), `"name"`) {
		t.Fatalf("Compose = %v", err)
	}
}

// TestSizeLimit: a message over MaxSize, or output that runs away, fails
// the row.
func TestSizeLimit(t *testing.T) {
	spec := greetingSpec()
	spec.MaxSize = 512
	c, err := compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compose(1, greetingRow); err == nil || !strings.Contains(err.Error(), "over the limit of 512 bytes") {
		t.Errorf("Compose = %v, want over the limit", err)
	}
	spec = greetingSpec()
	spec.MaxSize = 1 << 20
	spec.Text = file("body.txt", `{{$l := splitList "," "a,b,c,d,e,f,g,h,i,j"}}`+strings.Repeat("{{range $l}}", 8)+`{{printf "%1000s" $.name}}`+strings.Repeat("{{end}}", 8))
	c, err = compose.New(spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compose(1, greetingRow); err == nil || !strings.Contains(err.Error(), "larger than the limit of 1 MB") {
		t.Errorf("Compose = %v, want larger than the limit", err)
	}
}

// TestAttachmentErrors: a missing attachment or inline image fails the row,
// naming the path as the template wrote it.
func TestAttachmentErrors(t *testing.T) {
	c, err := compose.New(greetingSpec())
	if err != nil {
		t.Fatal(err)
	}
	row := maps(greetingRow)
	row["file"] = "reports/missing.pdf"
	if _, err := c.Compose(1, row); err == nil || err.Error() != `campaign.toml:1: attachments: attachment reports/missing.pdf from column "file": no such file or directory` {
		t.Errorf("Compose = %v", err)
	}
	spec := greetingSpec()
	spec.HTML.Text = `<img src="missing.png">`
	c, _ = compose.New(spec)
	if _, err := c.Compose(1, greetingRow); err == nil || err.Error() != "greeting.html:1: inline image missing.png: no such file or directory" {
		t.Errorf("Compose = %v", err)
	}
}

// FuzzHeaders feeds arbitrary data to the From name, the subject and a
// custom header: rendering never panics, and a message that renders parses
// back with the same header names and the same single recipient.
func FuzzHeaders(f *testing.F) {
	f.Add("Nami", "Hello", "plain")
	f.Add("娜美", "来自娜美的问候", "greeting-2026")
	f.Add("x\r\nBcc: x@evil.com", "a\r\nBcc: y@evil.com", "b\nTo: z@evil.com")
	f.Add(`a" <evil@example.com>, "b`, "=?UTF-8?B?QmNjOiB4QGV2aWwuY29t?=", "\x00\x7f\u2028")
	f.Add("x@evil.com, Bob", strings.Repeat("long ", 300), strings.Repeat("x", 950))
	spec := compose.Spec{
		From:    src("from", "{{.from}} <nami@example.com>"),
		To:      src("to", "Bob <bob@example.com>"),
		Subject: src("subject", "{{.subject}}"),
		Headers: []compose.HeaderSpec{{Name: "X-Note", Value: src("headers.X-Note", "{{.note}}")}},
		Text:    file("body.txt", "Hi {{.from}}"),
	}
	c, err := compose.New(spec)
	if err != nil {
		f.Fatal(err)
	}
	want := []string{"Content-Transfer-Encoding", "Content-Type", "Date", "From", "Message-Id", "Mime-Version", "Subject", "To", "X-Note"}
	f.Fuzz(func(t *testing.T, from, subject, note string) {
		fields := map[string]string{"from": from, "subject": subject, "note": note}
		m, err := c.Compose(1, fields)
		if _, verr := c.Validate(1, fields); fmt.Sprint(verr) != fmt.Sprint(err) {
			t.Fatalf("Validate error %v, Compose error %v", verr, err)
		}
		if err != nil {
			var te *compose.TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error is not a TemplateError: %v", err)
			}
			return
		}
		if !slices.Equal(m.Envelope.To, []string{"bob@example.com"}) || m.Envelope.From != "nami@example.com" {
			t.Fatalf("envelope %+v", m.Envelope)
		}
		raw := render(t, m)
		checkLines(t, raw)
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("parse back: %v\n%q", err, raw)
		}
		got := headerNames(msg.Header)
		// An empty subject or note leaves its header out; nothing may be added.
		for _, name := range got {
			if !slices.Contains(want, name) {
				t.Fatalf("header %q appeared; headers %v\n%q", name, got, raw)
			}
		}
		for _, name := range []string{"From", "To", "Date", "Message-Id"} {
			if len(msg.Header[name]) != 1 {
				t.Fatalf("%d %s headers\n%q", len(msg.Header[name]), name, raw)
			}
		}
	})
}

// benchComposer is a ~2 KB text+HTML message with five fields.
func benchComposer(b *testing.B) (*compose.Composer, map[string]string) {
	para := "We are writing about your account {{.id}} in {{.city}}. "
	spec := compose.Spec{
		From:    src("from", "来自娜美的问候 <nami@example.com>"),
		To:      src("to", "{{.name}} <{{.email}}>"),
		Subject: src("subject", "月度报告 · Monthly report for {{.name}}"),
		Text:    file("body.txt", "Dear {{.name}},\n\n"+strings.Repeat(para, 12)+"\nTotal: {{.amount}}\n"),
		HTML:    file("body.html", "<p>Dear {{.name}},</p>\n<p>"+strings.Repeat(para, 12)+"</p>\n<p>Total: <b>{{.amount}}</b></p>\n"),
		Mailer:  "mailmerge/bench",
	}
	c, err := compose.New(spec)
	if err != nil {
		b.Fatal(err)
	}
	return c, map[string]string{"id": "E001", "name": "张伟", "email": "zhang.wei@example.com", "city": "北京", "amount": "128,400"}
}

// BenchmarkCompose renders and writes out the message, as send does.
func BenchmarkCompose(b *testing.B) {
	c, row := benchComposer(b)
	b.ReportAllocs()
	var size int64
	i := 0
	for b.Loop() {
		i++
		m, err := c.Compose(i, row)
		if err != nil {
			b.Fatal(err)
		}
		n, err := m.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		size = n
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(size), "bytes/msg")
}

// BenchmarkValidate is what check does for each row.
func BenchmarkValidate(b *testing.B) {
	c, row := benchComposer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := c.Validate(i, row); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "msgs/s")
}

// A cell holding an address list is refused: data cannot add recipients,
// whatever header it lands in.
func TestCellCannotAddRecipients(t *testing.T) {
	for _, key := range []string{"to", "cc", "bcc", "reply_to"} {
		spec := greetingSpec()
		cellTemplate := src(key, "{{.extra}}")
		switch key {
		case "to":
			spec.To = cellTemplate
		case "cc":
			spec.Cc = cellTemplate
		case "bcc":
			spec.Bcc = cellTemplate
		case "reply_to":
			spec.ReplyTo = cellTemplate
		}
		c, err := compose.New(spec)
		if err != nil {
			t.Fatal(err)
		}
		row := maps(greetingRow)
		row["extra"] = "b15@example.net, stolen@evil.test"
		m, err := c.Compose(1, row)
		if err == nil {
			t.Errorf("%s: a cell with two addresses gave envelope %v", key, m.Envelope.To)
			continue
		}
		if !strings.Contains(err.Error(), "is not a valid address") || !strings.Contains(human.Hint(err), "data cannot add recipients") {
			t.Errorf("%s: %v (hint %q)", key, err, human.Hint(err))
		}
	}
}

// TestValidateAgrees: Validate, which check uses, refuses exactly the rows
// Compose refuses, with the same error, and names the same recipient.
func TestValidateAgrees(t *testing.T) {
	small := greetingSpec()
	small.MaxSize = 512
	noImage := greetingSpec()
	noImage.HTML.Text = `<img src="missing.png">`
	htmlOnly := greetingSpec()
	htmlOnly.Text = compose.Source{}
	specs := []compose.Spec{greetingSpec(), small, noImage, htmlOnly}
	edits := []func(r map[string]string){
		func(map[string]string) {},
		func(r map[string]string) { r["email"] = "not an address" },
		func(r map[string]string) { r["email"] = "a@x.test, b@y.test" },
		func(r map[string]string) { r["email"] = "" },
		func(r map[string]string) { r["file"] = "reports/missing.pdf" },
		func(r map[string]string) { r["file"] = "" },
		func(r map[string]string) { r["file"] = "." },
		func(r map[string]string) { r["name"] = strings.Repeat("x", 1200) },
		func(r map[string]string) { r["name"] = "x@evil.com, Bob" },
		func(r map[string]string) { r["year"] = "2026\r\nBcc: x@evil.test" },
		func(r map[string]string) { r["year"] = strings.Repeat("y", 990) },
	}
	refused := 0
	for i, spec := range specs {
		c, err := compose.New(spec)
		if err != nil {
			t.Fatal(err)
		}
		for j, edit := range edits {
			row := maps(greetingRow)
			edit(row)
			m, cerr := c.Compose(j+1, row)
			got, verr := c.Validate(j+1, row)
			if fmt.Sprint(cerr) != fmt.Sprint(verr) {
				t.Errorf("spec %d, edit %d: Compose error %v, Validate error %v", i, j, cerr, verr)
			}
			if cerr == nil && !slices.Equal(got.To, m.Envelope.To) {
				t.Errorf("spec %d, edit %d: Validate gives %q, Compose %q", i, j, got.To, m.Envelope.To)
			}
			if cerr == nil && got.To[0] != m.Recipient() {
				t.Errorf("spec %d, edit %d: Validate names %q, Compose %q", i, j, got.To[0], m.Recipient())
			}
			if cerr != nil {
				refused++
			}
		}
	}
	if refused < len(specs)*5 {
		t.Errorf("only %d of %d rows refused: the cases no longer test refusals", refused, len(specs)*len(edits))
	}
}
