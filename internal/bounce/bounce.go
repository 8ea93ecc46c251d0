// Package bounce reads one message from the sender's mailbox and says
// whether it reports a message that could not be delivered, to whom, and
// why.
//
// It understands delivery status notifications (RFC 3464: a
// multipart/report with a message/delivery-status part, whatever the
// server that wrote it) and the common reports that have none: Exim,
// qmail, old Gmail and Exchange 2003 texts, and Chinese reports (QQ,
// Exmail, 163, 21cn) in GBK or GB18030. It also recognises the mail a
// mailto: unsubscribe link produces (Subject "unsubscribe TOKEN").
//
// The original message is found by the Message-ID in the returned message
// or headers (message/rfc822, text/rfc822-headers, or a copy inline after
// a "copy of the message" line).
package bounce

import (
	"bytes"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// Kind is what a message tells the sender.
type Kind int

// The kinds, from least to most severe for a recipient.
const (
	NotBounce   Kind = iota // anything else: a reply, an auto-reply, a complaint report
	Unsubscribe             // a reply made by a mailto: unsubscribe link
	Delayed                 // delivery is still being tried (Action: delayed)
	Soft                    // failed for now (4.x.x): not an address to drop
	// Blocked: refused for good (5.x.x) for the sender's sake, not the
	// address's: a blocked IP, SPF, DKIM or DMARC, spam, a rate limit.
	// The address may be fine; dropping it would lose a reader.
	Blocked
	Hard // failed for good (5.x.x): the address does not take mail
)

var kindNames = [...]string{"not a bounce", "unsubscribe", "delayed", "soft", "blocked", "hard"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Recipient is one address a report is about.
type Recipient struct {
	Kind       Kind
	Address    string // the final recipient, lower-cased domain kept as written
	Status     string // the enhanced status code, "5.1.1"; "5.0.0" or "4.0.0" when only the class is known
	Diagnostic string // the server's reply or the report's reason, on one line
}

// Report is what one message says.
type Report struct {
	// Kind is the most severe kind among Recipients; Unsubscribe or
	// NotBounce for messages that report no delivery.
	Kind       Kind
	Recipients []Recipient
	// MessageID is the original message's Message-ID, with its angle
	// brackets; empty when the report does not return it.
	MessageID string
	// From is the address an unsubscribe reply came from, Token the token
	// after "unsubscribe" in its Subject.
	From, Token string
}

// Classify reads one raw message (RFC 5322). A message that cannot be
// parsed as mail at all is an error; one that parses but reports nothing
// is a Report of kind NotBounce.
func Classify(raw []byte) (Report, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Report{}, fmt.Errorf("read message: %w", err)
	}
	var parts []part
	if err := walk(msg.Header, msg.Body, 0, &parts); err != nil {
		return Report{}, err
	}
	var r Report
	for _, p := range parts {
		if p.returned && r.MessageID == "" {
			r.MessageID = returnedMessageID(p.body)
		}
	}
	subject := decodeHeader(msg.Header.Get("Subject"))
	from := fromAddress(msg.Header.Get("From"))
	switch {
	case hasType(parts, "message/delivery-status"):
		for _, p := range parts {
			if p.mediaType == "message/delivery-status" {
				r.Recipients = append(r.Recipients, readDSN(p.body)...)
			}
		}
		if _, copied := notification(parts); r.MessageID == "" {
			r.MessageID = returnedMessageID([]byte(copied)) // Exchange: "Original message headers:" in the text
		}
	case hasDSNText(parts):
		// A report whose MIME structure is broken still has its fields.
		text, _ := notification(parts)
		r.Recipients = readDSN([]byte(text))
		if loc := dsnField.FindStringIndex(text); loc != nil && r.MessageID == "" {
			if m := messageIDLine.FindStringSubmatch(text[loc[1]:]); m != nil {
				r.MessageID = cleanID(m[1])
			}
		}
	case hasType(parts, "message/feedback-report"):
		return Report{}, nil // a complaint (RFC 5965), not a delivery report
	case !fromDaemon(from) && unsubscribeToken(subject) != "":
		return Report{Kind: Unsubscribe, From: from, Token: unsubscribeToken(subject)}, nil
	case fromDaemon(from) || bounceSubject.MatchString(subject):
		text, copied := notification(parts)
		r.Recipients = readText(text)
		if r.MessageID == "" {
			r.MessageID = returnedMessageID([]byte(copied))
		}
		if len(r.Recipients) == 0 {
			r.Recipients = fallbackRecipient(text, parts, msg.Header.Get("To"))
		}
	default:
		return Report{}, nil
	}
	for _, rc := range r.Recipients {
		r.Kind = max(r.Kind, rc.Kind)
	}
	if r.Kind == NotBounce {
		r.MessageID = ""
	}
	return r, nil
}

// bounceSubject is the subject of a report whose sender is not obviously
// a mail system.
var bounceSubject = regexp.MustCompile(`(?i)undeliver|undelivered|delivery status notification|failure notice|` +
	`mail delivery failed|returned mail|delivery (has )?failed|could not send message|non remis|` +
	`系统退信|退信|投递失败|发送失败|未能送达|无法送达|邮件被退回`)

// daemons are the local parts mail systems send reports from.
var daemons = []string{"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "maildelivery", "mdaemon"}

func fromDaemon(addr string) bool {
	local, _, _ := strings.Cut(strings.ToLower(addr), "@")
	for _, d := range daemons {
		if local == d {
			return true
		}
	}
	return false
}

func fromAddress(h string) string {
	a, err := (&mail.AddressParser{WordDecoder: wordDecoder}).Parse(h)
	if err != nil {
		if m := addrRe.FindString(h); m != "" {
			return m
		}
		return ""
	}
	return a.Address
}

// unsubscribeRe is the Subject a mailto: unsubscribe link sets, perhaps
// behind a reply prefix some clients add anyway.
var unsubscribeRe = regexp.MustCompile(`(?i)^\s*(?:(?:re|aw|sv|回复|答复)\s*[:：]\s*)*unsubscribe\s+(\S+)\s*$`)

func unsubscribeToken(subject string) string {
	if m := unsubscribeRe.FindStringSubmatch(subject); m != nil {
		return m[1]
	}
	return ""
}

var dsnField = regexp.MustCompile(`(?im)^Final-Recipient:\s*\S`)

func hasDSNText(parts []part) bool {
	for _, p := range parts {
		if !p.returned && strings.HasPrefix(p.mediaType, "text/") && dsnField.Match(p.body) {
			return true
		}
	}
	return false
}

func hasType(parts []part, t string) bool {
	for _, p := range parts {
		if p.mediaType == t {
			return true
		}
	}
	return false
}
