package members_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// newStore is a store logged in as each role that uses it: the Admin role
// manages memberships, and sign-in runs as the Seats role, the least
// privileged that signs people in (it has no right on the table itself).
func newStore(t *testing.T) (admin, seats *members.Store, newTenant func() string) {
	t.Helper()
	b, _ := testenv.Backend(t)
	ctx := database.WithActor(context.Background(), "test")
	n := 0
	newTenant = func() string {
		n++
		tn, err := b.Tenants.Create(ctx, "Acme", fmt.Sprintf("acme-%d", n), nil)
		if err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	var err error
	admin, err = members.NewStore(testenv.OpenAs(t, b.DB, database.RoleAdmin))
	if err != nil {
		t.Fatal(err)
	}
	seats, err = members.NewStore(testenv.OpenAs(t, b.DB, database.RoleSeats))
	if err != nil {
		t.Fatal(err)
	}
	return admin, seats, newTenant
}

func TestSignInBindsOnceBySubject(t *testing.T) {
	t.Parallel()
	admin, seats, newTenant := newStore(t)
	tenant := newTenant()
	ctx := database.WithActor(context.Background(), "test")
	if _, err := admin.Invite(ctx, tenant, "ada@example.com", members.RoleAdmin, "", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Invite(ctx, tenant, "ada@example.com", members.RoleMember, "", "test"); !errors.Is(err, members.ErrExists) {
		t.Fatalf("second invitation of the same e-mail: %v, want ErrExists", err)
	}
	if _, err := admin.Invite(ctx, "", "root@vendor.example", members.RoleAdmin, "", "test"); err != nil {
		t.Fatal(err)
	}
	ada := members.Identity{Issuer: "https://idp", Subject: "ada", Email: "Ada@Example.com", EmailVerified: true}
	for _, c := range []struct {
		name string
		id   members.Identity
		want int
	}{
		{"unverified e-mail binds nothing", members.Identity{Issuer: "https://idp", Subject: "ada", Email: "ada@example.com"}, 0},
		{"another tenant only", members.Identity{Issuer: "https://idp", Subject: "ada", Email: "ada@example.com", EmailVerified: true,
			OnlyTenant: "00000000-0000-4000-8000-000000000000"}, 0},
		{"not the platform's", members.Identity{Issuer: "https://idp", Subject: "root", Email: "root@vendor.example", EmailVerified: true}, 0},
		{"verified e-mail binds", ada, 1},
		{"the subject signs in again, e-mail unverified", members.Identity{Issuer: "https://idp", Subject: "ada"}, 1},
		{"another subject with the same e-mail", members.Identity{Issuer: "https://idp", Subject: "mallory", Email: "ada@example.com", EmailVerified: true}, 0},
		{"another issuer, same subject", members.Identity{Issuer: "https://other", Subject: "ada", Email: "x@example.com", EmailVerified: true}, 0},
		{"the platform's", members.Identity{Issuer: "https://idp", Subject: "root", Email: "root@vendor.example", EmailVerified: true, Platform: true}, 1},
	} {
		got, err := seats.SignIn(context.Background(), c.id)
		if err != nil || len(got) != c.want {
			t.Errorf("%s: %v, %v; want %d memberships", c.name, got, err, c.want)
		}
	}
	bound, err := seats.PlatformAdminSignedIn(context.Background())
	if err != nil || !bound {
		t.Fatalf("PlatformAdminSignedIn = %v, %v after root signed in", bound, err)
	}
}

// TestConcurrentDemotionsKeepAnAdmin: two admins demoted (or removed) at
// once, each change would pass alone; the lock makes exactly one pass.
func TestConcurrentDemotionsKeepAnAdmin(t *testing.T) {
	t.Parallel()
	admin, _, newTenant := newStore(t)
	ctx := database.WithActor(context.Background(), "test")
	for round := range 10 {
		tenant := newTenant()
		var ids [2]string
		for i := range ids {
			m, err := admin.Invite(ctx, tenant, fmt.Sprintf("r%d-%d@example.com", round, i), members.RoleAdmin, "", "test")
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = m.ID
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range ids {
			wg.Go(func() {
				if round%2 == 0 {
					_, errs[i] = admin.SetRole(ctx, tenant, id, members.RoleMember)
				} else {
					_, errs[i] = admin.Remove(ctx, tenant, id)
				}
			})
		}
		wg.Wait()
		failed := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, members.ErrLastAdmin):
				failed++
			case err != nil:
				t.Fatal(err)
			}
		}
		if failed != 1 {
			t.Fatalf("round %d: %v, want exactly one ErrLastAdmin", round, errs)
		}
		list, _, err := admin.List(ctx, tenant, database.Page{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		admins := 0
		for _, m := range list {
			if m.Role == members.RoleAdmin {
				admins++
			}
		}
		if admins != 1 {
			t.Fatalf("round %d left %d admins, want 1", round, admins)
		}
	}
	if _, err := admin.Remove(ctx, newTenant(), "00000000-0000-4000-8000-000000000000"); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("removing no one: %v, want ErrNotFound", err)
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{" Ada@Example.COM ": "ada@example.com", "a@b": "a@b", "@b": "", "a@": "", "a b@c": "",
		"a@b@c": "", "ada": "", "a\x00@b": ""} {
		got, ok := members.NormalizeEmail(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
