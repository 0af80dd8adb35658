package audit_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// logFixture is two tenants' audit logs, written by the real triggers and
// app_audit, and a store that reads them as the Audit function does (as
// the reader role, under row-level security).
type logFixture struct {
	store         *audit.Store
	acme, globex  string
	license, gone string // acme's licenses: one updated, one deleted
}

// newLog makes, as the admins would:
//
//	acme:   tenant.create (user:root); license.create ×2 (user:ada);
//	        license.update and license.delete (api_key:k1);
//	        session.revoke of a session (user:ada)
//	globex: tenant.create (user:root); license.create (user:ada), whose
//	        entry no listing of acme may show, whatever the filter
func newLog(t *testing.T) logFixture {
	t.Helper()
	db := testenv.Postgres(t)
	ts, err := tenants.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	root := database.WithActor(context.Background(), "user:root")
	ada := database.WithActor(context.Background(), "user:ada")
	key := database.WithActor(context.Background(), "api_key:k1")
	tenant := func(slug string) string {
		ten, err := ts.Create(root, slug, slug, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ten.ID
	}
	license := func(tenantID string) string {
		l, _, err := ls.Create(ada, tenantID, licenses.New{Product: "ide", Seats: 2, LeaseTTLSeconds: 60, Leasing: "per_fingerprint"})
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	var f logFixture
	f.acme, f.globex = tenant("acme"), tenant("globex")
	f.license, f.gone = license(f.acme), license(f.acme)
	license(f.globex)
	seats := 5
	if _, err := ls.Update(key, f.acme, f.license, licenses.Patch{Seats: &seats}); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.Delete(key, f.acme, f.gone); err != nil {
		t.Fatal(err)
	}
	err = ls.Audited(ada, f.acme, "session.revoke", "session", "s-digest", func(context.Context) (map[string]any, error) {
		return map[string]any{"license_id": f.license}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.store, err = audit.NewStore(testenv.OpenAs(t, db, database.RoleReader)); err != nil {
		t.Fatal(err)
	}
	return f
}

// all lists every entry of a tenant that matches the filter, page by page
// (limit entries each), checking the pages join up.
func (f logFixture) all(t *testing.T, tenantID string, filter audit.Filter, limit int) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	p := database.Page{Limit: limit}
	for range 100 {
		page, next, err := f.store.List(context.Background(), tenantID, filter, p)
		if err != nil {
			t.Fatalf("List(%+v, %+v): %v", filter, p, err)
		}
		if len(page) > limit || (next != "" && len(page) != limit) {
			t.Fatalf("a page of %d entries (limit %d), next %q", len(page), limit, next)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		if p.After, err = database.DecodeCursor(next); err != nil {
			t.Fatalf("next_cursor %q: %v", next, err)
		}
	}
	t.Fatal("the pages never end")
	return nil
}

func summary(es []audit.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Actor + " " + e.Action + " " + e.TargetType + ":" + e.TargetID
	}
	return out
}

// TestListFilters: each filter, alone and together, gives exactly the
// tenant's entries whose fields equal it, newest first, the same whole or
// paged one entry at a time; another tenant's entries never show.
func TestListFilters(t *testing.T) {
	t.Parallel()
	f := newLog(t)
	every := f.all(t, f.acme, audit.Filter{}, 50)
	want := []string{
		"user:ada session.revoke session:s-digest",
		"api_key:k1 license.delete license:" + f.gone,
		"api_key:k1 license.update license:" + f.license,
		"user:ada license.create license:" + f.gone,
		"user:ada license.create license:" + f.license,
		"user:root tenant.create tenant:" + f.acme,
	}
	if got := summary(every); !slices.Equal(got, want) {
		t.Fatalf("acme's log:\n got %q\nwant %q", got, want)
	}
	if !slices.IsSortedFunc(every, func(a, b audit.Entry) int { return int(b.ID - a.ID) }) {
		t.Fatalf("not newest first: %q", summary(every))
	}

	for _, c := range []struct {
		name   string
		filter audit.Filter
		want   int
	}{
		{"actor", audit.Filter{Actor: "user:ada"}, 3},
		{"actor of nothing here", audit.Filter{Actor: "user:ad"}, 0},
		{"action", audit.Filter{Action: "license.create"}, 2},
		{"target type", audit.Filter{TargetType: "license"}, 4},
		{"target", audit.Filter{TargetID: f.license}, 2},
		{"target of another tenant's entries", audit.Filter{TargetID: f.globex}, 0},
		{"actor and action", audit.Filter{Actor: "api_key:k1", Action: "license.delete"}, 1},
		{"all four", audit.Filter{Actor: "api_key:k1", Action: "license.update", TargetType: "license", TargetID: f.license}, 1},
		{"all four, one off", audit.Filter{Actor: "user:ada", Action: "license.update", TargetType: "license", TargetID: f.license}, 0},
		{"app_audit's entries", audit.Filter{TargetType: "session", TargetID: "s-digest"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want []audit.Entry
			for _, e := range every {
				if (c.filter.Actor == "" || e.Actor == c.filter.Actor) && (c.filter.Action == "" || e.Action == c.filter.Action) &&
					(c.filter.TargetType == "" || e.TargetType == c.filter.TargetType) && (c.filter.TargetID == "" || e.TargetID == c.filter.TargetID) {
					want = append(want, e)
				}
			}
			if len(want) != c.want {
				t.Fatalf("the fixture has %d matching entries, the case expects %d", len(want), c.want)
			}
			for _, limit := range []int{1, 2, 50} {
				if got := f.all(t, f.acme, c.filter, limit); !slices.Equal(summary(got), summary(want)) {
					t.Errorf("limit %d:\n got %q\nwant %q", limit, summary(got), summary(want))
				}
			}
		})
	}

	// Globex's log holds only its own two entries, whoever else user:ada
	// and user:root changed.
	if got := summary(f.all(t, f.globex, audit.Filter{Actor: "user:ada"}, 1)); len(got) != 1 || got[0] == want[3] || got[0] == want[4] {
		t.Errorf("globex's entries by user:ada: %q", got)
	}
}

// TestListCursorBoundToFilter: a page's cursor continues only the listing
// it came from: the same tenant's log with other filters (or none) refuses
// it, and another tenant's log given it shows only that tenant's entries.
func TestListCursorBoundToFilter(t *testing.T) {
	t.Parallel()
	f := newLog(t)
	ctx := context.Background()
	first := func(filter audit.Filter) *database.Cursor {
		t.Helper()
		_, next, err := f.store.List(ctx, f.acme, filter, database.Page{Limit: 1})
		if err != nil || next == "" {
			t.Fatalf("first page of %+v: next %q, %v", filter, next, err)
		}
		c, err := database.DecodeCursor(next)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	byAda := audit.Filter{Actor: "user:ada"}
	licenseCreates := audit.Filter{Action: "license.create"}
	for _, c := range []struct {
		name     string
		from, to audit.Filter
	}{
		{"unfiltered to filtered", audit.Filter{}, byAda},
		{"filtered to unfiltered", byAda, audit.Filter{}},
		{"one filter to another", byAda, licenseCreates},
		{"a filter to one more", byAda, audit.Filter{Actor: "user:ada", Action: "license.create"}},
	} {
		_, _, err := f.store.List(ctx, f.acme, c.to, database.Page{Limit: 1, After: first(c.from)})
		if !errors.Is(err, database.ErrBadCursor) {
			t.Errorf("%s: err = %v, want ErrBadCursor", c.name, err)
		}
	}
	// Forged cursor ids: not a number, not positive, a digest with no filter.
	for _, id := range []string{"x", "0", "-3", "7~", "7~0011223344556677", "7~~"} {
		for _, filter := range []audit.Filter{{}, byAda} {
			p := database.Page{Limit: 1, After: &database.Cursor{At: first(byAda).At, ID: id}}
			if _, _, err := f.store.List(ctx, f.acme, filter, p); !errors.Is(err, database.ErrBadCursor) {
				t.Errorf("cursor id %q with %+v: err = %v, want ErrBadCursor", id, filter, err)
			}
		}
	}
	// Acme's cursor on globex's log: a valid cursor for the filter, and
	// still only globex's entries.
	got, _, err := f.store.List(ctx, f.globex, byAda, database.Page{Limit: 50, After: first(byAda)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range got {
		if e.Action != "license.create" || e.Actor != "user:ada" || e.TargetID == f.license || e.TargetID == f.gone {
			t.Errorf("globex's log shows %q", summary([]audit.Entry{e}))
		}
	}
}

func TestKnownActionAndTargetType(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s             string
		action, typed bool
	}{
		{"license.update", true, false},
		{"license.rotate_key", true, false},
		{"license.revoke_sessions", true, false},
		{"session.revoke", true, false},
		{"member.delete", true, false},
		{"api_key.revoke", true, false},
		{"license", false, true},
		{"member", false, true},
		{"session", false, true},
		{"", false, false},
		{"license.", false, false},
		{".update", false, false},
		{"license.update.x", false, false},
		{"License.update", false, false},
		{"licence.update", false, false},
		{"license.read", false, false},
		{"license update", false, false},
		{"license.update ", false, false},
	} {
		if got := audit.KnownAction(c.s); got != c.action {
			t.Errorf("KnownAction(%q) = %v", c.s, got)
		}
		if got := audit.KnownTargetType(c.s); got != c.typed {
			t.Errorf("KnownTargetType(%q) = %v", c.s, got)
		}
	}
}
