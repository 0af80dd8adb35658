package licensing_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestWriteThrough: committed changes reach Redis through the service, for
// one license and for every license of a tenant; a Redis that cannot take
// them is a 503 to retry.
func TestWriteThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, prefix := testenv.Backend(t)
	// meta reads a field of what Redis holds of a license (the hash the
	// seat scripts read); "" when it holds nothing.
	meta := func(id, field string) string {
		v, _ := b.Redis.HGet(ctx, prefix+"{"+id+"}:m", field).Result()
		return v
	}

	ten, err := b.Tenants.Create(ctx, "Acme", "acme-licensing", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		l, _, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "p", Seats: 2, LeaseTTLSeconds: 60,
			Leasing: licenses.PerFingerprint})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}

	suspended := "suspended"
	l, err := b.Licenses.Update(ctx, ten.ID, ids[0], licenses.Patch{Status: &suspended})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Licensing.SyncLicense(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got := meta(ids[0], "status"); got != "suspended" {
		t.Errorf("after SyncLicense, Redis holds status %q, want suspended", got)
	}
	if got := meta(ids[1], "status"); got != "" {
		t.Errorf("SyncLicense wrote the other license too (status %q)", got)
	}

	if _, err := b.Tenants.Update(ctx, ten.ID, tenants.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	if err := b.Licensing.SyncTenant(ctx, ten.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if got := meta(id, "tstatus"); got != "suspended" {
			t.Errorf("after SyncTenant, license %s holds tenant status %q, want suspended", id, got)
		}
	}

	// Redis gone after the commit: the answer is a 503 to retry.
	dead := redis.NewClient(&redis.Options{Addr: testenv.DeadAddress(t), MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	down, err := backend.New(dead, b.DB, prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Sightings.Close)
	var e *httpjson.Error
	if err := down.Licensing.SyncLicense(ctx, l); !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable ||
		e.Code != "unavailable" || e.RetryAfter == 0 {
		t.Errorf("SyncLicense on a closed Redis = %v, want 503 unavailable with Retry-After", err)
	}
}

// TestSyncTenantCarriesOnPastAFailure: one license Redis cannot take (its
// metadata key holds a value of the wrong type, so the sync script fails on
// it) does not stop the others being written, and the answer is a 503 naming
// the license that failed.
func TestSyncTenantCarriesOnPastAFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, prefix := testenv.Backend(t)
	ten, err := b.Tenants.Create(ctx, "Partial", "partial-licensing", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		l, _, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "p", Seats: 2, LeaseTTLSeconds: 60,
			Leasing: licenses.PerFingerprint})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	// The tenant's licenses are written in id order: break the first, so a
	// write that stopped at the first failure would leave both others.
	slices.Sort(ids)
	broken := ids[0]
	if err := b.Redis.Set(ctx, prefix+"{"+broken+"}:m", "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	suspended := "suspended"
	if _, err := b.Tenants.Update(ctx, ten.ID, tenants.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}

	err = b.Licensing.SyncTenant(ctx, ten.ID)
	var e *httpjson.Error
	if !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Cause == nil ||
		!strings.Contains(e.Cause.Error(), broken) {
		t.Fatalf("SyncTenant with one broken license = %v (cause %v), want a 503 whose cause names %s", err, e.Cause, broken)
	}
	for _, id := range ids[1:] {
		if got, _ := b.Redis.HGet(ctx, prefix+"{"+id+"}:m", "tstatus").Result(); got != "suspended" {
			t.Errorf("license %s after a failure on another: Redis holds tenant status %q, want suspended", id, got)
		}
	}
	for _, id := range ids[1:] {
		if strings.Contains(e.Cause.Error(), id) {
			t.Errorf("error %q names license %s, which was written", e.Cause, id)
		}
	}
}

// TestLiveTenant: a live tenant (suspended ones too) passes; an unknown or
// deleted one is a 404, so a list of its resources is not an empty list.
func TestLiveTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := testenv.Backend(t)
	ten, err := b.Tenants.Create(ctx, "Live", "live-licensing", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Licensing.LiveTenant(ctx, ten.ID); err != nil {
		t.Errorf("LiveTenant(live) = %v", err)
	}
	suspended := "suspended"
	if _, err := b.Tenants.Update(ctx, ten.ID, tenants.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	if err := b.Licensing.LiveTenant(ctx, ten.ID); err != nil {
		t.Errorf("LiveTenant(suspended) = %v", err)
	}
	if err := b.Tenants.Delete(ctx, ten.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{ten.ID, "00000000-0000-4000-8000-000000000000"} {
		var e *httpjson.Error
		if err := b.Licensing.LiveTenant(ctx, id); !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != "tenant_not_found" {
			t.Errorf("LiveTenant(%s) = %v, want 404 tenant_not_found", id, err)
		}
	}
}

func TestNewNeedsEveryDependency(t *testing.T) {
	t.Parallel()
	if _, err := licensing.New(nil, nil, nil); err == nil {
		t.Fatal("New without dependencies succeeded")
	}
}
