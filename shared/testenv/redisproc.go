package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisProc is a private redis-server a test can kill and start again on
// the same port and data directory, to play a Redis restart under clients
// that keep the address. Its methods are safe for concurrent use.
type RedisProc struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd // nil while stopped
}

// RestartableRedis starts a private redis-server on a free port and returns
// it once it answers; it is killed when the test ends. Without persistence a
// restart comes back empty (the data lost); with it, every write is in the
// append-only file before Redis acknowledges it (appendfsync always), so a
// restart, even after SIGKILL, keeps everything a client was told happened.
// args are extra redis-server arguments.
func RestartableRedis(t testing.TB, persistent bool, args ...string) *RedisProc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (install Debian's redis-server package): %v", err)
	}
	base := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	if persistent {
		base = []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"}
	}
	p := &RedisProc{t: t, bin: bin, port: clusterPort(t), dir: t.TempDir(), args: append(base, args...)}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// Port is the port it listens on, across restarts.
func (p *RedisProc) Port() int { return p.port }

// Addr is its host:port.
func (p *RedisProc) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

// URL is its redis:// URL.
func (p *RedisProc) URL() string { return "redis://" + p.Addr() + "/0" }

// Start runs redis-server (again) and returns once it answers PING, which
// it does only after loading its append-only file. It fails the test if the
// server does not come up in 20 s.
func (p *RedisProc) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("redis-server on port %d is already running", p.port)
	}
	log := filepath.Join(p.dir, "redis.log")
	cmd := exec.Command(p.bin, append([]string{"--port", strconv.Itoa(p.port), "--dir", p.dir, "--logfile", log}, p.args...)...)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting redis-server: %v", err)
	}
	p.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logText, _ := os.ReadFile(log)
			p.t.Fatalf("redis-server on port %d did not answer PING within 20s: %v\n%s", p.port, err, logText)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill stops redis-server with SIGKILL (frozen or not), as a crash or an OOM kill would,
// and waits until it is gone. Stopping a stopped server does nothing.
func (p *RedisProc) Kill() { p.stop(syscall.SIGKILL) }

// Stop stops redis-server with SIGTERM (it finishes writing its append-only
// file first) and waits until it is gone.
func (p *RedisProc) Stop() { p.stop(syscall.SIGTERM) }

func (p *RedisProc) stop(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Errorf("signalling redis-server on port %d: %v", p.port, err)
	}
	// The exit status is that of the signal; only its being gone matters.
	_ = p.cmd.Wait()
	p.cmd = nil
}

// Freeze stops redis-server with SIGSTOP: connections stay open and new
// ones complete their handshake, but nothing answers. Thaw resumes it.
func (p *RedisProc) Freeze() { p.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen redis-server with SIGCONT.
func (p *RedisProc) Thaw() { p.signal(syscall.SIGCONT) }

func (p *RedisProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatalf("signal %v: redis-server on port %d is not running", sig, p.port)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to redis-server on port %d: %v", sig, p.port, err)
	}
}
