// Package suppress keeps the addresses a campaign must never mail again:
// people who unsubscribed and mailboxes that bounced.
//
// A suppression file is read by [Load] into a [List] that answers
// [List.Has]; the unsubscribe endpoint and the bounce reader append to one
// through [Open] and [File.Add]. Files this package writes are CSV (no byte
// order mark, LF line ends):
//
//	email,time,reason
//	ana@example.com,2026-11-02T03:04:05Z,unsubscribe: one-click
//	bo@example.com,2026-11-02T03:05:00Z,bounce: 5.1.1 user unknown
//
// Reading takes any CSV whose header has an email column (any case, byte
// order mark tolerated, separated by ',', ';' or tab), or a plain list of
// one address a line, where blank lines and lines starting with # are
// skipped and "Name <address>" is taken for the address. Every address is
// compared in the one form [Normalize] gives it.
package suppress
