package journal

import (
	"bytes"
	"encoding/csv"
	"sync"
)

// bom makes Excel read the file as UTF-8.
var bom = []byte("\ufeff")

// headerLine is how every results file starts.
var headerLine = func() []byte {
	lw := newLineWriter()
	return append(append([]byte{}, bom...), lw.format(columns...)...)
}()

// lineWriter formats one CSV line with CRLF into a reusable buffer, so that
// the line can go to the file in a single write.
type lineWriter struct {
	buf bytes.Buffer
	w   *csv.Writer
}

func newLineWriter() *lineWriter {
	lw := &lineWriter{}
	lw.w = csv.NewWriter(&lw.buf)
	lw.w.UseCRLF = true
	return lw
}

// format returns the line; it stays valid until the next call.
func (lw *lineWriter) format(fields ...string) []byte {
	lw.buf.Reset()
	// Writing to a bytes.Buffer cannot fail.
	_ = lw.w.Write(fields)
	lw.w.Flush()
	return lw.buf.Bytes()
}

var linePool = sync.Pool{New: func() any { return newLineWriter() }}

func getLine() *lineWriter { return linePool.Get().(*lineWriter) }

func putLine(lw *lineWriter) {
	if lw.buf.Cap() > 64<<10 {
		return // let an odd huge line's buffer go
	}
	linePool.Put(lw)
}
