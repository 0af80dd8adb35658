package seats_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// The seat contract holds on every Redis the service meets: a single node
// (development, Memorystore basic), a 3-master cluster (every key of a script
// must share one slot, or the cluster refuses it), and the embedded Redis of
// `make run`.
func backends(t *testing.T) map[string]func(t *testing.T) (redis.UniversalClient, string) {
	return map[string]func(t *testing.T) (redis.UniversalClient, string){
		"redis": func(t *testing.T) (redis.UniversalClient, string) {
			c, prefix := testenv.Redis(t)
			return c, prefix
		},
		"cluster": func(t *testing.T) (redis.UniversalClient, string) {
			return testenv.RedisCluster(t), "lic:"
		},
		"miniredis": func(t *testing.T) (redis.UniversalClient, string) {
			return testenv.MiniRedis(t), "lic:"
		},
		// The same contract with concurrent calls pipelined (seats.Pipelined),
		// as the backend runs the engine.
		"redis/pipelined": func(t *testing.T) (redis.UniversalClient, string) {
			c, prefix := testenv.Redis(t)
			return c, prefix
		},
		"cluster/pipelined": func(t *testing.T) (redis.UniversalClient, string) {
			return testenv.RedisCluster(t), "lic:"
		},
	}
}

// engineOptions are the engine options of a backend of backends.
func engineOptions(name string) []seats.Option {
	if strings.HasSuffix(name, "/pipelined") {
		return []seats.Option{seats.Pipelined(seats.DefaultPipelineLanes, seats.DefaultPerPipeline)}
	}
	return nil
}

// fixture is an engine whose "system of record" is a map, so a test can put
// a license there, take it out of Redis, and watch the engine load it.
type fixture struct {
	t      *testing.T
	rdb    redis.UniversalClient
	prefix string
	engine *seats.Engine
	mu     sync.Mutex
	stored map[string]seats.License
	keys   map[string]string // license id -> key
	loads  atomic.Int64
}

func newFixture(t *testing.T, rdb redis.UniversalClient, prefix string, opts ...seats.Option) *fixture {
	f := &fixture{t: t, rdb: rdb, prefix: prefix, stored: map[string]seats.License{}, keys: map[string]string{}}
	e, err := seats.New(rdb, prefix, func(ctx context.Context, id string) (seats.License, error) {
		f.loads.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		l, ok := f.stored[id]
		if !ok {
			return seats.License{}, seats.ErrLicenseNotFound
		}
		return l, nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.engine = e
	return f
}

// license creates a license with a key, stores it and syncs it.
func (f *fixture) license(seatCount int, ttl time.Duration, mod ...func(*seats.License)) (seats.License, string) {
	f.t.Helper()
	id := newUUID()
	key, hash, err := tokens.NewLicenseKey(id)
	if err != nil {
		f.t.Fatal(err)
	}
	l := seats.License{ID: id, TenantID: newUUID(), KeyHash: hash, Status: "active", TenantStatus: "active",
		Seats: seatCount, LeaseTTL: ttl, Revision: 1}
	for _, m := range mod {
		m(&l)
	}
	f.mu.Lock()
	f.keys[id] = key
	f.mu.Unlock()
	f.put(l)
	return l, key
}

// key is the license key of a license made by license ("" for others).
func (f *fixture) key(l seats.License) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[l.ID]
}

func (f *fixture) put(l seats.License) {
	f.t.Helper()
	f.mu.Lock()
	f.stored[l.ID] = l
	f.mu.Unlock()
	if _, err := f.engine.SyncLicense(context.Background(), l); err != nil {
		f.t.Fatalf("SyncLicense: %v", err)
	}
}

func (f *fixture) acquire(l seats.License, fp string) (seats.Grant, error) {
	return f.engine.Acquire(context.Background(), seats.AcquireRequest{
		LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, Hostname: "host-" + fp, User: "user-" + fp})
}

func (f *fixture) mustAcquire(l seats.License, fp string) seats.Grant {
	f.t.Helper()
	g, err := f.acquire(l, fp)
	if err != nil {
		f.t.Fatalf("acquire %s: %v", fp, err)
	}
	return g
}

func (f *fixture) count(l seats.License) int {
	f.t.Helper()
	n, err := f.engine.Count(context.Background(), []string{l.ID})
	if err != nil {
		f.t.Fatalf("Count: %v", err)
	}
	return n[l.ID]
}

func TestSeatContract(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range contract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

var contract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"grants up to the seat count then denies", func(t *testing.T, f *fixture) {
		l, _ := f.license(3, time.Minute)
		for i := range 3 {
			g := f.mustAcquire(l, fmt.Sprint("ws", i))
			if g.SeatsUsed != i+1 || g.SeatsTotal != 3 || g.Resumed {
				t.Fatalf("grant %d = %+v", i, g)
			}
			if d := time.Until(g.ExpiresAt); d < 50*time.Second || d > 70*time.Second {
				t.Fatalf("expiry %v is not one TTL away", g.ExpiresAt)
			}
		}
		_, err := f.acquire(l, "ws-extra")
		var full *seats.NoSeatsError
		if !errors.As(err, &full) || !errors.Is(err, seats.ErrNoSeats) || full.Used != 3 || full.Seats != 3 {
			t.Fatalf("4th acquire: %v, want NoSeatsError{3,3}", err)
		}
	}},
	{"acquire is idempotent per fingerprint", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		g1 := f.mustAcquire(l, "ws")
		g2 := f.mustAcquire(l, "ws")
		if g2.SessionID != g1.SessionID || !g2.Resumed || g2.SeatsUsed != 1 {
			t.Fatalf("re-acquire = %+v, want the same session and one seat (first %+v)", g2, g1)
		}
		if f.count(l) != 1 {
			t.Fatalf("count = %d, want 1", f.count(l))
		}
	}},
	{"expired sessions never count, without any cleanup", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		old := f.mustAcquire(l, "ws-a")
		if _, err := f.acquire(l, "ws-b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("second acquire while the seat is held: %v", err)
		}
		time.Sleep(1100 * time.Millisecond)
		if n := f.count(l); n != 0 {
			t.Fatalf("count after expiry = %d", n)
		}
		g := f.mustAcquire(l, "ws-b")
		if g.SessionID == old.SessionID || g.SeatsUsed != 1 {
			t.Fatalf("acquire after expiry = %+v", g)
		}
		// The dead session is not revived by a heartbeat, even now that its
		// seat is someone else's.
		if _, err := f.engine.Heartbeat(context.Background(), old.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of expired session: %v, want ErrSessionNotFound", err)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count = %d, want 1", n)
		}
	}},
	{"a workstation re-acquiring after expiry gets a new session", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		old := f.mustAcquire(l, "ws")
		time.Sleep(1100 * time.Millisecond)
		g := f.mustAcquire(l, "ws")
		if g.SessionID == old.SessionID || g.Resumed {
			t.Fatalf("re-acquire after expiry = %+v, want a new session", g)
		}
	}},
	{"heartbeat extends a live session", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, 2*time.Second)
		g := f.mustAcquire(l, "ws")
		time.Sleep(1200 * time.Millisecond)
		hb, err := f.engine.Heartbeat(context.Background(), g.SessionID)
		if err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
		if !hb.ExpiresAt.After(g.ExpiresAt) || hb.LeaseTTL != 2*time.Second {
			t.Fatalf("heartbeat = %+v, want expiry after %v", hb, g.ExpiresAt)
		}
		time.Sleep(1200 * time.Millisecond) // past the first expiry, within the second
		if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); err != nil {
			t.Fatalf("second heartbeat: %v", err)
		}
		if f.count(l) != 1 {
			t.Fatal("the heartbeated session does not count")
		}
	}},
	{"heartbeat of unknown or malformed sessions", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		unknown, _, _ := tokens.NewSessionID(l.ID)
		otherLicense, _, _ := tokens.NewSessionID(newUUID())
		for _, sid := range []string{unknown, otherLicense, "", "garbage", "{x}:l"} {
			if _, err := f.engine.Heartbeat(context.Background(), sid); !errors.Is(err, seats.ErrSessionNotFound) {
				t.Errorf("heartbeat(%q) = %v, want ErrSessionNotFound", sid, err)
			}
		}
	}},
	{"suspending revokes at the next heartbeat and blocks acquire", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		g := f.mustAcquire(l, "ws")
		l.Status, l.Revision = "suspended", 2
		f.put(l)
		if _, err := f.acquire(l, "ws-2"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("acquire on suspended license: %v", err)
		}
		if _, err := f.acquire(l, "ws"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("re-acquire on suspended license: %v", err)
		}
		if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("heartbeat on suspended license: %v", err)
		}
		if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat after revocation: %v, want ErrSessionNotFound", err)
		}
		if n := f.count(l); n != 0 {
			t.Fatalf("revoked session still counts: %d", n)
		}
		l.Status, l.Revision = "active", 3
		f.put(l)
		f.mustAcquire(l, "ws")
	}},
	{"a suspended tenant makes its licenses inactive", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, func(l *seats.License) { l.TenantStatus = "suspended" })
		if _, err := f.acquire(l, "ws"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("acquire: %v, want ErrLicenseInactive", err)
		}
	}},
	{"a deleted license is not found and revokes its sessions", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		g := f.mustAcquire(l, "ws")
		l.Status, l.Revision = "deleted", 2
		f.put(l)
		if _, err := f.acquire(l, "ws-2"); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("acquire on deleted license: %v", err)
		}
		if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("heartbeat on deleted license: %v", err)
		}
	}},
	{"an expired license refuses acquire and caps session expiry", func(t *testing.T, f *fixture) {
		past, _ := f.license(2, time.Minute, func(l *seats.License) { l.ExpiresAt = time.Now().Add(-time.Second) })
		if _, err := f.acquire(past, "ws"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("acquire on expired license: %v", err)
		}
		end := time.Now().Add(1500 * time.Millisecond).Truncate(time.Millisecond)
		soon, _ := f.license(2, time.Minute, func(l *seats.License) { l.ExpiresAt = end })
		g := f.mustAcquire(soon, "ws")
		if !g.ExpiresAt.Equal(end) {
			t.Fatalf("session expiry %v, want the license expiry %v", g.ExpiresAt, end)
		}
		time.Sleep(time.Until(end) + 100*time.Millisecond)
		if _, err := f.acquire(soon, "ws-2"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Fatalf("acquire after the license expired: %v", err)
		}
		if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); err == nil {
			t.Fatal("heartbeat after the license expired succeeded")
		}
	}},
	{"lowering seats keeps live sessions and blocks new ones", func(t *testing.T, f *fixture) {
		l, _ := f.license(3, time.Minute)
		a, b := f.mustAcquire(l, "a"), f.mustAcquire(l, "b")
		f.mustAcquire(l, "c")
		l.Seats, l.Revision = 2, 2
		f.put(l)
		if _, err := f.engine.Heartbeat(context.Background(), a.SessionID); err != nil {
			t.Fatalf("heartbeat over the new limit: %v", err)
		}
		if g, err := f.acquire(l, "c"); err != nil || !g.Resumed {
			t.Fatalf("resume over the new limit: %+v, %v", g, err)
		}
		if _, err := f.acquire(l, "d"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("new acquire at 3 live / 2 seats: %v", err)
		}
		if ok, err := f.engine.Release(context.Background(), a.SessionID); err != nil || !ok {
			t.Fatalf("release: %v %v", ok, err)
		}
		if _, err := f.acquire(l, "d"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("new acquire at 2 live / 2 seats: %v", err)
		}
		if ok, _ := f.engine.Release(context.Background(), b.SessionID); !ok {
			t.Fatal("release b")
		}
		f.mustAcquire(l, "d")
	}},
	{"a wrong key is not found", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		other, _, _ := tokens.NewLicenseKey(l.ID)
		if _, err := f.engine.Acquire(context.Background(), seats.AcquireRequest{LicenseID: l.ID, LicenseKey: other,
			Fingerprint: "ws"}); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("acquire with a wrong key: %v", err)
		}
	}},
	{"metadata missing from Redis is loaded once", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		if err := f.rdb.Del(context.Background(), f.prefix+"{"+l.ID+"}:m").Err(); err != nil {
			t.Fatal(err)
		}
		f.mustAcquire(l, "ws")
		f.mustAcquire(l, "ws")
		if n := f.loads.Load(); n != 1 {
			t.Fatalf("loader called %d times, want 1", n)
		}
		unknown := seats.License{ID: newUUID()}
		if _, err := f.acquire(unknown, "ws"); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("acquire of a license nowhere: %v", err)
		}
	}},
	{"an unknown license is read from the system of record once", func(t *testing.T, f *fixture) {
		// A flood of made-up keys for random ids: each id costs one load,
		// then the acquire script answers alone until the mark expires.
		for range 3 {
			unknown := seats.License{ID: newUUID(), KeyHash: tokens.Hash("made up")}
			before := f.loads.Load()
			for i := range 20 {
				if _, err := f.acquire(unknown, fmt.Sprint("ws-", i)); !errors.Is(err, seats.ErrLicenseNotFound) {
					t.Fatalf("acquire %d of an unknown license: %v", i, err)
				}
			}
			if n := f.loads.Load() - before; n != 1 {
				t.Fatalf("20 acquires of one unknown license loaded it %d times, want 1", n)
			}
		}
	}},
	{"a license written through ends its unknown mark at once", func(t *testing.T, f *fixture) {
		id := newUUID()
		key, hash, err := tokens.NewLicenseKey(id)
		if err != nil {
			t.Fatal(err)
		}
		l := seats.License{ID: id, TenantID: newUUID(), KeyHash: hash, Status: "active", TenantStatus: "active",
			Seats: 1, LeaseTTL: time.Minute, Revision: 1}
		f.mu.Lock()
		f.keys[id] = key // the key its holder presents; not yet stored
		f.mu.Unlock()
		if _, err := f.acquire(l, "ws"); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("acquire before the license exists: %v", err)
		}
		f.put(l) // created: written through, as every create is
		f.mustAcquire(l, "ws")
		// And with the metadata gone again (Redis lost it), the license is
		// loaded, not answered from a mark the write-through ended.
		if err := f.rdb.Del(context.Background(), f.prefix+"{"+id+"}:m").Err(); err != nil {
			t.Fatal(err)
		}
		before := f.loads.Load()
		f.mustAcquire(l, "ws")
		if n := f.loads.Load() - before; n != 1 {
			t.Fatalf("loader called %d times after the metadata was lost, want 1", n)
		}
	}},
	{"release frees the seat once", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		g := f.mustAcquire(l, "ws")
		if ok, err := f.engine.Release(context.Background(), g.SessionID); err != nil || !ok {
			t.Fatalf("release = %v, %v", ok, err)
		}
		if ok, err := f.engine.Release(context.Background(), g.SessionID); err != nil || ok {
			t.Fatalf("second release = %v, %v; want false", ok, err)
		}
		if ok, err := f.engine.Release(context.Background(), "nonsense"); err != nil || ok {
			t.Fatalf("release of garbage = %v, %v", ok, err)
		}
		g2 := f.mustAcquire(l, "other")
		if g2.SeatsUsed != 1 {
			t.Fatalf("after release: %+v", g2)
		}
		// The released workstation gets a new session, not its old one.
		if ok, _ := f.engine.Release(context.Background(), g2.SessionID); !ok {
			t.Fatal("release 2")
		}
		if g3 := f.mustAcquire(l, "ws"); g3.SessionID == g.SessionID || g3.Resumed {
			t.Fatalf("re-acquire after release = %+v", g3)
		}
	}},
	{"release of an expired session reports false", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		g := f.mustAcquire(l, "ws")
		time.Sleep(1100 * time.Millisecond)
		if ok, err := f.engine.Release(context.Background(), g.SessionID); err != nil || ok {
			t.Fatalf("release of expired = %v, %v", ok, err)
		}
	}},
	{"an older revision never overwrites a newer one", func(t *testing.T, f *fixture) {
		l, _ := f.license(5, time.Minute)
		newer := l
		newer.Seats, newer.Revision = 1, 7
		if ok, err := f.engine.SyncLicense(context.Background(), newer); err != nil || !ok {
			t.Fatalf("sync newer: %v %v", ok, err)
		}
		older := l
		older.Seats, older.Revision = 9, 6
		if ok, err := f.engine.SyncLicense(context.Background(), older); err != nil || ok {
			t.Fatalf("sync older = %v, %v; want ignored", ok, err)
		}
		f.mustAcquire(l, "a")
		if _, err := f.acquire(l, "b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("seats came from the older revision: %v", err)
		}
	}},
	{"sessions and counts", func(t *testing.T, f *fixture) {
		l, _ := f.license(5, time.Minute)
		other, _ := f.license(5, time.Minute)
		g := f.mustAcquire(l, "ws-1")
		f.mustAcquire(l, "ws-2")
		f.mustAcquire(other, "ws-1")
		list, err := f.engine.Sessions(context.Background(), l.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("sessions = %+v, want 2", list)
		}
		// Sessions with the same expiry (same millisecond) come in either order.
		s := list[0]
		if s.SessionDigest != g.SessionDigest {
			s = list[1]
		}
		if s.SessionDigest != tokens.SessionDigest(g.SessionID) || s.Fingerprint != "ws-1" || s.Hostname != "host-ws-1" ||
			s.User != "user-ws-1" || !s.ExpiresAt.Equal(g.ExpiresAt) || time.Since(s.AcquiredAt) > time.Minute {
			t.Fatalf("sessions = %+v", list)
		}
		counts, err := f.engine.Count(context.Background(), []string{l.ID, other.ID, newUUID()})
		if err != nil {
			t.Fatal(err)
		}
		if counts[l.ID] != 2 || counts[other.ID] != 1 || len(counts) != 3 {
			t.Fatalf("counts = %v", counts)
		}
	}},
	{"policy: blocked workstations, required and per-user seats", func(t *testing.T, f *fixture) {
		l, _ := f.license(3, time.Minute, func(l *seats.License) { l.Blocked = []string{"bad-1", "bad-2"} })
		for _, fp := range []string{"bad-1", "bad-2"} {
			if _, err := f.acquire(l, fp); !errors.Is(err, seats.ErrWorkstationBlocked) {
				t.Fatalf("acquire from %s: %v", fp, err)
			}
		}
		f.mustAcquire(l, "good")
		l.Blocked, l.Revision = nil, 2
		f.put(l)
		f.mustAcquire(l, "bad-1")

		req := func(l seats.License, fp, user string, tenants ...string) (seats.Grant, error) {
			return f.engine.Acquire(context.Background(), seats.AcquireRequest{LicenseID: l.ID, LicenseKey: f.key(l),
				Fingerprint: fp, User: user, CallerTenants: tenants})
		}
		ru, _ := f.license(3, time.Minute, func(l *seats.License) { l.RequireUser = true })
		if _, err := req(ru, "ws", "ada"); !errors.Is(err, seats.ErrUserRequired) {
			t.Fatalf("require_user without a caller: %v", err)
		}
		if _, err := req(ru, "ws", "ada", newUUID(), newUUID()); !errors.Is(err, seats.ErrWrongTenant) {
			t.Fatalf("require_user with a caller of other tenants: %v", err)
		}
		// A person of several tenants, the license's not the first.
		if _, err := req(ru, "ws", "ada", newUUID(), ru.TenantID); err != nil {
			t.Fatalf("require_user with a caller of the tenant among others: %v", err)
		}

		mpu, _ := f.license(5, time.Minute, func(l *seats.License) { l.MaxSeatsPerUser = 1 })
		if _, err := req(mpu, "ws-1", ""); !errors.Is(err, seats.ErrUserMissing) {
			t.Fatalf("per-user limit without a user: %v", err)
		}
		g, err := req(mpu, "ws-1", "ada")
		if err != nil {
			t.Fatal(err)
		}
		var lim *seats.UserLimitError
		if _, err := req(mpu, "ws-2", "ada"); !errors.As(err, &lim) || lim.Used != 1 || lim.Max != 1 {
			t.Fatalf("second seat of one user: %v", err)
		}
		if _, err := f.engine.Release(context.Background(), g.SessionID); err != nil {
			t.Fatal(err)
		}
		if _, err := req(mpu, "ws-2", "ada"); err != nil {
			t.Fatalf("after release: %v", err)
		}

		pu, _ := f.license(5, time.Minute, func(l *seats.License) { l.PerUser = true })
		a, _ := req(pu, "laptop", "ada", "")
		b, err := req(pu, "desktop", "ada", "")
		if err != nil || b.SessionID != a.SessionID || !b.Resumed || b.SeatsUsed != 1 {
			t.Fatalf("per-user leasing: %+v, %v (first %+v)", b, err, a)
		}
	}},
	{"strings with Lua and Redis metacharacters are data", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		fp := "ws'); redis.call('FLUSHALL') --\x00{x}\"\\\n"
		g, err := f.engine.Acquire(context.Background(), seats.AcquireRequest{
			LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, Hostname: "h]]..'", User: "ü\u2028"})
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.engine.Sessions(context.Background(), l.ID, 10)
		if err != nil || len(list) != 1 || list[0].Fingerprint != fp || list[0].User != "ü\u2028" {
			t.Fatalf("sessions = %+v, %v", list, err)
		}
		if g2 := f.mustAcquire(l, fp); g2.SessionID != g.SessionID {
			t.Fatal("fingerprint with metacharacters did not resume")
		}
	}},
}

// TestConcurrentAcquireNeverOverAllocates is the core promise: however many
// clients race, a 10-seat license grants exactly 10.
func TestConcurrentAcquireNeverOverAllocates(t *testing.T) {
	t.Parallel()
	reps := map[string]int{"redis": 50, "cluster": 10, "miniredis": 10, "redis/pipelined": 50, "cluster/pipelined": 10}
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			for rep := range reps[name] {
				l, _ := f.license(10, time.Minute)
				var granted, denied atomic.Int64
				var wg sync.WaitGroup
				for i := range 200 {
					wg.Go(func() {
						_, err := f.acquire(l, fmt.Sprintf("ws-%d", i))
						switch {
						case err == nil:
							granted.Add(1)
						case errors.Is(err, seats.ErrNoSeats):
							denied.Add(1)
						default:
							t.Errorf("acquire: %v", err)
						}
					})
				}
				wg.Wait()
				if granted.Load() != 10 || denied.Load() != 190 {
					t.Fatalf("rep %d: granted %d, denied %d; want 10 and 190", rep, granted.Load(), denied.Load())
				}
				if n := f.count(l); n != 10 {
					t.Fatalf("rep %d: %d live sessions", rep, n)
				}
			}
		})
	}
}

// TestOneClock: expiry comes from Redis TIME, not the caller's clock. The
// embedded Redis lets the test move Redis's clock far from this machine's.
func TestOneClock(t *testing.T) {
	t.Parallel()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	redisNow := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	m.SetTime(redisNow)
	f := newFixture(t, rdb, "lic:")
	l, _ := f.license(1, time.Minute)
	g := f.mustAcquire(l, "ws")
	if want := redisNow.Add(time.Minute); !g.ExpiresAt.Equal(want) {
		t.Fatalf("expiry %v, want Redis time + TTL = %v", g.ExpiresAt, want)
	}
	// Moving Redis's clock past the expiry frees the seat, though no real
	// time has passed here.
	m.SetTime(redisNow.Add(time.Minute + time.Millisecond))
	if _, err := f.engine.Heartbeat(context.Background(), g.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
		t.Fatalf("heartbeat after Redis time passed the expiry: %v", err)
	}
	f.mustAcquire(l, "ws-2")
}

func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TestAcquireRateLimit: the per-license limit lives in the acquire script
// (one Redis call per acquire): a burst at once, then one per 1/rate, each
// license on its own; refusals are not seat events.
func TestAcquireRateLimit(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			f := newFixture(t, rdb, prefix)
			l, _ := f.license(100, time.Minute)
			other, _ := f.license(100, time.Minute)
			limit := seats.RateLimit{PerSecond: 2, Burst: 3}
			acq := func(l seats.License, fp string) (seats.Grant, error) {
				return f.engine.Acquire(context.Background(), seats.AcquireRequest{
					LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, RateLimit: limit})
			}
			for i := range 3 {
				g, err := acq(l, fmt.Sprint("ws", i))
				if err != nil || g.RateRemaining != 2-i {
					t.Fatalf("acquire %d: %+v %v (want %d remaining)", i, g, err, 2-i)
				}
			}
			_, err := acq(l, "ws9")
			var limited *seats.RateLimitedError
			if !errors.As(err, &limited) || limited.RetryAfter <= 0 || limited.RetryAfter > 500*time.Millisecond {
				t.Fatalf("fourth acquire: %v (want rate limited, retry within 500 ms)", err)
			}
			if g, err := acq(other, "ws9"); err != nil || g.RateRemaining != 2 {
				t.Fatalf("another license held back: %+v %v", g, err)
			}
			if n := f.count(l); n != 3 {
				t.Fatalf("%d live sessions, want 3", n)
			}
			// Unlimited acquires report no limit.
			if g := f.mustAcquire(l, "ws-free"); g.RateRemaining != -1 {
				t.Fatalf("remaining without a limit = %d", g.RateRemaining)
			}
		})
	}
}

// TestUnknownLicenseMarkExpires: an id the system of record did not know is
// asked again once its mark expires (a license restored into PostgreSQL is
// found then), and not before.
func TestUnknownLicenseMarkExpires(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	const ttl = 300 * time.Millisecond
	f := newFixture(t, rdb, prefix, seats.UnknownLicenseTTL(ttl))
	unknown := seats.License{ID: newUUID(), KeyHash: tokens.Hash("made up")}
	start := time.Now()
	for range 5 {
		if _, err := f.acquire(unknown, "ws"); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("acquire: %v", err)
		}
	}
	if n := f.loads.Load(); n != 1 && time.Since(start) < ttl {
		t.Fatalf("loaded %d times within the mark's life, want 1", n)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	before := f.loads.Load()
	if _, err := f.acquire(unknown, "ws"); !errors.Is(err, seats.ErrLicenseNotFound) {
		t.Fatalf("acquire: %v", err)
	}
	if n := f.loads.Load() - before; n != 1 {
		t.Fatalf("after the mark expired the license was loaded %d times, want 1", n)
	}
}
