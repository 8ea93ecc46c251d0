package unsubscribe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mailmerge/mailmerge/internal/suppress"
)

// endpoint serves an Endpoint over real HTTP, recording into a fresh
// suppression file, whose path it returns.
func endpoint(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "unsubscribed.csv")
	list, err := suppress.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { list.Close() })
	srv := httptest.NewServer(NewEndpoint(signer(t), list, t.Logf))
	t.Cleanup(srv.Close)
	return srv, path
}

// unsubscribed reads the addresses in the file, in order.
func unsubscribed(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i == 0 {
			if line != suppress.Header {
				t.Fatalf("%s starts with %q", path, line)
			}
			continue
		}
		addr, _, _ := strings.Cut(line, ",")
		addrs = append(addrs, addr)
	}
	return addrs
}

func oneClickPost(t *testing.T, link string) *http.Response {
	t.Helper()
	resp, err := http.Post(link, "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestOneClick: the POST a mail provider makes records the address once,
// however often it comes, and answers 200; form-encoded or multipart.
func TestOneClick(t *testing.T) {
	srv, path := endpoint(t)
	s := signer(t)
	link := s.URL(srv.URL+"/u", "alice@example.com")
	for range 2 {
		if resp := oneClickPost(t, link); resp.StatusCode != http.StatusOK {
			t.Fatalf("POST: %s", resp.Status)
		}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("List-Unsubscribe", "One-Click")
	mw.Close()
	resp, err := http.Post(s.URL(srv.URL, "张三@example.cn"), mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("multipart POST: %s", resp.Status)
	}
	if got := unsubscribed(t, path); !slices.Equal(got, []string{"alice@example.com", "张三@example.cn"}) {
		t.Errorf("file holds %q", got)
	}
}

// TestOnlyPostUnsubscribes: what a link scanner does (GET, HEAD, OPTIONS)
// and a POST without the one-click body records nobody; a link changed in
// any way gets 400 whatever the method.
func TestOnlyPostUnsubscribes(t *testing.T) {
	srv, path := endpoint(t)
	s := signer(t)
	link := s.URL(srv.URL+"/u", "alice@example.com")
	forged := srv.URL + "/u?t=" + b64.EncodeToString([]byte("bob@example.com")) + "." + strings.SplitN(s.Token("alice@example.com"), ".", 2)[1]
	for _, c := range []struct {
		method, link, contentType, body string
		want                            int
	}{
		{"GET", link, "", "", 200},
		{"HEAD", link, "", "", 200},
		{"OPTIONS", link, "", "", 204},
		{"PUT", link, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", 405},
		{"DELETE", link, "", "", 405},
		{"POST", link, "", "", 400},
		{"POST", link, "application/x-www-form-urlencoded", "List-Unsubscribe=Yes", 400},
		{"POST", link, "text/plain", "List-Unsubscribe=One-Click", 400},
		{"POST", link, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click&x=" + strings.Repeat("a", MaxBody), 413},
		{"GET", forged, "", "", 400},
		{"POST", forged, "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", 400},
		{"POST", srv.URL + "/u", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", 400},
		{"POST", srv.URL + "/u?t=" + url.QueryEscape(s.Token("alice@example.com")+"x"), "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", 400},
	} {
		req, _ := http.NewRequest(c.method, c.link, strings.NewReader(c.body))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s (%q): %s, want %d", c.method, c.link, c.body, resp.Status, c.want)
		}
	}
	if got := unsubscribed(t, path); len(got) != 0 {
		t.Errorf("file holds %q; nothing was a one-click POST", got)
	}
}

// TestConfirmationPage: GET shows the address and a form whose button
// sends the one-click POST to the same link; submitting it as a browser
// does records the address.
func TestConfirmationPage(t *testing.T) {
	srv, path := endpoint(t)
	addr := "张三@example.cn"
	link := signer(t).URL(srv.URL+"/list/u", addr)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`<meta charset="utf-8">`, addr, `<form method="post" action="?t=`, `name="List-Unsubscribe" value="One-Click"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if strings.Contains(string(page), "http") {
		t.Errorf("page loads or links something:\n%s", page)
	}
	// The form's action, resolved against the page's address, as a browser does.
	_, action, _ := strings.Cut(string(page), `action="`)
	action, _, _ = strings.Cut(action, `"`)
	base, _ := url.Parse(link)
	ref, err := url.Parse(strings.ReplaceAll(action, "&amp;", "&"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base.ResolveReference(ref).String(), strings.NewReader(url.Values{"List-Unsubscribe": {"One-Click"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(done), "You are unsubscribed") {
		t.Errorf("submitting the form: %s\n%s", resp.Status, done)
	}
	if got := unsubscribed(t, path); !slices.Equal(got, []string{addr}) {
		t.Errorf("file holds %q", got)
	}
}

// TestParallelPosts: 1,000 one-click POSTs at once, 500 addresses each
// twice, leave each address in the file exactly once.
func TestParallelPosts(t *testing.T) {
	srv, path := endpoint(t)
	s := signer(t)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(s.URL(srv.URL, fmt.Sprintf("user%03d@example.com", i%500)),
				"application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- errors.New(resp.Status)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := unsubscribed(t, path)
	if len(got) != 500 {
		t.Fatalf("file holds %d addresses, want 500", len(got))
	}
	slices.Sort(got)
	for i, a := range got {
		if want := fmt.Sprintf("user%03d@example.com", i); a != want {
			t.Fatalf("address %d is %q, want %q", i, a, want)
		}
	}
}

// TestListRefusesNonLoopback: serve listens on this machine unless told.
func TestListRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8025"} {
		if ln, err := Listen(addr, false); !errors.Is(err, ErrNotLoopback) {
			if ln != nil {
				ln.Close()
			}
			t.Errorf("Listen(%q) = %v", addr, err)
		}
	}
	ln, err := Listen("0.0.0.0:0", true)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// TestServeShutsDown: a cancelled context ends Serve without error once
// the request under way is answered.
func TestServeShutsDown(t *testing.T) {
	ln, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	inside := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inside)
		<-release
		io.WriteString(w, "done")
	})
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, h) }()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-inside
	cancel()
	close(release)
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if body := <-got; body != "done" {
		t.Errorf("the request under way got %q", body)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("still listening after Serve returned")
	}
}
