package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// interval is one usage_sessions row: a stretch in which a session held a
// seat.
type interval struct {
	started, ended time.Time
	endKind        string
}

// intervals drains the ledger and returns the intervals of a license's
// sessions held from a workstation, in order.
func (a *api) intervals(licenseID, fingerprint string) []interval {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.b.Cleaner.Run(ctx); err != nil {
		a.t.Fatalf("cleanup run: %v", err)
	}
	var out []interval
	err := a.b.DB.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT started_at, coalesce(ended_at, 'epoch'), coalesce(end_kind, '') FROM usage_sessions
			WHERE license_id = $1 AND fingerprint = $2 ORDER BY started_at`, licenseID, fingerprint)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (interval, error) {
			var iv interval
			return iv, r.Scan(&iv.started, &iv.ended, &iv.endKind)
		})
		return err
	})
	if err != nil {
		a.t.Fatalf("reading the intervals: %v", err)
	}
	return out
}

// TestLingerOverHTTP: with linger_seconds set, a release answers when the
// seat stops counting; until then the seat stays taken, the session's
// heartbeat is 404, the sessions view shows it lingering, and the same
// workstation's acquire takes it back (same session, resumed); the ledger
// keeps one interval through the release and the reattach.
func TestLingerOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("linger")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 60, "linger_seconds": 60})

	sid := a.expect(a.acquire(key, "ws-a"), 200, "").str("session_id")
	before := time.Now()
	rel := a.expect(a.release(sid), 200, "")
	if rel.body["released"] != true || rel.body["seat_freed"] != false {
		t.Fatalf("release = %s, want released and the seat kept", rel.raw)
	}
	until, err := time.Parse(time.RFC3339Nano, rel.str("lingers_until"))
	if err != nil || until.Sub(before) < 59*time.Second || until.Sub(before) > 61*time.Second {
		t.Fatalf("lingers_until %q (%v), want a minute after the release", rel.str("lingers_until"), err)
	}
	a.expect(a.acquire(key, "ws-b"), 409, "no_seats_available")
	a.expect(a.heartbeat(sid), 404, "session_not_found")
	again := a.expect(a.release(sid), 200, "")
	if again.body["released"] != false || again.body["lingers_until"] != nil {
		t.Fatalf("releasing a lingering session again = %s, want nothing released", again.raw)
	}
	list := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	sessions, _ := list.body["sessions"].([]any)
	if len(sessions) != 1 {
		t.Fatalf("sessions = %s, want the lingering one", list.raw)
	}
	s, _ := sessions[0].(map[string]any)
	if s["lingering"] != true || len(s["holders"].([]any)) != 0 {
		t.Fatalf("session = %v, want lingering with no holders", s)
	}

	back := a.expect(a.acquire(key, "ws-a"), 200, "")
	if back.str("session_id") != sid || back.body["resumed"] != true {
		t.Fatalf("the same workstation's acquire = %s, want session %s resumed", back.raw, sid)
	}
	hb := a.expect(a.heartbeat(sid), 200, "")
	if hb.body["revived"] != false {
		t.Fatalf("heartbeat after the reattach = %s, want revived false", hb.raw)
	}
	if ivs := a.intervals(licenseID, "ws-a"); len(ivs) != 1 || ivs[0].endKind != "" {
		t.Fatalf("intervals = %+v, want one, still open", ivs)
	}
	// Without the policy a release frees the seat at once.
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/licenses/"+licenseID, map[string]any{"linger_seconds": 0}), 200, "")
	rel = a.expect(a.release(sid), 200, "")
	if rel.body["seat_freed"] != true || rel.body["lingers_until"] != nil {
		t.Fatalf("release with linger off = %s, want the seat freed", rel.raw)
	}
	a.expect(a.acquire(key, "ws-b"), 200, "")
}

// TestReviveOverHTTP: with revive_seconds set, a heartbeat shortly after
// the lease ran out takes the session back (200, revived) when a seat is
// free, and is 404 when the seat went to someone else; the ledger keeps
// the revived session's two intervals, with the gap between them.
func TestReviveOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("revive")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 1, "revive_seconds": 30})

	got := a.expect(a.acquire(key, "ws-a"), 200, "")
	sid := got.str("session_id")
	expiry, _ := time.Parse(time.RFC3339Nano, got.str("expires_at"))
	time.Sleep(time.Until(expiry.Add(500 * time.Millisecond)))
	hb := a.expect(a.heartbeat(sid), 200, "")
	if hb.body["revived"] != true || hb.str("session_id") != sid || hb.str("lease") == "" {
		t.Fatalf("heartbeat after the lease ran out = %s, want the session revived with a lease", hb.raw)
	}
	next, _ := time.Parse(time.RFC3339Nano, hb.str("expires_at"))
	time.Sleep(time.Until(next.Add(200 * time.Millisecond)))
	a.expect(a.acquire(key, "ws-b"), 200, "")
	a.expect(a.heartbeat(sid), 404, "session_not_found")

	ivs := a.intervals(licenseID, "ws-a")
	if len(ivs) != 2 || ivs[0].endKind != "expired" || ivs[1].endKind != "expired" {
		t.Fatalf("intervals = %+v, want two, each ended by its lease running out", ivs)
	}
	if !ivs[0].ended.Equal(expiry) || !ivs[1].started.After(ivs[0].ended) || !ivs[1].ended.Equal(next) {
		t.Fatalf("intervals = %+v, want the first to end at %v, a gap, and the second to end at %v", ivs, expiry, next)
	}
}

// TestSDKKeepsItsSessionThroughLingerAndRevive: the Go SDK needs no change
// to benefit: a tool restarted within the linger gets its session back
// (Status.Resumed), and a seat whose lease ran out during an outage is
// revived when the server is reachable again (Status.Revived, the same
// session).
func TestSDKKeepsItsSessionThroughLingerAndRevive(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("sdk-keeps")
	_, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 2, "linger_seconds": 60, "revive_seconds": 60})

	first := a.sdkSeat(key, "ws-tool")
	sid := first.Status().SessionID
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted := a.sdkSeat(key, "ws-tool")
	if st := restarted.Status(); st.SessionID != sid || !st.Resumed || st.Revived {
		t.Fatalf("the restarted tool = %+v, want session %s resumed", st, sid)
	}

	// An outage longer than the lease, between the SDK and the service.
	var down atomic.Bool
	target, _ := url.Parse(a.srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, `{"error":{"code":"unavailable","message":"down"}}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	if err := restarted.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	seat := a.sdkSeatAt(front.URL, key, "ws-tool")
	if seat.Status().SessionID != sid {
		t.Fatalf("through the proxy = %+v, want session %s", seat.Status(), sid)
	}
	down.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for seat.Valid() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if seat.Valid() {
		t.Fatal("the lease never ran out during the outage")
	}
	// The lease's exp is in whole seconds, rounded down from the session's
	// expiry on the server: the SDK lets go up to a second before the
	// server does. Stay down past that, so that the session has really
	// expired and the first heartbeat through revives it.
	time.Sleep(time.Second + 500*time.Millisecond)
	down.Store(false)
	deadline = time.Now().Add(10 * time.Second)
	for !seat.Valid() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := seat.Status(); !st.Valid || st.SessionID != sid || !st.Revived {
		t.Fatalf("after the outage = %+v, want session %s revived", st, sid)
	}
}
