package seats_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// A session id is the bearer credential that heartbeats and releases a
// seat: only its holder sees it. Redis, the admin lists and the ledger name
// a session by its digest. These hold on every backend of backends.
func TestSessionIDsStayWithTheirHolder(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range digestContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

var digestContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"no Redis key or value holds a session id", func(t *testing.T, f *fixture) {
		// Every structure a session reaches: the live set, its record,
		// the lease mapping, a per-user list, the ledger; and a resume,
		// a heartbeat and a release.
		l, _ := f.license(5, time.Minute, func(l *seats.License) { l.MaxSeatsPerUser = 3 })
		pu, _ := f.license(5, time.Minute, func(l *seats.License) { l.PerUser = true })
		var ids []string
		for _, fp := range []string{"ws-1", "ws-2", "ws-3"} {
			ids = append(ids, f.mustAcquire(l, fp).SessionID)
		}
		ids = append(ids, f.mustAcquire(pu, "ws-1").SessionID)
		if g := f.mustAcquire(l, "ws-1"); !g.Resumed || g.SessionID != ids[0] {
			t.Fatalf("acquire again from ws-1 = %+v, want the session resumed", g)
		}
		if _, err := f.engine.Heartbeat(context.Background(), ids[1]); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.engine.Release(context.Background(), ids[2]); err != nil || !ok {
			t.Fatalf("release = %v, %v", ok, err)
		}
		dump := redisDump(t, f.rdb, f.prefix)
		if !strings.Contains(dump, "{"+l.ID+"}:l") || !strings.Contains(dump, "{"+l.ID+"}:e") {
			t.Fatalf("the dump misses the license's keys:\n%s", dump)
		}
		for _, id := range ids {
			// The token, the part of the id after the license, is what
			// makes it secret.
			if _, token, _ := tokens.ParseSessionID(id); strings.Contains(dump, token) {
				t.Errorf("Redis holds session id %s in the clear", tokens.SessionDigest(id))
			}
			if !strings.Contains(dump, tokens.SessionDigest(id)) {
				t.Errorf("Redis does not name session %s by its digest", tokens.SessionDigest(id))
			}
		}
		// The admin list and the ledger name sessions by the same digest
		// as the lease.
		list, err := f.engine.Sessions(context.Background(), l.ID, 10)
		if err != nil || len(list) != 2 {
			t.Fatalf("sessions = %+v, %v", list, err)
		}
		for _, s := range list {
			if s.SessionDigest != tokens.SessionDigest(ids[0]) && s.SessionDigest != tokens.SessionDigest(ids[1]) {
				t.Errorf("listed %+v, not a digest of a live session", s)
			}
		}
		evs, err := f.engine.Events(context.Background(), l.ID, 100)
		if err != nil || len(evs) != 4 {
			t.Fatalf("ledger = %+v, %v", evs, err)
		}
		if evs[3].Kind != seats.EventReleased || evs[3].SessionRef != tokens.SessionDigest(ids[2]) {
			t.Errorf("ledger entry %+v, want the release of %s", evs[3], tokens.SessionDigest(ids[2]))
		}
	}},
	{"a lease's subject is not a credential", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		g := f.mustAcquire(l, "ws")
		if g.SessionDigest != tokens.SessionDigest(g.SessionID) || g.SessionDigest == g.SessionID {
			t.Fatalf("grant %+v: its digest is not the digest of its id", g)
		}
		// As the lease names it, and in the form of a session id.
		for _, forged := range []string{g.SessionDigest, tokens.SessionID(l.ID, g.SessionDigest[:tokens.SessionTokenLen])} {
			if _, err := f.engine.Heartbeat(context.Background(), forged); !errors.Is(err, seats.ErrSessionNotFound) {
				t.Errorf("heartbeat with %q = %v, want session not found", forged, err)
			}
			if ok, err := f.engine.Release(context.Background(), forged); ok || err != nil {
				t.Errorf("release with %q = %v, %v, want nothing released", forged, ok, err)
			}
		}
		if hb, err := f.engine.Heartbeat(context.Background(), g.SessionID); err != nil || hb.SessionDigest != g.SessionDigest {
			t.Fatalf("heartbeat with the id = %+v, %v", hb, err)
		}
	}},
	{"a corrupt session record is reported without its id", func(t *testing.T, f *fixture) {
		ctx := context.Background()
		l, _ := f.license(3, time.Minute)
		g := f.mustAcquire(l, "ws")
		_, token, _ := tokens.ParseSessionID(g.SessionID)
		info := f.prefix + "{" + l.ID + "}:i"
		if err := f.rdb.HSet(ctx, info, g.SessionDigest, "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		_, err := f.engine.Sessions(ctx, l.ID, 10)
		if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), g.SessionDigest) {
			t.Fatalf("listing a corrupt record: %v; want an error naming the digest, not the id", err)
		}
		// A session from before digests is named in Redis by its clear
		// token; an error names it by the digest of its id all the same.
		_, legacy, _ := tokens.NewSessionID(l.ID)
		other, _ := f.license(3, time.Minute)
		live, info := f.prefix+"{"+other.ID+"}:l", f.prefix+"{"+other.ID+"}:i"
		if err := f.rdb.ZAdd(ctx, live, redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: legacy}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.rdb.HSet(ctx, info, legacy, "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		_, err = f.engine.Sessions(ctx, other.ID, 10)
		if want := tokens.SessionDigest(tokens.SessionID(other.ID, legacy)); err == nil || strings.Contains(err.Error(), legacy) ||
			!strings.Contains(err.Error(), want) {
			t.Fatalf("listing a corrupt record from before digests: %v; want an error naming %s", err, want)
		}
	}},
	{"a session from before digests is replaced, never resumed", func(t *testing.T, f *fixture) {
		// What a deploy finds in Redis: sessions the previous version
		// wrote, named by their clear token, without a nonce.
		ctx := context.Background()
		l, _ := f.license(1, time.Minute)
		legacyID, legacy, _ := tokens.NewSessionID(l.ID)
		base := f.prefix + "{" + l.ID + "}:"
		if err := f.rdb.ZAdd(ctx, base+"l", redis.Z{Score: float64(time.Now().Add(time.Minute).UnixMilli()), Member: legacy}).Err(); err != nil {
			t.Fatal(err)
		}
		if err := f.rdb.HSet(ctx, base+"i", legacy, `{"fp":"ws","lk":"ws","host":"h","user":"","os":"","repo":"","at":1,"tu":0}`,
			"\x00ws", legacy).Err(); err != nil {
			t.Fatal(err)
		}
		if listed, err := f.engine.Sessions(ctx, l.ID, 10); err != nil || len(listed) != 1 ||
			listed[0].SessionDigest != tokens.SessionDigest(legacyID) {
			t.Fatalf("sessions = %+v, %v; want the old session listed by the digest of its id", listed, err)
		}
		// Its holder's heartbeat finds nothing (the SDK acquires again)...
		if _, err := f.engine.Heartbeat(ctx, legacyID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of a session from before digests = %v, want session not found", err)
		}
		// ...and acquiring again from its workstation replaces it: its id
		// cannot be handed back, and the seat is not counted twice.
		g := f.mustAcquire(l, "ws")
		if g.Resumed || g.SeatsUsed != 1 || g.SessionID == legacyID {
			t.Fatalf("acquire over a session from before digests = %+v", g)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("%d live sessions, want 1", n)
		}
		dump := redisDump(t, f.rdb, f.prefix)
		if strings.Contains(dump, legacy) {
			t.Fatal("the old session's token is still in Redis")
		}
		// Its end is in the ledger under the digest it always had there
		// (of its token, as the previous version recorded its acquire).
		evs, err := f.engine.Events(ctx, l.ID, 100)
		sum := sha1.Sum([]byte(legacy))
		if err != nil || len(evs) != 2 || evs[0].Kind != seats.EventExpired || evs[0].SessionRef != hex.EncodeToString(sum[:])[:32] ||
			evs[1].Kind != seats.EventAcquired || evs[1].SessionRef != g.SessionDigest {
			t.Fatalf("ledger = %+v, %v", evs, err)
		}
	}},
}

// redisDump is every key under prefix with its value, one key a line, read
// from every master of a cluster.
func redisDump(t *testing.T, rdb redis.UniversalClient, prefix string) string {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	var out strings.Builder
	dump := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			kind, err := c.Type(ctx, key).Result()
			if err != nil {
				return err
			}
			var val any
			switch kind {
			case "string":
				val, err = c.Get(ctx, key).Result()
			case "hash":
				val, err = c.HGetAll(ctx, key).Result()
			case "zset":
				val, err = c.ZRangeWithScores(ctx, key, 0, -1).Result()
			case "set":
				val, err = c.SMembers(ctx, key).Result()
			case "list":
				val, err = c.LRange(ctx, key, 0, -1).Result()
			case "stream":
				val, err = c.XRange(ctx, key, "-", "+").Result()
			default:
				err = fmt.Errorf("key %s of type %s", key, kind)
			}
			if err != nil {
				return err
			}
			mu.Lock()
			fmt.Fprintf(&out, "%s %q\n", key, fmt.Sprint(val))
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, dump)
	case *redis.Client:
		err = dump(ctx, c)
	default:
		t.Fatalf("no dump for %T", rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// BenchmarkHeartbeat is a heartbeat's whole cost in the engine on the
// local Redis, to set the session digest's (BenchmarkSessionDigest in
// shared/tokens) against.
func BenchmarkHeartbeat(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	e, err := seats.New(rdb, prefix, func(context.Context, string) (seats.License, error) {
		return seats.License{}, seats.ErrLicenseNotFound
	})
	if err != nil {
		b.Fatal(err)
	}
	id := newUUID()
	key, hash, _ := tokens.NewLicenseKey(id)
	l := seats.License{ID: id, TenantID: newUUID(), KeyHash: hash, Status: "active", TenantStatus: "active",
		Seats: 1, LeaseTTL: time.Minute, Revision: 1}
	if _, err := e.SyncLicense(context.Background(), l); err != nil {
		b.Fatal(err)
	}
	g, err := e.Acquire(context.Background(), seats.AcquireRequest{LicenseID: id, LicenseKey: key, Fingerprint: "ws"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := e.Heartbeat(context.Background(), g.SessionID); err != nil {
			b.Fatal(err)
		}
	}
}
