package e2e_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/database"
)

// The operator's seat controls (issue 17): ending one session, ending every
// session of a license, blocking a workstation that holds seats, and
// rotating a license key. Each is checked over HTTP, in the ledger, in the
// audit log and as the Go SDK reports it.

// ledgerRow is one usage_events row as the controls' tests read it.
type ledgerRow struct{ kind, ref, fingerprint, reason, actor string }

// ledger drains every license's seat events into PostgreSQL, as the
// cleanup function does, and returns a license's revoked and released
// events.
func (a *api) ledger(licenseID string) []ledgerRow {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.b.Cleaner.Run(ctx); err != nil {
		a.t.Fatalf("cleanup run: %v", err)
	}
	var out []ledgerRow
	err := a.b.DB.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT kind, session_ref, fingerprint, reason, actor FROM usage_events
			WHERE license_id = $1 AND kind IN ('revoked', 'released') ORDER BY stream_id`, licenseID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ledgerRow, error) {
			var l ledgerRow
			return l, r.Scan(&l.kind, &l.ref, &l.fingerprint, &l.reason, &l.actor)
		})
		return err
	})
	if err != nil {
		a.t.Fatalf("reading the ledger: %v", err)
	}
	return out
}

// auditEntries are a tenant's audit entries with the action, newest first.
func (a *api) auditEntries(tenantID, action string) []map[string]any {
	a.t.Helper()
	r := a.expect(a.admin("GET", "/v1/tenants/"+tenantID+"/audit?limit=200", nil), 200, "")
	all, _ := r.body["entries"].([]any)
	var out []map[string]any
	for _, e := range all {
		if m, _ := e.(map[string]any); m["action"] == action {
			out = append(out, m)
		}
	}
	return out
}

// sdkSeat acquires a seat with the Go SDK against the test server.
func (a *api) sdkSeat(key, fingerprint string) *license.Seat {
	a.t.Helper()
	return a.sdkSeatAt(a.srv.URL, key, fingerprint)
}

// sdkSeatAt is sdkSeat through the server at base (a proxy of the test
// server).
func (a *api) sdkSeatAt(base, key, fingerprint string) *license.Seat {
	a.t.Helper()
	keys, _ := testRoot(a.t).PublicKeys(context.Background())
	cfg := license.Config{BaseURL: base, LicenseKey: key, Fingerprint: fingerprint,
		RootKeys: map[string]*rsa.PublicKey{keys[0].KID: keys[0].Key}, Issuer: testIssuer,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seat, err := license.Acquire(ctx, cfg)
	if err != nil {
		a.t.Fatalf("SDK acquire on %s: %v", fingerprint, err)
	}
	a.t.Cleanup(func() { seat.Close(context.Background()) })
	return seat
}

// lost waits for the SDK's seat to be lost for good with want.
func (a *api) lost(seat *license.Seat, want error) {
	a.t.Helper()
	select {
	case <-seat.Done():
	case <-time.After(15 * time.Second):
		a.t.Fatalf("the SDK's seat was not lost: %+v", seat.Status())
	}
	if !errors.Is(seat.Err(), want) || seat.Valid() {
		a.t.Fatalf("SDK: Err = %v, Valid = %v; want %v", seat.Err(), seat.Valid(), want)
	}
}

// digestOf finds the digest of the live session a workstation holds on a
// license, as the admin's session list shows it.
func (a *api) digestOf(tenantID, licenseID, fingerprint string) string {
	a.t.Helper()
	r := a.expect(a.admin("GET", "/v1/tenants/"+tenantID+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	for _, s := range r.body["sessions"].([]any) {
		if m := s.(map[string]any); m["fingerprint"] == fingerprint {
			return m["session_digest"].(string)
		}
	}
	a.t.Fatalf("no live session of %s on %s: %s", fingerprint, licenseID, r.raw)
	return ""
}

// TestEndSessionOverHTTP: an admin ends one session by its digest: the seat
// is free at once, the session's heartbeat answers 403 session_revoked
// (the SDK loses the seat with ErrSessionRevoked and does not retry), its
// release answers released:false, the ledger records it revoked by the
// admin, and the audit log names the session.
func TestEndSessionOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme-end")
	licenseID, key := a.license(tenant, map[string]any{"seats": 2, "lease_ttl_seconds": 3})
	base := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/sessions/"

	sid := a.expect(a.acquire(key, "ws-1"), 200, "").str("session_id")
	seat := a.sdkSeat(key, "ws-sdk")
	a.expect(a.acquire(key, "ws-3"), 409, "no_seats_available")

	digest := a.digestOf(tenant, licenseID, "ws-1")
	a.expect(a.admin("DELETE", base+digest, nil), 204, "")
	// The seat is free at once.
	a.expect(a.acquire(key, "ws-3"), 200, "")
	a.expect(a.heartbeat(sid), 403, "session_revoked")
	a.expect(a.heartbeat(sid), 403, "session_revoked") // the tombstone stays
	if r := a.expect(a.release(sid), 200, ""); r.body["released"] != false {
		t.Fatalf("release of a revoked session: %s", r.raw)
	}

	// The SDK's session, ended the same way.
	sdkDigest := a.digestOf(tenant, licenseID, "ws-sdk")
	a.expect(a.admin("DELETE", base+sdkDigest, nil), 204, "")
	a.lost(seat, license.ErrSessionRevoked)

	// Not live (any more), malformed, another tenant's license: 404.
	a.expect(a.admin("DELETE", base+digest, nil), 404, "session_not_found")
	a.expect(a.admin("DELETE", base+"not-a-digest", nil), 404, "session_not_found")
	a.expect(a.admin("DELETE", base+strings.Repeat("0", 32), nil), 404, "session_not_found")
	other := a.tenant("other-end")
	otherLicense, otherKey := a.license(other, nil)
	a.expect(a.acquire(otherKey, "ws-9"), 200, "")
	otherDigest := a.digestOf(other, otherLicense, "ws-9")
	a.expect(a.admin("DELETE", "/v1/tenants/"+tenant+"/licenses/"+otherLicense+"/sessions/"+otherDigest, nil), 404, "license_not_found")
	a.expect(a.admin("DELETE", base+otherDigest, nil), 404, "session_not_found")
	member := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": "m", "role": "member"}), 201, "").str("key")
	a.expect(a.call("DELETE", base+strings.Repeat("0", 32), member, nil), 403, "forbidden")
	otherAdmin := a.expect(a.admin("POST", "/v1/tenants/"+other+"/api-keys", map[string]any{"name": "a", "role": "admin"}), 201, "").str("key")
	a.expect(a.call("DELETE", "/v1/tenants/"+other+"/licenses/"+otherLicense+"/sessions/"+otherDigest, otherAdmin, nil), 204, "")

	rows := a.ledger(licenseID)
	if len(rows) != 2 || rows[0] != (ledgerRow{"revoked", digest, "", "revoked", "bootstrap"}) ||
		rows[1] != (ledgerRow{"revoked", sdkDigest, "", "revoked", "bootstrap"}) {
		t.Fatalf("ledger = %+v", rows)
	}
	entries := a.auditEntries(tenant, "session.revoke")
	targets := map[any]bool{}
	for _, e := range entries {
		if e["actor"] != "bootstrap" || e["target_type"] != "session" {
			t.Fatalf("audit = %v", entries)
		}
		targets[e["target_id"]] = true
	}
	if len(entries) != 2 || !targets[digest] || !targets[sdkDigest] {
		t.Fatalf("audit = %v", entries)
	}
	if e := a.auditEntries(other, "session.revoke"); len(e) != 1 || !strings.HasPrefix(e[0]["actor"].(string), "api_key:") {
		t.Fatalf("other tenant's audit = %v", e)
	}
}

// TestRevokeAllOverHTTP: every live session of a license ends at once;
// each heartbeat answers session_revoked, the SDK loses its seat, the
// ledger records each revoked by the admin, one audit entry; a replay of
// the same Idempotency-Key answers the same and revokes nothing more.
func TestRevokeAllOverHTTP(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("acme-all")
	licenseID, key := a.license(tenant, map[string]any{"seats": 5, "lease_ttl_seconds": 3, "leasing": "per_user"})
	untouchedID, untouchedKey := a.license(tenant, map[string]any{"lease_ttl_seconds": 3})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/sessions:revoke-all"

	var sids []string
	for _, u := range []string{"ada", "bob"} {
		r := a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "ws-" + u, "user": u})
		sids = append(sids, a.expect(r, 200, "").str("session_id"))
	}
	keep := a.expect(a.acquire(untouchedKey, "ws-ada"), 200, "").str("session_id")
	seat := a.sdkSeat(untouchedKey, "ws-sdk")

	first := a.expect(a.keyed("POST", path, adminToken, "revoke-1", nil), 200, "")
	if first.num("revoked") != 2 {
		t.Fatalf("revoke-all = %s", first.raw)
	}
	for _, sid := range sids {
		a.expect(a.heartbeat(sid), 403, "session_revoked")
	}
	// A new acquire after it is a new session (the binding was reset).
	again := a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "ws-ada", "user": "ada"})
	if r := a.expect(again, 200, ""); r.str("session_id") == sids[0] {
		t.Fatal("ada's revoked session was resumed")
	}
	a.replayed(first, a.keyed("POST", path, adminToken, "revoke-1", nil))
	a.expect(a.heartbeat(keep), 200, "")

	// The SDK's license, revoked without a key.
	r := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses/"+untouchedID+"/sessions:revoke-all", nil), 200, "")
	if r.num("revoked") != 2 {
		t.Fatalf("revoke-all of the second license = %s", r.raw)
	}
	a.lost(seat, license.ErrSessionRevoked)
	a.expect(a.heartbeat(keep), 403, "session_revoked")
	// Nothing live: zero, not an error.
	if r := a.expect(a.admin("POST", path, nil), 200, ""); r.num("revoked") != 1 { // ada's new session
		t.Fatalf("third revoke-all = %s", r.raw)
	}
	a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses/00000000-0000-4000-8000-000000000000/sessions:revoke-all", nil),
		404, "license_not_found")

	rows := a.ledger(licenseID)
	if len(rows) != 3 {
		t.Fatalf("ledger = %+v", rows)
	}
	for _, l := range rows {
		if l.kind != "revoked" || l.reason != "revoke_all" || l.actor != "bootstrap" {
			t.Fatalf("ledger = %+v", rows)
		}
	}
	// Three calls ended sessions (the replay did not): three entries, each
	// with how many it ended.
	entries := a.auditEntries(tenant, "license.revoke_sessions")
	got := map[string]float64{}
	for _, e := range entries {
		after, _ := e["after"].(map[string]any)
		n, _ := after["revoked"].(float64)
		got[e["target_id"].(string)] += n
		if e["target_type"] != "license" || e["actor"] != "bootstrap" {
			t.Fatalf("audit = %v", entries)
		}
	}
	if len(entries) != 3 || got[licenseID] != 3 || got[untouchedID] != 2 {
		t.Fatalf("audit = %v", entries)
	}
}

// TestBlockEndsSessionsOverHTTP: blocking a workstation ends its live
// sessions on every license of the tenant in the same step (ledger:
// revoked, reason blocked, by the admin), their heartbeats answer 403
// workstation_blocked, the SDK loses its seat with ErrWorkstationBlocked,
// another workstation keeps its seat; under per-user leasing a heartbeat
// naming a blocked workstation ends the session too; and a block whose
// write-through never reached Redis ends the sessions at the next
// reconciliation.
func TestBlockEndsSessionsOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	ctx := context.Background()
	tenant := a.tenant("acme-block")
	licA, keyA := a.license(tenant, map[string]any{"seats": 3, "lease_ttl_seconds": 3})
	licB, keyB := a.license(tenant, nil)
	licU, keyU := a.license(tenant, map[string]any{"leasing": "per_user"})

	onA := a.expect(a.acquire(keyA, "ws-1"), 200, "").str("session_id")
	onB := a.expect(a.acquire(keyB, "ws-1"), 200, "").str("session_id")
	other := a.expect(a.acquire(keyA, "ws-2"), 200, "").str("session_id")
	seat := a.sdkSeat(keyA, "ws-1") // resumes ws-1's session on A
	perUser := a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": keyU, "fingerprint": "ws-3", "user": "ada"}),
		200, "").str("session_id")

	ws := a.workstationID(tenant, "ws-1")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/workstations/"+ws, map[string]any{"blocked": true}), 200, "")
	// Ended in the same step: the seats are free before any heartbeat.
	for _, l := range []string{licA, licB} {
		if r := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+l, nil), 200, ""); l == licA && r.num("seats_used") != 1 ||
			l == licB && r.num("seats_used") != 0 {
			t.Fatalf("after the block, license %s: %s", l, r.raw)
		}
	}
	a.expect(a.heartbeat(onA), 403, "workstation_blocked")
	a.expect(a.heartbeat(onB), 403, "workstation_blocked")
	a.expect(a.heartbeat(other), 200, "")
	a.lost(seat, license.ErrWorkstationBlocked)
	a.expect(a.acquire(keyA, "ws-1"), 403, "workstation_blocked")

	// Per-user leasing: ada's one session, heartbeating from the blocked
	// workstation, ends (the lease would have named it).
	a.expect(a.call("POST", "/v1/heartbeat", "", map[string]any{"session_id": perUser, "fingerprint": "ws-3"}), 200, "")
	a.expect(a.call("POST", "/v1/heartbeat", "", map[string]any{"session_id": perUser, "fingerprint": "ws-1"}), 403, "workstation_blocked")
	a.expect(a.heartbeat(perUser), 403, "workstation_blocked")

	for _, l := range []string{licA, licB} {
		rows := a.ledger(l)
		if len(rows) != 1 || rows[0].kind != "revoked" || rows[0].reason != "blocked" || rows[0].actor != "bootstrap" {
			t.Fatalf("ledger of %s = %+v", l, rows)
		}
	}
	if rows := a.ledger(licU); len(rows) != 1 || rows[0].reason != "blocked" || rows[0].actor != "" {
		t.Fatalf("ledger of the per-user license = %+v", rows)
	}
	if n := a.audited(tenant, "workstation.update"); n != 1 {
		t.Fatalf("%d workstation.update audit entries", n)
	}

	// A block committed in PostgreSQL whose write-through never happened
	// (Redis down, nobody retried): the cleanup's reconciliation ends the
	// session all the same.
	late := a.expect(a.acquire(keyB, "ws-4"), 200, "").str("session_id")
	ws4 := a.workstationID(tenant, "ws-4")
	if _, err := a.b.Workstations.SetBlocked(database.WithActor(ctx, "test"), tenant, ws4, true); err != nil {
		t.Fatal(err)
	}
	a.expect(a.heartbeat(late), 200, "") // not in Redis yet: the seat is held
	rows := a.ledger(licB)               // runs the cleanup, which reconciles
	if len(rows) != 2 || rows[1].reason != "blocked" || rows[1].actor != "" {
		t.Fatalf("ledger after reconciliation = %+v", rows)
	}
	a.expect(a.heartbeat(late), 403, "workstation_blocked")
}

// workstationID waits for the acquire's workstation to be recorded (in the
// background) and returns its id.
func (a *api) workstationID(tenantID, fingerprint string) string {
	a.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		list := a.expect(a.admin("GET", "/v1/tenants/"+tenantID+"/workstations?limit=200", nil), 200, "")
		for _, w := range list.body["workstations"].([]any) {
			if m := w.(map[string]any); m["fingerprint"] == fingerprint {
				return m["id"].(string)
			}
		}
	}
	a.t.Fatalf("workstation %s was not recorded within 10s", fingerprint)
	return ""
}

// TestRotateKeyOverHTTP: a new key is shown once; the old key keeps
// opening the license for grace_seconds and then answers 404; live
// sessions keep heartbeating (the SDK's seat too); a workstation resuming
// with the other key gets a new session, never a wrong id; the audit entry
// is license.rotate_key without any key hash; no key is logged.
func TestRotateKeyOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme-rotate")
	licenseID, oldKey := a.license(tenant, map[string]any{"seats": 5, "lease_ttl_seconds": 6})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/rotate-key"

	s1 := a.expect(a.acquire(oldKey, "ws-1"), 200, "").str("session_id")
	s2 := a.expect(a.acquire(oldKey, "ws-2"), 200, "").str("session_id")
	seat := a.sdkSeat(oldKey, "ws-sdk")

	for name, body := range map[string]any{
		"negative":    map[string]any{"grace_seconds": -1},
		"over 7 days": map[string]any{"grace_seconds": 604801},
		"fraction":    map[string]any{"grace_seconds": 1.5},
		"text":        map[string]any{"grace_seconds": "60"},
		"unknown":     map[string]any{"grace": 60},
	} {
		if r := a.admin("POST", path, body); r.status != 400 || r.code() != "invalid_request" {
			t.Fatalf("%s: %d %s", name, r.status, r.raw)
		}
	}
	a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses/00000000-0000-4000-8000-000000000000/rotate-key", nil),
		404, "license_not_found")

	start, sdkExpiry := time.Now(), seat.Status().ExpiresAt
	r := a.expect(a.admin("POST", path, map[string]any{"grace_seconds": 3}), 200, "")
	newKey := r.str("key")
	if newKey == "" || newKey == oldKey || r.str("id") != licenseID || r.str("key_prefix") != newKey[:len(r.str("key_prefix"))] ||
		r.str("previous_key_expires_at") == "" {
		t.Fatalf("rotate = %s", r.raw)
	}
	if got := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil), 200, ""); got.str("key") != "" {
		t.Fatalf("the key is shown again: %s", got.raw)
	}

	// Within the grace both keys open the license; sessions are untouched.
	a.expect(a.heartbeat(s1), 200, "")
	a.expect(a.acquire(newKey, "ws-3"), 200, "")
	if r := a.expect(a.acquire(oldKey, "ws-2"), 200, ""); r.str("session_id") != s2 {
		t.Fatalf("ws-2 resuming with the old key got another session: %s", r.raw)
	}
	// ws-1 resumes with the new key: its session was acquired with the old
	// one, whose id the new key cannot derive, so it gets a fresh session
	// and the old one ends (never a wrong id, never two seats).
	fresh := a.expect(a.acquire(newKey, "ws-1"), 200, "")
	if fresh.str("session_id") == s1 || fresh.body["resumed"] == true {
		t.Fatalf("ws-1 with the new key: %s", fresh.raw)
	}
	a.expect(a.heartbeat(s1), 404, "session_not_found")
	a.expect(a.heartbeat(fresh.str("session_id")), 200, "")

	// After the grace, the old key opens nothing; live sessions go on.
	time.Sleep(time.Until(start.Add(3500 * time.Millisecond)))
	a.expect(a.acquire(oldKey, "ws-4"), 404, "license_not_found")
	a.expect(a.acquire(oldKey, "ws-2"), 404, "license_not_found")
	a.expect(a.heartbeat(s2), 200, "")
	// The SDK (heartbeating every 2 s) renewed its lease since.
	if st := seat.Status(); !seat.Valid() || st.Over || st.LastError != nil || !st.ExpiresAt.After(sdkExpiry) {
		t.Fatalf("the SDK's seat after the rotation: %+v", st)
	}
	if r := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil), 200, ""); r.num("seats_used") != 4 {
		t.Fatalf("seats_used = %d, want 4 (ws-1, ws-2, ws-3, the SDK)", r.num("seats_used"))
	}

	// No grace (an empty body): the old key stops at once.
	r = a.expect(a.call("POST", path, adminToken, nil), 200, "")
	a.expect(a.acquire(newKey, "ws-5"), 404, "license_not_found")
	a.expect(a.acquire(r.str("key"), "ws-5"), 200, "")

	rows := a.ledger(licenseID)
	if len(rows) != 1 || rows[0].kind != "released" || rows[0].reason != "rekeyed" {
		t.Fatalf("ledger = %+v", rows)
	}
	entries := a.auditEntries(tenant, "license.rotate_key")
	if len(entries) != 2 || entries[0]["target_id"] != licenseID {
		t.Fatalf("audit = %v", entries)
	}
	for _, e := range entries {
		for _, doc := range []string{"before", "after"} {
			d, _ := e[doc].(map[string]any)
			_, hash := d["key_hash"]
			_, previous := d["previous_key_hash"]
			if hash || previous || d["key_prefix"] == nil {
				t.Fatalf("audit %s document = %v", doc, d)
			}
		}
	}
	for _, k := range []string{oldKey, newKey, r.str("key")} {
		if strings.Contains(a.logs(), k) {
			t.Fatal("a license key was logged")
		}
	}
}
