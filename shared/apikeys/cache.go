package apikeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Cache is the API keys as requests see them: the store, with each lookup's
// answer kept in Redis for a few seconds, shared by every instance, so an
// API key does not cost a PostgreSQL query per request and a made-up one
// (a flood of "Bearer ak_..." junk) costs one per key at most.
//
// Revocation still takes effect on the next request: Revoke, and deleting
// a tenant (ForgetTenant), overwrite the kept answers with "unknown" in
// the same call that commits the change. Only when that Redis write fails
// does a revoked key keep working, until its answer expires: KeyTTL at
// most (DefaultKeyTTL, 5 s), the bound the README states. A lookup that
// read PostgreSQL just before a revocation cannot bring the key back:
// lookups keep their answer only where none is kept (SET NX), and the
// revocation's "unknown" is written over whatever is.
type Cache struct {
	store  *Store
	rdb    redis.UniversalClient
	prefix string
	cfg    CacheConfig
}

// CacheConfig are a cache's lifetimes and its guard.
type CacheConfig struct {
	// KeyTTL is how long a live key's answer is kept: the longest a
	// revoked key can keep working when the revocation could not reach
	// Redis (0: DefaultKeyTTL).
	KeyTTL time.Duration
	// UnknownTTL is how long a secret that is no live key is remembered
	// as such (0: DefaultUnknownTTL).
	UnknownTTL time.Duration
	// BeforeRead, when set, runs before each PostgreSQL lookup (a secret
	// Redis holds no answer for); an error it returns is the lookup's
	// answer. The backend passes the per-address limit here.
	BeforeRead func(context.Context) error
}

// Lifetimes of kept answers.
const (
	DefaultKeyTTL     = 5 * time.Second
	DefaultUnknownTTL = 30 * time.Second
)

// unknownAnswer is what is kept for a secret that is no live key.
const unknownAnswer = "-"

// NewCache returns the cache of store in rdb, under keys starting with
// prefix.
func NewCache(store *Store, rdb redis.UniversalClient, prefix string, cfg CacheConfig) (*Cache, error) {
	if store == nil || rdb == nil {
		return nil, errors.New("apikeys: missing dependency")
	}
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = DefaultKeyTTL
	}
	if cfg.UnknownTTL <= 0 {
		cfg.UnknownTTL = DefaultUnknownTTL
	}
	return &Cache{store: store, rdb: rdb, prefix: prefix, cfg: cfg}, nil
}

// key is where the answer for a secret's hash is kept; the hash tag keeps
// it on one Cluster slot. It holds the hash, never the secret.
func (c *Cache) key(hash string) string { return c.prefix + "apikey:{" + hash + "}" }

// Authenticate is Store.Authenticate through the cache.
func (c *Cache) Authenticate(ctx context.Context, secret string) (Key, error) {
	if !wellFormed(secret) {
		return Key{}, database.ErrNotFound
	}
	hash := tokens.Hash(secret)
	kept, err := c.rdb.Get(ctx, c.key(hash)).Result()
	switch {
	case err == nil && kept == unknownAnswer:
		return Key{}, database.ErrNotFound
	case err == nil:
		var k Key
		if err := json.Unmarshal([]byte(kept), &k); err == nil {
			return k, nil
		}
		// Not ours to trust: ask PostgreSQL.
	case !errors.Is(err, redis.Nil):
		// Redis cannot answer: PostgreSQL still can, as before the cache.
		logging.RecordError(ctx, fmt.Errorf("reading cached api key: %w", err))
	}
	if c.cfg.BeforeRead != nil {
		if err := c.cfg.BeforeRead(ctx); err != nil {
			return Key{}, err
		}
	}
	k, err := c.store.Authenticate(ctx, secret)
	answer, ttl := unknownAnswer, c.cfg.UnknownTTL
	switch {
	case errors.Is(err, database.ErrNotFound):
	case err != nil:
		return Key{}, err
	default:
		b, jerr := json.Marshal(k)
		if jerr != nil {
			return Key{}, fmt.Errorf("encoding api key: %w", jerr)
		}
		answer, ttl = string(b), c.cfg.KeyTTL
	}
	// NX: a revocation that wrote "unknown" since the read above wins.
	if serr := c.rdb.SetNX(ctx, c.key(hash), answer, ttl).Err(); serr != nil {
		logging.RecordError(ctx, fmt.Errorf("keeping api key answer: %w", serr))
	}
	return k, err
}

// Create is Store.Create; a kept "unknown" for the new secret (which no
// one can have presented: it has 256 random bits) is ended all the same.
func (c *Cache) Create(ctx context.Context, tenantID, name, role, createdBy string) (Key, string, error) {
	k, secret, err := c.store.Create(ctx, tenantID, name, role, createdBy)
	if err != nil {
		return k, secret, err
	}
	if err := c.rdb.Del(ctx, c.key(tokens.Hash(secret))).Err(); err != nil {
		logging.RecordError(ctx, fmt.Errorf("forgetting answer for new api key: %w", err))
	}
	return k, secret, nil
}

// List is Store.List.
func (c *Cache) List(ctx context.Context, tenantID string, p database.Page) ([]Key, string, error) {
	return c.store.List(ctx, tenantID, p)
}

// Revoke ends a key in PostgreSQL, then in Redis, so the next request that
// presents it, on any instance, is refused. The revocation is committed
// first; if Redis cannot take it, that is logged and the key works for
// KeyTTL at most (a retry could not help: the key is revoked already).
func (c *Cache) Revoke(ctx context.Context, tenantID, id string) (Key, error) {
	k, hash, err := c.store.revoke(ctx, tenantID, id)
	if err != nil {
		return k, err
	}
	c.forget(ctx, hash)
	return k, nil
}

// ForgetTenant ends every kept answer for the keys of a tenant, after the
// tenant was deleted (its keys stop working with it). As with Revoke, what
// Redis cannot take expires within KeyTTL.
func (c *Cache) ForgetTenant(ctx context.Context, tenantID string) error {
	hashes, err := c.store.hashesOfTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	c.forget(ctx, hashes...)
	return nil
}

// forget writes "unknown" over the answers kept for hashes; a failure is
// logged on the request's line.
func (c *Cache) forget(ctx context.Context, hashes ...string) {
	for _, h := range hashes {
		if err := c.rdb.Set(ctx, c.key(h), unknownAnswer, c.cfg.UnknownTTL).Err(); err != nil {
			logging.RecordError(ctx, fmt.Errorf("ending kept api key answer: %w", err))
			return
		}
	}
}
