// Package bench holds the end-to-end benchmarks of mailmerge (see README.md);
// this file is the in-process part: rendering one personal message.
package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailmerge/mailmerge/internal/compose"
	"github.com/mailmerge/mailmerge/internal/dkim"
)

// BenchmarkRender2KB renders the ~2 KB text+HTML message of the generated
// campaign (five columns, see gen/main.go) and writes it to io.Discard, the
// way send renders one message before handing it to a connection.
// Target: at least 20,000 messages/s on the 2-core reference box.
func BenchmarkRender2KB(b *testing.B) { benchmarkRender(b, "2k") }

// BenchmarkRender20KB is the same with the 20 KB variant.
func BenchmarkRender20KB(b *testing.B) { benchmarkRender(b, "20k") }

// BenchmarkStyledRender2KB is BenchmarkRender2KB with a <style> element
// in the HTML, inlined into every message (inline_css, the default).
func BenchmarkStyledRender2KB(b *testing.B) { benchmarkRender(b, "2k", withStyle) }

// BenchmarkDKIMRender2KBRSA is BenchmarkRender2KB signed with an RSA 2048
// DKIM key, the [dkim] default: what signing costs on top of rendering.
// (Named so that run.sh's /^BenchmarkRender2KB/ does not count it.)
func BenchmarkDKIMRender2KBRSA(b *testing.B) { benchmarkRender(b, "2k", withDKIM(b, "rsa")) }

// BenchmarkDKIMRender2KBEd25519 is the same with an Ed25519 key.
func BenchmarkDKIMRender2KBEd25519(b *testing.B) { benchmarkRender(b, "2k", withDKIM(b, "ed25519")) }

// withDKIM signs every message with a new key of kind.
func withDKIM(b *testing.B, kind string) func(*compose.Spec) {
	key, err := dkim.Generate(kind, 2048)
	if err != nil {
		b.Fatal(err)
	}
	return func(spec *compose.Spec) {
		spec.DKIM = &compose.DKIM{Domain: "example.test", Selector: "bench", Key: key.Signer}
	}
}

// withStyle puts a stylesheet such as a newsletter has in the HTML's head.
func withStyle(spec *compose.Spec) {
	spec.HTML.Text = strings.Replace(spec.HTML.Text, "</head>", `<style>
body { font-family: Helvetica, Arial, sans-serif; color: #222; background-color: #f4f4f4 }
p { font-size: 15px; line-height: 1.5; margin: 0 0 12px }
p b { color: #0b5394 }
br + * { margin-top: 0 }
@media (max-width: 600px) { p { font-size: 17px } }
</style></head>`, 1)
}

func benchmarkRender(b *testing.B, size string, edits ...func(*compose.Spec)) {
	dir := b.TempDir()
	genCampaign(b, dir, size)
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	spec := compose.Spec{
		From:    compose.Source{File: "campaign.toml", Key: "from", Line: 1, Text: "Newsletter <news@example.test>"},
		To:      compose.Source{File: "campaign.toml", Key: "to", Line: 1, Text: "{{.name}} <{{.email}}>"},
		Subject: compose.Source{File: "campaign.toml", Key: "subject", Line: 1, Text: "Ihre persönliche Einladung – {{.name}}"},
		Text:    compose.Source{File: "body.txt.tmpl", Line: 1, Text: read("body.txt.tmpl")},
		HTML:    compose.Source{File: "body.html.tmpl", Line: 1, Text: read("body.html.tmpl")},
		Dir:     dir,
		Mailer:  "mailmerge/bench",
		// As the campaign file sets it (inline_css defaults to true); a
		// body without <style> is then only looked through for one.
		InlineCSS: true,
	}
	for _, edit := range edits {
		edit(&spec)
	}
	composeLoop(b, spec)
}

// BenchmarkRenderMarkdown renders a Markdown campaign of the same five
// columns and about the same size (a heading, bold, a link, a table and
// three paragraphs) into both parts in the built-in layout, as render and
// send build it. Target: at least 10,000 messages/s on the 2-core box.
func BenchmarkRenderMarkdown(b *testing.B) {
	body := "# Hallo {{.name}}\n\n" +
		"wir freuen uns, Sie (Kundennummer **{{.id}}**) zu unserem Treffen in **{{.city}}** einzuladen. " +
		"Ihre Anmeldung: [Ihre Seite](https://example.test/u/{{.id}}).\n\n" +
		"| Posten | Betrag |\n|---|---:|\n| Guthaben | {{.amount}} EUR |\n| Post an | {{.email}} |\n\n" +
		strings.Repeat(lorem+"\n\n", 3) + "Viele Grüße  \nDas Team\n"
	composeLoop(b, compose.Spec{
		From:     compose.Source{File: "campaign.toml", Key: "from", Line: 1, Text: "Newsletter <news@example.test>"},
		To:       compose.Source{File: "campaign.toml", Key: "to", Line: 1, Text: "{{.name}} <{{.email}}>"},
		Subject:  compose.Source{File: "campaign.toml", Key: "subject", Line: 1, Text: "Ihre persönliche Einladung – {{.name}}"},
		Markdown: compose.Source{File: "body.md.tmpl", Line: 1, Text: body},
		Dir:      b.TempDir(),
		Mailer:   "mailmerge/bench",
		// As the campaign file sets it: the layout's <style> is inlined.
		InlineCSS: true,
	})
}

// lorem is bench/gen's filler paragraph.
const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt."

// composeLoop composes a message for one row after another of a generated
// list and writes it to io.Discard, the way send renders one message
// before handing it to a connection.
func composeLoop(b *testing.B, spec compose.Spec) {
	c, err := compose.New(spec)
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]map[string]string, 1000)
	for i := range rows {
		rows[i] = map[string]string{
			"id": strconv.Itoa(100000 + i), "name": fmt.Sprintf("Zoë Müller-%07d", i),
			"email": fmt.Sprintf("user%07d@example.test", i), "city": "Köln", "amount": "12.34",
		}
	}
	var bytes int64
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m, err := c.Compose(i+1, rows[i%len(rows)])
		if err != nil {
			b.Fatal(err)
		}
		n, err := m.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		bytes += n
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/msg")
	// CPU time, unlike msgs/s, holds steady when other work shares the box.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// genCampaign writes the templates with bench/gen, so the benchmark renders
// exactly what run.sh sends.
func genCampaign(b *testing.B, dir, size string) {
	b.Helper()
	out, err := exec.Command("go", "run", "./gen", "-dir", dir, "-n", "10", "-size", size, "-list-only").CombinedOutput()
	if err != nil {
		b.Fatalf("bench/gen: %v: %s", err, out)
	}
}
