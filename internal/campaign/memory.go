package campaign

import (
	"context"
	"runtime"
)

// QueuedBytes is about the most memory the messages on their way through a
// send run hold at once, for sizing the garbage collector. Messages queue
// in the row pipeline (the batches in its channels, the one being read and
// the one being handed on) and before the workers (the jobs channel, the
// one each worker sends, and the one it holds back for pipelining). Each
// counts twice its size on the wire (the copy written out ahead and its
// rendered parts), at most maxWire or max_message_size: larger messages
// are written straight to the connection, and attachments are read from
// disk as they are written. The size is taken from the first recipient's
// message (the first selected), with room for the others to be twice as large, because most
// campaigns' messages are alike and the largest possible size would lift
// the limit for small ones too.
func (c *Campaign) QueuedBytes(ctx context.Context, opts SendOptions) int64 {
	composers := max(1, runtime.GOMAXPROCS(0))
	workers := c.sendKeys(opts.overrides(), &problems{c: c}).workers // problems are Check's and Send's to report
	messages := (2*composers+2)*batchRows + 2*workers + 2*workers
	size := int64(maxWire)
	if n, err := parseSize(c.Config.MaxMessageSize); err == nil {
		size = min(size, n)
	}
	if first, err := c.Message(ctx, c.rows.First()); err == nil && first.Message != nil {
		size = min(size, 2*first.Message.Size+4<<10)
	}
	return int64(messages) * 2 * size
}
