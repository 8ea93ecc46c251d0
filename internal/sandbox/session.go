package sandbox

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"io"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

var (
	errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	errStoreFailed  = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot store message, try again later"}
	errDropped      = errors.New("sandbox: connection dropped on purpose")
)

// session is one SMTP conversation, from EHLO to QUIT or a STARTTLS
// (go-smtp starts a new session after the upgrade).
type session struct {
	s      *Server
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, conn: c}, nil
}

// AuthMechanisms lists PLAIN first: it is the mechanism clients should use.
func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				ss.s.authFailures.Add(1)
				return smtp.ErrAuthFailed
			}
			return ss.login(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{check: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// login checks credentials in constant time; a mismatch is 535 5.7.8.
func (ss *session) login(username, password string) error {
	userOK := subtle.ConstantTimeCompare([]byte(username), []byte(ss.s.username))
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte(ss.s.password))
	if userOK&passOK != 1 {
		ss.s.authFailures.Add(1)
		return smtp.ErrAuthFailed
	}
	ss.authed = true
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed && !ss.s.anon {
		return errAuthRequired
	}
	if h := ss.s.faults.Mail; h != nil {
		if err := h(from); err != nil {
			return ss.fault(err)
		}
	}
	if ss.s.stall(StageMail) {
		ss.drop()
		return errDropped
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := ss.s.faults.Rcpt; h != nil {
		if err := h(to); err != nil {
			return ss.fault(err)
		}
	}
	if ss.s.stall(StageRcpt) {
		ss.drop()
		return errDropped
	}
	ss.to = append(ss.to, to)
	return nil
}

// Data reads the whole message, lets Faults.Data judge it, stores it and
// only then returns, so the 250 go-smtp writes next means "on disk".
func (ss *session) Data(r io.Reader) error {
	d := Delivery{From: ss.from, To: append([]string(nil), ss.to...)}
	if h := ss.s.faults.DropDataAfter; h != nil {
		if n := h(d); n > 0 {
			io.CopyN(io.Discard, r, int64(n))
			ss.drop()
			return errDropped
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge becomes 552; a lost connection is moot
	}
	d.Size = len(data)
	d.MessageID = messageID(data)
	d.Data = data

	var verdict error
	if h := ss.s.faults.Data; h != nil {
		verdict = h(d)
	}
	if verdict != nil && !errors.Is(verdict, ErrDropAfterStore) {
		return ss.fault(verdict)
	}
	if m := ss.s.maildir; m != nil {
		if err := m.deliver(d.From, d.To, data); err != nil {
			ss.s.errorLog.Printf("%v", err)
			return errStoreFailed
		}
	}
	ss.s.record(d)
	if verdict != nil {
		ss.drop()
		return errDropped
	}
	if ss.s.stall(StageData) {
		ss.drop()
		return errDropped
	}
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// fault turns a hook's error into what the client sees: nothing for
// ErrDrop, the reply and a hang-up for 421, otherwise the reply alone.
func (ss *session) fault(err error) error {
	if errors.Is(err, ErrDrop) || errors.Is(err, ErrDropAfterStore) {
		ss.drop()
		return errDropped
	}
	if reply := asReply(err, 0, smtp.EnhancedCodeNotSet); reply.Code == 421 {
		ss.s.writeReply(ss.conn.Conn(), reply)
		ss.drop()
		return errDropped
	}
	return err
}

// drop closes the TCP connection under any TLS layer, without a TLS
// close_notify, so the client sees the connection die as on a real loss.
// go-smtp then fails to write its reply and ends the connection.
func (ss *session) drop() {
	conn := ss.conn.Conn()
	if tc, ok := conn.(*tls.Conn); ok {
		conn = tc.NetConn()
	}
	conn.Close()
}

// record counts an accepted message and logs it within LogLimit.
func (s *Server) record(d Delivery) {
	s.received.Add(1)
	if s.logLimit < 0 {
		return
	}
	if !s.keepData {
		d.Data = nil
	}
	s.mu.Lock()
	if len(s.deliveries) < s.logLimit {
		s.deliveries = append(s.deliveries, d)
	}
	s.mu.Unlock()
}

// loginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login), which go-sasl only implements for clients.
type loginServer struct {
	step     int
	username string
	check    func(username, password string) error
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step++
		if response == nil { // no initial response: ask for the user name
			return []byte("Username:"), false, nil
		}
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
