package journal

import "os"

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

// swapResultsFile puts f in place of the open results file and returns the
// one it replaced, so that a test can make writes fail as a full disk does.
func (j *Journal) swapResultsFile(f *os.File) *os.File {
	j.mu.Lock()
	defer j.mu.Unlock()
	old := j.f
	j.f = f
	return old
}
