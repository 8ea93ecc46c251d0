package bounce

import (
	"regexp"
	"strings"
)

// readDSN reads the per-recipient fields of a message/delivery-status body
// (RFC 3464 section 2.3): one group of fields per recipient, after the
// group about the whole message.
func readDSN(body []byte) []Recipient {
	var out []Recipient
	for _, g := range fieldGroups(string(body)) {
		addr := typedValue(g["final-recipient"])
		if addr == "" {
			addr = typedValue(g["original-recipient"])
		}
		if addr == "" {
			continue // the per-message group
		}
		action := strings.ToLower(strings.TrimSpace(g["action"]))
		if action == "delivered" || action == "relayed" || action == "expanded" {
			continue
		}
		diag := oneLine(typedValue(g["diagnostic-code"]))
		rc := Recipient{Address: cleanAddress(addr), Diagnostic: diag}
		if m := enhanced.FindStringSubmatch(g["status"]); m != nil {
			rc.Status = m[1]
		}
		if rc.Status == "" {
			rc.Status = statusOf(diag, action == "delayed")
		}
		if rc.Status == "" {
			rc.Status = "5.0.0" // failed, and says no more: RFC 3464 calls "failed" permanent
		}
		rc.Kind = refine(kindOf(rc.Status, action == "delayed"), rc.Status, rc.Diagnostic)
		out = append(out, rc)
	}
	return out
}

// fieldGroups splits a delivery-status body into groups of fields, names
// lower-cased, folded lines joined.
func fieldGroups(s string) []map[string]string {
	var groups []map[string]string
	g := map[string]string{}
	last := ""
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			if len(g) > 0 {
				groups = append(groups, g)
				g = map[string]string{}
			}
			last = ""
		case (line[0] == ' ' || line[0] == '\t') && last != "":
			g[last] += " " + strings.TrimSpace(line)
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(name))
			if _, seen := g[last]; !seen {
				g[last] = strings.TrimSpace(value)
			}
		}
	}
	if len(g) > 0 {
		groups = append(groups, g)
	}
	return groups
}

// typedValue drops the type of "rfc822; a@b" or "smtp; 550 ...".
func typedValue(s string) string {
	if t, v, ok := strings.Cut(s, ";"); ok && !strings.ContainsAny(t, " @<") {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(s)
}

func cleanAddress(s string) string {
	return strings.Trim(strings.TrimSpace(s), "<>\"' ")
}

var (
	// enhanced is an RFC 3463 code standing alone, not part of an IP address.
	enhanced = regexp.MustCompile(`(?:^|[\s(#\[;:，：（])([245]\.\d{1,3}\.\d{1,3})(?:$|[\s)\],;:.])`)
	// basic is an SMTP reply code at the start of a reply.
	basic = regexp.MustCompile(`(?:^|[\s:;(，：（])([45])\d\d(?:[\s-]|$)`)
)

// statusOf finds the status a diagnostic carries: its enhanced code, else
// the class of its reply code; "" when it has neither.
func statusOf(diag string, delayed bool) string {
	if m := enhanced.FindStringSubmatch(diag); m != nil {
		return m[1]
	}
	if m := basic.FindStringSubmatch(diag); m != nil {
		return m[1] + ".0.0"
	}
	if delayed {
		return "4.0.0"
	}
	return ""
}

// kindOf is the kind of a recipient's failure by its status.
func kindOf(status string, delayed bool) Kind {
	switch {
	case delayed:
		return Delayed
	case strings.HasPrefix(status, "5."):
		return Hard
	case strings.HasPrefix(status, "4."):
		return Soft
	}
	return NotBounce // 2.x.x: delivered after all
}

// senderSide is a refusal aimed at the sender, not the address.
var senderSide = regexp.MustCompile(`(?i)block|blacklist|listed|spam|frequency limit|rate limit|too many|reputation|` +
	`dmarc|\bspf\b|dkim|not allowed to send|use the smtp server of your isp|authenticat|policy|` +
	`被拒|拦截|垃圾邮件|频率`)

// addressSide is a refusal about the address itself.
var addressSide = regexp.MustCompile(`(?i)user unknown|unknown user|no such user|does not exist|not found|` +
	`mailbox unavailable|invalid (mailbox|recipient|address)|recipient rejected|address rejected|disabled|` +
	`不存在|无效`)

// refine tells a refusal of the sender (blocked) from one of the address
// (hard): 5.7.x is about security and policy, and so are the texts that
// name a block list, SPF, DMARC or spam, whatever code came with them. A
// text that also says the address is unknown stays hard.
func refine(k Kind, status, diag string) Kind {
	if k != Hard || addressSide.MatchString(diag) {
		return k
	}
	if strings.HasPrefix(status, "5.7.") || senderSide.MatchString(diag) {
		return Blocked
	}
	return k
}

// oneLine folds a diagnostic to one line of single spaces.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
