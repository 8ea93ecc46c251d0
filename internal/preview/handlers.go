package preview

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
	"github.com/mailmerge/mailmerge/internal/security"
)

//go:embed assets
var assets embed.FS

var pageTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

// Content-Security-Policy values. The page runs only its own script and
// talks only to its own origin; a message's HTML may show its inline
// images and inline styles and do nothing else — no scripts, no fonts, no
// remote images, no forms, no navigation.
const (
	pagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
		"connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	framePolicy = "default-src 'none'; img-src cid: data: 'self'; style-src 'unsafe-inline'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
	partPolicy = "default-src 'none'; sandbox"
)

// pageSize is how many rows one page of the list shows unless asked for
// fewer; maxPageSize caps what a request may ask.
const (
	pageSize    = 50
	maxPageSize = 500
)

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /app.js", asset("assets/app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", asset("assets/style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/state", s.apiState)
	mux.HandleFunc("GET /api/rows", s.apiRows)
	mux.HandleFunc("GET /api/message/{row}", s.apiMessage)
	mux.HandleFunc("GET /message/{row}/body.html", s.frame)
	mux.HandleFunc("GET /message/{row}/cid/{cid}", s.inline)
	mux.HandleFunc("GET /message/{row}/eml", s.eml)
	mux.HandleFunc("GET /events", s.events)
	s.mux = mux
}

// ServeHTTP answers only GET and HEAD requests addressed to localhost under
// the run's token, and marks every response with the page's security
// headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", pagePolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	if !localHost(r.Host) {
		// A page on another site whose name was made to resolve to
		// 127.0.0.1 still sends its own name as the Host: refuse it.
		http.Error(w, "preview answers only to localhost, 127.0.0.1 and [::1]", http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "preview is read-only: nothing can be sent or changed from it", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := s.authorized(r.URL.Path)
	if !ok {
		http.Error(w, "open the address mailmerge preview printed: it holds this run's token", http.StatusForbidden)
		return
	}
	if rest == "" {
		http.Redirect(w, r, s.Path(), http.StatusMovedPermanently) // the page's relative links need the slash
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = rest, ""
	s.mux.ServeHTTP(w, r2)
}

// authorized checks the token that starts a request's path, in constant
// time, and returns the path after it: "/TOKEN/api/state" -> "/api/state";
// "/TOKEN" gives "".
func (s *Server) authorized(path string) (string, bool) {
	seg, rest, slash := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if subtle.ConstantTimeCompare([]byte(seg), []byte(s.token)) != 1 {
		return "", false
	}
	if !slash {
		return "", true
	}
	return "/" + rest, true
}

// localHost reports whether a Host header names this machine by a name no
// other site can own.
func localHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return security.Loopback(host)
}

func asset(name, contentType string) http.HandlerFunc {
	body, err := assets.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTemplate.Execute(w, struct{ Campaign string }{s.path})
}

// stateView is the head of the page: what is shown and from which files.
type stateView struct {
	Version  int       `json:"version"`
	Campaign string    `json:"campaign"`
	Loaded   time.Time `json:"loaded"`
	Loads    bool      `json:"loads"`    // false: the problems say why nothing is listed
	Indexing bool      `json:"indexing"` // the list shown is the previous one; a new one follows
	Rows     int       `json:"rows"`
	Invalid  int       `json:"invalid"`
	// Suppressed counts the rows send skips.
	Suppressed int       `json:"suppressed"`
	Problems   []problem `json:"problems"`
	Files      []string  `json:"files"`
}

func (s *Server) apiState(w http.ResponseWriter, r *http.Request) {
	st := s.current.Load()
	v := stateView{Version: st.version, Campaign: s.path, Loaded: st.loaded, Loads: st.campaign != nil, Indexing: st.indexing,
		Rows: len(st.entries), Invalid: st.invalid, Suppressed: st.suppressed, Problems: []problem{}, Files: st.files}
	for _, p := range st.problems {
		v.Problems = append(v.Problems, problem{Message: p.Message, Hint: p.Hint})
	}
	writeJSON(w, http.StatusOK, v)
}

// rowsView is one page of the list.
type rowsView struct {
	Version int     `json:"version"`
	Total   int     `json:"total"`   // rows in the list
	Invalid int     `json:"invalid"` // rows that cannot be sent
	Matched int     `json:"matched"` // rows the search matched
	Offset  int     `json:"offset"`
	Rows    []entry `json:"rows"`
}

func (s *Server) apiRows(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = pageSize
	}
	limit = min(limit, maxPageSize)
	offset = max(offset, 0)
	st := s.current.Load()
	rows, matched := st.search(q.Get("q"), q.Get("problems") == "1", offset, limit)
	if rows == nil {
		rows = []entry{}
	}
	writeJSON(w, http.StatusOK, rowsView{Version: st.version, Total: len(st.entries), Invalid: st.invalid,
		Matched: matched, Offset: offset, Rows: rows})
}

// lookup finds the message for the {row} of a request, writing the error
// response itself when there is none.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, asJSON bool) (*messageView, bool) {
	fail := func(code int, msg, hint string) (*messageView, bool) {
		if asJSON {
			writeJSON(w, code, map[string]any{"error": msg, "hint": hint})
		} else {
			http.Error(w, msg, code)
		}
		return nil, false
	}
	n, err := strconv.Atoi(r.PathValue("row"))
	if err != nil || n <= 0 {
		return fail(http.StatusNotFound, fmt.Sprintf("row %q is not a row number", r.PathValue("row")), "")
	}
	st := s.current.Load()
	if st.campaign == nil {
		return fail(http.StatusConflict, "the campaign does not load", "fix the problems listed at the top; the page follows the files")
	}
	// While the list is read again the index may be out of date; the
	// render itself then says whether the row exists and can be sent.
	if !st.indexing {
		e, ok := st.find(n)
		if !ok {
			return fail(http.StatusNotFound, fmt.Sprintf("the list has no row %d", n), "")
		}
		if e.Error != "" {
			return fail(http.StatusUnprocessableEntity, e.Error, e.Hint)
		}
	}
	v, err := s.message(r.Context(), st, n)
	if errors.Is(err, campaign.ErrNoSuchRow) {
		return fail(http.StatusNotFound, err.Error(), "the list changed; the page will update")
	}
	if err != nil {
		return fail(http.StatusUnprocessableEntity, err.Error(), human.Hint(err))
	}
	return v, true
}

func (s *Server) apiMessage(w http.ResponseWriter, r *http.Request) {
	if v, ok := s.lookup(w, r, true); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

// frame serves the HTML part to the sandboxed frame under its own strict
// policy.
func (s *Server) frame(w http.ResponseWriter, r *http.Request) {
	v, ok := s.lookup(w, r, false)
	if !ok {
		return
	}
	if !v.HTML {
		http.Error(w, "this message has no HTML part", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", framePolicy)
	h.Set("Content-Type", v.htmlCT)
	_, _ = w.Write(v.frameHTML())
}

// inline serves one inline part (an embedded image) of a message to the
// frame.
func (s *Server) inline(w http.ResponseWriter, r *http.Request) {
	v, ok := s.lookup(w, r, false)
	if !ok {
		return
	}
	p := v.byCID[r.PathValue("cid")]
	if p == nil {
		http.Error(w, "no inline part with that Content-ID", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", partPolicy)
	h.Set("Content-Type", p.mediaType)
	h.Set("Content-Disposition", "inline")
	_, _ = w.Write(p.body)
}

// eml serves the message as the file render would write.
func (s *Server) eml(w http.ResponseWriter, r *http.Request) {
	v, ok := s.lookup(w, r, false)
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", partPolicy)
	h.Set("Content-Type", "message/rfc822")
	h.Set("Content-Disposition", `attachment; filename="`+v.File+`"`)
	_, _ = w.Write(v.raw)
}

// keepAlive is how often an idle event stream sends a comment, so that a
// dead page is noticed and the connection is not timed out in between.
const keepAlive = 20 * time.Second

// events tells the page, over server-sent events, each time the list was
// rebuilt: "event: change" with the new version as its data.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	st := s.current.Load()
	fmt.Fprintf(w, "retry: 1000\nevent: change\ndata: %d\n\n", st.version)
	flusher.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": still here\n\n")
		case <-st.superseded:
			st = s.current.Load()
			fmt.Fprintf(w, "event: change\ndata: %d\n\n", st.version)
		}
		flusher.Flush()
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
