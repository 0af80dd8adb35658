package seats_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// pipelineSizes records how many commands each pipeline carried.
type pipelineSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (h *pipelineSizes) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *pipelineSizes) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *pipelineSizes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		h.sizes = append(h.sizes, len(cmds))
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

// echo answers each call with its own arguments and keys, so a reply handed
// to the wrong caller shows.
var echo = redis.NewScript(`return {KEYS[1], ARGV[1]}`)

func privateClient(t *testing.T) *redis.Client {
	t.Helper()
	port := testenv.PrivateRedis(t, false)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), PoolSize: 64})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// TestBatcherAnswersEachCallerItsOwnReply runs many concurrent calls through
// two lanes: they travel in shared pipelines, and every caller gets exactly
// its own reply.
func TestBatcherAnswersEachCallerItsOwnReply(t *testing.T) {
	t.Parallel()
	rdb := privateClient(t)
	sizes := &pipelineSizes{}
	rdb.AddHook(sizes)
	b := seats.NewBatcher(rdb, 2, 16)
	const callers, calls = 64, 50
	var wrong, done atomic.Int64
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range calls {
				key, arg := fmt.Sprintf("{k%d}", g), fmt.Sprintf("%d-%d", g, i)
				got, err := b.Run(context.Background(), echo, []string{key}, arg).StringSlice()
				if err != nil {
					t.Errorf("call %s: %v", arg, err)
					return
				}
				if len(got) != 2 || got[0] != key || got[1] != arg {
					wrong.Add(1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 || done.Load() != callers*calls {
		t.Fatalf("%d of %d replies went to the wrong caller", wrong.Load(), done.Load())
	}
	sizes.mu.Lock()
	defer sizes.mu.Unlock()
	inPipelines, largest := 0, 0
	for _, n := range sizes.sizes {
		inPipelines += n
		largest = max(largest, n)
	}
	// With 64 callers and 2 lanes most calls must have shared a pipeline;
	// the cap keeps each at 16.
	if inPipelines < callers*calls/2 || largest > 16 {
		t.Fatalf("%d of %d calls were pipelined, the largest pipeline held %d (cap 16)", inPipelines, callers*calls, largest)
	}
}

// TestBatcherReloadsFlushedScripts: after Redis loses its script cache (a
// restart or failover), calls in a pipeline get NOSCRIPT and are sent again
// with the source.
func TestBatcherReloadsFlushedScripts(t *testing.T) {
	t.Parallel()
	rdb := privateClient(t)
	b := seats.NewBatcher(rdb, 1, 64)
	for round := range 2 {
		if err := rdb.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				arg := fmt.Sprintf("%d-%d", round, i)
				got, err := b.Run(context.Background(), echo, []string{"{k}"}, arg).StringSlice()
				if err != nil || len(got) != 2 || got[1] != arg {
					t.Errorf("call %s after SCRIPT FLUSH: %v %v", arg, got, err)
				}
			})
		}
		wg.Wait()
	}
}

// TestBatcherHonoursTheCallersContext: a caller whose context has ended gets
// its error and the call is not sent.
func TestBatcherHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	rdb := privateClient(t)
	b := seats.NewBatcher(rdb, 1, 64)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Run(ctx, redis.NewScript(`return redis.call('INCR', KEYS[1])`), []string{"{never}"}).Err()
	if err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n, err := rdb.Exists(context.Background(), "{never}").Result(); err != nil || n != 0 {
		t.Fatalf("the cancelled call ran: exists = %d, %v", n, err)
	}
}
