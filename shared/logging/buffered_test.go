package logging_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/logging"
)

// countingWriter counts the writes that reach it.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func TestBufferedKeepsWholeLinesAndFlushes(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	b := logging.NewBuffered(out, 4096, 20*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(b, "{\"g\":%d,\"i\":%d,\"pad\":%q}\n", g, i, strings.Repeat("x", 50))
			}
		}()
	}
	wg.Wait()
	// The timer delivers without Close.
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(out.String(), "\n") < 800 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d lines arrived", strings.Count(out.String(), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "{\"g\":") || !strings.HasSuffix(l, "\"}") {
			t.Fatalf("a line was torn: %q", l)
		}
	}
	if out.writes >= 800/4 {
		t.Errorf("%d writes for 800 lines: not batched", out.writes)
	}
	// A line after the last tick reaches the writer on Close.
	fmt.Fprintln(b, "last")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "last\n") {
		t.Fatal("Close did not flush")
	}
}
