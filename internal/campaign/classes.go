package campaign

import (
	"strconv"
	"strings"

	"github.com/mailmerge/mailmerge/internal/delivery"
	"github.com/mailmerge/mailmerge/internal/journal"
)

// FailureClass names the kind of reply that left a row failed or unknown,
// read back from the code and reply the results file holds, for the
// summary that groups them: "5.1.1 user unknown", by the enhanced status
// code (RFC 3463) when the reply has one, else "550 mailbox unavailable"
// by the reply code, or "no reply from the server" when there was none.
// It is "" for a row that is neither failed nor unknown.
func FailureClass(e journal.Entry) string {
	switch {
	case e.Status == journal.Unknown:
		return "no reply after the message"
	case e.Status != journal.Failed:
		return ""
	case strings.HasPrefix(e.Reply, delivery.ErrNoSMTPUTF8.Error()):
		return "needs SMTPUTF8"
	case e.Code == 0:
		return "no reply from the server"
	}
	reply := e.Reply
	if _, after, ok := strings.Cut(reply, " attempts: "); ok && strings.HasPrefix(reply, "gave up after ") {
		reply = after
	}
	first, _, _ := strings.Cut(reply, " ")
	if isEnhancedCode(first) && first[0] == byte('0'+e.Code/100) && !strings.HasSuffix(first, ".0.0") {
		if name := enhancedName(first); name != "" {
			return first + " " + name
		}
	}
	return strconv.Itoa(e.Code) + " " + codeName(e.Code)
}

// enhancedNames are the short names of the enhanced status codes servers
// send most (RFC 3463, RFC 7505, RFC 7372), by subject.detail.
var enhancedNames = map[string]string{
	"1.0": "address refused", "1.1": "user unknown", "1.2": "domain unknown",
	"1.3": "bad address syntax", "1.6": "mailbox moved", "1.10": "domain accepts no mail",
	"2.0": "mailbox unavailable", "2.1": "mailbox disabled", "2.2": "mailbox full",
	"2.3": "message too large for the mailbox",
	"3.0": "mail system problem", "3.1": "mail system full", "3.2": "not accepting messages",
	"3.4": "message too large",
	"4.1": "no answer from host", "4.2": "connection dropped", "4.4": "unable to route",
	"4.5": "mail system congestion", "4.7": "delivery time expired",
	"5.3": "too many recipients",
	"7.0": "refused by policy", "7.1": "delivery not authorized", "7.8": "authentication failed",
	"7.23": "SPF check failed", "7.25": "reverse DNS failed", "7.26": "sender authentication failed",
	"7.27": "sender domain accepts no mail",
}

// subjectNames name the codes enhancedNames does not, by their subject.
var subjectNames = map[string]string{
	"0": "other", "1": "address problem", "2": "mailbox problem", "3": "mail system problem",
	"4": "network or routing problem", "5": "protocol problem", "6": "content refused", "7": "refused by policy",
}

func enhancedName(code string) string {
	_, sd, _ := strings.Cut(code, ".")
	if name, ok := enhancedNames[sd]; ok {
		return name
	}
	subject, _, _ := strings.Cut(sd, ".")
	return subjectNames[subject]
}

// codeName is the meaning RFC 5321 gives a reply code.
func codeName(code int) string {
	switch code {
	case 421:
		return "service not available"
	case 450, 550:
		return "mailbox unavailable"
	case 451:
		return "local error at the server"
	case 452:
		return "insufficient storage"
	case 454, 530, 535:
		return "authentication failed"
	case 521, 556:
		return "domain accepts no mail"
	case 551:
		return "user not local"
	case 552:
		return "storage exceeded"
	case 553:
		return "mailbox name not allowed"
	case 554:
		return "transaction failed"
	}
	if code/100 == 4 {
		return "temporary failure"
	}
	return "refused"
}
