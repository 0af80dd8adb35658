package billing_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/billing"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// auto_renew without Stripe: on the expiry day (UTC), or within the two
// hours before an expiry just after midnight, not earlier, the expiry moves on by whole periods, catching up missed ones in
// one step; once, whatever the runs; with license.renewed and the audit's
// actor auto_renew; never a suspended license or one without a period.
func TestAutoRenew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	owner := testenv.Postgres(t)
	cleanup := testenv.OpenAs(t, owner, database.RoleCleanup)
	ts, err := tenants.NewStore(owner)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(owner)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := ts.Create(ctx, "renewals", "renewals", nil)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(period *string, expires time.Time, status string) string {
		t.Helper()
		l, _, err := ls.Create(ctx, ten.ID, licenses.New{Product: "cad", Seats: 1, LeaseTTLSeconds: 60, Leasing: "per_fingerprint",
			ExpiresAt: &expires, AutoRenewPeriod: period})
		if err != nil {
			t.Fatal(err)
		}
		if status != "active" {
			if _, err := ls.Update(ctx, ten.ID, l.ID, licenses.Patch{Status: &status}); err != nil {
				t.Fatal(err)
			}
		}
		return l.ID
	}
	month, year := "P1M", "P1Y"
	monthly := mk(&month, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "active")
	missed := mk(&month, time.Date(2026, 8, 15, 9, 0, 0, 0, time.UTC), "active")
	yearly := mk(&year, time.Date(2026, 11, 30, 23, 59, 0, 0, time.UTC), "active")
	suspended := mk(&month, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "suspended")
	plain := mk(nil, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), "active")
	// Just after midnight: renewed by the last hourly run before it, not
	// minutes late by the first of its day.
	afterMidnight := mk(&month, time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC), "active")

	expires := func(id string) time.Time {
		t.Helper()
		l, err := ls.Get(ctx, ten.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		return *l.ExpiresAt
	}
	if got, err := billing.AutoRenew(ctx, cleanup, time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)); err != nil || len(got) != 1 || got[0].LicenseID != missed {
		t.Fatalf("the day before: renewed %v, %v (want only the missed one)", got, err)
	}
	if e := expires(missed); !e.Equal(time.Date(2026, 12, 15, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("missed renewal caught up to %v, want 2026-12-15 (four months in one step)", e)
	}
	var wg sync.WaitGroup
	var n [3]int
	var errs [3]error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := billing.AutoRenew(ctx, cleanup, time.Date(2026, 11, 30, 0, 30, 0, 0, time.UTC))
			n[i], errs[i] = len(got), err
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || n[0]+n[1]+n[2] != 2 {
		t.Fatalf("three runs on the expiry day renewed %v (%v), want 2 in all", n, errs)
	}
	if got, err := billing.AutoRenew(ctx, cleanup, time.Date(2026, 11, 30, 23, 7, 0, 0, time.UTC)); err != nil || len(got) != 1 || got[0].LicenseID != afterMidnight {
		t.Fatalf("the last run before midnight: renewed %v, %v (want the one expiring at 00:05)", got, err)
	}
	for id, want := range map[string]time.Time{
		afterMidnight: time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC),
		monthly:       time.Date(2026, 12, 30, 10, 0, 0, 0, time.UTC),
		yearly:        time.Date(2027, 11, 30, 23, 59, 0, 0, time.UTC),
		suspended:     time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
		plain:         time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
	} {
		if e := expires(id); !e.Equal(want) {
			t.Errorf("license %s expires %v, want %v", id, e, want)
		}
	}
	var events, audited int
	if err := owner.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE type = 'license.renewed' AND tenant_id = $1`, ten.ID).
		Scan(&events); err != nil || events != 4 {
		t.Fatalf("license.renewed events = %d, %v; want 4", events, err)
	}
	var prev, next, period string
	var periods int
	if err := owner.Pool.QueryRow(ctx, `SELECT payload ->> 'previous_expires_at', payload ->> 'expires_at', payload ->> 'period',
		(payload ->> 'periods')::int FROM outbox_events WHERE type = 'license.renewed' AND payload -> 'license' ->> 'id' = $1`, missed).
		Scan(&prev, &next, &period, &periods); err != nil || period != "P1M" || periods != 4 {
		t.Fatalf("the missed one's event: %s → %s, %s × %d, %v", prev, next, period, periods, err)
	}
	if err := owner.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE actor = 'auto_renew' AND tenant_id = $1`, ten.ID).
		Scan(&audited); err != nil || audited != 4 {
		t.Fatalf("audit entries by auto_renew = %d, %v", audited, err)
	}
}
