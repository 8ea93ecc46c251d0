package preview

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
)

// campaignFiles is a small campaign: two good rows and, last in the list,
// one whose address does not parse.
var campaignFiles = map[string]string{
	"campaign.toml": `recipients  = "recipients.csv"
from        = "娜美 <nami@example.com>"
to          = "{{.name}} <{{.email}}>"
subject     = "Hello {{.name}} · 来自娜美的问候"
text        = "greeting.txt.tmpl"
html        = "greeting.html.tmpl"
attachments = ["cards/{{.id}}.pdf"]
`,
	"recipients.csv": "id,name,email\n" +
		"1001,王小明,wang.xiaoming@example.com\n" +
		"1002,李娜,li.na@example.com\n" +
		"1003,Nobody,not-an-address\n",
	"greeting.txt.tmpl": "Dear {{.name}},\nyour card number is {{.id}}.\n",
	// The script and the remote image must do nothing in the preview.
	"greeting.html.tmpl": `<!DOCTYPE html><html><body>
<p><img id="logo" src="logo.png" alt="logo" width="32" height="32"></p>
<h1>Dear {{.name}}</h1>
<p>Your card number is <b>{{.id}}</b>.</p>
<img id="tracker" src="https://tracker.example/pixel.gif" alt="">
<script>document.body.setAttribute("data-ran", "yes")</script>
</body></html>
`,
	"cards/1001.pdf": "%PDF-1.4 card 1001\n",
	"cards/1002.pdf": "%PDF-1.4 card 1002, a little longer\n",
	"cards/1003.pdf": "%PDF-1.4 card 1003\n",
}

// writeCampaign writes campaignFiles and a logo into a new folder and
// returns the campaign file's path.
func writeCampaign(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range campaignFiles {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), logoPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "campaign.toml")
}

func logoPNG(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 32))
	for x := range 32 {
		for y := range 32 {
			img.Set(x, y, color.RGBA{R: 0x1f, G: 0x6f, B: 0xeb, A: 0xff})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// edit rewrites one file of the campaign. The new text is a different
// length, so a file system with coarse timestamps still shows the change.
func edit(t testing.TB, campaignPath, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(filepath.Dir(campaignPath), name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newServer(t testing.TB) (*Server, string) {
	t.Helper()
	path := writeCampaign(t)
	return New(context.Background(), path, Options{}), path
}

// get asks the handler for target as a browser on this machine would, under
// the server's token.
func get(t testing.TB, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	if s, ok := h.(*Server); ok {
		target = s.Path() + strings.TrimPrefix(target, "/")
	}
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = "127.0.0.1:8025"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func getJSON[T any](t testing.TB, h http.Handler, target string, wantCode int) T {
	t.Helper()
	rec := get(t, h, target)
	if rec.Code != wantCode {
		t.Fatalf("GET %s: status %d, want %d: %s", target, rec.Code, wantCode, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q", target, ct)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return v
}

func TestListShowsProblemRowsFirst(t *testing.T) {
	s, _ := newServer(t)
	got := getJSON[rowsView](t, s, "/api/rows", http.StatusOK)
	if got.Total != 3 || got.Invalid != 1 || got.Matched != 3 || len(got.Rows) != 3 {
		t.Fatalf("got total %d, invalid %d, matched %d, %d rows; want 3, 1, 3, 3", got.Total, got.Invalid, got.Matched, len(got.Rows))
	}
	bad := got.Rows[0]
	if bad.Row != 3 || bad.Line != 4 || !strings.Contains(bad.Error, "recipients.csv:4: row 3: ") || !strings.Contains(bad.Error, "not-an-address") {
		t.Errorf("first row is %+v, want row 3 (line 4) with its error naming the file, line and address", bad)
	}
	if r := got.Rows[1]; r.Row != 1 || r.To != "王小明 <wang.xiaoming@example.com>" || r.Subject != "Hello 王小明 · 来自娜美的问候" || r.Attachments != 1 || r.Error != "" {
		t.Errorf("second row is %+v", r)
	}
	if got.Rows[2].Row != 2 {
		t.Errorf("third row is row %d, want 2", got.Rows[2].Row)
	}
	sum := s.Summary()
	if sum.Rows != 3 || sum.Invalid != 1 || len(sum.Problems) != 0 || len(sum.Files) != 4 {
		t.Errorf("summary %+v", sum)
	}
}

func TestListSearchAndPages(t *testing.T) {
	s, _ := newServer(t)
	for _, tc := range []struct {
		target  string
		matched int
		rows    []int
	}{
		{"/api/rows?q=li.na", 1, []int{2}},
		{"/api/rows?q=" + "%E7%8E%8B", 1, []int{1}},       // 王, in a name
		{"/api/rows?q=HELLO+example.com", 2, []int{1, 2}}, // every word, any case
		{"/api/rows?q=not-an-address", 1, []int{3}},       // in the error
		{"/api/rows?problems=1", 1, []int{3}},             // problems only
		{"/api/rows?limit=1&offset=1", 3, []int{1}},       // second page of one
		{"/api/rows?limit=2&offset=2", 3, []int{2}},       // last page
		{"/api/rows?offset=10", 3, nil},                   // past the end
		{"/api/rows?q=nobody-has-this", 0, nil},           // nothing
		{"/api/rows?q=example.com&limit=1&offset=1", 2, []int{2}},
	} {
		got := getJSON[rowsView](t, s, tc.target, http.StatusOK)
		var rows []int
		for _, r := range got.Rows {
			rows = append(rows, r.Row)
		}
		if got.Matched != tc.matched || fmt.Sprint(rows) != fmt.Sprint(tc.rows) {
			t.Errorf("%s: matched %d rows %v, want %d %v", tc.target, got.Matched, rows, tc.matched, tc.rows)
		}
	}
}

func TestMessageAsSent(t *testing.T) {
	s, _ := newServer(t)
	m := getJSON[messageView](t, s, "/api/message/2", http.StatusOK)
	if m.Subject != "Hello 李娜 · 来自娜美的问候" {
		t.Errorf("subject %q", m.Subject)
	}
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Name] = h.Value
	}
	if headers["From"] != "娜美 <nami@example.com>" || headers["To"] != "李娜 <li.na@example.com>" {
		t.Errorf("From %q, To %q: want the names decoded", headers["From"], headers["To"])
	}
	if m.Headers[0].Name != "From" || m.Headers[1].Name != "To" {
		t.Errorf("headers start %v, want From, To", m.Headers[:2])
	}
	if m.Text != "Dear 李娜,\r\nyour card number is 1002.\r\n" {
		t.Errorf("text part %q", m.Text)
	}
	if !m.HTML {
		t.Error("no HTML part")
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "1002.pdf" || m.Attachments[0].Type != "application/pdf" ||
		m.Attachments[0].Size != len(campaignFiles["cards/1002.pdf"]) {
		t.Errorf("attachments %+v", m.Attachments)
	}
	if len(m.Inline) != 1 || m.Inline[0].Name != "logo.png" || m.Inline[0].Type != "image/png" {
		t.Errorf("inline parts %+v", m.Inline)
	}
	if m.File != "00002-li.na@example.com.eml" || m.EnvelopeFrom != "nami@example.com" || fmt.Sprint(m.EnvelopeTo) != "[li.na@example.com]" {
		t.Errorf("file %q, envelope %q -> %v", m.File, m.EnvelopeFrom, m.EnvelopeTo)
	}

	// The HTML part: under its own policy, images pointed at this server.
	rec := get(t, s, "/message/2/body.html?v=1")
	if rec.Code != http.StatusOK {
		t.Fatalf("body.html: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Security-Policy"); got != framePolicy {
		t.Errorf("body.html policy %q", got)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "<h1>Dear 李娜</h1>") {
		t.Errorf("body.html lacks the personal greeting:\n%s", body)
	}
	src := regexp.MustCompile(`id="logo" src="([^"]+)"`).FindStringSubmatch(body)
	if src == nil || !strings.HasPrefix(src[1], "cid/") {
		t.Fatalf("the logo's src is not rewritten to this server:\n%s", body)
	}
	img := get(t, s, "/message/2/"+src[1]) // relative to the frame's address
	if img.Code != http.StatusOK || img.Header().Get("Content-Type") != "image/png" || !bytes.Equal(img.Body.Bytes(), logoPNG(t)) {
		t.Errorf("GET %s: %d %s, %d bytes; want the logo", src[1], img.Code, img.Header().Get("Content-Type"), img.Body.Len())
	}

	// The download is the whole message, as render would name it.
	rec = get(t, s, "/message/2/eml")
	if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="00002-li.na@example.com.eml"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	msg, err := mail.ReadMessage(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if to := msg.Header.Get("To"); !strings.Contains(to, "<li.na@example.com>") {
		t.Errorf("downloaded message To %q", to)
	}
}

func TestMessageOfRowThatCannotBeSent(t *testing.T) {
	s, _ := newServer(t)
	got := getJSON[map[string]string](t, s, "/api/message/3", http.StatusUnprocessableEntity)
	if !strings.Contains(got["error"], "row 3") || !strings.Contains(got["error"], "not-an-address") {
		t.Errorf("error %q", got["error"])
	}
	getJSON[map[string]string](t, s, "/api/message/4", http.StatusNotFound)
	getJSON[map[string]string](t, s, "/api/message/x", http.StatusNotFound)
	if rec := get(t, s, "/message/3/body.html"); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("body.html of a bad row: %d", rec.Code)
	}
}

func TestOnlyItsOwnFilesAndEveryResponseHasAPolicy(t *testing.T) {
	s, _ := newServer(t)
	for _, tc := range []struct {
		target string
		code   int
	}{
		{"/", 200}, {"/app.js", 200}, {"/style.css", 200}, {"/api/state", 200}, {"/api/rows", 200},
		{"/api/message/1", 200}, {"/message/1/body.html", 200}, {"/message/1/eml", 200},
		{"/campaign.toml", 404}, {"/recipients.csv", 404}, {"/cards/1001.pdf", 404}, {"/logo.png", 404},
		{"/message/1/cid/..%2f..%2fcampaign.toml", 404}, {"/message/1/cid/logo.png", 404},
		{"/../campaign.toml", 404}, {"/assets/app.js", 404}, {"/message/0/eml", 404},
	} {
		rec := get(t, s, tc.target)
		// The mux may redirect a path with ".." to its clean form, which
		// is then not found.
		if rec.Code != tc.code && !(tc.code == 404 && rec.Code/100 == 3 && !strings.Contains(rec.Body.String(), "example.com")) {
			t.Errorf("GET %s: %d, want %d", tc.target, rec.Code, tc.code)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v lack the policy", tc.target, rec.Header())
		}
	}
	if got := get(t, s, "/").Header().Get("Content-Security-Policy"); got != pagePolicy || strings.Contains(got, "unsafe") {
		t.Errorf("page policy %q", got)
	}
	page := get(t, s, "/").Body.String()
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") || strings.Contains(page, " on") && regexp.MustCompile(` on[a-z]+=`).MatchString(page) {
		t.Error("the page has inline script or style, which its policy forbids")
	}
}

// Another user of the machine can reach the port but not guess the token:
// every path without it is refused, and nothing of the campaign shows.
func TestRefusesRequestsWithoutTheToken(t *testing.T) {
	s, _ := newServer(t)
	other, _ := newServer(t)
	token := strings.Trim(s.Path(), "/")
	if len(token) < 32 || s.Path() == other.Path() {
		t.Fatalf("tokens %q and %q", s.Path(), other.Path())
	}
	wrong := []byte(token)
	wrong[0] ^= 1
	for _, target := range []string{"/", "/api/rows", "/api/state", "/events", "/message/1/eml", "/app.js", "/favicon.ico",
		"/" + string(wrong) + "/api/rows", other.Path() + "api/rows", "/" + token[:len(token)-1] + "/api/rows",
		"/api/rows?token=" + token, "//" + token + "/api/rows", "/x/" + token + "/api/rows"} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Host = "127.0.0.1:8025"
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "example.com") {
			t.Errorf("GET %s: %d %q, want 403 and no data", target, rec.Code, rec.Body)
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/"+token, nil)
	req.Host = "127.0.0.1:8025"
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != s.Path() {
		t.Errorf("GET /TOKEN: %d to %q, want a redirect to %s", rec.Code, rec.Header().Get("Location"), s.Path())
	}
}

// A row whose attachment or inline image names a file outside the campaign
// folder is shown with its error; no request serves the file.
func TestPreviewServesNoFileOutsideTheFolder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOPSECRET"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("campaign.toml", "recipients = \"recipients.csv\"\nfrom = \"Nami <nami@example.com>\"\nto = \"{{.email}}\"\n"+
		"subject = \"Hi\"\nhtml = \"body.html\"\nattachments = [\"{{.file}}\"]\n")
	write("body.html", `<p><img src="{{.img}}"></p>`)
	write("ok.txt", "fine")
	write("recipients.csv", "email,file,img\na@example.com,ok.txt,ok.txt\nb@example.com,"+secret+",ok.txt\nc@example.com,ok.txt,"+secret+"\n")
	s := New(context.Background(), filepath.Join(dir, "campaign.toml"), Options{})
	if sum := s.Summary(); sum.Rows != 3 || sum.Invalid != 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, row := range []string{"2", "3"} {
		for _, target := range []string{"/api/message/" + row, "/message/" + row + "/eml", "/message/" + row + "/body.html"} {
			rec := get(t, s, target)
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "is outside the campaign folder") ||
				strings.Contains(rec.Body.String(), "TOPSECRET") || strings.Contains(rec.Body.String(), "VE9QU0VDUkVU") {
				t.Errorf("GET %s: %d %q", target, rec.Code, rec.Body)
			}
		}
	}
}

func TestRefusesOtherHostsAndMethods(t *testing.T) {
	s, _ := newServer(t)
	for _, host := range []string{"evil.example", "evil.example:8025", "localhost.evil.example", "10.0.0.1:8025", "0.0.0.0:8025"} {
		req := httptest.NewRequest(http.MethodGet, s.Path()+"api/rows", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusMisdirectedRequest || strings.Contains(rec.Body.String(), "example.com") {
			t.Errorf("Host %s: %d %q, want 421 and no data", host, rec.Code, rec.Body)
		}
	}
	for _, host := range []string{"localhost:1", "LOCALHOST", "127.0.0.1", "127.0.0.1:8025", "[::1]:8025"} {
		req := httptest.NewRequest(http.MethodGet, s.Path()+"api/rows", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("Host %s: %d, want 200", host, rec.Code)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req := httptest.NewRequest(method, s.Path()+"api/message/1", strings.NewReader("{}"))
		req.Host = "127.0.0.1:8025"
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d, want 405", method, rec.Code)
		}
	}
}

func TestReloadFollowsTheFiles(t *testing.T) {
	s, path := newServer(t)
	ctx := context.Background()
	if s.Reload(ctx, false) {
		t.Fatal("reloaded with nothing changed")
	}
	// Open row 1 first, so a stale cached copy would show.
	if m := getJSON[messageView](t, s, "/api/message/1", http.StatusOK); !strings.HasPrefix(m.Text, "Dear 王小明") {
		t.Fatalf("text %q", m.Text)
	}

	edit(t, path, "greeting.txt.tmpl", "Bonjour {{.name}}, card {{.id}}.\n")
	if !s.Reload(ctx, false) {
		t.Fatal("a changed template was not noticed")
	}
	m := getJSON[messageView](t, s, "/api/message/1", http.StatusOK)
	if m.Version <= 1 || m.Text != "Bonjour 王小明, card 1001.\r\n" {
		t.Errorf("after the edit: version %d, text %q", m.Version, m.Text)
	}

	edit(t, path, "recipients.csv", "id,name,email\n1001,王小明,wang.xiaoming@example.com\n1002,李娜,li.na@example.com\n1003,Nobody,nobody@example.com\n")
	if !s.Reload(ctx, false) {
		t.Fatal("a changed list was not noticed")
	}
	if got := getJSON[rowsView](t, s, "/api/rows", http.StatusOK); got.Invalid != 0 || got.Total != 3 || got.Version <= m.Version {
		t.Errorf("after fixing the list: %+v", got)
	}

	// A template that no longer parses: the page says why, and recovers
	// once it is fixed.
	edit(t, path, "greeting.html.tmpl", "<h1>Dear {{.name}</h1>\n")
	if !s.Reload(ctx, false) {
		t.Fatal("a broken template was not noticed")
	}
	st := getJSON[stateView](t, s, "/api/state", http.StatusOK)
	if st.Loads || len(st.Problems) == 0 || !strings.Contains(st.Problems[0].Message, "greeting.html.tmpl") {
		t.Errorf("broken template: %+v", st)
	}
	getJSON[map[string]string](t, s, "/api/message/1", http.StatusConflict)
	edit(t, path, "greeting.html.tmpl", "<h1>Dear {{.name}}!</h1>\n")
	if !s.Reload(ctx, false) {
		t.Fatal("the fixed template was not noticed")
	}
	if st := getJSON[stateView](t, s, "/api/state", http.StatusOK); !st.Loads || st.Rows != 3 {
		t.Errorf("fixed template: %+v", st)
	}

	edit(t, path, "campaign.toml", strings.Replace(campaignFiles["campaign.toml"], "Hello", "Hi there", 1))
	if !s.Reload(ctx, false) {
		t.Fatal("a changed campaign file was not noticed")
	}
	if m := getJSON[messageView](t, s, "/api/message/2", http.StatusOK); m.Subject != "Hi there 李娜 · 来自娜美的问候" {
		t.Errorf("subject after editing the campaign %q", m.Subject)
	}
}

func TestEventsTellThePageAboutChanges(t *testing.T) {
	s, path := newServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs := httptest.NewServer(s)
	defer hs.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+s.Path()+"events", nil)
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := bufio.NewScanner(res.Body)
	next := func() string {
		t.Helper()
		var ev []string
		for events.Scan() {
			line := events.Text()
			if line == "" && len(ev) > 0 {
				return strings.Join(ev, "|")
			}
			if line != "" && !strings.HasPrefix(line, ":") && !strings.HasPrefix(line, "retry:") {
				ev = append(ev, line)
			}
		}
		t.Fatalf("event stream ended: %v", events.Err())
		return ""
	}
	if got := next(); got != "event: change|data: 1" {
		t.Fatalf("first event %q", got)
	}
	// The edited template is published at once with the old list
	// (version 2), then with the new list (3); a stream that wakes late
	// may see only the last.
	edit(t, path, "greeting.txt.tmpl", "Hi {{.name}}\n")
	s.Reload(ctx, false)
	got := next()
	if got == "event: change|data: 2" {
		got = next()
	}
	if got != "event: change|data: 3" {
		t.Fatalf("after the edit %q", got)
	}
}

// A template that spins is stopped at the time limit on every reload: 50
// reloads of it leave no goroutine behind, where each used to leave one
// spinning for good.
func TestSpinningTemplateReloaded(t *testing.T) {
	path := writeCampaign(t)
	edit(t, path, "recipients.csv", "id,name,email\n1001,王小明,wang.xiaoming@example.com\n")
	spin := "{{$l := splitList \",\" (printf \"%999s\" \"\" | replace \" \" \",\")}}\n" +
		"{{range $l}}{{range $l}}{{range $l}}{{range $l}}{{end}}{{end}}{{end}}{{end}}\n"
	edit(t, path, "greeting.txt.tmpl", spin)
	ctx := context.Background()
	before := runtime.NumGoroutine()
	s := New(ctx, path, Options{Campaign: campaign.Options{RenderTimeout: 20 * time.Millisecond}})
	for i := range 50 {
		if !s.Reload(ctx, true) {
			t.Fatalf("reload %d published nothing", i)
		}
	}
	rows := getJSON[rowsView](t, s, "/api/rows", http.StatusOK)
	if len(rows.Rows) != 1 || !strings.Contains(rows.Rows[0].Error, "greeting.txt.tmpl:2: rendering took longer than the limit of 20ms") {
		t.Errorf("rows after the reloads: %+v", rows)
	}
	// A stopped template's goroutine only has to return; give it the time.
	for range 500 {
		if runtime.NumGoroutine() <= before {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines after 50 reloads, %d before", runtime.NumGoroutine(), before)
}

func TestRunWatchesAndStops(t *testing.T) {
	path := writeCampaign(t)
	reloaded := make(chan Summary, 1)
	s := New(context.Background(), path, Options{Poll: 5 * time.Millisecond, OnReload: func(s Summary) { reloaded <- s }})
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()

	res, err := http.Get("http://" + ln.Addr().String() + s.Path() + "api/state")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/state: %d", res.StatusCode)
	}
	// An open event stream must not keep Run from returning.
	events, err := http.Get("http://" + ln.Addr().String() + s.Path() + "events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()

	edit(t, path, "recipients.csv", "id,name,email\n1001,王小明,wang.xiaoming@example.com\n")
	if got := <-reloaded; got.Version != 3 || got.Rows != 1 || got.Invalid != 0 {
		t.Errorf("reloaded %+v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("still serving after Run returned")
	}
}

func TestListenOnlyOnLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0", "example.com:8025", "preview.local:0"} {
		ln, err := Listen(addr)
		if !errors.Is(err, ErrNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	if _, err := Listen("127.0.0.1"); err == nil || errors.Is(err, ErrNotLoopback) {
		t.Errorf("Listen without a port: %v", err)
	}
	for _, addr := range []string{"", "127.0.0.1:0", "localhost:0", "127.0.0.2:0", "[::1]:0"} {
		ln, err := Listen(addr)
		if addr == "[::1]:0" && err != nil && !errors.Is(err, ErrNotLoopback) {
			continue // no IPv6 here
		}
		if err != nil {
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			t.Errorf("Listen(%q) listens on %v", addr, ip)
		}
		ln.Close()
	}
}

// BenchmarkIndex measures the streaming pass that lists every recipient,
// for a list of 100,000 rows.
func BenchmarkIndex(b *testing.B) {
	path := bigCampaign(b, 100_000)
	b.ResetTimer()
	for b.Loop() {
		st := load(path, Options{}.Campaign, 1)
		if err := st.index(context.Background()); err != nil || len(st.entries) != 100_000 {
			b.Fatalf("%d entries, problems %v", len(st.entries), st.problems)
		}
	}
}

// BenchmarkOpenLastRow measures opening the last message of a 100,000-row
// list, the worst case of rendering on demand (the cache is bypassed).
func BenchmarkOpenLastRow(b *testing.B) {
	path := bigCampaign(b, 100_000)
	s := New(context.Background(), path, Options{})
	st := s.current.Load()
	b.ResetTimer()
	for b.Loop() {
		s.cache = messageCache{}
		if _, err := s.message(context.Background(), st, 100_000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearch measures one search through 100,000 rows.
func BenchmarkSearch(b *testing.B) {
	path := bigCampaign(b, 100_000)
	s := New(context.Background(), path, Options{})
	b.ResetTimer()
	for b.Loop() {
		rec := get(b, s, "/api/rows?q=person99999")
		if !strings.Contains(rec.Body.String(), `"matched":1,`) {
			b.Fatal(rec.Body.String()[:200])
		}
	}
}

func bigCampaign(b *testing.B, rows int) string {
	b.Helper()
	path := writeCampaign(b)
	var list strings.Builder
	list.WriteString("id,name,email\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&list, "%d,Person %d,person%d@example.com\n", 1001+i%3, i, i)
	}
	edit(b, path, "recipients.csv", list.String())
	return path
}

// A row a suppress file holds is marked in the list, its message and the
// counts; editing the file is noticed like editing the list.
func TestListMarksRowsSendSkips(t *testing.T) {
	path := writeCampaign(t)
	edit(t, path, "campaign.toml", campaignFiles["campaign.toml"]+`suppress = ["unsubscribed.csv"]`+"\n")
	edit(t, path, "unsubscribed.csv", "email\nLI.NA@example.com\n")
	s := New(context.Background(), path, Options{})
	got := getJSON[rowsView](t, s, "/api/rows?q=suppressed", http.StatusOK)
	if len(got.Rows) != 1 || got.Rows[0].Row != 2 || got.Rows[0].Suppressed != "li.na@example.com is in unsubscribed.csv" {
		t.Errorf("search for suppressed rows: %+v", got.Rows)
	}
	if st := getJSON[stateView](t, s, "/api/state", http.StatusOK); st.Suppressed != 1 || s.Summary().Suppressed != 1 {
		t.Errorf("state counts %d suppressed, summary %d; want 1", st.Suppressed, s.Summary().Suppressed)
	}
	if m := getJSON[messageView](t, s, "/api/message/2", http.StatusOK); m.Suppressed != "li.na@example.com is in unsubscribed.csv" {
		t.Errorf("message of row 2: suppressed %q", m.Suppressed)
	}
	if m := getJSON[messageView](t, s, "/api/message/1", http.StatusOK); m.Suppressed != "" {
		t.Errorf("message of row 1: suppressed %q", m.Suppressed)
	}

	edit(t, path, "unsubscribed.csv", "email\n")
	if !s.Reload(context.Background(), false) {
		t.Fatal("a changed suppress file was not noticed")
	}
	if st := getJSON[stateView](t, s, "/api/state", http.StatusOK); st.Suppressed != 0 {
		t.Errorf("after emptying the file: %d suppressed", st.Suppressed)
	}
}
