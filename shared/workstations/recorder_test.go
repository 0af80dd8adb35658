package workstations_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/workstations"
)

// TestRecorderCountsWhatItLoses: sightings reach the inventory, one row per
// workstation, in more than one batch; sightings that cannot be written
// (here, of a tenant that does not exist) are logged and counted as
// dropped, and the other tenant's sightings in their batch are still
// written.
func TestRecorderCountsWhatItLoses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testenv.Postgres(t)
	ts, err := tenants.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	tenant, err := ts.Create(ctx, "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := workstations.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	r := workstations.NewRecorder(store, slog.New(slog.NewJSONHandler(&logs, nil)), time.Hour)

	now := time.Now()
	for i := range 300 { // 150 workstations, each seen twice: two batches
		r.Seen(workstations.Sighting{TenantID: tenant.ID, Fingerprint: fmt.Sprint("ws-", i%150), At: now})
	}
	for _, fp := range []string{"x", "y", "z"} {
		r.Seen(workstations.Sighting{TenantID: "00000000-0000-4000-8000-000000000000", Fingerprint: fp, At: now})
	}
	r.Close() // flushes what is queued

	if got := r.Dropped(); got != 3 {
		t.Errorf("Dropped() = %d, want the 3 sightings of the unknown tenant", got)
	}
	if !strings.Contains(logs.String(), "recording workstations failed") {
		t.Errorf("no warning logged for the failed batch: %s", logs.String())
	}
	recorded := 0
	for p := (database.Page{Limit: 100}); ; {
		list, next, err := store.List(ctx, tenant.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		recorded += len(list)
		if next == "" {
			break
		}
		if p.After, err = database.DecodeCursor(next); err != nil {
			t.Fatal(err)
		}
	}
	if recorded != 150 {
		t.Errorf("%d workstations recorded, want 150", recorded)
	}
}
