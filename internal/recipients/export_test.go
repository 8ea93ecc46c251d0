package recipients

// Delimiter returns the delimiter in use, given or detected; 0 for a
// workbook.
func (r *Reader) Delimiter() rune { return r.delimiter }
