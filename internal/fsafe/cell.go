package fsafe

import "strings"

// EscapeCell defuses CSV formula injection: a spreadsheet evaluates a cell
// starting with '=', '+', '-' or '@' as a formula, and may trim a leading tab
// or CR into one; an address or a server reply comes from outside. A leading
// apostrophe makes the cell text; Excel does not show it. Values that start
// with an apostrophe get one more, so that reading the file back restores
// every value exactly. Every CSV file this tool writes uses this one rule.
func EscapeCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r'", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// UnescapeCell undoes EscapeCell, for a cell of a file this tool wrote.
// Files written before '-', tab and CR were escaped read back the same:
// their cells never start with an apostrophe that EscapeCell did not add.
func UnescapeCell(s string) string {
	return strings.TrimPrefix(s, "'")
}
