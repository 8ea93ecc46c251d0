package unsubscribe

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestInBrowser opens a link in a real headless Chromium, as a person (or
// a scanner that runs the page) does: the page names the address and
// records nothing; its button, under the page's own Content-Security-
// Policy, makes the one-click POST and the address is recorded.
func TestInBrowser(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("no chromium binary found (apt-get install -y chromium)")
	}
	srv, path := endpoint(t)
	addr := "李娜@example.cn"
	link := signer(t).URL(srv.URL+"/u", addr)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

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
