package metrics

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
)

// redisKey is one label combination of the Redis instruments.
type redisKey struct{ command, script, status string }

func (k redisKey) attributes() []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("command", k.command), attribute.String("script", k.script),
		attribute.String("status", k.status)}
}

// RedisHook returns a go-redis hook counting and timing every command.
// scripts maps a Lua script's name to its source (every script of package
// lua, as shared/backend passes them), so an EVALSHA is labelled with the
// script it runs rather than its digest; unknown digests are "other". Add
// it once per client (hooks stack). A nil Metrics returns nil.
func (m *Metrics) RedisHook(scripts map[string]string) redis.Hook {
	if m == nil {
		return nil
	}
	byDigest := make(map[string]string, len(scripts))
	for name, src := range scripts {
		byDigest[digest(src)] = name
	}
	return &redisHook{m: m, scripts: byDigest}
}

// digest is the SHA-1 Redis names a script by (what EVALSHA sends).
func digest(src string) string {
	sum := sha1.Sum([]byte(src))
	return hex.EncodeToString(sum[:])
}

type redisHook struct {
	m       *Metrics
	scripts map[string]string // SHA-1 hex → script name
}

func (h *redisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h *redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		// The returned error, not cmd.Err(): go-redis sets the command's
		// own error only after the hooks have returned.
		k := h.key(cmd, err)
		opt := h.m.redisAttrs.get(k, redisKey.attributes)
		h.m.redisCalls.Add(ctx, 1, opt)
		h.m.redisDuration.Record(ctx, time.Since(start).Seconds(), opt)
		return err
	}
}

// ProcessPipelineHook counts each command of a pipeline and times the
// pipeline as one round trip (command "pipeline").
func (h *redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		took := time.Since(start).Seconds()
		// The pipeline's error is its first command's; any failed command
		// makes it a failed round trip.
		st := redisStatus(err)
		for _, cmd := range cmds {
			k := h.key(cmd, cmd.Err())
			if k.status != "ok" {
				st = k.status
			}
			h.m.redisCalls.Add(ctx, 1, h.m.redisAttrs.get(k, redisKey.attributes))
		}
		h.m.redisDuration.Record(ctx, took,
			h.m.redisAttrs.get(redisKey{command: "pipeline", status: st}, redisKey.attributes))
		return err
	}
}

// key labels a finished command. A script's name comes from its digest;
// an EVAL (the fallback after NOSCRIPT, rare) is hashed to find it.
func (h *redisHook) key(cmd redis.Cmder, err error) redisKey {
	k := redisKey{command: cmd.Name(), status: redisStatus(err)}
	args := cmd.Args()
	switch k.command {
	case "evalsha", "evalsha_ro":
		if len(args) > 1 {
			sha, _ := args[1].(string)
			k.script = h.script(sha)
		}
	case "eval", "eval_ro":
		if len(args) > 1 {
			src, _ := args[1].(string)
			k.script = h.script(digest(src))
		}
	}
	return k
}

func (h *redisHook) script(sha string) string {
	if name, ok := h.scripts[sha]; ok {
		return name
	}
	return "other"
}

// redisStatus: redis.Nil (no such key) is an answer, not a failure.
func redisStatus(err error) string {
	if errors.Is(err, redis.Nil) {
		return "ok"
	}
	return status(err)
}
