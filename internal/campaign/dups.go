package campaign

import (
	"slices"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// dupFinder notes recipient addresses by hash, to find duplicates after the
// walk without keeping the addresses: 8 bytes a row, the row being the index.
type dupFinder struct {
	hashes []uint64 // hashes[row-1]; 0 for rows without a valid address
}

func (d *dupFinder) add(row int, email string) {
	for len(d.hashes) < row {
		d.hashes = append(d.hashes, 0)
	}
	d.hashes[row-1] = journal.HashEmail(email)
}

// duplicates returns groups of rows that share an address, each in row
// order, the groups ordered by their first row.
func (d *dupFinder) duplicates() [][]int {
	sorted := slices.Clone(d.hashes)
	slices.Sort(sorted)
	dup := map[uint64][]int{}
	for i := 1; i < len(sorted); i++ {
		if sorted[i] != 0 && sorted[i] == sorted[i-1] {
			dup[sorted[i]] = nil
		}
	}
	if len(dup) == 0 {
		return nil
	}
	var order []uint64
	for i, h := range d.hashes {
		rows, ok := dup[h]
		if !ok {
			continue
		}
		if rows == nil {
			order = append(order, h)
		}
		dup[h] = append(rows, i+1)
	}
	groups := make([][]int, len(order))
	for i, h := range order {
		groups[i] = dup[h]
	}
	return groups
}
