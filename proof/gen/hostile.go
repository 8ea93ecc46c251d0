package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// hostileHeaders puts the name column into every templated header, so each
// payload is tried in From, To, Cc, Reply-To, Subject and an extra header.
const hostileHeaders = `from = "{{.name}} <nami@example.com>"
to = "{{.name}} <{{.email}}>"
cc = "{{.cc_name}} <{{.cc}}>"
bcc = "{{.bcc}}"
reply_to = "{{.name}} <nami@example.com>"
subject = "Hostile {{.id}}: {{.name}}"
`

// HostileCase is one injection attempt: the row it is on, the column it is
// in, and what it tries.
type HostileCase struct {
	ID      string `json:"id"`
	Field   string `json:"field"`
	Attempt string `json:"attempt"`
	Payload string `json:"payload"`
}

// hostileCases are the attempts; "name" payloads also go into cc_name and
// city, so they reach every templated header.
var hostileCases = []HostileCase{
	{Field: "none", Attempt: "control row (benign)", Payload: "Ann Example"},
	{Field: "name", Attempt: "CRLF + Bcc header", Payload: "Eve\r\nBcc: stolen1@evil.test"},
	{Field: "name", Attempt: "LF + extra header", Payload: "Eve\nX-Injected: yes"},
	{Field: "name", Attempt: "bare CR + To header", Payload: "Eve\rTo: stolen2@evil.test"},
	{Field: "name", Attempt: "CRLF CRLF: end headers, inject body", Payload: "Eve\r\n\r\nX-Injected: body"},
	{Field: "name", Attempt: "CRLF + folded continuation", Payload: "Eve\r\n Bcc: stolen3@evil.test"},
	{Field: "name", Attempt: "address list smuggled in name", Payload: "stolen4@evil.test, Bob"},
	{Field: "name", Attempt: "angle address smuggled in name", Payload: "Bob <stolen5@evil.test>"},
	{Field: "name", Attempt: "two full addresses in name", Payload: "\"Eve\" <stolen6@evil.test>, Mallory <stolen7@evil.test>"},
	{Field: "name", Attempt: "semicolon/group syntax in name", Payload: "Team: stolen8@evil.test;"},
	{Field: "name", Attempt: "encoded-word hiding CRLF Bcc", Payload: "=?UTF-8?B?RXZlDQpCY2M6IHN0b2xlbjlAZXZpbC50ZXN0?="},
	{Field: "name", Attempt: "U+2028/U+0085 line separators", Payload: "Eve\u2028Bcc: stolen10@evil.test\u0085X-Injected: yes"},
	{Field: "name", Attempt: "NUL byte + header", Payload: "Eve\x00\r\nX-Injected: yes"},
	{Field: "name", Attempt: "over-long line, 3000 non-ASCII runes", Payload: strings.Repeat("Ü", 3000)},
	{Field: "name", Attempt: "over-long word, 5000 ASCII bytes, no spaces", Payload: strings.Repeat("x", 5000)},
	{Field: "bcc", Attempt: "second address in bcc cell", Payload: "b15@example.net, stolen11@evil.test"},
	{Field: "email", Attempt: "CRLF + Bcc in the address cell", Payload: "r16@example.com\r\nBcc: stolen12@evil.test"},
	{Field: "email", Attempt: "address list in the address cell", Payload: "r17@example.com, stolen13@evil.test"},
	{Field: "cc", Attempt: "closing bracket + CRLF in cc cell", Payload: "c18@example.org>\r\nBcc: stolen14@evil.test"},
}

func hostileRows() [][]string {
	rows := [][]string{{"id", "name", "email", "cc_name", "cc", "bcc", "city"}}
	for k := range hostileCases {
		c := &hostileCases[k]
		c.ID = fmt.Sprintf("%d", 200000+k)
		name, ccName, city := "Ann Example", "Copy Example", "Paris"
		email := fmt.Sprintf("r%d@example.com", k)
		cc := fmt.Sprintf("c%d@example.org", k)
		bcc := fmt.Sprintf("b%d@example.net", k)
		switch c.Field {
		case "name":
			name, ccName, city = c.Payload, c.Payload, c.Payload
		case "bcc":
			bcc = c.Payload
		case "email":
			email = c.Payload
		case "cc":
			cc = c.Payload
		}
		rows = append(rows, []string{c.ID, name, email, ccName, cc, bcc, city})
	}
	b, err := json.MarshalIndent(hostileCases, "", "  ")
	must(err)
	must(os.WriteFile(*flagDir(), b, 0o644))
	return rows
}
