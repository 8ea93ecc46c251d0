package preview

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailmerge/mailmerge/internal/browsertest"
)

var screenshotTo = flag.String("screenshot", "", "also save the end-to-end test's screenshot here (e.g. ../../docs/preview.png)")

// TestInBrowser opens the preview in a real headless Chromium: it picks a
// recipient, reads the subject and the personal greeting inside the
// sandboxed frame, checks that the message's script did not run, its inline
// image showed and its remote image did not load, edits the template on
// disk and sees the page follow, searches, and saves a screenshot.
func TestInBrowser(t *testing.T) {
	bin := browsertest.Binary(t)
	// From the campaign's folder, as a user runs it: the page and the
	// screenshot show "campaign.toml", not a temporary path.
	path := writeCampaign(t)
	t.Chdir(filepath.Dir(path))
	path = "campaign.toml"
	s := New(context.Background(), path, Options{Poll: 20 * time.Millisecond})
	ln, err := Listen("")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopServer := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Run(srvCtx, ln) }()
	defer func() {
		stopServer()
		if err := <-served; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + s.Path()

	ctx := browsertest.Context(t, bin, 60*time.Second, chromedp.WindowSize(1280, 800))

	if err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#rows tbody tr[data-row="2"]`)),
	); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS(`#rows tbody tr:first-child`)))
	if err != nil {
		t.Fatal(err)
	}
	if first["data-row"] != "3" || !strings.Contains(first["class"], "bad") {
		t.Errorf("first row listed is %q (class %q), want row 3, the one that cannot be sent", first["data-row"], first["class"])
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#rows tbody tr[data-row="2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#html-part`)),
	); err != nil {
		t.Fatal(err)
	}
	subject, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#msg-subject`)))
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Hello 李娜 · 来自娜美的问候" {
		t.Errorf("subject on the page %q", subject)
	}

	// The message: personal, its script dead, its own image shown and
	// the remote one not loaded.
	inFrame(t, ctx, 2, `document.querySelector("h1").textContent`, "Dear 李娜")
	inFrame(t, ctx, 2, `document.body.hasAttribute("data-ran")`, false)
	inFrame(t, ctx, 2, `(i => i.complete ? i.naturalWidth : -1)(document.getElementById("logo"))`, 32.0)
	inFrame(t, ctx, 2, `(i => i.complete ? i.naturalWidth : -1)(document.getElementById("tracker"))`, 0.0)

	// Editing the template on disk updates the open message.
	edit(t, path, "greeting.html.tmpl", strings.Replace(campaignFiles["greeting.html.tmpl"], "Dear {{.name}}", "Bonjour {{.name}}, cher ami", 1))
	inFrame(t, ctx, 2, `document.querySelector("h1").textContent`, "Bonjour 李娜, cher ami")

	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "preview.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if *screenshotTo != "" {
		if err := os.WriteFile(*screenshotTo, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Search narrows the list.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#search"), "li.na"),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#rows tbody tr").length === 1`, chromedp.WithPollingTimeout(10*time.Second)),
	); err != nil {
		t.Fatalf("searching for li.na: %v", err)
	}
	if row, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#rows tbody tr"), "data-row")); err != nil || row.Value != "2" {
		t.Errorf("search for li.na lists row %q (%v), want 2", row.Value, err)
	}
}

// inFrame evaluates expr in the HTML frame of row's message until it gives
// want. Chromium runs the sandboxed frame in a process of its own, as a
// separate target, so the test attaches to that target to look inside.
func inFrame[T comparable](t *testing.T, ctx context.Context, row int, expr string, want T) {
	t.Helper()
	path := fmt.Sprintf("/message/%d/body.html", row)
	var got T
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		infos, terr := chromedp.Targets(ctx)
		if terr != nil {
			t.Fatal(terr)
		}
		for _, info := range infos {
			if info.Type != "iframe" || !strings.Contains(info.URL, path) {
				continue
			}
			frameCtx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
			got, err = chromedp.Run(frameCtx, chromedp.Evaluate[T](expr))
			cancel()
			if err == nil && got == want {
				return
			}
		}
	}
	t.Fatalf("in the message frame, %s = %v (%v), want %v", expr, got, err, want)
}
