package bounce

import (
	"net/mail"
	"regexp"
	"strings"
)

// The reports without a delivery-status part (Exim, qmail, Gmail before
// 2015, Exchange 2003, Chinese providers) share one shape: a paragraph that
// says what happened, then each failed address on a line of its own
// (indented, in angle brackets, followed by ":" or by " on DATE"), then
// lines with the reason, until a blank line or the next address.

var (
	addressLine = regexp.MustCompile(`^\s*<?\s*([^\s<>@"]+@[^\s<>@":]+?)\s*>?:?(\s+on\s+.*)?\s*$`)
	addrRe      = regexp.MustCompile(`[^\s<>@"'(),;:：（）]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

	delayedText = regexp.MustCompile(`(?i)has been delayed|not yet been delivered|delivery attempts will continue|` +
		`will be retried|warning message only|could not send message for past|延迟投递|仍在尝试`)
	temporaryText = regexp.MustCompile(`(?i)temporary (error|failure)|temporarily`)
)

// readText finds the failed recipients of a plain-text report.
func readText(text string) []Recipient {
	delayed := delayedText.MatchString(text)
	temporary := temporaryText.MatchString(text)
	var out []Recipient
	var cur *Recipient
	var diag []string
	flush := func() {
		if cur == nil {
			return
		}
		cur.Diagnostic = oneLine(strings.Join(diag, " "))
		cur.Status = statusOf(cur.Diagnostic, delayed)
		if cur.Status == "" {
			cur.Status = classStatus(delayed || temporary)
		}
		cur.Kind = refine(kindOf(cur.Status, delayed), cur.Status, cur.Diagnostic)
		out = append(out, *cur)
		cur, diag = nil, nil
	}
	for _, line := range strings.Split(text, "\n") {
		if m := addressLine.FindStringSubmatch(line); m != nil && strings.Contains(m[1], ".") {
			flush()
			cur = &Recipient{Address: m[1]}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if len(diag) > 0 {
				flush()
			}
			continue
		}
		diag = append(diag, line)
	}
	flush()
	if len(out) == 1 && out[0].Diagnostic != "" && !enhanced.MatchString(out[0].Diagnostic) && !basic.MatchString(out[0].Diagnostic) {
		// One recipient, its reply further down (Gmail): take the report's code.
		if reason := reasonLine(text); reason != "" {
			if st := statusOf(reason, delayed); st != "" {
				out[0].Status, out[0].Diagnostic = st, reason
				out[0].Kind = refine(kindOf(st, delayed), st, reason)
			}
		}
	}
	return out
}

// classStatus is the status of a report that gives no code: only whether
// the failure is for good.
func classStatus(temporary bool) string {
	if temporary {
		return "4.0.0"
	}
	return "5.0.0"
}

// recipientLabel precedes the failed address in reports that put it
// inside a sentence or a table (21cn, 163, QQ).
var recipientLabel = regexp.MustCompile(`(?i)(收件人|无法发送到|unable to send|发送到|recipient|地址)[^@\n]{0,40}?` +
	`([^\s<>@"'(),;:：（）]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})`)

// fallbackRecipient finds the one failed address of a report whose
// addresses are not on lines of their own: after a label, else the To of
// the returned message, else any address other than the report's own To.
func fallbackRecipient(text string, parts []part, to string) []Recipient {
	addr := ""
	if m := recipientLabel.FindStringSubmatch(text); m != nil {
		addr = m[2]
	}
	for _, p := range parts {
		if addr == "" && p.returned {
			if msg, err := mail.ReadMessage(strings.NewReader(string(p.body))); err == nil {
				addr = fromAddress(msg.Header.Get("To"))
			}
		}
	}
	if addr == "" {
		own := strings.ToLower(fromAddress(to))
		for _, a := range addrRe.FindAllString(text, -1) {
			if strings.ToLower(a) != own {
				addr = a
				break
			}
		}
	}
	if addr == "" {
		return nil
	}
	delayed := delayedText.MatchString(text)
	diag := reasonLine(text)
	status := statusOf(diag, delayed)
	if status == "" {
		status = classStatus(delayed || temporaryText.MatchString(text))
	}
	return []Recipient{{Kind: refine(kindOf(status, delayed), status, diag), Address: addr, Status: status, Diagnostic: diag}}
}

// reasonLine is the line of a report that carries a reply code, else the
// one after a reason label.
func reasonLine(text string) string {
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if enhanced.MatchString(l) || basic.MatchString(l) {
			return oneLine(l)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "原因") || strings.Contains(strings.ToLower(l), "reason") {
			return oneLine(l)
		}
	}
	return ""
}
