package unsubscribe

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/security"
)

// List is where unsubscribes are recorded, the campaign's suppression
// file. Add must be safe for concurrent use, store an address once however
// often it comes, and return only once the address is on disk.
type List interface {
	Add(addr, reason string) (added bool, err error)
}

// Reason is what the list records for an unsubscribe made here.
const Reason = "unsubscribe: one-click"

// MaxBody bounds a request's body: the one-click body is 26 bytes.
const MaxBody = 4 << 10

//go:embed page.html.tmpl
var pageText string

var page = template.Must(template.New("page").Parse(pageText))

// pageData is what the page shows: a link that is not valid (no
// Address), the question with its button, or the answer (Done).
type pageData struct {
	Address, Token string
	Done           bool
}

// Endpoint answers the links a Signer makes (RFC 8058):
//
//   - POST with the body List-Unsubscribe=One-Click (form-encoded or
//     multipart) and a valid token t in the query adds the address to the
//     list and answers 200;
//   - GET and HEAD show a page whose button makes that POST, and change
//     nothing: a link scanner that follows every link unsubscribes nobody;
//   - a token this secret did not make gets 400, whatever the method.
//
// It answers on any path, so that a reverse proxy may mount it anywhere.
type Endpoint struct {
	signer *Signer
	list   List
	logf   func(format string, args ...any)
}

// NewEndpoint returns the endpoint of signer's links, recording into
// list. logf, when set, is told of every address added and every failure
// to record one.
func NewEndpoint(signer *Signer, list List, logf func(format string, args ...any)) *Endpoint {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Endpoint{signer: signer, list: list, logf: logf}
}

func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// The page has no scripts, fonts or images; it must not be framed,
	// and the token in its address must not leak to another site.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	case http.MethodOptions:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "GET, HEAD, POST, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token := r.URL.Query().Get("t")
	addr, err := e.signer.Verify(token)
	if err != nil {
		e.answer(w, r, http.StatusBadRequest, "this unsubscribe link is not valid", pageData{})
		return
	}
	if r.Method != http.MethodPost {
		e.answer(w, r, http.StatusOK, "", pageData{Address: addr, Token: token})
		return
	}
	if status, why := oneClick(w, r); status != http.StatusOK {
		e.answer(w, r, status, why, pageData{Address: addr, Token: token})
		return
	}
	added, err := e.list.Add(addr, Reason)
	if err != nil {
		e.logf("unsubscribe: could not record an unsubscribe: %v", err)
		http.Error(w, "could not record the unsubscribe; try again later", http.StatusServiceUnavailable)
		return
	}
	if added {
		e.logf("unsubscribe: %s added", addr)
	}
	e.answer(w, r, http.StatusOK, "unsubscribed", pageData{Address: addr, Done: true})
}

// oneClick reads a POST's body, which must say List-Unsubscribe=One-Click.
func oneClick(w http.ResponseWriter, r *http.Request) (status int, why string) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	// ParseMultipartForm alone would lose ParseForm's error (a body too
	// large) behind ErrNotMultipart.
	err := r.ParseForm()
	if err == nil {
		err = r.ParseMultipartForm(MaxBody)
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case err != nil && !errors.Is(err, http.ErrNotMultipart):
		return http.StatusBadRequest, "the body is not a form"
	case r.PostForm.Get("List-Unsubscribe") != "One-Click":
		return http.StatusBadRequest, "the body must be List-Unsubscribe=One-Click"
	}
	return http.StatusOK, ""
}

// answer writes the page for a browser and one short line for anything
// else: a mail provider's one-click POST reads only the status.
func (e *Endpoint) answer(w http.ResponseWriter, r *http.Request, status int, text string, d pageData) {
	if text == "" || strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if err := page.Execute(w, d); err != nil {
			e.logf("unsubscribe: writing the page: %v", err)
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, text)
}

// DefaultListen is where serve listens unless told otherwise: this machine
// only, for a reverse proxy in front.
const DefaultListen = "127.0.0.1:8025"

// ErrNotLoopback: a listen address that other machines can reach, without
// Listen being told that is meant.
var ErrNotLoopback = errors.New("not a loopback address")

// Listen opens addr, which must be a loopback address unless public:
// the endpoint is meant to run behind a reverse proxy that terminates TLS.
func Listen(addr string, public bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !public && !security.Loopback(host) {
		return nil, fmt.Errorf("listen address %q: %w", addr, ErrNotLoopback)
	}
	return net.Listen("tcp", addr)
}

// Serve answers requests on ln with h until ctx is done, then lets the
// requests under way finish (for at most five seconds) and returns nil.
// Slow or oversized requests are cut off by the server's timeouts.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	<-errc // http.ErrServerClosed
	return err
}
