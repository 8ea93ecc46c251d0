package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
)

// hostileRow is the verdict on one injection attempt.
type hostileRow struct {
	ID            string `json:"id"`
	Field         string `json:"field"`
	Attempt       string `json:"attempt"`
	Status        string `json:"status"`
	Reply         string `json:"reply,omitempty"`
	Copies        int    `json:"copies"`
	ExtraHeaders  int    `json:"extra_headers"`
	ExtraRcpts    int    `json:"extra_recipients"`
	SmuggledAddrs int    `json:"smuggled_header_addresses"`
	LongLines     int    `json:"long_lines"`
	OK            bool   `json:"ok"`
}

// traceHeaders are added by the receiving server, not by mailmerge.
var traceHeaders = map[string]bool{"Received": true, "Return-Path": true, "Delivered-To": true, "X-Original-To": true}

func headerCounts(h mail.Header) map[string]int {
	c := map[string]int{}
	for k, v := range h {
		if !traceHeaders[k] {
			c[k] += len(v)
		}
	}
	return c
}

func judgeHostile(v *verdict, dir string, rows map[string]*row, order []string, copies []copyOf) {
	b, err := os.ReadFile(filepath.Join(dir, "hostile.json"))
	if err != nil {
		log.Fatal(err)
	}
	var cases []hostileRow
	if err := json.Unmarshal(b, &cases); err != nil {
		log.Fatal(err)
	}
	byID := map[string]*hostileRow{}
	for i := range cases {
		c := &cases[i]
		c.Status = rows[c.ID].status
		c.Reply = rows[c.ID].reply
		byID[c.ID] = c
	}
	control := map[string]int(nil)
	parsed := make([]*mail.Message, len(copies))
	ids := make([]string, len(copies))
	for i, c := range copies {
		id, m, err := rowOf(c.raw)
		if err != nil {
			v.HeaderErrors++
			v.problem("%s: unparsable: %v", c.ref, err)
			continue
		}
		parsed[i], ids[i] = m, id
		if id == cases[0].ID && control == nil {
			control = headerCounts(m.Header)
		}
	}
	if control == nil {
		v.problem("the control row was not delivered")
	}
	for i, c := range copies {
		m, id := parsed[i], ids[i]
		if m == nil {
			continue
		}
		v.Copies++
		hc := byID[id]
		if hc == nil {
			v.WrongEnvelope++
			v.problem("%s: row %q not in the list", c.ref, id)
			continue
		}
		hc.Copies++
		var n int
		fmt.Sscan(id, &n)
		k := fmt.Sprint(n - 200000)
		legit := []string{"r" + k + "@example.com", "c" + k + "@example.org", "b" + k + "@example.net"}
		if !contains(legit, c.rcpt) {
			hc.ExtraRcpts++
			v.problem("row %s: delivered to %s", id, c.rcpt)
		}
		for name, n := range headerCounts(m.Header) {
			if n > control[name] {
				hc.ExtraHeaders += n - control[name]
				v.problem("row %s: header %s appears %d times (control: %d)", id, name, n, control[name])
			}
		}
		for _, name := range []string{"From", "To", "Cc", "Reply-To", "Bcc"} {
			list, _ := m.Header.AddressList(name)
			if name != "From" && name != "Reply-To" && len(list) > 1 {
				hc.SmuggledAddrs += len(list) - 1
				v.problem("row %s: %s holds %d addresses", id, name, len(list))
			}
			for _, a := range list {
				if strings.Contains(strings.ToLower(a.Address), "evil.test") {
					hc.SmuggledAddrs++
					v.problem("row %s: %s address %s", id, name, a.Address)
				}
			}
		}
		for _, line := range bytes.Split(c.raw, []byte("\n")) {
			if len(bytes.TrimRight(line, "\r")) > 998 {
				hc.LongLines++
			}
		}
	}
	v.OK = control != nil
	for i := range cases {
		c := &cases[i]
		c.OK = c.ExtraHeaders == 0 && c.ExtraRcpts == 0 && c.SmuggledAddrs == 0 && c.LongLines == 0 &&
			(c.Status == "sent" || c.Status == "skipped")
		if c.Status == "sent" && c.Copies != 3 {
			c.OK = false
			v.problem("row %s: sent but %d copies, want 3 (to, cc, bcc)", c.ID, c.Copies)
		}
		if !c.OK {
			v.OK = false
		}
		v.Rows++
		v.StatusCounts[c.Status]++
	}
	v.Hostile = cases
}
