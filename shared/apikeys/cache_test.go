package apikeys_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// cacheFixture is a cache on a fresh database and a Redis prefix of its
// own, counting the PostgreSQL lookups it makes (BeforeRead runs before
// each, as the backend's per-address guard does).
type cacheFixture struct {
	db     *database.DB
	cache  *apikeys.Cache
	reads  atomic.Int64
	tenant string
}

func newCacheFixture(t *testing.T, keyTTL time.Duration) *cacheFixture {
	t.Helper()
	f := &cacheFixture{db: testenv.Postgres(t)}
	rdb, prefix := testenv.Redis(t)
	store, err := apikeys.NewStore(f.db)
	if err != nil {
		t.Fatal(err)
	}
	f.cache, err = apikeys.NewCache(store, rdb, prefix, apikeys.CacheConfig{KeyTTL: keyTTL,
		BeforeRead: func(context.Context) error { f.reads.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.NewStore(f.db)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := ts.Create(context.Background(), "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.tenant = tn.ID
	return f
}

func (f *cacheFixture) key(t *testing.T) (apikeys.Key, string) {
	t.Helper()
	k, secret, err := f.cache.Create(context.Background(), f.tenant, "ci", "admin", "test")
	if err != nil {
		t.Fatal(err)
	}
	testenv.NoteSecret(t, secret)
	return k, secret
}

func (f *cacheFixture) works(t *testing.T, secret string) bool {
	t.Helper()
	_, err := f.cache.Authenticate(context.Background(), secret)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("Authenticate: %v", err)
	}
	return err == nil
}

// TestCacheReadsPostgresOncePerKey: a live key and a made-up one each cost
// one PostgreSQL lookup, however often they are presented.
func TestCacheReadsPostgresOncePerKey(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, time.Minute)
	k, secret := f.key(t)
	for range 20 {
		got, err := f.cache.Authenticate(context.Background(), secret)
		if err != nil || got.ID != k.ID || got.TenantID != f.tenant || got.Role != "admin" {
			t.Fatalf("Authenticate = %+v, %v", got, err)
		}
	}
	if n := f.reads.Swap(0); n != 1 {
		t.Fatalf("20 lookups of a live key read PostgreSQL %d times, want 1", n)
	}
	junk := apikeys.Prefix + "junk-0123456789"
	for range 20 {
		if f.works(t, junk) {
			t.Fatal("a made-up key works")
		}
	}
	if n := f.reads.Swap(0); n != 1 {
		t.Fatalf("20 lookups of a made-up key read PostgreSQL %d times, want 1", n)
	}
	if f.works(t, "not-a-key") || f.reads.Load() != 0 {
		t.Fatal("a secret that cannot be a key was looked up")
	}
}

// TestCacheRevocationIsImmediate: a key revoked through the cache is
// refused on the very next request, though its answer was kept.
func TestCacheRevocationIsImmediate(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, time.Hour)
	k, secret := f.key(t)
	// Twice: the first answer is read from PostgreSQL and kept, the
	// second is the kept one.
	for range 2 {
		if !f.works(t, secret) {
			t.Fatal("a new key does not work")
		}
	}
	if _, err := f.cache.Revoke(context.Background(), f.tenant, k.ID); err != nil {
		t.Fatal(err)
	}
	if f.works(t, secret) {
		t.Fatal("a revoked key works on the next request")
	}
}

// TestCacheRevocationBound: when a revocation never reaches Redis (written
// straight to PostgreSQL here, as a revoke whose Redis write failed), the
// key stops working once its kept answer expires: KeyTTL, the stated bound.
func TestCacheRevocationBound(t *testing.T) {
	t.Parallel()
	const ttl = 500 * time.Millisecond
	f := newCacheFixture(t, ttl)
	k, secret := f.key(t)
	if !f.works(t, secret) {
		t.Fatal("a new key does not work")
	}
	kept := time.Now()
	// In the tenant's scope, as every change is: the outbox event it
	// appends (schema/010) is refused without one.
	err := f.db.Tx(context.Background(), database.Tenant(f.tenant), func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(kept.Add(ttl + 50*time.Millisecond)))
	if f.works(t, secret) {
		t.Fatalf("a key revoked %s ago still works (bound %s)", time.Since(kept), ttl)
	}
}

// TestCacheTenantDeletion: deleting a tenant ends its keys' kept answers.
func TestCacheTenantDeletion(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t, time.Hour)
	_, secret := f.key(t)
	if !f.works(t, secret) {
		t.Fatal("a new key does not work")
	}
	ts, err := tenants.NewStore(f.db)
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Delete(context.Background(), f.tenant); err != nil {
		t.Fatal(err)
	}
	if err := f.cache.ForgetTenant(context.Background(), f.tenant); err != nil {
		t.Fatal(err)
	}
	if f.works(t, secret) {
		t.Fatal("a key of a deleted tenant works")
	}
}
