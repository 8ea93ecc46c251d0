package unsubscribe

import (
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailmerge/mailmerge/internal/browsertest"
)

// TestInBrowser opens a link in a real headless Chromium, as a person (or
// a scanner that runs the page) does: the page names the address and
// records nothing; its button, under the page's own Content-Security-
// Policy, makes the one-click POST and the address is recorded.
func TestInBrowser(t *testing.T) {
	bin := browsertest.Binary(t)
	srv, path := endpoint(t)
	addr := "李娜@example.cn"
	link := signer(t).URL(srv.URL+"/u", addr)

	ctx := browsertest.Context(t, bin, 60*time.Second)

	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`button`))); err != nil {
		t.Fatal(err)
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.address`)))
	if err != nil {
		t.Fatal(err)
	}
	if shown != addr {
		t.Errorf("the page shows %q, want %q", shown, addr)
	}
	if got := unsubscribed(t, path); len(got) != 0 {
		t.Fatalf("opening the page recorded %q", got)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button`)), chromedp.WaitVisible(chromedp.CSS(`main:not(:has(form))`))); err != nil {
		t.Fatal(err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "You are unsubscribed" {
		t.Errorf("after the button: %q", heading)
	}
	if got := unsubscribed(t, path); !slices.Equal(got, []string{addr}) {
		t.Errorf("file holds %q", got)
	}
}
