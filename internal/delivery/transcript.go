package delivery

import (
	"fmt"
	"io"
	"strings"

	"github.com/wneessen/go-mail/log"
)

// transcript receives the smtp client's debug log for one connection. The
// client itself replaces everything it sends or receives during AUTH with
// "<SMTP auth data redacted>" (unless SetLogAuthData is called, which this
// package never does); debug adds a second guard against the password.
type transcript struct {
	p  *Pool
	id int64
}

func (t transcript) Debugf(l log.Log) { t.write(l) }
func (t transcript) Infof(l log.Log)  { t.write(l) }
func (t transcript) Warnf(l log.Log)  { t.write(l) }
func (t transcript) Errorf(l log.Log) { t.write(l) }

func (t transcript) write(l log.Log) {
	if l.Direction == log.DirClientToServer {
		t.p.debug(t.id, "C:", fmt.Sprintf(l.Format, l.Messages...))
		return
	}
	// Replies come as code and "\n"-joined lines; show them as on the wire.
	if code, ok := l.Messages[0].(int); ok && l.Format == "%d %s" && len(l.Messages) == 2 {
		if text, ok := l.Messages[1].(string); ok {
			t.p.debug(t.id, "S:", wireReply(code, text))
			return
		}
	}
	t.p.debug(t.id, "S:", fmt.Sprintf(l.Format, l.Messages...))
}

// wireReply renders a multi-line reply with "250-" continuation prefixes.
func wireReply(code int, text string) string {
	lines := strings.Split(text, "\n")
	for i := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = fmt.Sprintf("%d%s%s", code, sep, lines[i])
	}
	return strings.Join(lines, "\n")
}

// debug writes one or more transcript lines to Config.Debug.
func (p *Pool) debug(id int64, dir, text string) {
	if p.cfg.Debug == nil {
		return
	}
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimRight(text, "\r\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		for _, s := range p.secrets {
			if s != "" && strings.Contains(line, s) {
				line = "<redacted>"
				break
			}
		}
		fmt.Fprintf(&b, "smtp[%d] %s %s\n", id, dir, line)
	}
	p.debugMu.Lock()
	defer p.debugMu.Unlock()
	_, _ = io.WriteString(p.cfg.Debug, b.String())
}

// debugReply writes a server reply to the transcript; it costs nothing
// without one, which matters at four replies a message.
func (p *Pool) debugReply(id int64, code int, text string) {
	if p.cfg.Debug != nil {
		p.debug(id, "S:", wireReply(code, text))
	}
}

// note writes a transcript line that is not on the wire.
func (p *Pool) note(id int64, format string, args ...any) {
	if p.cfg.Debug != nil {
		p.debug(id, "*", fmt.Sprintf(format, args...))
	}
}
