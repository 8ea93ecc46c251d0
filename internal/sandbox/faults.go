package sandbox

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// Sentinel errors a fault hook returns to lose the connection instead of
// replying.
var (
	// ErrDrop closes the connection without a reply. Returned by
	// Faults.Data it also discards the message: the client sent it in full
	// and it was not delivered.
	ErrDrop = errors.New("sandbox: drop connection")

	// ErrDropAfterStore, returned by Faults.Data, stores the message and
	// then closes the connection without a reply: the message was delivered
	// but the client cannot know it. Elsewhere it acts as ErrDrop.
	ErrDropAfterStore = errors.New("sandbox: drop connection after storing")
)

// Stage names the point of an SMTP exchange where Faults.Stall may delay
// the server's reply.
type Stage string

// The stages Faults.Stall is asked about.
const (
	StageGreeting Stage = "greeting" // before the 220 greeting (after the TLS handshake)
	StageMail     Stage = "mail"     // before the reply to MAIL FROM
	StageRcpt     Stage = "rcpt"     // before the reply to RCPT TO
	StageData     Stage = "data"     // after the message is stored, before the reply to its end
)

// Faults makes the server misbehave on purpose so tests can watch the client
// cope. Every field is optional; nil means well-behaved. The hooks are called
// from the goroutines of concurrent connections, so they must be safe for
// concurrent use (Every and First are).
//
// A hook refuses with an error: a *smtp.SMTPError is sent as the reply
// (Refuse builds one), and if its code is 421 the server closes the
// connection right after the reply, as RFC 5321 says a 421 does. ErrDrop
// closes the connection with no reply at all. Any other error becomes a
// generic reply chosen by go-smtp (451 for MAIL and RCPT, 554 for DATA).
type Faults struct {
	// Connect is called for each new connection, numbered from 1, before the
	// greeting. An error is sent in place of the greeting (421 4.0.0 with
	// the error's text unless it is a *smtp.SMTPError) and the connection is
	// closed; ErrDrop closes it with no greeting at all.
	Connect func(conn int) error

	// Mail is called with the reverse-path of each MAIL FROM.
	Mail func(from string) error

	// Rcpt is called with each RCPT TO address; refuse chosen recipients
	// with 550 (permanent) or 451/452 (temporary).
	Rcpt func(to string) error

	// DropDataAfter is called when DATA begins, with a Delivery holding only
	// From and To. A positive result n closes the connection after n bytes
	// of the message have arrived: the connection is lost mid-DATA and
	// nothing is stored. If the message is shorter, it behaves as ErrDrop.
	DropDataAfter func(d Delivery) int

	// Data is called once the whole message has arrived, before it is
	// stored. Return nil to accept, a *smtp.SMTPError to refuse with it,
	// ErrDrop to lose the connection and the message, or ErrDropAfterStore
	// to store the message and then lose the connection.
	Data func(d Delivery) error

	// Stall returns how long to wait before replying at a stage; zero or
	// negative means no wait. Every stall ends early when the server closes.
	Stall func(stage Stage) time.Duration
}

// Refuse returns the SMTP reply a fault hook refuses with. enhanced is the
// RFC 3463 code such as "4.7.0", or "" for the generic X.0.0. It panics if
// enhanced is malformed, since that is a mistake in the test.
func Refuse(code int, enhanced, msg string) *smtp.SMTPError {
	e := &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: msg}
	if enhanced != "" {
		parts := strings.Split(enhanced, ".")
		if len(parts) != 3 {
			panic(fmt.Sprintf("sandbox: malformed enhanced status code %q", enhanced))
		}
		for i, p := range parts {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || (i == 0 && (n < 2 || n > 5)) {
				panic(fmt.Sprintf("sandbox: malformed enhanced status code %q", enhanced))
			}
			e.EnhancedCode[i] = n
		}
	}
	return e
}

// Every returns a hook that fails with err on every n-th call (the n-th,
// 2n-th, ...) and succeeds otherwise; n <= 0 never fails. The type
// parameter matches the hook: Every[Delivery] for Data, Every[string] for
// Mail or Rcpt, Every[int] for Connect.
func Every[T any](n int, err error) func(T) error {
	var calls atomic.Int64
	return func(T) error {
		if n > 0 && calls.Add(1)%int64(n) == 0 {
			return err
		}
		return nil
	}
}

// First returns a hook that fails with err on its first n calls and
// succeeds from then on: First[Delivery](2, Refuse(451, "4.3.0", "try
// later")) refuses twice and then accepts.
func First[T any](n int, err error) func(T) error {
	var calls atomic.Int64
	return func(T) error {
		if calls.Add(1) <= int64(n) {
			return err
		}
		return nil
	}
}
