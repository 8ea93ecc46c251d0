package bounce

import (
	"encoding/base64"
	"mime"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
)

// No Chinese provider's report with a licence that allows copying was
// found (SOURCES.md), so these two are built here in the layout such
// reports use: a GB2312/GBK subject "系统退信", a text or HTML body in GBK
// or GB18030 that names the address after a label, no delivery-status part.

func gbk(t *testing.T, s string) string {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().String(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestChinese163Text(t *testing.T) {
	body := "抱歉，您的邮件被退回来了……\r\n原邮件信息：\r\n    时间 2021-01-23 21:13:29\r\n    收件人 nobody@example.com\r\n" +
		"退信原因：\r\n    收件人邮箱地址不存在，550 User not found: nobody@example.com\r\n"
	raw := "From: Postmaster@163.com\r\nTo: sender@example.org\r\n" +
		"Subject: " + mime.BEncoding.Encode("gb2312", gbk(t, "系统退信")) + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=\"gb2312\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(gbk(t, body))) + "\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\nTo: nobody@example.com\r\nMessage-ID: <row7@mailmerge.example>\r\n\r\nhi\r\n--b1--\r\n"
	r, err := Classify([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Hard || len(r.Recipients) != 1 || r.Recipients[0].Address != "nobody@example.com" ||
		r.Recipients[0].Status != "5.0.0" || r.MessageID != "<row7@mailmerge.example>" {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.Recipients[0].Diagnostic, "550 User not found") {
		t.Errorf("diagnostic %q", r.Recipients[0].Diagnostic)
	}
}

func TestChineseQQHTML(t *testing.T) {
	html := "<html><head><meta charset=gb18030><style>p{}</style></head><body><h1>退信</h1>" +
		"<p>很抱歉您的邮件无法发送到 &lt;gone@example.cn&gt;</p><p>退信原因：对方邮箱不存在 (550 Mailbox not found)</p></body></html>"
	enc, err := simplifiedchinese.GB18030.NewEncoder().String(html)
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: =?GBK?B?" + base64.StdEncoding.EncodeToString([]byte(gbk(t, "系统邮件"))) + "?= <MAILER-DAEMON@qq.com>\r\n" +
		"To: sender@example.org\r\nSubject: " + mime.BEncoding.Encode("GBK", gbk(t, "退信：您的邮件未能送达")) + "\r\n" +
		"Content-Type: text/html; charset=GB18030\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(enc)) + "\r\n"
	r, err := Classify([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != Hard || len(r.Recipients) != 1 || r.Recipients[0].Address != "gone@example.cn" || r.Recipients[0].Status != "5.0.0" {
		t.Fatalf("got %+v", r)
	}
}

func TestUnsubscribeReply(t *testing.T) {
	for _, subject := range []string{"unsubscribe abc.DEF-123", "Re: unsubscribe abc.DEF-123", "UNSUBSCRIBE abc.DEF-123 "} {
		raw := "From: Ana <ana@example.com>\r\nTo: news@example.org\r\nSubject: " + subject + "\r\n\r\n"
		r, err := Classify([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != Unsubscribe || r.Token != "abc.DEF-123" || r.From != "ana@example.com" {
			t.Errorf("%q: got %+v", subject, r)
		}
	}
	// A bounce of such a reply is not a request from the mail system.
	r, _ := Classify([]byte("From: MAILER-DAEMON@example.org\r\nSubject: unsubscribe abc\r\n\r\n"))
	if r.Kind == Unsubscribe {
		t.Errorf("a daemon's message read as an unsubscribe request")
	}
	r, _ = Classify([]byte("From: ana@example.com\r\nSubject: please unsubscribe me now\r\n\r\n"))
	if r.Kind != NotBounce {
		t.Errorf("free text read as %v", r.Kind)
	}
}

func TestHostileStructure(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@example.org\r\nSubject: failure notice\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for range 200 {
		b.WriteString("--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n")
	}
	b.WriteString("--x--\r\n")
	if _, err := Classify([]byte(b.String())); err == nil {
		t.Errorf("200 parts read without complaint")
	}
	if _, err := Classify([]byte("not a message")); err == nil {
		t.Errorf("a message without headers read without complaint")
	}
}
