package preview

import (
	"context"
	"errors"
	"net/mail"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/campaign"
	"github.com/mailmerge/mailmerge/internal/human"
)

// entry is one recipient as the list shows it. The index keeps only these
// few strings per row; a message is rendered again when it is opened.
type entry struct {
	Row         int    `json:"row"`
	Line        int    `json:"line"`
	To          string `json:"to"`
	Subject     string `json:"subject"`
	Attachments int    `json:"attachments"`
	Error       string `json:"error,omitempty"`
	Hint        string `json:"hint,omitempty"`
	// Suppressed says why send skips the row: "ana@example.com is in
	// unsubscribed.csv"; "" when it does not.
	Suppressed string `json:"suppressed,omitempty"`

	key string // what search looks in, lower-cased once
}

// problem is a campaign.Problem as the page shows it.
type problem struct {
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// stamp is what a poll compares to notice that a file changed.
type stamp struct {
	size    int64
	modTime time.Time
	missing bool
}

func stampOf(path string) stamp {
	st, err := os.Stat(path)
	if err != nil {
		return stamp{missing: true}
	}
	return stamp{size: st.Size(), modTime: st.ModTime()}
}

// state is one load of the campaign and the index of its list. It never
// changes once published; a reload publishes a new one and closes
// superseded.
type state struct {
	version    int
	campaign   *campaign.Campaign // nil when it does not load
	loaded     time.Time
	problems   []campaign.Problem
	entries    []entry // rows that cannot be sent first, then the rest; each part in row order
	invalid    int     // entries[:invalid] are the rows with problems
	suppressed int     // rows send skips: a suppress file holds an address of theirs
	indexing   bool    // entries are from the previous load while the list is read again
	files      []string
	stamps     []stamp

	superseded chan struct{}
}

// load reads the campaign file and templates; the list is not read yet.
func load(path string, opts campaign.Options, version int) *state {
	st := &state{version: version, superseded: make(chan struct{}), loaded: time.Now()}
	// The files are stamped before they are read, so an edit made while
	// they are being read is noticed by the next look.
	st.files, _ = campaign.Files(path)
	for _, f := range st.files {
		st.stamps = append(st.stamps, stampOf(f))
	}
	c, err := campaign.Load(path, opts)
	if err != nil {
		st.problems = campaign.Problems(err)
		return st
	}
	st.campaign = c
	return st
}

// errFilesChanged stops an index whose files changed under it.
var errFilesChanged = errors.New("the campaign's files changed")

// checkEvery is how many rows the index reads between looks at the files.
const checkEvery = 5000

// index lists every recipient of st's campaign in one streaming pass,
// rendering each message to learn its subject or its problem and keeping
// only those. It gives up with errFilesChanged when a file changes
// meanwhile, so that typing in a template does not queue up rebuilds of a
// long list.
func (st *state) index(ctx context.Context) error {
	if st.campaign == nil {
		return nil
	}
	var bad, good []entry
	n, suppressed := 0, 0
	err := st.campaign.Messages(ctx, func(r campaign.Rendered) error {
		if n++; n%checkEvery == 0 && st.changed() {
			return errFilesChanged
		}
		e := entry{Row: r.Row, Line: r.Line}
		if r.Err != nil {
			e.Error, e.Hint = r.Err.Error(), human.Hint(r.Err)
		} else {
			e.To = addressList(r.Message.To)
			e.Subject = r.Message.Subject
			e.Attachments = len(r.Message.Attachments)
		}
		if r.Suppressed != "" {
			e.Suppressed = r.SuppressedAddress + " is in " + r.Suppressed
			suppressed++
		}
		e.key = strings.ToLower(strconv.Itoa(e.Row) + "\x00" + e.To + "\x00" + e.Subject + "\x00" + e.Error)
		if e.Suppressed != "" {
			e.key += "\x00suppressed: " + strings.ToLower(e.Suppressed)
		}
		if e.Error != "" {
			bad = append(bad, e)
		} else {
			good = append(good, e)
		}
		return nil
	})
	if errors.Is(err, errFilesChanged) || ctx.Err() != nil {
		return err
	}
	if err != nil {
		st.problems = campaign.Problems(err)
	}
	st.invalid, st.suppressed = len(bad), suppressed
	st.entries = append(bad, good...)
	return nil
}

// addressList writes addresses as a person reads them: names decoded,
// "王小明 <wang@example.com>".
func addressList(list []*mail.Address) string {
	parts := make([]string, len(list))
	for i, a := range list {
		parts[i] = a.Address
		if a.Name != "" {
			parts[i] = a.Name + " <" + a.Address + ">"
		}
	}
	return strings.Join(parts, ", ")
}

// changed reports whether a watched file differs from when it was read.
func (st *state) changed() bool {
	for i, f := range st.files {
		if stampOf(f) != st.stamps[i] {
			return true
		}
	}
	return false
}

func (st *state) summary() Summary {
	return Summary{Version: st.version, Rows: len(st.entries), Invalid: st.invalid, Suppressed: st.suppressed,
		Problems: st.problems, Files: st.files}
}

// find returns the entry for data row n.
func (st *state) find(n int) (entry, bool) {
	for _, part := range [][]entry{st.entries[:st.invalid], st.entries[st.invalid:]} {
		i := sort.Search(len(part), func(i int) bool { return part[i].Row >= n })
		if i < len(part) && part[i].Row == n {
			return part[i], true
		}
	}
	return entry{}, false
}

// search returns the rows matching every word of q (case-insensitive, in
// the row number, address, subject or error), skipping offset of them and
// returning at most limit, with how many matched in all. "suppressed"
// finds the rows send skips.
func (st *state) search(q string, onlyProblems bool, offset, limit int) ([]entry, int) {
	words := strings.Fields(strings.ToLower(q))
	pool := st.entries
	if onlyProblems {
		pool = st.entries[:st.invalid]
	}
	if len(words) == 0 {
		page := pool[min(offset, len(pool)):min(offset+limit, len(pool))]
		return page, len(pool)
	}
	var page []entry
	matched := 0
next:
	for i := range pool {
		for _, w := range words {
			if !strings.Contains(pool[i].key, w) {
				continue next
			}
		}
		if matched >= offset && len(page) < limit {
			page = append(page, pool[i])
		}
		matched++
	}
	return page, matched
}
