// Package pgserver runs a throwaway PostgreSQL cluster from the installed
// server binaries (initdb, pg_ctl): `make run` uses one when DATABASE_URL is
// unset, and fault tests use one they can stop, kill, freeze and start again
// on the same port and data directory, which a shared server cannot allow.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts for the PostgreSQL commands. pg_ctl gets -t pgCtlWaitSeconds; the
// context deadline is longer so pg_ctl reports its own, clearer, timeout.
const (
	pgCtlWaitSeconds = 30
	commandTimeout   = 45 * time.Second
	// waitDelay bounds how long we wait for output pipes after a command
	// exits, in case a forked server still holds them.
	waitDelay = 5 * time.Second
	// logTailLines is how much of postgres.log goes into a start error.
	logTailLines = 20
	// unprivilegedUser is who runs the server when we are root, because
	// initdb and postgres refuse to run as root.
	unprivilegedUser = "postgres"
	// debianRoot is where Debian and Ubuntu install the server binaries,
	// which are not on PATH there.
	debianRoot = "/usr/lib/postgresql"
)

// Server is a PostgreSQL cluster in a temporary directory of its own.
type Server struct {
	dir   string // temporary directory: data/, postgres.log and the unix socket
	pgCtl string
	cred  *syscall.Credential // nil: run as ourselves
	env   []string
	logf  func(format string, args ...any)
	port  int

	mu     sync.Mutex
	closed bool
}

// Start creates a temporary directory, runs initdb and starts the server on
// a free TCP port on 127.0.0.1 (unix socket in the directory too). It
// creates nothing else: database "postgres" and superuser "postgres" with
// trust authentication. logf (nil: silent) hears what it does.
func Start(ctx context.Context, logf func(format string, args ...any)) (*Server, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	initdb, pgCtl, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	// Under the system temporary directory, not a caller's (t.TempDir is
	// 0700 root-owned), so the unprivileged server user can reach it.
	dir, err := os.MkdirTemp("", "pgserver-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory for PostgreSQL: %w", err)
	}
	s := &Server{dir: dir, pgCtl: pgCtl, cred: cred, env: environment(dir), logf: logf}
	if err := s.create(ctx, initdb); err != nil {
		// Best effort: a half-started server must not outlive us or keep
		// the directory alive; the start error is the one worth reporting.
		_ = s.Close()
		return nil, err
	}
	if s.port, err = freePort(); err != nil {
		_ = s.Close()
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) create(ctx context.Context, initdb string) error {
	if s.cred != nil {
		// The server runs as the unprivileged user, so it must own the
		// directory it writes its data, log and socket into.
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s to user %q: %w", s.dir, unprivilegedUser, err)
		}
	}
	s.logf("postgres: initdb in %s (using %s)", s.dir, filepath.Dir(initdb))
	// Trust auth and no fsync: the cluster is local and disposable, so
	// speed matters more than safety.
	if _, err := s.run(ctx, initdb,
		"-D", s.dataDir(),
		"-U", "postgres",
		"--auth=trust",
		"-E", "UTF8",
		"--no-locale",
		"--no-sync",
	); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// Start starts the server on its port and data directory, after Start made
// them or after Stop or Kill ended it; it returns once the server accepts
// connections. A server that was killed first runs crash recovery.
func (s *Server) Start(ctx context.Context) error {
	// pg_ctl hands -o to /bin/sh, so the socket directory must be quoted.
	// No fsync: only a crash of the machine loses data then, and the
	// cluster is disposable. Commits stay synchronous (a write(2) each
	// without fsync): a committed row must survive Kill, as it would a
	// crash of the real server.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
		s.port, shellQuote(s.dir))
	if _, err := s.run(ctx, s.pgCtl,
		"-D", s.dataDir(),
		"-l", s.logFile(),
		"-w", "-t", strconv.Itoa(pgCtlWaitSeconds),
		"-o", opts,
		"start",
	); err != nil {
		return fmt.Errorf("pg_ctl start on port %d: %w%s", s.port, err, s.logTail())
	}
	s.logf("postgres: started at %s", s.URL())
	return nil
}

// URL is a pgx connection string for the cluster's "postgres" database,
// such as postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Port is the TCP port the server listens on, the same across restarts.
func (s *Server) Port() int { return s.port }

// Dir is the temporary directory holding the data directory, the log and
// the socket; Close removes it.
func (s *Server) Dir() string { return s.dir }

// Stop shuts the server down (fast mode: sessions are ended, data kept).
func (s *Server) Stop() error { return s.stop("fast") }

func (s *Server) stop(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if _, err := s.run(ctx, s.pgCtl,
		"-D", s.dataDir(),
		"-m", mode,
		"-w", "-t", strconv.Itoa(pgCtlWaitSeconds),
		"stop",
	); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w", mode, err)
	}
	s.logf("postgres: stopped (%s) on port %d", mode, s.port)
	return nil
}

// Kill ends the postmaster and every process it started with SIGKILL, as a
// crash would, and returns once they are dead; Start then runs crash
// recovery.
func (s *Server) Kill() error {
	pids, err := s.processes()
	if err != nil {
		return err
	}
	if err := signalAll(pids, syscall.SIGKILL); err != nil {
		return err
	}
	deadline := time.Now().Add(killWait)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("PostgreSQL process %d still alive %v after SIGKILL", pid, killWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The postmaster was started by pg_ctl, which exited, so it is no
	// child of ours and may stay a zombie when the init of a container
	// reaps nothing; a zombie passes postgres's own "is it running" check
	// (kill 0), so its lock files, now certainly stale, go.
	sock := filepath.Join(s.dir, fmt.Sprintf(".s.PGSQL.%d", s.port))
	for _, f := range []string{filepath.Join(s.dataDir(), "postmaster.pid"), sock + ".lock", sock} {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing the killed server's %s: %w", filepath.Base(f), err)
		}
	}
	return nil
}

// killWait bounds how long Kill waits for the killed processes to die.
const killWait = 10 * time.Second

// alive reports whether pid is a process that is neither gone nor a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(stat), ") ")
	return ok && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// Freeze stops (SIGSTOP) the postmaster and every process it started:
// connections stay open and new ones are accepted by the kernel, but
// nothing answers, as with a hung host. Thaw resumes them.
func (s *Server) Freeze() error {
	pids, err := s.processes()
	if err != nil {
		return err
	}
	return signalAll(pids, syscall.SIGSTOP)
}

// Thaw resumes (SIGCONT) what Freeze stopped.
func (s *Server) Thaw() error {
	pids, err := s.processes()
	if err != nil {
		return err
	}
	return signalAll(pids, syscall.SIGCONT)
}

// Close stops the server if it runs (fast, else immediate) and removes the
// temporary directory. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true

	var errs []error
	// A frozen server would ignore the shutdown request.
	if pids, err := s.processes(); err == nil {
		_ = signalAll(pids, syscall.SIGCONT)
	}
	// Without postmaster.pid there is no server (initdb or start failed
	// early, or it was stopped), and pg_ctl stop would only complain.
	if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err == nil && s.running() {
		if err := s.stop("fast"); err != nil {
			errs = append(errs, err)
			// A server that ignored a fast shutdown must still not keep
			// running on a directory we are about to delete.
			if err := s.stop("immediate"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(s.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove PostgreSQL directory %s: %w", s.dir, err))
	} else {
		s.logf("postgres: removed %s", s.dir)
	}
	return errors.Join(errs...)
}

// running reports whether the postmaster named in postmaster.pid is alive.
func (s *Server) running() bool {
	pid, err := s.postmasterPID()
	return err == nil && alive(pid)
}

func (s *Server) postmasterPID() (int, error) {
	data, err := os.ReadFile(filepath.Join(s.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, fmt.Errorf("reading postmaster.pid (is the server running?): %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("postmaster.pid does not start with a process id: %q", first)
	}
	return pid, nil
}

// processes returns the postmaster's pid and those of its children (the
// backends and auxiliary processes), read from /proc.
func (s *Server) processes() ([]int, error) {
	pm, err := s.postmasterPID()
	if err != nil {
		return nil, err
	}
	pids := []int{pm}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// The command name in parentheses may hold spaces; the parent pid
		// is the second field after it.
		_, rest, ok := strings.Cut(string(stat), ") ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pm) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func signalAll(pids []int, sig syscall.Signal) error {
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %v to PostgreSQL process %d: %w", sig, pid, err))
		}
	}
	return errors.Join(errs...)
}

// run runs a PostgreSQL command as the server's user and returns its
// combined output, which is also folded into the error on failure.
func (s *Server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.env
	// Our working directory (e.g. /root) may be unreadable by the
	// unprivileged user, which makes initdb and postgres warn or fail.
	cmd.Dir = s.dir
	cmd.WaitDelay = waitDelay
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return out.Bytes(), fmt.Errorf("%w\n%s", err, msg)
		}
		return out.Bytes(), err
	}
	return out.Bytes(), nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logFile() string { return filepath.Join(s.dir, "postgres.log") }

// logTail returns the end of postgres.log, formatted for appending to an
// error, because pg_ctl itself only says the server did not start.
func (s *Server) logTail() string {
	data, err := os.ReadFile(s.logFile())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	tail := strings.TrimSpace(strings.Join(lines, "\n"))
	if tail == "" {
		return ""
	}
	return "\npostgres.log (last lines):\n" + tail
}

// findBinaries finds initdb and pg_ctl on PATH, else in the newest
// Debian-style /usr/lib/postgresql/<version>/bin.
func findBinaries() (initdb, pgCtl string, err error) {
	if i, err := exec.LookPath("initdb"); err == nil {
		// Prefer the pg_ctl next to initdb, so the two versions match.
		if c := filepath.Join(filepath.Dir(i), "pg_ctl"); isExecutable(c) {
			return i, c, nil
		}
		if c, err := exec.LookPath("pg_ctl"); err == nil {
			return i, c, nil
		}
	}
	dirs, err := filepath.Glob(filepath.Join(debianRoot, "*", "bin"))
	if err != nil {
		return "", "", fmt.Errorf("search %s: %w", debianRoot, err)
	}
	slices.SortFunc(dirs, func(a, b string) int {
		return -compareVersions(filepath.Base(filepath.Dir(a)), filepath.Base(filepath.Dir(b)))
	})
	for _, d := range dirs {
		i, c := filepath.Join(d, "initdb"), filepath.Join(d, "pg_ctl")
		if isExecutable(i) && isExecutable(c) {
			return i, c, nil
		}
	}
	return "", "", errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under " +
		debianRoot + "/*/bin: install them (Debian: apt-get install postgresql) or set DATABASE_URL")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// compareVersions orders PostgreSQL directory names such as "9.6" and "15"
// numerically, so 15 sorts above 9.6; non-numeric parts sort lowest.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		x, y := -1, -1
		if i < len(as) {
			if n, err := strconv.Atoi(as[i]); err == nil {
				x = n
			}
		}
		if i < len(bs) {
			if n, err := strconv.Atoi(bs[i]); err == nil {
				y = n
			}
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a, b)
}

// credential returns who to run the PostgreSQL commands as: nil (ourselves)
// unless we are root, which initdb and postgres refuse to be.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(unprivilegedUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses to run as root, but user %q to run PostgreSQL as was not found "+
			"(create it, e.g. useradd --system %s, or set DATABASE_URL): %w", unprivilegedUser, unprivilegedUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of user %q: %w", u.Uid, unprivilegedUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of user %q: %w", u.Gid, unprivilegedUser, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %q has uid 0, and initdb refuses to run as root: set DATABASE_URL", unprivilegedUser)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// environment is our environment with the locale forced to C, because
// initdb fails on a locale that is set but not installed, with HOME in the
// temporary directory, and without PG* variables that could redirect pg_ctl.
func environment(dir string) []string {
	env := []string{"LC_ALL=C", "LANG=C", "HOME=" + dir}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before postgres binds it; pg_ctl start then fails with a
// clear log.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free TCP port on 127.0.0.1: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("release probe port %d: %w", port, err)
	}
	return port, nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
