package seats

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// Batcher exposes the batcher to the external tests (which need testenv,
// and testenv imports this package through shared/backend).
type Batcher struct{ b *batcher }

func NewBatcher(rdb redis.UniversalClient, lanes, max int) Batcher {
	return Batcher{newBatcher(rdb, lanes, max)}
}

func (b Batcher) Run(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	return b.b.run(ctx, script, keys, args...)
}
