// Package preview serves a campaign as a local web page: every recipient in
// a searchable, paged list (rows that fail check first, with their errors),
// and for the one selected the message exactly as it will be sent — headers
// decoded, the HTML part in a sandboxed frame with its inline images, the
// text part, the attachments and the .eml to download.
//
// The page follows the files: when the campaign file, a template or the
// recipients list changes on disk the list is rebuilt and the page told over
// server-sent events, so editing a template and watching the result is the
// normal loop.
//
// It is a viewer and nothing more. It listens on loopback only (Listen
// refuses any other address), answers only requests addressed to localhost
// (a DNS-rebinding page cannot reach it) whose path starts with the run's
// random token (another user of the machine cannot guess it; see Path),
// accepts only GET and HEAD, serves
// nothing but the page and the messages it renders, and sets a strict
// Content-Security-Policy on every response. Nothing can be sent from it.
package preview

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/security"
)

// DefaultPoll is how often the campaign's files are looked at for changes.
const DefaultPoll = 500 * time.Millisecond

// Options configure a Server. The zero value renders as send would and
// polls every DefaultPoll.
type Options struct {
	// Campaign is passed to campaign.Load on every (re)load.
	Campaign campaign.Options
	// Poll is the interval between looks at the files; 0 means DefaultPoll.
	Poll time.Duration
	// OnReload, if set, is called after the files changed and the list was
	// rebuilt (not after the first load), from the watching goroutine.
	OnReload func(Summary)
}

// Summary describes what the page currently shows.
type Summary struct {
	Version int // goes up by one on every reload
	Rows    int // recipients in the list
	Invalid int // rows that cannot be sent
	// Suppressed counts the rows send skips: a suppress file holds an
	// address of theirs.
	Suppressed int
	Problems   []campaign.Problem // the campaign or the list as a whole does not load
	Files      []string           // watched: campaign file, list, templates
}

// Server is the preview of one campaign: an http.Handler plus the watcher
// that keeps it current. Make one with New and start it with Run; it is
// safe for concurrent use.
type Server struct {
	path  string
	opts  Options
	mux   *http.ServeMux
	token string // the first segment of every path served

	reload  sync.Mutex // one rebuild at a time
	current atomic.Pointer[state]
	cache   messageCache
}

// New loads the campaign at path and indexes its recipients. A campaign
// that does not load is not an error here: the page shows why, and shows
// the campaign once the files are fixed.
func New(ctx context.Context, path string, opts Options) *Server {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	var key [24]byte
	_, _ = rand.Read(key[:]) // never fails (crypto/rand)
	s := &Server{path: path, opts: opts, token: base64.RawURLEncoding.EncodeToString(key[:])}
	st := load(path, opts.Campaign, 1)
	for st.index(ctx) == errFilesChanged {
		st = load(path, opts.Campaign, 1)
	}
	s.current.Store(st)
	s.routes()
	return s
}

// Path is the page's path, holding the run's token: "/<token>/". Every
// other path is refused; print and open this one.
func (s *Server) Path() string { return "/" + s.token + "/" }

// Summary returns what the page shows now.
func (s *Server) Summary() Summary { return s.current.Load().summary() }

// Run serves the page on ln and watches the files until ctx is done, then
// closes ln and returns nil. It returns early only if serving fails.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Requests end with ctx, so that the event streams let go.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		s.Watch(ctx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = srv.Shutdown(shutdown)
		cancel()
	}
	<-watchDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Watch looks at the campaign's files every Options.Poll and rebuilds the
// list when one changed, until ctx is done. Run calls it.
func (s *Server) Watch(ctx context.Context) {
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.Reload(ctx, false) && s.opts.OnReload != nil {
				s.opts.OnReload(s.Summary())
			}
		}
	}
}

// Reload rebuilds the list if a watched file changed since it was last
// read, or always with force, and tells open pages. It reports whether it
// published anything new.
//
// A new campaign that loads is published twice: first at once with the
// previous list (marked as indexing), so that the message on screen shows
// an edited template without waiting for a long list to be read, then
// again with the new list.
func (s *Server) Reload(ctx context.Context, force bool) bool {
	s.reload.Lock()
	defer s.reload.Unlock()
	if !force && !s.current.Load().changed() {
		return false
	}
	for {
		old := s.current.Load()
		next := load(s.path, s.opts.Campaign, old.version+1)
		if next.campaign != nil {
			interim := *next
			interim.entries, interim.invalid, interim.indexing = old.entries, old.invalid, true
			interim.superseded = make(chan struct{})
			s.publish(old, &interim)
			next.version++
			err := next.index(ctx)
			if err == errFilesChanged {
				continue
			}
			if err != nil {
				return true // cancelled: the interim state stays
			}
			old = &interim
		}
		s.publish(old, next)
		return true
	}
}

// publish replaces old with next and wakes the event streams.
func (s *Server) publish(old, next *state) {
	s.current.Store(next)
	close(old.superseded)
}

// ErrNotLoopback means a listen address would reach beyond this machine.
var ErrNotLoopback = errors.New("preview listens on loopback only")

// Listen opens addr for the preview: "127.0.0.1:0" (a free port) when addr
// is empty, and otherwise only a loopback address or "localhost" with a
// port. An empty host, 0.0.0.0, :: or any other interface is refused with
// ErrNotLoopback, so the page is never reachable from the network.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !security.Loopback(host) {
		return nil, fmt.Errorf("listen address %q: %w", addr, ErrNotLoopback)
	}
	if net.ParseIP(host) == nil {
		host = "127.0.0.1" // localhost: listen where it certainly points
	}
	return net.Listen("tcp", net.JoinHostPort(host, port))
}
