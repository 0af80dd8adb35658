package licenses_test

import (
	"context"
	"testing"

	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestBorrowPolicyStored: the borrow policy round-trips through PostgreSQL
// (NULL when off), a PATCH replaces or clears it, and the seat engine's
// license carries it.
func TestBorrowPolicyStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Postgres(t)
	ts, err := tenants.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := ts.Create(ctx, "acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	off, _, err := ls.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 2, LeaseTTLSeconds: 60, Leasing: licenses.PerFingerprint})
	if err != nil || off.Borrow != nil || off.Seat(nil).Borrow != nil {
		t.Fatalf("create without a policy = %+v, %v", off.Borrow, err)
	}
	want := seats.BorrowPolicy{MaxSeconds: 3600, MaxConcurrent: 1, MinOnlineSeats: 1}
	on, _, err := ls.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 2, LeaseTTLSeconds: 60,
		Leasing: licenses.PerFingerprint, Borrow: &want})
	if err != nil || on.Borrow == nil || *on.Borrow != want {
		t.Fatalf("create with %+v = %+v, %v", want, on.Borrow, err)
	}
	got, err := ls.Get(ctx, ten.ID, on.ID)
	if err != nil || got.Borrow == nil || *got.Borrow != want || *got.Seat(nil).Borrow != want {
		t.Fatalf("get = %+v, %v", got.Borrow, err)
	}
	seatsTwo := 3
	kept, err := ls.Update(ctx, ten.ID, on.ID, licenses.Patch{Seats: &seatsTwo})
	if err != nil || kept.Borrow == nil || *kept.Borrow != want {
		t.Fatalf("a patch of seats alone left %+v, %v", kept.Borrow, err)
	}
	week := seats.BorrowPolicy{MaxSeconds: seats.BorrowDefaultSeconds}
	changed, err := ls.Update(ctx, ten.ID, on.ID, licenses.Patch{Borrow: &week})
	if err != nil || changed.Borrow == nil || *changed.Borrow != week {
		t.Fatalf("replace = %+v, %v", changed.Borrow, err)
	}
	cleared, err := ls.Update(ctx, ten.ID, on.ID, licenses.Patch{ClearBorrow: true})
	if err != nil || cleared.Borrow != nil {
		t.Fatalf("clear = %+v, %v", cleared.Borrow, err)
	}
	// The schema refuses a policy out of bounds whoever writes it.
	bad := seats.BorrowPolicy{MaxSeconds: 60}
	if _, err := ls.Update(ctx, ten.ID, on.ID, licenses.Patch{Borrow: &bad}); err == nil {
		t.Fatal("a policy of 60 seconds was stored")
	}
}
