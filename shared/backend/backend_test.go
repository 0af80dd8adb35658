package backend_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// tlsFiles writes a CA and a server certificate for 127.0.0.1 signed by it,
// as Memorystore's in-transit encryption presents: a private CA.
func tlsFiles(t *testing.T) (dir string, caPEM string) {
	t.Helper()
	dir = t.TempDir()
	ca := testenv.NewCA(t, "test redis CA")
	certPEM, keyPEM := ca.Issue(t, nil, net.ParseIP("127.0.0.1"))
	for name, data := range map[string][]byte{"ca.pem": []byte(ca.PEM), "server.pem": certPEM, "server.key": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, ca.PEM
}

// TestRedisOverTLSWithAPrivateCA connects as production does to Memorystore
// with AUTH and in-transit encryption: rediss://, REDIS_PASSWORD and the
// server CA in REDIS_CA_PEM.
func TestRedisOverTLSWithAPrivateCA(t *testing.T) {
	t.Parallel()
	dir, caPEM := tlsFiles(t)
	port := testenv.PrivateRedis(t, true,
		"--tls-cert-file", filepath.Join(dir, "server.pem"), "--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no", "--requirepass", "memorystore-auth")
	ctx := context.Background()
	url := "rediss://127.0.0.1:" + strconv.Itoa(port)
	good := config.Redis{URL: url, Password: "memorystore-auth", CAPEM: caPEM, Timeout: 2 * time.Second}
	rdb, err := backend.OpenRedis(ctx, good)
	if err != nil {
		t.Fatalf("TLS with the server's CA: %v", err)
	}
	if err := rdb.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()

	for name, c := range map[string]struct {
		cfg  config.Redis
		want string
	}{
		"no CA":       {config.Redis{URL: url, Password: "memorystore-auth", Timeout: 2 * time.Second}, "certificate"},
		"wrong AUTH":  {config.Redis{URL: url, Password: "nope", CAPEM: caPEM, Timeout: 2 * time.Second}, "WRONGPASS"},
		"CA, no TLS":  {config.Redis{URL: "redis://127.0.0.1:" + strconv.Itoa(port), CAPEM: caPEM, Timeout: time.Second}, "not rediss://"},
		"CA, not PEM": {config.Redis{URL: url, CAPEM: "not a certificate", Timeout: time.Second}, "no PEM certificate"},
	} {
		if _, err := backend.OpenRedis(ctx, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		}
	}
}

// TestPoolSizesReachTheClients: DATABASE_MAX_CONNS and REDIS_POOL_SIZE bound
// the pools the functions open (the connection budgets count on them),
// for the pool of a single function and for each role's pool of the
// local server alike.
func TestPoolSizesReachTheClients(t *testing.T) {
	ctx := context.Background()
	c := config.Database{URL: testenv.PostgresURL(t), MaxConns: 3}
	db, err := backend.OpenDatabase(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := db.Pool.Config().MaxConns; got != 3 {
		t.Errorf("OpenDatabase with MaxConns 3: pool of %d", got)
	}
	role, err := backend.OpenDatabaseAs(ctx, c, database.RoleReader, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer role.Close()
	if got := role.Pool.Config().MaxConns; got != 3 {
		t.Errorf("OpenDatabaseAs with MaxConns 3: pool of %d", got)
	}

	rdb, err := backend.OpenRedis(ctx, config.Redis{URL: testenv.RedisURL(), Timeout: time.Second, PoolSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	client, ok := rdb.(*redis.Client)
	if !ok {
		t.Fatalf("OpenRedis of a single node returned %T", rdb)
	}
	if got := client.Options().PoolSize; got != 7 {
		t.Errorf("OpenRedis with PoolSize 7: pool of %d", got)
	}
}
