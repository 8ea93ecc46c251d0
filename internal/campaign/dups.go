package campaign

import (
	"slices"

	"github.com/mailmerge/mailmerge/internal/journal"
)

// dupFinder notes recipient addresses by hash, to find duplicates after the
// walk without keeping the addresses: 8 bytes a row, the row being the
// index. A shard's rows are spread thin over the whole list, so for a
// shard it keeps the row beside each hash instead (sparse): 12 bytes for
// each of its rows rather than 8 for every row of the list.
type dupFinder struct {
	hashes []uint64 // hashes[row-1], 0 for rows without a valid address; when sparse, in the order added
	rows   []int32  // when sparse: the row of each hash
	sparse bool
}

func (d *dupFinder) add(row int, email string) {
	if d.sparse {
		d.hashes = append(d.hashes, journal.HashEmail(email))
		d.rows = append(d.rows, int32(row))
		return
	}
	for len(d.hashes) < row {
		d.hashes = append(d.hashes, 0)
	}
	d.hashes[row-1] = journal.HashEmail(email)
}

// row is the row of d.hashes[i].
func (d *dupFinder) row(i int) int {
	if d.sparse {
		return int(d.rows[i])
	}
	return i + 1
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
		dup[h] = append(rows, d.row(i))
	}
	groups := make([][]int, len(order))
	for i, h := range order {
		groups[i] = dup[h]
	}
	return groups
}
