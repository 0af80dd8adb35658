package logging

import (
	"context"
	"fmt"
	"log/slog"
)

// RedisLogger adapts a slog.Logger to go-redis's logger, so the client's own
// messages (failed dials, pool trouble) come out as structured WARNING lines
// instead of plain text that Cloud Logging cannot classify. Install it once in
// main with redis.SetLogger.
type RedisLogger struct{ Logger *slog.Logger }

// Printf implements go-redis's internal.Logging.
func (l RedisLogger) Printf(ctx context.Context, format string, args ...any) {
	l.Logger.WarnContext(ctx, fmt.Sprintf(format, args...), slog.String("component", "redis"))
}
