package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	pgCommandTimeout = 45 * time.Second
	// pgWaitDelay bounds how long we wait for output pipes after a command
	// exits, in case a forked server still holds them.
	pgWaitDelay = 5 * time.Second
	// pgLogTailLines is how much of postgres.log goes into a start error.
	pgLogTailLines = 20
	// pgUnprivilegedUser is who runs the server when we are root, because
	// initdb and postgres refuse to run as root.
	pgUnprivilegedUser = "postgres"
	// pgDebianRoot is where Debian and Ubuntu install the server binaries,
	// which are not on PATH there.
	pgDebianRoot = "/usr/lib/postgresql"
)

// throwawayPostgres is a PostgreSQL cluster in a temporary directory, for `make run` without DATABASE_URL.
type throwawayPostgres struct {
	// URL is a pgx connection string for the cluster's "postgres" database.
	URL string

	dir   string // temporary directory: data/, postgres.log and the unix socket
	pgCtl string
	cred  *syscall.Credential // nil: run as ourselves
	env   []string
	logf  func(format string, args ...any)

	mu      sync.Mutex
	stopped bool
}

// startThrowawayPostgres creates a temporary directory, runs initdb and starts the server on a free TCP port on 127.0.0.1
// (unix socket in the temp dir too), creates nothing else (database "postgres" is fine), and returns a URL such as
// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable that works with github.com/jackc/pgx/v5.
func startThrowawayPostgres(ctx context.Context, logf func(format string, args ...any)) (*throwawayPostgres, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	initdb, pgCtl, err := findPostgresBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "devserver-postgres-")
	if err != nil {
		return nil, fmt.Errorf("create temporary directory for PostgreSQL: %w", err)
	}
	p := &throwawayPostgres{
		dir:   dir,
		pgCtl: pgCtl,
		cred:  cred,
		env:   postgresEnv(dir),
		logf:  logf,
	}
	if err := p.start(ctx, initdb); err != nil {
		// Best effort: a half-started server must not outlive us or keep
		// the directory alive; the start error is the one worth reporting.
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *throwawayPostgres) start(ctx context.Context, initdb string) error {
	if p.cred != nil {
		// The server runs as the unprivileged user, so it must own the
		// directory it writes its data, log and socket into.
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s to user %q: %w", p.dir, pgUnprivilegedUser, err)
		}
	}

	p.logf("postgres: initdb in %s (using %s)", p.dir, filepath.Dir(initdb))
	// Trust auth and no fsync: the cluster is local, disposable and thrown
	// away on exit, so speed matters more than safety.
	if _, err := p.run(ctx, initdb,
		"-D", p.dataDir(),
		"-U", "postgres",
		"--auth=trust",
		"-E", "UTF8",
		"--no-locale",
		"--no-sync",
	); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}

	port, err := freeTCPPort()
	if err != nil {
		return err
	}
	// pg_ctl hands -o to /bin/sh, so the socket directory must be quoted.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
		port, shellQuote(p.dir))
	if _, err := p.run(ctx, p.pgCtl,
		"-D", p.dataDir(),
		"-l", p.logFile(),
		"-w", "-t", strconv.Itoa(pgCtlWaitSeconds),
		"-o", opts,
		"start",
	); err != nil {
		return fmt.Errorf("pg_ctl start on port %d: %w%s", port, err, p.logTail())
	}

	p.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	p.logf("postgres: started throwaway cluster at %s", p.URL)
	return nil
}

// Stop stops the server (pg_ctl stop -m fast, with a timeout) and removes the temporary directory. Safe to call twice.
func (p *throwawayPostgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true

	var errs []error
	// Without postmaster.pid there is no server (initdb or start failed
	// early), and pg_ctl stop would only complain about it.
	if _, err := os.Stat(filepath.Join(p.dataDir(), "postmaster.pid")); err == nil {
		if err := p.stopServer("fast"); err != nil {
			errs = append(errs, err)
			// A server that ignored a fast shutdown must still not keep
			// running on a directory we are about to delete.
			if err := p.stopServer("immediate"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove PostgreSQL directory %s: %w", p.dir, err))
	} else {
		p.logf("postgres: stopped and removed %s", p.dir)
	}
	return errors.Join(errs...)
}

func (p *throwawayPostgres) stopServer(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgCommandTimeout)
	defer cancel()
	if _, err := p.run(ctx, p.pgCtl,
		"-D", p.dataDir(),
		"-m", mode,
		"-w", "-t", strconv.Itoa(pgCtlWaitSeconds),
		"stop",
	); err != nil {
		return fmt.Errorf("pg_ctl stop -m %s: %w", mode, err)
	}
	return nil
}

// run runs a PostgreSQL command as the server's user and returns its
// combined output, which is also folded into the error on failure.
func (p *throwawayPostgres) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, pgCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = p.env
	// Our working directory (e.g. /root) may be unreadable by the
	// unprivileged user, which makes initdb and postgres warn or fail.
	cmd.Dir = p.dir
	cmd.WaitDelay = pgWaitDelay
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
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

func (p *throwawayPostgres) dataDir() string { return filepath.Join(p.dir, "data") }
func (p *throwawayPostgres) logFile() string { return filepath.Join(p.dir, "postgres.log") }

// logTail returns the end of postgres.log, formatted for appending to an
// error, because pg_ctl itself only says the server did not start.
func (p *throwawayPostgres) logTail() string {
	data, err := os.ReadFile(p.logFile())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > pgLogTailLines {
		lines = lines[len(lines)-pgLogTailLines:]
	}
	tail := strings.TrimSpace(strings.Join(lines, "\n"))
	if tail == "" {
		return ""
	}
	return "\npostgres.log (last lines):\n" + tail
}

// findPostgresBinaries finds initdb and pg_ctl on PATH, else in the newest
// Debian-style /usr/lib/postgresql/<version>/bin.
func findPostgresBinaries() (initdb, pgCtl string, err error) {
	if i, err := exec.LookPath("initdb"); err == nil {
		// Prefer the pg_ctl next to initdb, so the two versions match.
		if c := filepath.Join(filepath.Dir(i), "pg_ctl"); isExecutable(c) {
			return i, c, nil
		}
		if c, err := exec.LookPath("pg_ctl"); err == nil {
			return i, c, nil
		}
	}
	dirs, err := filepath.Glob(filepath.Join(pgDebianRoot, "*", "bin"))
	if err != nil {
		return "", "", fmt.Errorf("search %s: %w", pgDebianRoot, err)
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
		pgDebianRoot + "/*/bin: install them (Debian: apt-get install postgresql) or set DATABASE_URL")
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

// postgresCredential returns who to run the PostgreSQL commands as: nil
// (ourselves) unless we are root, which initdb and postgres refuse to be.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(pgUnprivilegedUser)
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses to run as root, but user %q to run PostgreSQL as was not found "+
			"(create it, e.g. useradd --system %s, or set DATABASE_URL): %w", pgUnprivilegedUser, pgUnprivilegedUser, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of user %q: %w", u.Uid, pgUnprivilegedUser, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of user %q: %w", u.Gid, pgUnprivilegedUser, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("user %q has uid 0, and initdb refuses to run as root: set DATABASE_URL", pgUnprivilegedUser)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// postgresEnv is our environment with the locale forced to C, because initdb
// fails on a locale that is set but not installed, with HOME in the temporary
// directory, and without PG* variables that could redirect pg_ctl.
func postgresEnv(dir string) []string {
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

// freeTCPPort asks the kernel for a free port on 127.0.0.1. Another process
// could take it before postgres binds it, which is acceptable for a dev
// server: pg_ctl start then fails with a clear log.
func freeTCPPort() (int, error) {
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
