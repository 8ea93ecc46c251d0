// Command gen writes a benchmark campaign: a recipients list of N rows with
// five columns, a text and an HTML template that render to messages of about
// 2 KB (or 20 KB) on the wire, and a campaign file that sends them without a
// rate limit to an SMTP server on loopback.
//
//	go run ./bench/gen -dir /tmp/x -n 10000 -size 2k -port 22525
//	go run ./bench/gen -dir /tmp/x -n 10000 -size 2k -port 22465 -security ssl -ca cert.pem
//
// Only the campaign file changes between a plain and a TLS run, so one list
// can serve several campaigns (-list-only / -campaign-only).
//
// -suppress M also writes suppressed.csv, M addresses in the layout the
// unsubscribe endpoint writes, and names it in the campaign: every tenth
// row of the list (while M lasts) and then addresses the list does not
// have, so a send skips a tenth of the rows and looks up every one.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	dir := flag.String("dir", "", "folder to write the campaign into (created)")
	n := flag.Int("n", 10000, "recipients")
	size := flag.String("size", "2k", "message size: 2k or 20k")
	host := flag.String("host", "127.0.0.1", "SMTP host (loopback only)")
	port := flag.Int("port", 22525, "SMTP port")
	security := flag.String("security", "none", "none or ssl")
	ca := flag.String("ca", "", "CA file to trust (with -security ssl)")
	workers := flag.Int("workers", 4, "[send] workers")
	name := flag.String("name", "campaign.toml", "campaign file name")
	listOnly := flag.Bool("list-only", false, "write only recipients.csv and the templates")
	campaignOnly := flag.Bool("campaign-only", false, "write only the campaign file")
	suppressed := flag.Int("suppress", 0, "write suppressed.csv with this many addresses and name it in the campaign")
	flag.Parse()
	if *dir == "" {
		log.Fatal("gen: -dir is required")
	}
	switch *host {
	case "127.0.0.1", "localhost", "::1":
	default:
		log.Fatalf("gen: refusing non-loopback host %q", *host)
	}
	var filler int
	switch *size {
	case "2k":
		filler = 3
	case "20k":
		filler = 94
	default:
		log.Fatalf("gen: -size must be 2k or 20k, not %q", *size)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if !*campaignOnly {
		must(writeList(filepath.Join(*dir, "recipients.csv"), *n))
		must(os.WriteFile(filepath.Join(*dir, "body.txt.tmpl"), []byte(textTemplate(filler)), 0o644))
		must(os.WriteFile(filepath.Join(*dir, "body.html.tmpl"), []byte(htmlTemplate(filler)), 0o644))
	}
	if *suppressed > 0 {
		must(writeSuppressed(filepath.Join(*dir, "suppressed.csv"), *suppressed, *n))
	}
	if !*listOnly {
		c := campaignFile(*host, *port, *security, *ca, *workers)
		if *suppressed > 0 {
			c = strings.Replace(c, "\n[smtp]\n", "suppress   = [\"suppressed.csv\"]\n\n[smtp]\n", 1)
		}
		must(os.WriteFile(filepath.Join(*dir, *name), []byte(c), 0o644))
	}
}

// writeSuppressed writes m addresses: every tenth of the n rows first.
func writeSuppressed(path string, m, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "email,time,reason")
	for j := 0; j < m; j++ {
		if j*10 < n {
			fmt.Fprintf(w, "user%07d@example.test,2026-11-02T03:04:05Z,unsubscribe: one-click\n", j*10)
		} else {
			fmt.Fprintf(w, "former%07d@example.org,2026-11-02T03:04:05Z,bounce: 5.1.1 user unknown\n", j)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

var cities = []string{"Köln", "Berlin", "München", "Hamburg", "Zürich", "Wien", "Graz", "Bonn"}

// writeList streams the list so a million rows never sit in memory.
func writeList(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "id,name,email,city,amount")
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "%d,Zoë Müller-%07d,user%07d@example.test,%s,%d.%02d\n",
			100000+i, i, i, cities[i%len(cities)], 10+i%990, i%100)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const lorem = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt."

// The bodies use all five columns, as a real mail merge would; the filler
// brings the whole message (headers, both parts, MIME framing) to the size.
func textTemplate(filler int) string {
	var b strings.Builder
	b.WriteString("Hallo {{.name}},\n\n")
	b.WriteString("wir freuen uns, Sie (Kundennummer {{.id}}) zu unserem Treffen in {{.city}} einzuladen.\n")
	b.WriteString("Ihr Guthaben: {{.amount}} EUR. Antworten bitte an diese Adresse, nicht an {{.email}}.\n\n")
	for i := 0; i < filler; i++ {
		b.WriteString(lorem + "\n")
	}
	b.WriteString("\nViele Grüße\nDas Team\n")
	return b.String()
}

func htmlTemplate(filler int) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Einladung</title></head>\n<body>\n")
	b.WriteString("<p>Hallo {{.name}},</p>\n")
	b.WriteString("<p>wir freuen uns, Sie (Kundennummer <b>{{.id}}</b>) zu unserem Treffen in <b>{{.city}}</b> einzuladen.</p>\n")
	b.WriteString("<p>Ihr Guthaben: {{.amount}} EUR. Post an {{.email}}.</p>\n")
	for i := 0; i < filler; i++ {
		b.WriteString("<p>" + lorem + "</p>\n")
	}
	b.WriteString("<p>Viele Grüße<br>Das Team</p>\n</body></html>\n")
	return b.String()
}

func campaignFile(host string, port int, security, ca string, workers int) string {
	var b strings.Builder
	b.WriteString("# Generated by bench/gen: a benchmark campaign, loopback only.\n")
	b.WriteString("recipients = \"recipients.csv\"\n")
	b.WriteString("from       = \"Newsletter <news@example.test>\"\n")
	b.WriteString("to         = \"{{.name}} <{{.email}}>\"\n")
	b.WriteString("subject    = \"Ihre persönliche Einladung – {{.name}}\"\n")
	b.WriteString("text       = \"body.txt.tmpl\"\n")
	b.WriteString("html       = \"body.html.tmpl\"\n\n")
	b.WriteString("[smtp]\n")
	fmt.Fprintf(&b, "host     = %q\nport     = %d\nsecurity = %q\n", host, port, security)
	if ca != "" {
		abs, err := filepath.Abs(ca)
		must(err)
		fmt.Fprintf(&b, "ca_file  = %q\n", abs)
	}
	b.WriteString("# no username: smtp-sink's AUTH reply (250) is not one a client accepts\n\n")
	b.WriteString("[send]\n")
	fmt.Fprintf(&b, "rate    = \"0\"\nworkers = %d\nresults = \"results-%d.csv\"\n", workers, port)
	return b.String()
}
