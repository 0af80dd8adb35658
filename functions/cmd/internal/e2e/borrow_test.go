package e2e_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// borrowBody is a POST /v1/borrow body for seconds under device.
func borrowBody(sessionID string, seconds int, device leasejws.OKPKey) map[string]any {
	return map[string]any{"session_id": sessionID, "seconds": seconds, "device_key": device}
}

// returnProof is a return proof of sessionID signed by key now.
func returnProof(t *testing.T, key ed25519.PrivateKey, sessionID string) string {
	t.Helper()
	proof, err := leasejws.SignReturnProof(key, sessionID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

// ledgerKinds are the kinds of a license's ledger events, oldest first,
// after a drain.
func (a *api) ledgerKinds(licenseID string) []string {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.b.Cleaner.Run(ctx); err != nil {
		a.t.Fatalf("cleanup run: %v", err)
	}
	var kinds []string
	err := a.b.DB.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT kind FROM usage_events WHERE license_id = $1 AND kind <> 'denied' ORDER BY at, stream_id`, licenseID)
		if err != nil {
			return err
		}
		kinds, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		a.t.Fatalf("reading the ledger: %v", err)
	}
	return kinds
}

// sessionRow is the sessions view's row of the session on fingerprint.
func (a *api) sessionRow(path, fingerprint string) map[string]any {
	a.t.Helper()
	list, _ := a.expect(a.admin("GET", path+"/sessions", nil), 200, "").body["sessions"].([]any)
	for _, s := range list {
		if m, _ := s.(map[string]any); m["fingerprint"] == fingerprint {
			return m
		}
	}
	a.t.Fatalf("no session of %s in the sessions view", fingerprint)
	return nil
}

// TestBorrowOverHTTP: borrowing is off until a tenant admin sets the
// policy, which is strictly checked; a borrow answers a root-signed lease
// bound to the device key; the borrowed seat counts with no heartbeat
// (heartbeat, release and the workstation's acquire are 409
// session_borrowed) and the sessions view says so; an extension moves the
// end forward only and within max_seconds; another device is refused; a
// retry with the same Idempotency-Key gets the same lease; only the
// device's proof returns the seat, once; the ledger records it all.
func TestBorrowOverHTTP(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("borrow")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 60})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	if got := a.expect(a.admin("GET", path, nil), 200, ""); got.body["borrow"] != nil {
		t.Fatalf("a new license's borrow = %s, want null", got.raw)
	}
	devKey, device, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	held := a.expect(a.acquire(key, "ws-a"), 200, "")
	sid := held.str("session_id")
	a.expect(a.call("POST", "/v1/borrow", "", borrowBody(sid, 600, device)), 403, "borrow_not_allowed")

	// A tenant admin decides how its seats are used: it sets the policy.
	tenantAdmin := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys",
		map[string]any{"name": "ops", "role": "admin"}), 201, "").str("key")
	for _, bad := range []any{"on", 7, map[string]any{"max_seconds": 3599}, map[string]any{"max_seconds": 7776001},
		map[string]any{"max_concurrent": 0}, map[string]any{"min_online_seats": -1}, map[string]any{"max_days": 3}} {
		a.expect(a.call("PATCH", path, tenantAdmin, map[string]any{"borrow": bad}), 400, "invalid_request")
	}
	set := a.expect(a.call("PATCH", path, tenantAdmin, map[string]any{"borrow": map[string]any{"max_seconds": 3600}}), 200, "")
	if b, _ := set.body["borrow"].(map[string]any); b["max_seconds"] != float64(3600) {
		t.Fatalf("PATCH answer borrow = %s", set.raw)
	}

	// Bad requests are 400, never a borrow.
	_, other, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	withKid := device
	withKid.Kid = "k1"
	shortX := device
	shortX.X = device.X[:40]
	for _, bad := range []map[string]any{
		{"session_id": sid, "device_key": device},
		{"session_id": sid, "seconds": 60, "until": time.Now().Add(time.Hour).Format(time.RFC3339), "device_key": device},
		{"session_id": sid, "seconds": 0, "device_key": device},
		{"session_id": sid, "until": time.Now().Add(-time.Minute).Format(time.RFC3339), "device_key": device},
		{"session_id": sid, "until": "tomorrow", "device_key": device},
		{"session_id": sid, "seconds": 60},
		{"session_id": sid, "seconds": 60, "device_key": withKid},
		{"session_id": sid, "seconds": 60, "device_key": shortX},
		{"session_id": sid, "seconds": 60, "device_key": map[string]any{"kty": "RSA", "n": "x", "e": "AQAB"}},
		{"session_id": "", "seconds": 60, "device_key": device},
		{"session_id": sid, "seconds": 7200, "device_key": device}, // past max_seconds
	} {
		a.expect(a.call("POST", "/v1/borrow", "", bad), 400, "invalid_request")
	}
	a.expect(a.call("POST", "/v1/borrow", "", borrowBody("no-such-session", 60, device)), 404, "session_not_found")

	first := a.expect(a.keyed("POST", "/v1/borrow", "", "borrow-1", borrowBody(sid, 600, device)), 200, "")
	until, err := time.Parse(time.RFC3339, first.str("borrowed_until"))
	if err != nil || first.body["extended"] != false || first.str("seat_class") != "entitled" {
		t.Fatalf("borrow = %s", first.raw)
	}
	if d := time.Until(until); d < 590*time.Second || d > 601*time.Second {
		t.Fatalf("borrowed until %v, %v from now; want 600 s", until, d)
	}
	// The lease: signed by the root itself, bound to the device, ending
	// when the answer says.
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.VerifyBorrow(first.str("lease"), time.Now())
	if err != nil || !c.Borrow || c.Confirmation == nil || c.Confirmation.X != device.X || !c.ExpiresAt.Equal(until) ||
		c.SessionDigest != leasejws.SessionDigest(sid) || c.LicenseID != licenseID || c.Fingerprint != "ws-a" {
		t.Fatalf("borrow lease %+v, %v", c, err)
	}
	if _, err := v.Verify(first.str("lease"), time.Now()); err == nil {
		t.Fatal("the ordinary verifier took a borrow lease")
	}
	again := a.expect(a.keyed("POST", "/v1/borrow", "", "borrow-1", borrowBody(sid, 600, device)), 200, "")
	if again.header.Get("Idempotent-Replayed") != "true" || again.str("lease") != first.str("lease") {
		t.Fatalf("the keyed retry = %v %s, want the first answer replayed", again.header, again.raw)
	}

	// Borrowed: no heartbeat, no release, and the seat still counts.
	a.expect(a.heartbeat(sid), 409, "session_borrowed")
	a.expect(a.release(sid), 409, "session_borrowed")
	a.expect(a.acquire(key, "ws-a"), 409, "session_borrowed")
	a.expect(a.acquire(key, "ws-b"), 409, "no_seats_available")
	row := a.sessionRow(path, "ws-a")
	if row["borrowed"] != true || row["expires_at"] == nil || len(row["holders"].([]any)) != 0 {
		t.Fatalf("the sessions view's row = %v, want borrowed, no holders", row)
	}
	if at, _ := time.Parse(time.RFC3339, row["expires_at"].(string)); !at.Equal(until) {
		t.Fatalf("the sessions view says it ends %v, want %v", row["expires_at"], until)
	}

	// Extending moves the end forward, never back, within max_seconds.
	longer := a.expect(a.call("POST", "/v1/borrow", "", borrowBody(sid, 1200, device)), 200, "")
	later, _ := time.Parse(time.RFC3339, longer.str("borrowed_until"))
	if longer.body["extended"] != true || !later.After(until) {
		t.Fatalf("extension = %s, want extended past %v", longer.raw, until)
	}
	shorter := a.expect(a.call("POST", "/v1/borrow", "", borrowBody(sid, 60, device)), 200, "")
	if shorter.body["extended"] != true || shorter.str("borrowed_until") != longer.str("borrowed_until") {
		t.Fatalf("a shorter borrow = %s, want the end kept at %s", shorter.raw, longer.str("borrowed_until"))
	}
	a.expect(a.call("POST", "/v1/borrow", "", borrowBody(sid, 600, other)), 409, "other_device")

	// Return: the proof must be the device's, fresh, and used once.
	otherKey, _, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": returnProof(t, otherKey, sid)}), 403, "invalid_proof")
	stale, err := leasejws.SignReturnProof(devKey, sid, time.Now().Add(-10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": stale}), 403, "invalid_proof")
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": "a.b.c"}), 403, "invalid_proof")
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid}), 400, "invalid_request")
	a.expect(a.acquire(key, "ws-b"), 409, "no_seats_available") // none of those returned it
	proof := returnProof(t, devKey, sid)
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": proof}), 200, "")
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": proof}), 404, "session_not_found")
	b := a.expect(a.acquire(key, "ws-b"), 200, "")
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": b.str("session_id"),
		"proof": returnProof(t, devKey, b.str("session_id"))}), 409, "not_borrowed")
	a.expect(a.release(b.str("session_id")), 200, "")

	// The shorter borrow moved nothing and recorded nothing.
	want := []string{"acquired", "borrowed", "borrow_extended", "returned", "acquired", "released"}
	if got := a.ledgerKinds(licenseID); !slices.Equal(got, want) {
		t.Fatalf("ledger %v, want %v", got, want)
	}
}

// TestBorrowLimitsOverHTTP: max_concurrent and min_online_seats answer 409
// borrow_limit with the figures; a return makes room again.
func TestBorrowLimitsOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("borrow-limits")
	licenseID, key := a.license(tenant, map[string]any{"seats": 4,
		"borrow": map[string]any{"max_seconds": 3600, "max_concurrent": 2, "min_online_seats": 1}})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	if b, _ := a.expect(a.admin("GET", path, nil), 200, "").body["borrow"].(map[string]any); b["max_concurrent"] != float64(2) || b["min_online_seats"] != float64(1) {
		t.Fatalf("borrow policy = %v", b)
	}
	keys := map[string]ed25519.PrivateKey{}
	borrow := func(sid string) reply {
		t.Helper()
		k, dev, err := leasejws.NewDeviceKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[sid] = k
		return a.call("POST", "/v1/borrow", "", borrowBody(sid, 600, dev))
	}
	sids := map[string]string{}
	for _, fp := range []string{"ws-1", "ws-2", "ws-3", "ws-4"} {
		sids[fp] = a.expect(a.acquire(key, fp), 200, "").str("session_id")
	}
	a.expect(borrow(sids["ws-1"]), 200, "")
	a.expect(borrow(sids["ws-2"]), 200, "")
	full := a.expect(borrow(sids["ws-3"]), 409, "borrow_limit")
	if full.num("borrowed") != 2 || full.num("max_concurrent") != 2 || full.num("min_online_seats") != 1 || full.num("seats_total") != 4 {
		t.Fatalf("borrow_limit = %s", full.raw)
	}
	sid := sids["ws-1"]
	a.expect(a.call("POST", "/v1/return", "", map[string]any{"session_id": sid, "proof": returnProof(t, keys[sid], sid)}), 200, "")
	a.expect(borrow(sids["ws-3"]), 200, "")

	// min_online_seats: with max_concurrent lifted, 3 of the 4 seats may be
	// borrowed, not the fourth.
	a.expect(a.admin("PATCH", path, map[string]any{"borrow": map[string]any{"max_seconds": 3600, "min_online_seats": 1}}), 200, "")
	sids["ws-5"] = a.expect(a.acquire(key, "ws-5"), 200, "").str("session_id")
	a.expect(borrow(sids["ws-4"]), 200, "")
	a.expect(borrow(sids["ws-5"]), 409, "borrow_limit")
}

// TestRevokedBorrowOverHTTP: an admin's revocation of a borrowed session
// keeps its seat counted until the borrow ends (the client is offline) and
// puts it on the license's signed revocation list, which only the license
// key opens.
func TestRevokedBorrowOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("borrow-revoke")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "borrow": map[string]any{}})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	list := func(k, licenseID string) leasejws.RevocationList {
		t.Helper()
		r := a.expect(a.call("GET", "/v1/licenses/revocations?license_key="+url.QueryEscape(k), "", nil), 200, "")
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		l, err := v.VerifyRevocations(r.str("revocations"), time.Now())
		if err != nil || l.LicenseID != licenseID {
			t.Fatalf("revocation list %+v, %v", l, err)
		}
		return l
	}
	if l := list(key, licenseID); len(l.Revoked) != 0 {
		t.Fatalf("a new license's revocations = %v", l.Revoked)
	}
	sid := a.expect(a.acquire(key, "ws-a"), 200, "").str("session_id")
	_, device, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	a.expect(a.call("POST", "/v1/borrow", "", borrowBody(sid, 3600, device)), 200, "")
	digest := leasejws.SessionDigest(sid)
	a.expect(a.admin("DELETE", path+"/sessions/"+digest, nil), 204, "")

	// Still counted, still listed as borrowed, and now on the list.
	a.expect(a.acquire(key, "ws-b"), 409, "no_seats_available")
	if row := a.sessionRow(path, "ws-a"); row["borrowed"] != true {
		t.Fatalf("the revoked borrow's row = %v", row)
	}
	if l := list(key, licenseID); !slices.Equal(l.Revoked, []string{digest}) {
		t.Fatalf("revocations = %v, want [%s]", l.Revoked, digest)
	}

	// Only the license's key opens the list.
	otherID, otherKey := a.license(tenant, nil)
	if l := list(otherKey, otherID); len(l.Revoked) != 0 {
		t.Fatalf("another license's list = %v", l.Revoked)
	}
	for _, q := range []string{"license_key=" + url.QueryEscape(key[:len(key)-2]+"xx"), "license_key=nonsense"} {
		a.expect(a.call("GET", "/v1/licenses/revocations?"+q, "", nil), 404, "license_not_found")
	}
	for _, q := range []string{"", "license_key=", "license_key=" + url.QueryEscape(key) + "&x=1"} {
		a.expect(a.call("GET", "/v1/licenses/revocations?"+q, "", nil), 400, "invalid_request")
	}
}

// TestSDKBorrowOffline: the Go SDK against the real server: it borrows,
// keeps its seat across a server outage with no heartbeat, opens the
// borrow again from its file with no server at all, and returns it early
// with the device's proof, which frees the seat for another workstation.
func TestSDKBorrowOffline(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	in := &instance{t: t, addr: "127.0.0.1:0", b: b}
	in.start()
	t.Cleanup(func() { in.halt() })
	admin := &api{t: t, b: b}
	call := func(method, path string, body any) reply {
		t.Helper()
		return admin.callURL("http://"+in.addr, method, path, adminToken, body)
	}
	tenant := call("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme-borrow"}).str("id")
	lic := call("POST", "/v1/tenants/"+tenant+"/licenses", map[string]any{"product": "coditect", "seats": 1,
		"lease_ttl_seconds": 4, "borrow": map[string]any{"max_seconds": 3600}})
	key := lic.str("key")
	if key == "" {
		t.Fatalf("license: %s", lic.raw)
	}
	keys, _ := testRoot(t).PublicKeys(context.Background())
	pinned := map[string]*rsa.PublicKey{keys[0].KID: keys[0].Key}
	cfg := license.Config{BaseURL: "http://" + in.addr, LicenseKey: key, Fingerprint: "laptop",
		RootKeys: pinned, Issuer: testIssuer, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
		BorrowFile: filepath.Join(t.TempDir(), "borrow.json")}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seat, err := license.Acquire(ctx, cfg)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	until, err := seat.Borrow(ctx, 30*time.Minute)
	if err != nil || !seat.Status().Borrowed || time.Until(until) < 29*time.Minute {
		t.Fatalf("Borrow = %v, %v; status %+v", until, err, seat.Status())
	}
	if _, err := os.Stat(cfg.BorrowFile); err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.Fingerprint, other.BorrowFile = "desktop", ""
	if _, err := license.Acquire(ctx, other); !errors.Is(err, license.ErrNoSeats) {
		t.Fatalf("another workstation: %v, want ErrNoSeats", err)
	}
	// Offline past several lease TTLs: the borrow needs no server.
	seat.Close(ctx)
	in.halt()
	time.Sleep(5 * time.Second)
	offline, err := license.OpenBorrowed(cfg)
	if err != nil || !offline.Valid() {
		t.Fatalf("OpenBorrowed offline: %v", err)
	}
	// The server is back: the seat was never freed, and Return frees it.
	in.start()
	cfg.BaseURL, other.BaseURL = "http://"+in.addr, "http://"+in.addr
	if _, err := license.Acquire(ctx, other); !errors.Is(err, license.ErrNoSeats) {
		t.Fatalf("another workstation after the outage: %v, want ErrNoSeats", err)
	}
	back, err := license.OpenBorrowed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	offline.Close(ctx)
	if err := back.Return(ctx); err != nil {
		t.Fatalf("Return: %v", err)
	}
	if _, err := os.Stat(cfg.BorrowFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("borrow file after Return: %v", err)
	}
	s2, err := license.Acquire(ctx, other)
	if err != nil {
		t.Fatalf("another workstation after the return: %v", err)
	}
	s2.Close(ctx)
}
