package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"log"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
)

// readRendered loads the .eml files `mailmerge render` wrote for a sample
// campaign: they are what each recipient should receive, rendered from the
// source data, so a received copy must decode to the same headers and parts.
func readRendered(dir string) (map[string]*row, []string, map[string]*mail.Message) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	rows := map[string]*row{}
	want := map[string]*mail.Message{}
	var order []string
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			log.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil {
			log.Fatalf("%s: %v", p, err)
		}
		to, err := m.Header.AddressList("To")
		if err != nil || len(to) == 0 {
			log.Fatalf("%s: To: %v", p, err)
		}
		key := strings.ToLower(to[0].Address)
		r := &row{fields: map[string]string{"email": key}}
		for _, h := range []string{"To", "Cc"} {
			l, _ := m.Header.AddressList(h)
			for _, a := range l {
				r.rcpts = append(r.rcpts, strings.ToLower(a.Address))
			}
		}
		rows[key] = r
		want[key] = m
		order = append(order, key)
	}
	if len(order) == 0 {
		log.Fatalf("%s: no .eml files", dir)
	}
	return rows, order, want
}

func readResultsByEmail(path string, rows map[string]*row) {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil || len(recs) == 0 {
		log.Fatalf("%s: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, rec := range recs[1:] {
		if r := rows[strings.ToLower(rec[col["email"]])]; r != nil {
			r.status = rec[col["status"]]
			r.reply = strings.TrimSpace(rec[col["code"]] + " " + rec[col["reply"]])
		}
	}
}

// judgeRendered matches each copy to its rendered message by the first To
// address and compares the decoded headers and every MIME leaf.
func judgeRendered(v *verdict, rows map[string]*row, order []string, want map[string]*mail.Message, copies []copyOf) {
	count := map[string]map[string]int{}
	checked := map[string]bool{}
	for _, c := range copies {
		v.Copies++
		m, err := mail.ReadMessage(bytes.NewReader(c.raw))
		if err != nil {
			v.HeaderErrors++
			v.problem("%s: %v", c.ref, err)
			continue
		}
		to, _ := m.Header.AddressList("To")
		if len(to) == 0 || rows[strings.ToLower(to[0].Address)] == nil {
			v.WrongEnvelope++
			v.problem("%s: To %q matches no rendered message", c.ref, m.Header.Get("To"))
			continue
		}
		key := strings.ToLower(to[0].Address)
		if !contains(rows[key].rcpts, c.rcpt) {
			v.WrongEnvelope++
			v.problem("%s: delivered to %s, expected %v", c.ref, c.rcpt, rows[key].rcpts)
		}
		if count[key] == nil {
			count[key] = map[string]int{}
		}
		count[key][c.rcpt]++
		if checked[key] {
			continue
		}
		checked[key] = true
		w := want[key]
		for _, h := range []string{"Subject", "X-Campaign"} {
			g, _ := dec.DecodeHeader(m.Header.Get(h))
			e, _ := dec.DecodeHeader(w.Header.Get(h))
			if g != e {
				v.HeaderErrors++
				v.problem("%s: %s %q, rendered %q", c.ref, h, g, e)
			}
		}
		for _, h := range []string{"From", "To", "Cc", "Reply-To"} {
			g, _ := m.Header.AddressList(h)
			e, _ := w.Header.AddressList(h)
			if fmt.Sprint(g) != fmt.Sprint(e) {
				v.HeaderErrors++
				v.problem("%s: %s %v, rendered %v", c.ref, h, g, e)
			}
		}
		if msg := sameParts(m, w); msg != "" {
			v.BodyErrors++
			v.problem("%s: %s", c.ref, msg)
		}
	}
	for _, key := range order {
		r := rows[key]
		v.Rows++
		v.StatusCounts[r.status]++
		for _, rc := range r.rcpts {
			v.EnvelopeRcpts++
			n := count[key][rc]
			if n > 1 {
				v.Duplicates += n - 1
			}
			switch {
			case r.status == "sent" && n == 0:
				v.Lost++
				v.problem("%s: sent, no copy", rc)
			case r.status == "sent":
				v.DeliveredOnce++
			case r.status == "":
				v.Lost++
				v.problem("%s: no result", rc)
			default:
				v.problem("%s: status %s %s", rc, r.status, r.reply)
			}
		}
	}
	v.OK = v.Duplicates == 0 && v.Lost == 0 && v.WrongEnvelope == 0 && v.HeaderErrors == 0 && v.BodyErrors == 0 &&
		v.StatusCounts["sent"] == v.Rows
}

func sameParts(got, want *mail.Message) string {
	gb, _ := io.ReadAll(got.Body)
	wb, _ := io.ReadAll(want.Body)
	gp, err := leaves(got.Header, gb)
	if err != nil {
		return "received MIME: " + err.Error()
	}
	wp, err := leaves(want.Header, wb)
	if err != nil {
		return "rendered MIME: " + err.Error()
	}
	if len(gp) != len(wp) {
		return fmt.Sprintf("%d MIME parts, rendered %d", len(gp), len(wp))
	}
	for i := range gp {
		g, w := gp[i].body, wp[i].body
		if strings.HasPrefix(gp[i].ctype, "text/") {
			g, w = bytes.ReplaceAll(g, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(w, []byte("\r\n"), []byte("\n"))
		}
		if gp[i].ctype != wp[i].ctype || !bytes.Equal(g, w) {
			return fmt.Sprintf("part %d (%s, %d bytes) differs from the rendered one (%s, %d bytes)", i+1, gp[i].ctype, len(g), wp[i].ctype, len(w))
		}
	}
	return ""
}
