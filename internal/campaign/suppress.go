package campaign

import (
	"errors"
	"slices"

	"github.com/mailmerge/mailmerge/internal/suppress"
)

// SuppressedReply is the start of the reply a results file records for a
// row that was not sent because a suppress file holds one of its
// addresses; the file's name, as the campaign writes it, follows.
const SuppressedReply = "suppressed: "

// MaxSuppressedShown caps the suppressed rows CheckSummary names one by
// one; Suppressed counts them all.
const MaxSuppressedShown = 20

// Suppressed is a row that is not sent: File, as the campaign names it,
// holds Address, one of the row's recipients.
type Suppressed struct {
	Row     int
	Address string
	File    string
}

// suppression is what the campaign's suppress files hold, and which file
// suppresses a row.
//
// A row is suppressed when any address it is sent to (To, Cc, Bcc) is
// held: the message is one, addressed to all of them, and sending it to
// the others alone would change what they receive without a word, while
// sending it whole mails someone who asked to stop. The row is skipped and
// check names it, so its author can split it.
//
// Check looks every row up in the list and notes the rows it suppresses.
// Send then keeps only those (freeze): 5 bytes a suppressed row instead of
// the whole list (about 32 bytes an address), which keeps a send against a
// million suppressed addresses under its memory target. The later walks
// (plan, produce) go by the row, which also serves test sends
// (--redirect-to), whose envelope no longer names the row's addresses.
type suppression struct {
	names  []string       // the files as the campaign names them
	paths  []string       // and resolved
	byPath map[string]int // resolved path -> index in names
	list   *suppress.List // nil once frozen
	rows   []uint32       // the suppressed rows check noted, in order
	files  []uint8        // the index in names of each row's file
}

// loadSuppression reads the suppress files; a missing one is empty. A
// malformed one is a *suppress.FileError naming it and its line.
//
// With [unsubscribe], its file is always among them, listed or not: a
// campaign that offers the links must not mail the people who used them.
func (c *Campaign) loadSuppression(p *problems) {
	names := c.Config.Suppress
	if c.Unsubscribing() {
		own := c.Config.Unsubscribe.File
		if own == "" {
			own = DefaultUnsubscribeFile
		}
		if !slices.ContainsFunc(names, func(n string) bool { return c.resolve(n) == c.UnsubscribeFile() }) {
			names = append(slices.Clip(names), own)
		}
	}
	if len(names) == 0 {
		return
	}
	s := &suppression{byPath: map[string]int{}}
	for i, name := range names {
		path := c.resolve(name)
		s.names, s.paths = append(s.names, name), append(s.paths, path)
		if _, ok := s.byPath[path]; !ok {
			s.byPath[path] = i
		}
	}
	var fe *suppress.FileError
	switch err := s.load(); {
	case errors.As(err, &fe):
		p.errs = append(p.errs, err) // it names the file and line itself
	case err != nil:
		p.add("suppress", err, "")
	default:
		c.suppress = s
	}
}

// load reads the files (again, after a send froze them: a second run on
// the same Campaign goes by the files as they are then).
func (s *suppression) load() error {
	if s == nil || s.list != nil {
		return nil
	}
	list, err := suppress.Load(s.paths...)
	if err != nil {
		return err
	}
	s.list, s.rows, s.files = list, nil, nil
	return nil
}

// of returns 1 + the index in names of the file that suppresses row,
// whose envelope recipients are addrs, and the address it holds (none once
// frozen); 0 when no file does.
func (s *suppression) of(row int, addrs []string) (int, string) {
	if s == nil {
		return 0, ""
	}
	if s.list == nil {
		if i, ok := slices.BinarySearch(s.rows, uint32(row)); ok {
			return 1 + int(s.files[i]), ""
		}
		return 0, ""
	}
	for _, a := range addrs {
		if path, ok := s.list.Has(a); ok {
			return 1 + s.byPath[path], a
		}
	}
	return 0, ""
}

// name is the file of of's answer n as the campaign names it.
func (s *suppression) name(n int) string { return s.names[n-1] }

// reset forgets the rows noted, before a check notes them again.
func (s *suppression) reset() {
	if s != nil && s.list != nil {
		s.rows, s.files = s.rows[:0], s.files[:0]
	}
}

// note records that check found row suppressed by of's answer n. Rows come
// in list order.
func (s *suppression) note(row, n int) {
	if s != nil && s.list != nil {
		s.rows, s.files = append(s.rows, uint32(row)), append(s.files, uint8(n-1))
	}
}

// freeze lets go of the list: from now on a row is suppressed when check
// noted it.
func (s *suppression) freeze() {
	if s != nil {
		s.list = nil
	}
}

// SuppressionBytes is about how much memory the suppress files hold while
// check reads the list, for sizing the garbage collector.
func (c *Campaign) SuppressionBytes() int64 {
	if c.suppress == nil {
		return 0
	}
	return c.suppress.list.HeapBytes()
}
