package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// DefaultRedisURL is the server the development and CI machines run.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// RedisURL is the shared Redis tests use: TEST_REDIS_URL or the local default.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultRedisURL
}

// Redis returns a client of the shared test Redis and a key prefix no other
// test uses; keys under it are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("parsing TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		t.Fatalf("Redis is not reachable at %s: %v\n"+
			"Start it (on the dev machine: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no) "+
			"or point TEST_REDIS_URL at one.", opts.Addr, err)
	}
	prefix := "test:" + randomHex(6) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// SCAN is fine here: it is a test's own prefix, never a request path.
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleaning test keys: %v", err)
			return
		}
		if len(batch) > 0 {
			if err := rdb.Unlink(ctx, batch...).Err(); err != nil {
				t.Errorf("cleaning test keys: %v", err)
			}
		}
	})
	return rdb, prefix
}

// MiniRedis returns a client of a fresh embedded Redis, the one `make run`
// uses when REDIS_URL is unset.
func MiniRedis(t testing.TB) *redis.Client {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// RedisCluster starts a private Redis Cluster of three masters from the
// installed redis-server on free ports, and returns a cluster client. The
// nodes are stopped when the test ends.
func RedisCluster(t testing.TB) *redis.ClusterClient {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (install Debian's redis-server package): %v", err)
	}
	dir := t.TempDir()
	const nodes = 3
	addrs := make([]string, 0, nodes)
	clients := make([]*redis.Client, 0, nodes)
	t.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
	})
	for i := 0; i < nodes; i++ {
		port := clusterPort(t)
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port),
			"--cluster-node-timeout", "5000",
			"--save", "", "--appendonly", "no",
			"--dir", dir, "--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)),
		)
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting redis-server for the cluster: %v", err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		addrs = append(addrs, addr)
		c := redis.NewClient(&redis.Options{Addr: addr})
		clients = append(clients, c)
		waitFor(t, 10*time.Second, "cluster node "+addr+" to answer", func() bool {
			return c.Ping(context.Background()).Err() == nil
		})
	}
	ctx := context.Background()
	const slots = 16384
	for i, c := range clients {
		from, to := i*slots/nodes, (i+1)*slots/nodes-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", from, to).Err(); err != nil {
			t.Fatalf("assigning slots %d-%d to %s: %v", from, to, addrs[i], err)
		}
	}
	for _, addr := range addrs[1:] {
		host, port, _ := net.SplitHostPort(addr)
		if err := clients[0].ClusterMeet(ctx, host, port).Err(); err != nil {
			t.Fatalf("joining %s to the cluster: %v", addr, err)
		}
	}
	waitFor(t, 20*time.Second, "the cluster to converge", func() bool {
		for _, c := range clients {
			info, err := c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", nodes)) {
				return false
			}
		}
		return true
	})
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	waitFor(t, 10*time.Second, "the cluster client to see every slot", func() bool {
		// Writing a key to each node's slot range proves routing works.
		for _, k := range []string{"{a}", "{b}", "{c}", "{d}"} {
			if cc.Set(ctx, k, "1", time.Minute).Err() != nil {
				return false
			}
		}
		return true
	})
	return cc
}

// clusterPort finds a free port whose cluster bus port (+10000) is free too.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(20000)
		if portFree(p) && portFree(p+10000) {
			return p
		}
	}
	t.Fatal("no free port pair for a Redis Cluster node")
	return 0
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PrivateRedis starts a redis-server of the test's own (so a test may stop,
// freeze or reconfigure it) with the extra arguments given, and returns its
// port, once it listens. It is killed when the test ends. With tls set the
// port speaks only TLS (args then name the certificate files).
func PrivateRedis(t testing.TB, tls bool, args ...string) int {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (install Debian's redis-server package): %v", err)
	}
	dir := t.TempDir()
	port := strconv.Itoa(clusterPort(t))
	listen := []string{"--port", port}
	if tls {
		listen = []string{"--port", "0", "--tls-port", port}
	}
	cmd := exec.Command(bin, append(append(listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")), args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitFor(t, 10*time.Second, "redis-server on port "+port, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	n, _ := strconv.Atoi(port)
	return n
}
