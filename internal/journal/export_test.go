package journal

// Counts is the number of rows per last outcome. Right after Open it
// describes the earlier runs (including recovered unknowns); later it also
// includes what this run recorded. Every status is present, possibly zero.
func (j *Journal) Counts() map[Status]int {
	j.mu.Lock()
	defer j.mu.Unlock()
	m := make(map[Status]int, 4)
	for code, s := range statuses[1:] {
		m[s] = j.idx.counts[code+1]
	}
	return m
}
