package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
)

// LogBuffer collects what a server or process writes while the test reads
// it; safe for concurrent use. Under make test (CaptureEnv set) it also
// appends everything to a file of its own in that directory, for the
// suite-wide scan for secrets.
type LogBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	capture string // this buffer's capture file; "" until the first write
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dir := os.Getenv(CaptureEnv); dir != "" {
		if b.capture == "" {
			b.capture = filepath.Join(dir, captureName()+".log")
		}
		// A capture that fails returns the error; the scan also demands a
		// minimum of captured lines, so a capture that silently stopped
		// cannot pass for a clean one.
		if err := appendTo(b.capture, p); err != nil {
			return 0, err
		}
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
