package logging

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Buffered batches log lines into few writes: one line per request straight
// to stdout is one system call per request, a real share of a request's
// cost at thousands a second. Lines reach w within the flush interval, at
// once when the buffer fills, and on Close. Safe for concurrent use; each
// Write is one whole line (slog writes a record in one call), so lines
// never interleave.
type Buffered struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewBuffered starts a buffered writer to w that flushes every interval.
func NewBuffered(w io.Writer, size int, interval time.Duration) *Buffered {
	b := &Buffered{buf: bufio.NewWriterSize(w, size), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Flush()
			}
		}
	}()
	return b
}

// Write buffers p; a line larger than the space left flushes first.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(p) > b.buf.Available() && b.buf.Buffered() > 0 {
		if err := b.buf.Flush(); err != nil {
			return 0, err
		}
	}
	return b.buf.Write(p)
}

// Flush writes what is buffered.
func (b *Buffered) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Flush()
}

// Close stops the timer and flushes.
func (b *Buffered) Close() error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	<-b.done
	return b.Flush()
}
