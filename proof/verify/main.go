// Command verify is the proof's judge of one send: it reads the campaign's
// recipients list and results file and every copy a server stored (a flat
// Maildir with Delivered-To lines, a tree of Maildirs per domain/user, or
// Mailpit's HTTP API), and counts per envelope recipient how many copies
// arrived against what the results file says. It checks that headers decode
// to the source data, that attachments and inline images are byte-identical
// to the files, and, with -hostile, that no injection attempt added a header
// or a recipient. It prints the counts as JSON and appends them, with the
// -set labels, as one record to -record for proof/report.
package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// copyOf is one stored copy of a message for one envelope recipient.
type copyOf struct {
	rcpt string
	raw  []byte
	ref  string // file or Mailpit ID, for problem reports
}

// row is one recipient of the list with its outcome from the results file.
type row struct {
	fields map[string]string
	rcpts  []string // envelope recipients expected (to, cc, bcc)
	status string
	reply  string
}

type verdict struct {
	Rows               int            `json:"rows"`
	EnvelopeRcpts      int            `json:"envelope_rcpts"`
	Copies             int            `json:"copies"`
	StatusCounts       map[string]int `json:"status"`
	NoResult           int            `json:"no_result"`
	DeliveredOnce      int            `json:"delivered_once"`
	FailedWithReply    int            `json:"failed_with_reply"`
	FailedWithoutReply int            `json:"failed_without_reply"`
	Unknown            int            `json:"unknown"`
	UnknownDelivered   int            `json:"unknown_delivered"`
	Duplicates         int            `json:"duplicates"`
	Lost               int            `json:"lost"`
	FailedButDelivered int            `json:"failed_but_delivered"`
	PartialRefused     int            `json:"sent_but_rcpt_refused_5xx"`
	PartialTempLost    int            `json:"sent_but_rcpt_refused_4xx_not_retried"`
	WrongEnvelope      int            `json:"wrong_envelope"`
	HeaderErrors       int            `json:"header_errors"`
	BodyErrors         int            `json:"attachment_errors"`
	TopReplies         []string       `json:"top_replies,omitempty"`
	Problems           []string       `json:"problems,omitempty"`
	HTMLCheck          map[string]any `json:"html_check,omitempty"`
	Hostile            []hostileRow   `json:"hostile,omitempty"`
	OK                 bool           `json:"ok"`
}

func (v *verdict) problem(format string, a ...any) {
	if len(v.Problems) < 20 {
		v.Problems = append(v.Problems, fmt.Sprintf(format, a...))
	}
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("verify: ")
	dir := flag.String("campaign", "", "generated campaign folder (recipients.csv, files/, logo.png)")
	results := flag.String("results", "", "results file (default: campaign/results.csv)")
	maildir := flag.String("maildir", "", "flat Maildir, one copy per recipient with Delivered-To")
	tree := flag.String("maildir-tree", "", "folder of DOMAIN/USER Maildirs")
	mailpit := flag.String("mailpit", "", "Mailpit base URL")
	content := flag.Bool("content", true, "check headers, attachments and inline images")
	hostile := flag.Bool("hostile", false, "judge the hostile-input campaign (hostile.json)")
	record := flag.String("record", "", "append the verdict with -set labels to this JSON-lines file")
	rendered := flag.String("rendered", "", "folder of .eml files from mailmerge render: judge a sample campaign against them")
	extra := flag.String("extra-json", "", "JSON object whose keys are copied into the record (e.g. faultsmtp's stats)")
	var sets multiFlag
	flag.Var(&sets, "set", "KEY=VALUE label copied into the record (repeatable)")
	flag.Parse()
	if *dir == "" {
		log.Fatal("need -campaign")
	}
	if *results == "" {
		*results = filepath.Join(*dir, "results.csv")
	}
	var rows map[string]*row
	var order []string
	var want map[string]*mail.Message
	if *rendered != "" {
		rows, order, want = readRendered(*rendered)
		readResultsByEmail(*results, rows)
	} else {
		rows, order = readRows(*dir)
		readResults(*results, rows, order)
	}
	var copies []copyOf
	var err error
	v := &verdict{StatusCounts: map[string]int{}}
	switch {
	case *maildir != "":
		copies, err = readFlat(*maildir)
	case *tree != "":
		copies, err = readTree(*tree)
	case *mailpit != "":
		// Mailpit writes the envelope-only recipients into the raw message
		// it stores as a Bcc header; the other servers prove Bcc is not sent.
		mailpitSource = true
		copies, v.HTMLCheck, err = readMailpit(*mailpit)
	default:
		log.Fatal("need -maildir, -maildir-tree or -mailpit")
	}
	if err != nil {
		log.Fatal(err)
	}
	if *rendered != "" {
		judgeRendered(v, rows, order, want, copies)
	} else if *hostile {
		judgeHostile(v, *dir, rows, order, copies)
	} else {
		judge(v, *dir, rows, order, copies, *content)
	}
	out, _ := json.MarshalIndent(v, "", "  ")
	fmt.Println(string(out))
	if *record != "" {
		labels := map[string]any{}
		for _, s := range sets {
			k, val, _ := strings.Cut(s, "=")
			labels[k] = val
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		delete(m, "hostile")
		delete(m, "html_check")
		if *extra != "" {
			if b, err := os.ReadFile(*extra); err == nil {
				var x map[string]any
				if json.Unmarshal(b, &x) == nil {
					for k, val := range x {
						m[k] = val
					}
				}
			}
		}
		for k, val := range labels {
			m[k] = val
		}
		m["pass"] = v.OK
		m["sent"] = v.StatusCounts["sent"]
		m["failed"] = v.StatusCounts["failed"]
		m["unknown_split"] = fmt.Sprintf("%d (%d / %d)", v.Unknown, v.UnknownDelivered, v.Unknown-v.UnknownDelivered)
		recs := []map[string]any{m}
		if *hostile {
			recs = nil
			for _, h := range v.Hostile {
				b, _ := json.Marshal(h)
				var hm map[string]any
				json.Unmarshal(b, &hm)
				hm["section"] = "hostile"
				hm["pass"] = h.OK
				if h.Status == "skipped" {
					// The reply names the scratch paths; keep what the user reads.
					why := h.Reply
					if i := strings.LastIndex(why, ".toml:"); i >= 0 {
						why = why[i+len(".toml:"):]
					}
					hm["status"] = "skipped, refused by check: " + strings.TrimLeft(why, "0123456789: ")
				}
				delete(hm, "reply")
				recs = append(recs, hm)
			}
			if !v.OK && len(v.Problems) > 0 {
				recs = append(recs, map[string]any{"section": "hostile", "attempt": "problems: " + strings.Join(v.Problems, "; "), "pass": false})
			}
		}
		if v.HTMLCheck != nil && labels["section"] == "interop" {
			recs = append(recs, map[string]any{"section": "htmlcheck", "campaign": fmt.Sprint(labels["server"]) + " / " + fmt.Sprint(labels["campaign"]),
				"supported": v.HTMLCheck["Supported"], "partial": v.HTMLCheck["Partial"], "unsupported": v.HTMLCheck["Unsupported"],
				"tests": v.HTMLCheck["Tests"], "pass": true})
		}
		f, err := os.OpenFile(*record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			line, _ := json.Marshal(r)
			f.Write(append(line, '\n'))
		}
		f.Close()
	}
	if !v.OK {
		os.Exit(1)
	}
}

// mailpitSource is set when copies come from Mailpit (see main).
var mailpitSource bool

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func readRows(dir string) (map[string]*row, []string) {
	f, err := os.Open(filepath.Join(dir, "recipients.csv"))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	rows := map[string]*row{}
	var order []string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rw := &row{fields: m}
		for _, k := range []string{"email", "cc", "bcc"} {
			if m[k] != "" {
				rw.rcpts = append(rw.rcpts, strings.ToLower(m[k]))
			}
		}
		rows[m["id"]] = rw
		order = append(order, m["id"])
	}
	return rows, order
}

// readResults takes the last outcome recorded for each row; the results
// file numbers data rows from 1 in list order.
func readResults(path string, rows map[string]*row, order []string) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return
		}
		log.Fatal(err)
	}
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		return
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	for _, rec := range recs[1:] {
		if len(rec) < len(recs[0]) {
			continue
		}
		var n int
		if _, err := fmt.Sscan(rec[col["row"]], &n); err != nil || n < 1 || n > len(order) {
			continue
		}
		r := rows[order[n-1]]
		r.status = rec[col["status"]]
		r.reply = strings.TrimSpace(rec[col["code"]] + " " + rec[col["reply"]])
	}
}

func readFlat(dir string) ([]copyOf, error) {
	var out []copyOf
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(dir, sub, "*"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			m, err := mail.ReadMessage(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			out = append(out, copyOf{rcpt: strings.ToLower(strings.Trim(m.Header.Get("Delivered-To"), "<> ")), raw: b, ref: p})
		}
	}
	return out, nil
}

func readTree(dir string) ([]copyOf, error) {
	var out []copyOf
	domains, _ := os.ReadDir(dir)
	for _, d := range domains {
		users, _ := os.ReadDir(filepath.Join(dir, d.Name()))
		for _, u := range users {
			for _, sub := range []string{"new", "cur"} {
				files, _ := filepath.Glob(filepath.Join(dir, d.Name(), u.Name(), sub, "*"))
				for _, p := range files {
					b, err := os.ReadFile(p)
					if err != nil {
						return nil, err
					}
					// Postfix's virtual(8) and the aiosmtpd helper both prepend
					// Delivered-To with the envelope recipient of the copy.
					rcpt := u.Name() + "@" + d.Name()
					if m, err := mail.ReadMessage(bytes.NewReader(b)); err == nil && m.Header.Get("Delivered-To") != "" {
						rcpt = strings.Trim(m.Header.Get("Delivered-To"), "<> ")
					}
					out = append(out, copyOf{rcpt: strings.ToLower(rcpt), raw: b, ref: p})
				}
			}
		}
	}
	return out, nil
}

type mpAddr struct{ Name, Address string }

func readMailpit(base string) ([]copyOf, map[string]any, error) {
	var out []copyOf
	var htmlCheck map[string]any
	for start := 0; ; start += 200 {
		var page struct {
			Total    int
			Messages []struct {
				ID          string
				To, Cc, Bcc []mpAddr
			}
		}
		if err := getJSON(fmt.Sprintf("%s/api/v1/messages?start=%d&limit=200", base, start), &page); err != nil {
			return nil, nil, err
		}
		for _, m := range page.Messages {
			raw, err := get(base + "/api/v1/message/" + m.ID + "/raw")
			if err != nil {
				return nil, nil, err
			}
			seen := map[string]bool{}
			for _, l := range [][]mpAddr{m.To, m.Cc, m.Bcc} {
				for _, a := range l {
					addr := strings.ToLower(a.Address)
					if !seen[addr] {
						seen[addr] = true
						out = append(out, copyOf{rcpt: addr, raw: raw, ref: "mailpit:" + m.ID})
					}
				}
			}
			if htmlCheck == nil {
				var hc struct{ Total map[string]any }
				if err := getJSON(base+"/api/v1/message/"+m.ID+"/html-check", &hc); err == nil {
					htmlCheck = hc.Total
				}
			}
		}
		if len(page.Messages) == 0 || start+len(page.Messages) >= page.Total {
			break
		}
	}
	return out, htmlCheck, nil
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, err
}

func getJSON(url string, v any) error {
	b, err := get(url)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// rowOf finds which list row a copy belongs to by its X-Proof-Row header.
func rowOf(raw []byte) (string, *mail.Message, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", nil, err
	}
	return strings.TrimSpace(m.Header.Get("X-Proof-Row")), m, nil
}

func judge(v *verdict, dir string, rows map[string]*row, order []string, copies []copyOf, content bool) {
	count := map[string]map[string]int{}
	logo, _ := os.ReadFile(filepath.Join(dir, "logo.png"))
	checked := map[string]bool{}
	for _, c := range copies {
		v.Copies++
		id, m, err := rowOf(c.raw)
		if err != nil {
			v.HeaderErrors++
			v.problem("%s: unparsable: %v", c.ref, err)
			continue
		}
		r := rows[id]
		if r == nil {
			v.WrongEnvelope++
			v.problem("%s: X-Proof-Row %q is not in the list", c.ref, id)
			continue
		}
		if !contains(r.rcpts, c.rcpt) {
			v.WrongEnvelope++
			v.problem("%s: row %s delivered to %s, expected one of %v", c.ref, id, c.rcpt, r.rcpts)
		}
		if count[id] == nil {
			count[id] = map[string]int{}
		}
		count[id][c.rcpt]++
		if content && !checked[id] {
			checked[id] = true
			if msg := checkHeaders(m, r); msg != "" {
				v.HeaderErrors++
				v.problem("%s: row %s: %s", c.ref, id, msg)
			}
			if msg := checkBody(m, dir, id, logo); msg != "" {
				v.BodyErrors++
				v.problem("%s: row %s: %s", c.ref, id, msg)
			}
		}
	}
	replies := map[string]int{}
	for _, id := range order {
		r := rows[id]
		v.Rows++
		st := r.status
		if st == "" {
			v.NoResult++
			st = "(none)"
		}
		v.StatusCounts[st]++
		for _, rc := range r.rcpts {
			v.EnvelopeRcpts++
			n := count[id][rc]
			if n > 1 {
				v.Duplicates += n - 1
				v.problem("row %s: %s got %d copies (status %s)", id, rc, n, st)
			}
			switch r.status {
			case "sent":
				switch {
				case n == 0 && strings.Contains(r.reply, rc+" refused: 5"):
					// Refused for good at RCPT while the others got it: the
					// reply says so, the row is reported as sent.
					v.FailedWithReply++
					v.PartialRefused++
				case n == 0 && strings.Contains(r.reply, rc+" refused: 4") && strings.Contains(r.reply, "gave up after"):
					// Deferred at RCPT, retried alone until the attempts ran out.
					v.FailedWithReply++
				case n == 0 && strings.Contains(r.reply, rc+" refused: 4"):
					v.Lost++
					v.PartialTempLost++
					v.problem("row %s: %s: temporary refusal at RCPT not retried, row recorded sent: %s", id, rc, r.reply)
				case n == 0:
					v.Lost++
					v.problem("row %s: %s: results say sent (%s), server has no copy", id, rc, r.reply)
				default:
					v.DeliveredOnce++
				}
			case "failed":
				if n > 0 {
					v.FailedButDelivered++
					v.problem("row %s: %s: results say failed (%s), server has %d copies", id, rc, r.reply, n)
				} else if r.reply != "" {
					v.FailedWithReply++
				} else {
					v.FailedWithoutReply++
				}
			case "unknown":
				v.Unknown++
				if n > 0 {
					v.UnknownDelivered++
				}
			case "skipped":
				if n > 0 {
					v.problem("row %s: %s: skipped but delivered", id, rc)
					v.FailedButDelivered++
				}
			default:
				if n == 0 {
					v.Lost++
					v.problem("row %s: %s: no result and no copy", id, rc)
				} else {
					v.problem("row %s: %s: delivered but no result recorded", id, rc)
					v.DeliveredOnce++
				}
			}
		}
		if r.status == "failed" {
			replies[r.reply]++
		}
	}
	for k, n := range replies {
		v.TopReplies = append(v.TopReplies, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Slice(v.TopReplies, func(i, j int) bool { return v.TopReplies[i] > v.TopReplies[j] })
	if len(v.TopReplies) > 8 {
		v.TopReplies = v.TopReplies[:8]
	}
	v.OK = v.Duplicates == 0 && v.Lost == 0 && v.WrongEnvelope == 0 && v.HeaderErrors == 0 && v.BodyErrors == 0 && v.FailedButDelivered == 0 && v.FailedWithoutReply == 0
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var dec = &mime.WordDecoder{}

func checkHeaders(m *mail.Message, r *row) string {
	f := r.fields
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if want := "Proof " + f["id"] + " · 你好 " + f["name"]; err != nil || subj != want {
		return fmt.Sprintf("Subject %q, want %q (%v)", subj, want, err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil || from.Name != "来自娜美的问候" || from.Address != "nami@example.com" {
		return fmt.Sprintf("From %q (%v)", m.Header.Get("From"), err)
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != f["name"] || !strings.EqualFold(to[0].Address, f["email"]) {
		return fmt.Sprintf("To %q decodes to %v (%v), want %q <%s>", m.Header.Get("To"), to, err, f["name"], f["email"])
	}
	if f["cc"] != "" {
		cc, err := m.Header.AddressList("Cc")
		if err != nil || len(cc) != 1 || cc[0].Name != f["cc_name"] || !strings.EqualFold(cc[0].Address, f["cc"]) {
			return fmt.Sprintf("Cc %q decodes to %v (%v)", m.Header.Get("Cc"), cc, err)
		}
	} else if m.Header.Get("Cc") != "" {
		return "unexpected Cc " + m.Header.Get("Cc")
	}
	if len(m.Header["Bcc"]) > 0 && !mailpitSource {
		return "Bcc header on the wire: " + m.Header.Get("Bcc")
	}
	city, err := dec.DecodeHeader(m.Header.Get("X-Proof-City"))
	if err != nil || city != f["city"] {
		return fmt.Sprintf("X-Proof-City %q, want %q", city, f["city"])
	}
	return ""
}

// part is one leaf of the MIME tree, its body decoded.
type part struct {
	header mail.Header
	ctype  string
	params map[string]string
	body   []byte
}

func checkBody(m *mail.Message, dir, id string, logo []byte) string {
	body, _ := io.ReadAll(m.Body)
	parts, err := leaves(textproto(m.Header), body)
	if err != nil {
		return "MIME: " + err.Error()
	}
	want, _ := os.ReadFile(filepath.Join(dir, "files", id+".bin"))
	var attOK, logoOK bool
	var html string
	var cid string
	for _, p := range parts {
		_, dp, _ := mime.ParseMediaType(p.header.Get("Content-Disposition"))
		name := dp["filename"]
		if name == "" {
			name = p.params["name"]
		}
		switch {
		case name == id+".bin":
			attOK = bytes.Equal(p.body, want)
			if !attOK {
				return fmt.Sprintf("attachment %s: %d bytes differ from the file (%d bytes)", name, len(p.body), len(want))
			}
		case strings.HasPrefix(p.ctype, "image/"):
			logoOK = bytes.Equal(p.body, logo)
			cid = strings.Trim(p.header.Get("Content-Id"), "<>")
			if !logoOK {
				return "inline image differs from logo.png"
			}
		case p.ctype == "text/html":
			html = string(p.body)
		}
	}
	switch {
	case !attOK:
		return "attachment " + id + ".bin missing"
	case !logoOK:
		return "inline image missing"
	case cid == "" || !strings.Contains(html, "cid:"+cid):
		return fmt.Sprintf("HTML does not reference the inline image cid:%s", cid)
	}
	return ""
}

func textproto(h mail.Header) mail.Header { return h }

func leaves(h mail.Header, body []byte) ([]part, error) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(mt, "multipart/") {
		return multipartLeaves(body, params["boundary"])
	}
	dec, err := decodeCTE(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return nil, err
	}
	return []part{{header: h, ctype: mt, params: params, body: dec}}, nil
}
