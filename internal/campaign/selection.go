package campaign

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Selection is a set of data rows, numbered as the results file and
// check's errors number them: the first row below the header is 1. It is
// what --rows 2-10,15 names. The zero value selects every row.
type Selection struct {
	spans []span // sorted, not overlapping or touching
}

// span is the rows first to last, both included.
type span struct{ first, last int }

// maxSelectedRow bounds a row number, so that a typo of many digits is an
// error rather than an overflow: no list has a billion rows.
const maxSelectedRow = 1_000_000_000

// ParseSelection reads a selection such as "2-10,15": row numbers and
// ranges separated by commas, spaces allowed around each. Row 0, a range
// that runs backwards, an empty item and anything else are errors that
// quote what was written.
func ParseSelection(text string) (Selection, error) {
	if strings.TrimSpace(text) == "" {
		return Selection{}, errors.New("no rows given: write row numbers and ranges such as 2-10,15")
	}
	var s Selection
	for _, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return Selection{}, fmt.Errorf("%q has an empty item: write row numbers and ranges such as 2-10,15", text)
		}
		first, last, isRange := strings.Cut(item, "-")
		a, err := rowNumber(first, item)
		if err != nil {
			return Selection{}, err
		}
		b := a
		if isRange {
			if b, err = rowNumber(last, item); err != nil {
				return Selection{}, err
			}
			if b < a {
				return Selection{}, fmt.Errorf("%q runs backwards: write %d-%d", item, b, a)
			}
		}
		s.spans = append(s.spans, span{a, b})
	}
	s.spans = merge(s.spans)
	return s, nil
}

// rowNumber reads one end of an item: digits only, 1 or more.
func rowNumber(text, item string) (int, error) {
	text = strings.TrimSpace(text)
	if text == "" || strings.Trim(text, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a row number or a range such as 2-10", item)
	}
	n, err := strconv.Atoi(text)
	switch {
	case err != nil || n > maxSelectedRow:
		return 0, fmt.Errorf("%q: no list has row %s", item, text)
	case n == 0:
		return 0, fmt.Errorf("%q: there is no row 0: the first row below the header is 1, as in the results file", item)
	}
	return n, nil
}

// merge sorts spans and joins those that overlap or touch.
func merge(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.first - b.first })
	out := spans[:0]
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, sp.last)
			continue
		}
		out = append(out, sp)
	}
	return out
}

// All says whether the selection is every row: the zero value.
func (s Selection) All() bool { return len(s.spans) == 0 }

// Has says whether row is selected. Row 0, a line of the list the reader
// could not number, is in every selection: it is about the list.
func (s Selection) Has(row int) bool {
	if s.All() || row == 0 {
		return true
	}
	_, found := slices.BinarySearchFunc(s.spans, row, func(sp span, row int) int {
		switch {
		case sp.last < row:
			return -1
		case sp.first > row:
			return 1
		}
		return 0
	})
	return found
}

// First is the lowest row selected; 1 for every row.
func (s Selection) First() int {
	if s.All() {
		return 1
	}
	return s.spans[0].first
}

// String writes the selection as ParseSelection reads it, ranges sorted
// and joined: "2-10,15"; "" for every row.
func (s Selection) String() string {
	parts := make([]string, len(s.spans))
	for i, sp := range s.spans {
		parts[i] = strconv.Itoa(sp.first)
		if sp.last > sp.first {
			parts[i] += "-" + strconv.Itoa(sp.last)
		}
	}
	return strings.Join(parts, ",")
}

// pastEnd is the part of the selection after row n, the last of the list,
// written as String writes it; "" when there is none.
func (s Selection) pastEnd(n int) string {
	var rest Selection
	for _, sp := range s.spans {
		if sp.last > n {
			rest.spans = append(rest.spans, span{max(sp.first, n+1), sp.last})
		}
	}
	return rest.String()
}
