package testenv

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StoppableRedis is a redis-server of the test's own that it can kill,
// start again on the same port (and directory, so a persistence file
// written before is read back), and freeze with SIGSTOP.
type StoppableRedis struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd // nil while killed
}

// NewStoppableRedis starts a redis-server on a free port with the extra
// arguments given (default: no persistence), once it listens. It is killed
// when the test ends.
func NewStoppableRedis(t testing.TB, args ...string) *StoppableRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (install Debian's redis-server package): %v", err)
	}
	r := &StoppableRedis{t: t, bin: bin, dir: t.TempDir(), port: clusterPort(t), args: args}
	t.Cleanup(func() { r.Kill() })
	r.Start()
	return r
}

// Addr is host:port, the same across restarts.
func (r *StoppableRedis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is a redis:// URL of the server.
func (r *StoppableRedis) URL() string { return "redis://" + r.Addr() + "/0" }

// Start starts the server (again, after Kill) and returns once it listens.
func (r *StoppableRedis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		r.t.Fatal("StoppableRedis.Start: already running")
	}
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	cmd := exec.Command(r.bin, args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.cmd = cmd
	waitFor(r.t, 10*time.Second, "redis-server on "+r.Addr(), func() bool {
		c, err := net.Dial("tcp", r.Addr())
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// Kill ends the server with SIGKILL, as a crash would, and waits for it.
// Killing a server that is not running does nothing.
func (r *StoppableRedis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// Freeze stops the server with SIGSTOP: connections stay open and new ones
// complete their handshake, but nothing answers. Thaw resumes it.
func (r *StoppableRedis) Freeze() { r.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (r *StoppableRedis) Thaw() { r.signal(syscall.SIGCONT) }

func (r *StoppableRedis) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		r.t.Fatalf("signal %v: redis-server is not running", sig)
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %v to redis-server: %v", sig, err)
	}
}
