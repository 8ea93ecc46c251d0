package compose

import "time"

// runOnce runs one template for fields with a size limit, as a row would.
func runOnce(t *tmpl, fields map[string]string, limit int64) (string, error) {
	x := newExecutor([]*tmpl{t})
	x.buf.start(limit, DefaultTimeout)
	return x.run(t, fields)
}

var _ = time.Second
