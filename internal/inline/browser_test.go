package inline

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailmerge/mailmerge/internal/browsertest"
)

// looks lists, for every element a reader sees, its tag and the computed
// properties a stylesheet in these messages sets.
const looks = `[...document.querySelectorAll("body *")]
	.filter(e => !["STYLE", "SCRIPT", "TITLE", "META"].includes(e.tagName))
	.map(e => { const s = getComputedStyle(e); return e.tagName + " " + [
		"color", "background-color", "font-size", "font-family", "font-weight", "line-height",
		"text-align", "text-decoration-line", "padding-top", "padding-left", "margin-top",
		"border-top-width", "border-top-style", "border-top-color", "display", "width",
	].map(p => p + ":" + s.getPropertyValue(p)).join(";"); })`

// TestLooksTheSameInChromium opens each message in a real Chromium as
// written and as inlined, wide and as narrow as a phone (where the media
// queries apply), and compares the computed style of every element.
func TestLooksTheSameInChromium(t *testing.T) {
	bin := browsertest.Binary(t)
	pages := map[string]string{}
	var names []string
	add := func(name, msg string) {
		out, err := New().Inline(msg)
		if err != nil {
			t.Fatal(err)
		}
		if out == msg {
			t.Fatalf("%s: inlining changed nothing; the case tests nothing", name)
		}
		pages["/before/"+name], pages["/after/"+name] = msg, out
		names = append(names, name)
	}
	for name, doc := range documents {
		add(strings.ReplaceAll(name, " ", "-"), render(t, doc, ordinary[1]))
	}
	for i, msg := range handWritten {
		add(fmt.Sprintf("hand-%d", i), msg)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()

	ctx := browsertest.Context(t, bin, 90*time.Second)

	look := func(path string, width int64) []string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 800), chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](looks))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// The phone width must matter, or it tests no media query.
	if wide, narrow := look("/before/newsletter", 1024), look("/before/newsletter", 400); slices.Equal(wide, narrow) {
		t.Fatalf("the newsletter looks the same 1024 and 400 px wide:\n%s", strings.Join(wide, "\n"))
	}
	for _, width := range []int64{1024, 400} {
		for _, name := range names {
			before, after := look("/before/"+name, width), look("/after/"+name, width)
			if len(before) == 0 || len(before) != len(after) {
				t.Errorf("%s, %d px wide: %d elements as written, %d inlined", name, width, len(before), len(after))
				continue
			}
			for i := range before {
				if before[i] != after[i] {
					t.Errorf("%s, %d px wide, element %d:\nas written %s\ninlined    %s", name, width, i, before[i], after[i])
				}
			}
		}
	}
}
