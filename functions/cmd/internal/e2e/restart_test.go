package e2e_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	seatengine "github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestRedisRestartedEmpty: Redis crashes and comes back with no data (no
// persistence, or a failover to an empty replica). Every SDK client's next
// heartbeat is answered 404, each re-acquires on its own, and within one
// lease TTL of Redis answering again the license has exactly one live
// session per client; its metadata is back in Redis, equal to PostgreSQL's,
// without anyone writing it there.
func TestRedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	const (
		clients = 4
		seats   = 5 // one spare: a client holding two sessions would show
		ttl     = 3 * time.Second
	)
	rp := testenv.RestartableRedis(t, false)
	ctx := context.Background()
	// Connected as production connects (per-call timeouts, go-redis's
	// reconnects), so the restart is met by the real client code.
	rdb, err := backend.OpenRedis(ctx, config.Redis{URL: rp.URL(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	const prefix = "restart:"
	b, err := backend.New(rdb, testenv.Postgres(t), prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	a := serve(t, b)
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, map[string]any{"seats": seats, "lease_ttl_seconds": int(ttl / time.Second)})
	licensePath := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	metaKey := prefix + "{" + licenseID + "}:m"
	liveKey := prefix + "{" + licenseID + "}:l"

	keys, _ := testRoot(t).PublicKeys(ctx)
	pinned := map[string]*rsa.PublicKey{keys[0].KID: keys[0].Key}
	held := make([]*license.Seat, clients)
	logs := make([]*failureLog, clients)
	for i := range held {
		logs[i] = &failureLog{}
		s, err := license.Acquire(ctx, license.Config{BaseURL: a.srv.URL, LicenseKey: key,
			Fingerprint: fmt.Sprintf("ws-%d", i), RootKeys: pinned, Issuer: testIssuer,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond, Logger: slog.New(logs[i])})
		if err != nil {
			t.Fatalf("client %d: Acquire: %v", i, err)
		}
		held[i] = s
		t.Cleanup(func() { s.Close(context.Background()) })
	}
	if used := a.expect(a.admin("GET", licensePath, nil), 200, "").num("seats_used"); used != clients {
		t.Fatalf("seats_used = %d before the restart, want %d", used, clients)
	}
	if n, err := rdb.Exists(ctx, metaKey).Result(); err != nil || n != 1 {
		t.Fatalf("license metadata not in Redis before the restart: %d %v", n, err)
	}
	old := make([]string, clients)
	for i, s := range held {
		old[i] = s.Status().SessionID
	}

	// A crash, and a start with nothing: no save file, no append-only file.
	rp.Kill()
	rp.Start()
	back := time.Now()

	// Nobody but the clients touches the server from here until they have
	// all recovered: the count and the metadata must come back by
	// themselves.
	recovered := func() bool {
		for i, s := range held {
			st := s.Status()
			if !st.Valid || st.LastError != nil || st.SessionID == old[i] {
				return false
			}
		}
		n, err := rdb.ZCount(ctx, liveKey, "("+strconv.FormatInt(time.Now().UnixMilli(), 10), "+inf").Result()
		return err == nil && n == clients
	}
	for !recovered() {
		if time.Since(back) > ttl {
			st := make([]license.Status, clients)
			for i, s := range held {
				st[i] = s.Status()
			}
			t.Fatalf("not recovered within one lease TTL (%v) of Redis answering again: seats %+v", ttl, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(back)

	// Each client was told its session was gone, and only then acquired
	// anew: a 404 on its heartbeat, not a timeout or some other failure.
	for i, l := range logs {
		if !l.saw(license.ErrSessionNotFound) {
			t.Errorf("client %d never saw a 404 session_not_found; it logged %v", i, l.all())
		}
	}
	// The old sessions are truly gone, and the seat count the admins see
	// is the clients', not the clients' twice.
	for i, sid := range old {
		a.expect(a.heartbeat(sid), 404, "session_not_found")
		if held[i].Status().SessionID == sid {
			t.Fatalf("client %d still holds its pre-restart session", i)
		}
	}
	if used := a.expect(a.admin("GET", licensePath, nil), 200, "").num("seats_used"); used != clients {
		t.Fatalf("seats_used = %d after the restart, want %d", used, clients)
	}

	// The metadata Redis holds again is PostgreSQL's, field by field, read
	// here with SQL of the test's own.
	var (
		keyHash, status, tstatus, tenantID, leasing string
		nSeats, ttlSeconds, maxPerUser              int
		maxInstances, linger, revive                int
		overageMode                                 string
		overageValue                                int
		requireUser                                 bool
		revision                                    int64
		expires                                     *time.Time
	)
	err = b.DB.Pool.QueryRow(ctx, `SELECT l.key_hash, l.status, t.status, l.tenant_id::text, l.leasing, l.seats,
		l.lease_ttl_seconds, coalesce(l.max_seats_per_user, 0), l.require_user, l.revision + t.revision, l.expires_at,
		coalesce(l.max_instances_per_seat, 0), l.linger_seconds, l.revive_seconds, l.overage_mode, l.overage_value
		FROM licenses l JOIN tenants t ON t.id = l.tenant_id WHERE l.id = $1`, licenseID).
		Scan(&keyHash, &status, &tstatus, &tenantID, &leasing, &nSeats, &ttlSeconds, &maxPerUser, &requireUser, &revision, &expires,
			&maxInstances, &linger, &revive, &overageMode, &overageValue)
	if err != nil {
		t.Fatal(err)
	}
	var exp int64
	if expires != nil {
		exp = expires.UnixMilli()
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	want := map[string]string{
		"kh": keyHash, "status": status, "tstatus": tstatus, "tenant": tenantID,
		"seats": strconv.Itoa(nSeats), "ttl": strconv.Itoa(ttlSeconds), "exp": strconv.FormatInt(exp, 10),
		"ru": flag(requireUser), "mpu": strconv.Itoa(maxPerUser), "pu": flag(leasing == "per_user"),
		"rev": strconv.FormatInt(revision, 10), "nb": "0",
		"mis": strconv.Itoa(maxInstances), "lg": strconv.Itoa(linger), "rv": strconv.Itoa(revive),
		"oa": strconv.Itoa(seatengine.License{Seats: nSeats, OverageMode: overageMode, OverageValue: overageValue}.Allowance()),
	}
	got, err := rdb.HGetAll(ctx, metaKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	for field, v := range want {
		if got[field] != v {
			t.Errorf("metadata %s = %q in Redis after the restart, %q in PostgreSQL (all: %v)", field, got[field], v, got)
		}
	}
	if nSeats != seats || ttlSeconds != int(ttl/time.Second) || status != "active" || keyHash == "" {
		t.Fatalf("PostgreSQL holds seats %d, ttl %d, status %q: not the license created", nSeats, ttlSeconds, status)
	}
	t.Logf("recovered %v after Redis answered again (lease TTL %v)", took, ttl)

	for i, s := range held {
		if err := s.Close(ctx); err != nil {
			t.Fatalf("client %d: Close: %v", i, err)
		}
	}
	if used := a.expect(a.admin("GET", licensePath, nil), 200, "").num("seats_used"); used != 0 {
		t.Fatalf("seats_used = %d after every client closed", used)
	}
}

// failureLog is an slog handler keeping the errors an SDK seat logs: the
// SDK's way of telling its user what went wrong on the wire.
type failureLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *failureLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *failureLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "error" {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *failureLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *failureLog) WithGroup(string) slog.Handler      { return l }

func (l *failureLog) saw(target error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func (l *failureLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}
