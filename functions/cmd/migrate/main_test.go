package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/secrets"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// allMigrations are the numbers of every migration in schema/, which a
// fresh database gets all of.
func allMigrations(t *testing.T) []int {
	t.Helper()
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			t.Fatalf("migration %s is not named NNN_description.sql", e.Name())
		}
		out = append(out, n)
	}
	if len(out) < 10 {
		t.Fatalf("only %d migrations found", len(out))
	}
	return out
}

// TestPasswordGivenApart runs migrate against a PostgreSQL that demands a
// password, with DATABASE_URL naming none: the password must come from
// DATABASE_PASSWORD, given plainly (the built binary) or as a secret://
// reference (run, with an in-memory Secret Manager). A private server,
// because the shared test server trusts every local connection, where a
// password would prove nothing.
func TestPasswordGivenApart(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildMain(t, "migrate")
	url, password := passwordServer(t)
	testenv.NoteSecret(t, password)

	migrate := func(env ...string) (string, error) {
		cmd := exec.Command(bin)
		cmd.Env = env
		out := &testenv.LogBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		err := cmd.Run()
		if strings.Contains(out.String(), password) {
			t.Errorf("migrate printed the password:\n%s", out)
		}
		return out.String(), err
	}

	t.Run("without the password", func(t *testing.T) {
		out, err := migrate("DATABASE_URL=" + url)
		if err == nil || !strings.Contains(out, "password") {
			t.Fatalf("migrate without a password: %v\n%s", err, out)
		}
	})
	t.Run("DATABASE_PASSWORD", func(t *testing.T) {
		out, err := migrate("DATABASE_URL="+url, "DATABASE_PASSWORD="+password)
		if want := "migrations applied: " + fmt.Sprint(allMigrations(t)); err != nil || !strings.Contains(out, want) {
			t.Fatalf("migrate with DATABASE_PASSWORD: %v\n%s", err, out)
		}
		// The schema is there, read over a connection that needs the password.
		ctx := context.Background()
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM licenses`).Scan(&n); err != nil {
			t.Errorf("the migrated schema: %v", err)
		}
	})
	t.Run("DATABASE_PASSWORD as a secret reference", func(t *testing.T) {
		const ref = "projects/license-test/secrets/database-password/versions/1"
		const seatsRef = "projects/license-test/secrets/database-password-seats/versions/1"
		const seatsPassword = "the seats role's password"
		testenv.NoteSecret(t, seatsPassword)
		fake := &fakeSecrets{values: map[string]string{ref: password, seatsRef: seatsPassword}}
		env := config.MapLookup(map[string]string{"DATABASE_URL": url, "DATABASE_PASSWORD": secrets.Prefix + ref,
			"DATABASE_PASSWORD_SEATS": secrets.Prefix + seatsRef})
		var out strings.Builder
		err := run(context.Background(), env, func(context.Context) (secrets.Accessor, func(), error) {
			return fake, func() {}, nil
		}, &out)
		// Already migrated by the subtest before: nothing more to apply,
		// but the seats role's password is set.
		if err != nil || out.String() != "migrations applied: []\npasswords set: [license_seats]\n" {
			t.Fatalf("run = %v, printed %q", err, out.String())
		}
		if fake.asked != 2 {
			t.Errorf("Secret Manager asked %d times, want once for each reference", fake.asked)
		}
		// The seats role logs in with that password (the server asks for
		// one), and with no other.
		ctx := context.Background()
		for _, p := range []string{seatsPassword, password} {
			cfg, err := pgx.ParseConfig(url)
			if err != nil {
				t.Fatal(err)
			}
			cfg.User, cfg.Password = "license_seats", p
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if (err == nil) != (p == seatsPassword) {
				t.Errorf("license_seats logging in with the right password %v: %v", p == seatsPassword, err)
			}
			if err == nil {
				conn.Close(ctx)
			}
		}
	})
}

// fakeSecrets is an in-memory Secret Manager.
type fakeSecrets struct {
	values map[string]string
	asked  int
}

func (f *fakeSecrets) Access(_ context.Context, name string) ([]byte, error) {
	f.asked++
	v, ok := f.values[name]
	if !ok {
		return nil, fmt.Errorf("no secret version %s", name)
	}
	return []byte(v), nil
}

// passwordServer starts a private PostgreSQL whose TCP connections must
// give the password it returns (scram-sha-256); url names no password.
func passwordServer(t *testing.T) (url, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := testenv.EmptyPrivatePostgres(t)
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	password = hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Hex only, so it needs no quoting beyond the literal's.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER ROLE postgres PASSWORD '%s'`, password)); err != nil {
		t.Fatal(err)
	}
	var hba string
	if err := conn.QueryRow(ctx, `SHOW hba_file`).Scan(&hba); err != nil {
		t.Fatal(err)
	}
	// The socket stays trusted (pg_ctl uses it to stop the server); TCP
	// needs the password.
	if err := os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		t.Fatal(err)
	}
	// The reload applies to new connections once the postmaster has read
	// the file: wait until one without the password is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			break
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("the private PostgreSQL still lets a connection in without a password")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.URL(), password
}
