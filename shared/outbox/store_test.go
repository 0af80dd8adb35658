package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/workstations"
)

const actor = "user:ada@example.com"

// env is a fresh database with the function roles' backends (every change
// made as the role whose function makes it), the outbox read as the
// Reader role and marked as the Cleanup role, which will deliver.
type env struct {
	b       *backend.Backend
	roles   map[database.Role]*backend.Backend
	reader  *outbox.Store
	cleanup *outbox.Store
	ctx     context.Context
	n       int
	// ignore names event types derived() passes over.
	ignore map[string]bool
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, _ := testenv.Backend(t)
	e := &env{b: b, roles: testenv.RoleBackends(t, b), ctx: database.WithActor(context.Background(), actor)}
	var err error
	if e.reader, err = outbox.NewStore(e.roles[database.RoleReader].DB); err != nil {
		t.Fatal(err)
	}
	if e.cleanup, err = outbox.NewStore(e.roles[database.RoleCleanup].DB); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) admin() *backend.Backend { return e.roles[database.RoleAdmin] }

func (e *env) tenant(t *testing.T) string {
	t.Helper()
	e.n++
	tn, err := e.admin().Tenants.Create(e.ctx, "Acme", fmt.Sprintf("acme-%d", e.n), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// take returns the tenant's pending events and marks them delivered, so
// the next take sees only what came after.
func (e *env) take(t *testing.T, tenant string) []outbox.Event {
	t.Helper()
	events, err := e.reader.Pending(e.ctx, database.Tenant(tenant), 1000)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
		if ev.TenantID != tenant {
			t.Errorf("tenant %s's scope read an event of tenant %s", tenant, ev.TenantID)
		}
	}
	if n, err := e.cleanup.MarkDelivered(e.ctx, database.Tenant(tenant), ids); err != nil || n != len(ids) {
		t.Fatalf("marking %d events delivered: %d (%v)", len(ids), n, err)
	}
	return events
}

// one expects exactly one new event of the tenant, of type typ, and
// returns its payload.
func (e *env) one(t *testing.T, tenant, what, typ string) map[string]any {
	t.Helper()
	events := e.take(t, tenant)
	if len(events) != 1 || events[0].Type != typ {
		var got []string
		for _, ev := range events {
			got = append(got, ev.Type+" "+string(ev.Payload))
		}
		t.Fatalf("%s: events %v; want one %s", what, got, typ)
	}
	var p map[string]any
	if err := json.Unmarshal(events[0].Payload, &p); err != nil {
		t.Fatal(err)
	}
	if events[0].Version != 1 {
		t.Errorf("%s: version %d, want 1", what, events[0].Version)
	}
	if p["actor"] != actor {
		t.Errorf("%s: actor %v, want %s", what, p["actor"], actor)
	}
	return p
}

// none expects no new event of the tenant.
func (e *env) none(t *testing.T, tenant, what string) {
	t.Helper()
	if events := e.take(t, tenant); len(events) != 0 {
		t.Errorf("%s: %d events (first %s %s); want none", what, len(events), events[0].Type, events[0].Payload)
	}
}

// secretFree fails the test if any event the tenant ever had (delivered
// or not) holds one of secrets, or a field named for a hash.
func (e *env) secretFree(t *testing.T, tenant string, secrets ...string) {
	t.Helper()
	var all []string
	err := e.b.DB.Tx(e.ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(e.ctx, `SELECT payload::text FROM outbox_events WHERE tenant_id = $1`, tenant)
		if err != nil {
			return err
		}
		all, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no events to check")
	}
	for _, p := range all {
		for _, s := range append(secrets, "key_hash", "previous_key_hash", "changed_xid", "revision", "issuer", "subject") {
			if s != "" && strings.Contains(p, s) {
				t.Errorf("an event holds %q: %s", s, p)
			}
		}
	}
}

func field(p map[string]any, obj, key string) any {
	m, _ := p[obj].(map[string]any)
	return m[key]
}

func TestLicenseChangesAppendOneEventEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	e.none(t, tenant, "creating a tenant")
	store := e.admin().Licenses

	l, key, err := store.Create(e.ctx, tenant, licenses.New{Product: "cad", Seats: 2, LeaseTTLSeconds: 300, Leasing: licenses.PerFingerprint})
	if err != nil {
		t.Fatal(err)
	}
	p := e.one(t, tenant, "create", "license.created")
	if field(p, "license", "id") != l.ID || field(p, "license", "seats") != 2.0 || field(p, "license", "status") != "active" ||
		field(p, "license", "product") != "cad" || field(p, "license", "key_prefix") != l.KeyPrefix {
		t.Errorf("license.created payload %v", p)
	}

	seats := 5
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{Seats: &seats}); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "seats 2 → 5", "license.updated")
	if fmt.Sprint(p["changed"]) != "[seats]" || field(p, "previous", "seats") != 2.0 || field(p, "license", "seats") != 5.0 {
		t.Errorf("license.updated payload %v; want changed [seats], 2 → 5", p)
	}
	// The same value again moves only revision and updated_at.
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{Seats: &seats}); err != nil {
		t.Fatal(err)
	}
	e.none(t, tenant, "seats 5 → 5")

	ttl, requireUser := 60, true
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{LeaseTTLSeconds: &ttl, RequireUser: &requireUser, ClearExpiry: true}); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "lease TTL and require_user", "license.updated")
	if fmt.Sprint(p["changed"]) != "[lease_ttl_seconds require_user]" {
		t.Errorf("changed %v; want [lease_ttl_seconds require_user]", p["changed"])
	}

	suspended, active := "suspended", "active"
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "suspend", "license.suspended")
	if field(p, "license", "status") != "suspended" {
		t.Errorf("license.suspended payload %v", p)
	}
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	e.none(t, tenant, "suspending a suspended license")
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{Status: &active}); err != nil {
		t.Fatal(err)
	}
	e.one(t, tenant, "resume", "license.resumed")

	rotated, newKey, err := store.RotateKey(e.ctx, tenant, l.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "rotate key", "license.key_rotated")
	if field(p, "license", "key_prefix") != rotated.KeyPrefix || p["previous_key_expires_at"] == nil {
		t.Errorf("license.key_rotated payload %v", p)
	}

	// A write the database refuses (lease TTL over the maximum) is no event.
	over := 90000
	if _, err := store.Update(e.ctx, tenant, l.ID, licenses.Patch{LeaseTTLSeconds: &over}); err == nil {
		t.Fatal("a lease TTL over the maximum was accepted")
	}
	e.none(t, tenant, "a refused update")

	if _, err := store.Delete(e.ctx, tenant, l.ID); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "delete", "license.deleted")
	if field(p, "license", "id") != l.ID || field(p, "license", "status") != "deleted" {
		t.Errorf("license.deleted payload %v", p)
	}
	if _, err := store.Delete(e.ctx, tenant, l.ID); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	e.none(t, tenant, "deleting a deleted license")

	e.secretFree(t, tenant, key, newKey, l.KeyHash, rotated.KeyHash)
}

func TestMemberAPIKeyAndWorkstationChangesAppendOneEventEach(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	admin := e.admin()

	// Members: invited and removed; a role change and sign-in are no
	// event, and the platform's memberships are no tenant's.
	if _, err := admin.Members.Invite(e.ctx, tenant, "ada@example.com", members.RoleAdmin, "", actor); err != nil {
		t.Fatal(err)
	}
	p := e.one(t, tenant, "invite", "member.invited")
	if field(p, "member", "email") != "ada@example.com" || field(p, "member", "role") != "admin" {
		t.Errorf("member.invited payload %v", p)
	}
	m, err := admin.Members.Invite(e.ctx, tenant, "bob@example.com", members.RoleMember, "", actor)
	if err != nil {
		t.Fatal(err)
	}
	e.one(t, tenant, "invite", "member.invited")
	if _, err := e.roles[database.RoleSeats].Members.SignIn(e.ctx, members.Identity{
		Issuer: "https://idp", Subject: "bob", Email: "bob@example.com", EmailVerified: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Members.SetRole(e.ctx, tenant, m.ID, members.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e.none(t, tenant, "sign-in and a role change")
	if _, err := admin.Members.Remove(e.ctx, tenant, m.ID); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "remove", "member.removed")
	if field(p, "member", "id") != m.ID || field(p, "member", "deleted_at") == nil {
		t.Errorf("member.removed payload %v", p)
	}
	if _, err := admin.Members.Invite(e.ctx, "", "root@vendor.example", members.RoleAdmin, "", actor); err != nil {
		t.Fatal(err)
	}
	if n := count(t, e, database.Platform()); n != 0 {
		t.Errorf("%d pending events after a platform invitation; want none", n)
	}

	// API keys: created and revoked, never the secret.
	k, secret, err := admin.APIKeys.Create(e.ctx, tenant, "ci", "admin", actor)
	if err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "create API key", "api_key.created")
	if field(p, "api_key", "id") != k.ID || field(p, "api_key", "name") != "ci" {
		t.Errorf("api_key.created payload %v", p)
	}
	if _, err := admin.APIKeys.Revoke(e.ctx, tenant, k.ID); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "revoke API key", "api_key.revoked")
	if field(p, "api_key", "revoked_at") == nil {
		t.Errorf("api_key.revoked payload %v", p)
	}
	if _, err := admin.APIKeys.Revoke(e.ctx, tenant, k.ID); !errors.Is(err, database.ErrNotFound) {
		t.Fatalf("revoking twice: %v", err)
	}
	e.none(t, tenant, "revoking a revoked key")

	// Workstations: sightings (every acquire writes one, as the Seats role,
	// with no actor) are no event, however many; blocking and unblocking
	// are one each.
	seen := e.roles[database.RoleSeats].Workstations
	for i := range 3 {
		if lost, err := seen.Upsert(context.Background(), []workstations.Sighting{{TenantID: tenant, Fingerprint: "fp-1",
			Hostname: fmt.Sprintf("host-%d", i), OS: "linux", User: "ada", At: time.Now().Add(time.Duration(i) * time.Second)}}); err != nil || lost != 0 {
			t.Fatalf("sighting: lost %d (%v)", lost, err)
		}
	}
	e.none(t, tenant, "three sightings")
	list, _, err := admin.Workstations.List(e.ctx, tenant, database.Page{Limit: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("workstations: %v (%v)", list, err)
	}
	w := list[0]
	if _, err := admin.Workstations.SetBlocked(e.ctx, tenant, w.ID, true); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "block", "workstation.blocked")
	if field(p, "workstation", "fingerprint") != "fp-1" || field(p, "workstation", "blocked") != true {
		t.Errorf("workstation.blocked payload %v", p)
	}
	if _, err := admin.Workstations.SetBlocked(e.ctx, tenant, w.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := seen.Upsert(context.Background(), []workstations.Sighting{{TenantID: tenant, Fingerprint: "fp-1", At: time.Now().Add(time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	e.none(t, tenant, "blocking a blocked workstation, and a sighting of it")
	if _, err := admin.Workstations.SetBlocked(e.ctx, tenant, w.ID, false); err != nil {
		t.Fatal(err)
	}
	e.one(t, tenant, "unblock", "workstation.unblocked")

	e.secretFree(t, tenant, secret, "https://idp")
}

// TestSessionsEndedByAnAdmin: ending sessions changes no row; the record
// the licenses function writes through Audited (app_audit) appends
// session.revoked, only if the action succeeded.
func TestSessionsEndedByAnAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	store := e.admin().Licenses
	l, _, err := store.Create(e.ctx, tenant, licenses.New{Product: "cad", Seats: 2, LeaseTTLSeconds: 300, Leasing: licenses.PerFingerprint})
	if err != nil {
		t.Fatal(err)
	}
	e.take(t, tenant)
	digest := strings.Repeat("ab", 16)
	audited := func(action, targetType, targetID string, detail map[string]any, err error) error {
		return store.Audited(e.ctx, tenant, action, targetType, targetID, func(context.Context) (map[string]any, error) {
			return detail, err
		})
	}
	if err := audited("session.revoke", "session", digest, map[string]any{"license_id": l.ID}, nil); err != nil {
		t.Fatal(err)
	}
	p := e.one(t, tenant, "end one session", "session.revoked")
	if field(p, "license", "id") != l.ID || field(p, "license", "product") != "cad" || p["sessions"] != 1.0 || p["session_digest"] != digest {
		t.Errorf("session.revoked payload %v", p)
	}
	if err := audited("license.revoke_sessions", "license", l.ID, map[string]any{"revoked": 3}, nil); err != nil {
		t.Fatal(err)
	}
	p = e.one(t, tenant, "end every session", "session.revoked")
	if field(p, "license", "id") != l.ID || p["sessions"] != 3.0 || p["session_digest"] != nil {
		t.Errorf("session.revoked payload %v", p)
	}
	if err := audited("license.revoke_sessions", "license", l.ID, map[string]any{"revoked": 0}, nil); err != nil {
		t.Fatal(err)
	}
	e.none(t, tenant, "ending every session of a license that had none")
	if err := audited("session.revoke", "session", digest, nil, errors.New("redis down")); err == nil {
		t.Fatal("a failed revocation was recorded")
	}
	e.none(t, tenant, "a failed revocation")
}

// TestRolledBackChangeLeavesNoEvent: the events are the change's
// transaction's; a transaction that rolls back leaves none.
func TestRolledBackChangeLeavesNoEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	l, _, err := e.admin().Licenses.Create(e.ctx, tenant, licenses.New{Product: "cad", Seats: 2, LeaseTTLSeconds: 300, Leasing: licenses.PerFingerprint})
	if err != nil {
		t.Fatal(err)
	}
	e.take(t, tenant)
	boom := errors.New("boom")
	err = e.admin().DB.Tx(e.ctx, database.Tenant(tenant), func(tx pgx.Tx) error {
		for _, s := range []string{
			`UPDATE licenses SET seats = 9 WHERE id = '` + l.ID + `'`,
			`UPDATE licenses SET status = 'suspended' WHERE id = '` + l.ID + `'`,
			`UPDATE api_keys SET revoked_at = now()`,
		} {
			if _, err := tx.Exec(e.ctx, s); err != nil {
				return err
			}
		}
		// Inside the transaction the events are there, in the changed
		// license's tenant.
		var n int
		if err := tx.QueryRow(e.ctx, `SELECT count(*) FROM outbox_events o JOIN licenses l ON l.tenant_id = o.tenant_id
			WHERE l.id = $1 AND o.delivered_at IS NULL`, l.ID).Scan(&n); err == nil {
			t.Errorf("the admin role read the outbox (%d rows)", n)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("transaction: %v", err)
	}
	e.none(t, tenant, "a rolled-back transaction")
	if got, err := e.admin().Licenses.Get(e.ctx, tenant, l.ID); err != nil || got.Seats != 2 {
		t.Fatalf("license after rollback: %+v (%v)", got, err)
	}
}

// TestTenantsSeeOnlyTheirEvents: a tenant's scope reads only its own
// events, and marks only its own delivered; the platform scope sees all.
func TestTenantsSeeOnlyTheirEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := e.tenant(t), e.tenant(t)
	for _, tenant := range []string{a, b} {
		if _, _, err := e.admin().Licenses.Create(e.ctx, tenant, licenses.New{Product: "cad", Seats: 1, LeaseTTLSeconds: 60, Leasing: licenses.PerFingerprint}); err != nil {
			t.Fatal(err)
		}
	}
	ofB, err := e.reader.Pending(e.ctx, database.Tenant(b), 10)
	if err != nil || len(ofB) != 1 {
		t.Fatalf("tenant b's events: %v (%v)", ofB, err)
	}
	ofA, err := e.reader.Pending(e.ctx, database.Tenant(a), 10)
	if err != nil || len(ofA) != 1 || ofA[0].TenantID != a {
		t.Fatalf("tenant a's events: %v (%v)", ofA, err)
	}
	if n, err := e.cleanup.MarkDelivered(e.ctx, database.Tenant(a), []string{ofB[0].ID}); err != nil || n != 0 {
		t.Errorf("tenant a's scope marked tenant b's event delivered: %d (%v)", n, err)
	}
	if n := count(t, e, database.Platform()); n != 2 {
		t.Errorf("platform scope: %d pending events; want 2", n)
	}
	// Neither the admin nor the seats role reads events, and no login role
	// writes one (shared/database's role tests try every role).
	for _, role := range []database.Role{database.RoleAdmin, database.RoleSeats} {
		s, err := outbox.NewStore(e.roles[role].DB)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pending(e.ctx, database.Tenant(a), 10); err == nil {
			t.Errorf("%s read the outbox", role)
		}
	}
	err = e.roles[database.RoleAdmin].DB.Tx(e.ctx, database.Tenant(a), func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `INSERT INTO outbox_events (tenant_id, type, payload) VALUES ($1, 'license.created', '{}')`, a)
		return err
	})
	if err == nil {
		t.Error("the admin role inserted an event")
	}
}

// TestDeliverLocksAndMarks: Deliver hands over the oldest pending events,
// marks only those it was told were delivered, and a concurrent Deliver
// skips the ones locked.
func TestDeliverLocksAndMarks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	for i := range 3 {
		if _, err := e.admin().Members.Invite(e.ctx, tenant, fmt.Sprintf("p%d@example.com", i), members.RoleMember, "", actor); err != nil {
			t.Fatal(err)
		}
	}
	n, err := e.cleanup.Deliver(e.ctx, database.Platform(), 2, func(ctx context.Context, events []outbox.Event) ([]string, error) {
		if len(events) != 2 || events[0].CreatedAt.After(events[1].CreatedAt) {
			t.Errorf("Deliver handed %d events, want the 2 oldest", len(events))
		}
		// Meanwhile another deliverer skips the locked rows.
		other, err := e.cleanup.Deliver(context.Background(), database.Platform(), 10, func(_ context.Context, events []outbox.Event) ([]string, error) {
			if len(events) != 1 {
				t.Errorf("a concurrent Deliver saw %d events; want the 1 not locked", len(events))
			}
			return nil, nil
		})
		if err != nil || other != 0 {
			t.Errorf("concurrent Deliver: %d (%v)", other, err)
		}
		return []string{events[0].ID}, nil
	})
	if err != nil || n != 1 {
		t.Fatalf("Deliver: %d (%v)", n, err)
	}
	if left := count(t, e, database.Tenant(tenant)); left != 2 {
		t.Errorf("%d pending after delivering 1 of 3; want 2", left)
	}
	if _, err := e.cleanup.Deliver(e.ctx, database.Tenant(tenant), 10, func(context.Context, []outbox.Event) ([]string, error) {
		return nil, errors.New("receiver down")
	}); err == nil {
		t.Error("a failed delivery was not an error")
	}
	if left := count(t, e, database.Tenant(tenant)); left != 2 {
		t.Errorf("%d pending after a failed delivery; want 2", left)
	}
}

func count(t *testing.T, e *env, scope database.Scope) int {
	t.Helper()
	events, err := e.reader.Pending(e.ctx, scope, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(events)
}

// TestTypesMatchTheSchema holds Types equal to schema/010's CHECK.
func TestTypesMatchTheSchema(t *testing.T) {
	t.Parallel()
	db := testenv.Postgres(t)
	var def string
	if err := db.Pool.QueryRow(context.Background(), `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'outbox_events'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%type%'`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	var inSchema []string
	for _, m := range regexp.MustCompile(`'([a-z_.]+)'`).FindAllStringSubmatch(def, -1) {
		inSchema = append(inSchema, m[1])
	}
	if !slices.Equal(inSchema, outbox.Types) {
		t.Errorf("the schema's event types %v; outbox.Types %v", inSchema, outbox.Types)
	}
}
