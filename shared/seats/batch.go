package seats

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// batcher sends the seat scripts that requests run at the same moment to
// Redis together, as one pipeline, instead of one round trip each.
//
// Why: at a few thousand acquires a second most of the cost of a script
// call, on both sides, is the system calls and wake-ups of its own round
// trip, not the script. A pipeline of n calls costs Redis one read and one
// write instead of n of each, and the server one write and one read. Each
// script still runs atomically on its own: pipelining changes how calls
// travel, never what a script sees.
//
// There is no timer and no goroutine of its own. A caller that finds fewer
// than lanes pipelines in flight sends everything queued (its own call
// first), so a lone request goes out at once; callers that arrive while
// every lane is busy queue and leave together with the next pipeline.
type batcher struct {
	rdb   redis.UniversalClient
	lanes int // pipelines in flight at most
	max   int // calls per pipeline at most

	mu      sync.Mutex
	queue   []*scriptCall
	sending int // lanes in use
}

// scriptCall is one queued script call; cmd holds its reply once done is
// closed.
type scriptCall struct {
	ctx    context.Context
	script *redis.Script
	keys   []string
	args   []any
	cmd    *redis.Cmd
	done   chan struct{}
}

func newBatcher(rdb redis.UniversalClient, lanes, max int) *batcher {
	return &batcher{rdb: rdb, lanes: max1(lanes), max: max1(max)}
}

func max1(n int) int { return max(n, 1) }

// run runs script as EVALSHA (EVAL when Redis does not have it yet) and
// waits for its reply or for ctx to end.
func (b *batcher) run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	c := &scriptCall{ctx: ctx, script: script, keys: keys, args: args, done: make(chan struct{})}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := b.sending < b.lanes
	if lead {
		b.sending++
	}
	b.mu.Unlock()
	if lead {
		b.send(c)
	}
	select {
	case <-c.done:
		return c.cmd
	case <-ctx.Done():
		// The call may still run: it is queued or on its way, exactly as
		// a plain call whose context ends after it was written.
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(ctx.Err())
		return cmd
	}
}

// send sends the queue, a pipeline at a time, until it is empty. Once own
// is answered the work passes to a new goroutine, so the request that
// happened to lead is not held up by later arrivals.
func (b *batcher) send(own *scriptCall) {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.sending--
			b.mu.Unlock()
			return
		}
		n := min(len(b.queue), b.max)
		batch := make([]*scriptCall, n)
		copy(batch, b.queue)
		rest := copy(b.queue, b.queue[n:])
		clear(b.queue[rest:])
		b.queue = b.queue[:rest]
		b.mu.Unlock()

		b.pipeline(batch)

		if own != nil && answered(own) {
			b.mu.Lock()
			more := len(b.queue) > 0
			if !more {
				b.sending--
			}
			b.mu.Unlock()
			if more {
				go b.send(nil) // keeps this lane
			}
			return
		}
	}
}

func answered(c *scriptCall) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// pipeline runs one batch and answers each call. Calls whose caller has
// given up are not sent.
func (b *batcher) pipeline(batch []*scriptCall) {
	live := batch[:0:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.cmd = redis.NewCmd(c.ctx)
			c.cmd.SetErr(err)
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		c := live[0]
		c.cmd = c.script.Run(c.ctx, b.rdb, c.keys, c.args...)
		close(c.done)
		return
	}
	// The pipeline carries the first call's context values (which function
	// the metrics count it against) but no single caller's cancellation:
	// the others still want their replies. Each call is bounded by the
	// client's per-call deadline hook, and each caller by its own context.
	ctx := context.WithoutCancel(live[0].ctx)
	cmds := make([]*redis.Cmd, len(live))
	_, _ = b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, c := range live {
			cmds[i] = c.script.EvalSha(ctx, p, c.keys, c.args...)
		}
		return nil
	})
	for i, c := range live {
		cmd := cmds[i]
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			// Redis lost its script cache (a restart, a failover):
			// Run sends the source, which loads it again.
			cmd = c.script.Run(c.ctx, b.rdb, c.keys, c.args...)
		}
		c.cmd = cmd
		close(c.done)
	}
}
