package license_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/lease"
)

// borrowConfig is the fake's Config with a BorrowFile of the test's own.
func borrowConfig(t *testing.T, f *fakeAPI) license.Config {
	t.Helper()
	cfg := f.config()
	cfg.BorrowFile = filepath.Join(t.TempDir(), "borrow.json")
	return cfg
}

// record reads the borrow file as JSON.
func record(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeRecord writes m as the borrow file, 0600.
func writeRecord(t *testing.T, path string, m map[string]any) {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// deviceKeyOf reads the device key of a borrow file record.
func deviceKeyOf(t *testing.T, m map[string]any) ed25519.PrivateKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(m["device_key"].(string))
	if err != nil || len(seed) != ed25519.SeedSize {
		t.Fatalf("device_key %v: %v", m["device_key"], err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

func noFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("borrow file %s: %v, want none", path, err)
	}
}

func isDone(s *license.Seat) bool {
	select {
	case <-s.Done():
		return true
	default:
		return false
	}
}

// borrowed acquires a seat and borrows it for d.
func borrowed(t *testing.T, f *fakeAPI, cfg license.Config, d time.Duration) (*license.Seat, time.Time) {
	t.Helper()
	seat := acquire(t, cfg)
	until, err := seat.Borrow(context.Background(), d)
	if err != nil {
		t.Fatalf("Borrow: %v", err)
	}
	return seat, until
}

func TestBorrowWritesAPrivateFileAndStopsHeartbeats(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	seat := acquire(t, cfg)
	sid := seat.Status().SessionID
	before := time.Now()
	until, err := seat.Borrow(context.Background(), time.Hour)
	if err != nil {
		t.Fatalf("Borrow: %v", err)
	}
	if want := before.Add(time.Hour); until.Before(want.Add(-2*time.Second)) || until.After(want.Add(2*time.Second)) {
		t.Fatalf("borrowed until %s, want about %s", until, want)
	}
	st := seat.Status()
	if !st.Borrowed || !st.BorrowedUntil.Equal(until) || !st.ExpiresAt.Equal(until) || !st.Valid || st.SessionID != sid {
		t.Fatalf("status %+v", st)
	}

	// The file: 0600, the verified lease of this session bound to the
	// device key it holds, which is the key the server was sent.
	info, err := os.Stat(cfg.BorrowFile)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Fatalf("borrow file mode %#o, want 0600", info.Mode().Perm())
	}
	rec := record(t, cfg.BorrowFile)
	key := deviceKeyOf(t, rec)
	jwk := leasejws.DeviceJWK(key.Public().(ed25519.PublicKey))
	if got := f.borrowedBy(sid); got == nil || *got != jwk {
		t.Fatalf("the server holds device key %+v, the file %+v", got, jwk)
	}
	v := leasejws.Verifier{Roots: cfg.RootKeys, Issuer: testIssuer}
	claims, err := v.VerifyBorrow(rec["lease"].(string), time.Now())
	if err != nil {
		t.Fatalf("the stored lease: %v", err)
	}
	if claims.SessionDigest != leasejws.SessionDigest(sid) || claims.Confirmation == nil || *claims.Confirmation != jwk ||
		!claims.ExpiresAt.Equal(until) || rec["session_id"] != sid || rec["license_id"] != f.licenseID {
		t.Fatalf("stored claims %+v, record %v", claims, rec)
	}
	if tok, _ := seat.Lease(); tok != rec["lease"] {
		t.Fatal("Lease is not the borrow lease")
	}
	// No temporary file left beside it.
	if entries, _ := os.ReadDir(filepath.Dir(cfg.BorrowFile)); len(entries) != 1 {
		t.Fatalf("%d files in the borrow file's directory", len(entries))
	}

	// No heartbeat while borrowed, and Close keeps the borrow.
	n := f.count("/v1/heartbeat")
	time.Sleep(1500 * time.Millisecond)
	if m := f.count("/v1/heartbeat"); m != n {
		t.Fatalf("%d heartbeats while borrowed", m-n)
	}
	if err := seat.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f.count("/v1/release") != 0 || f.borrowedBy(sid) == nil {
		t.Fatal("Close of a borrowed seat released it")
	}
	if _, err := os.Stat(cfg.BorrowFile); err != nil {
		t.Fatalf("Close removed the borrow file: %v", err)
	}
}

// TestOpenBorrowedOffline: with the server gone, the borrow file gives a
// valid seat until the borrow ends, and then none.
func TestOpenBorrowedOffline(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	seat, until := borrowed(t, f, cfg, 2*time.Second)
	seat.Close(context.Background())
	f.srv.Close()

	open, err := license.OpenBorrowed(cfg)
	if err != nil {
		t.Fatalf("OpenBorrowed with the server stopped: %v", err)
	}
	defer open.Close(context.Background())
	if st := open.Status(); !st.Valid || !st.Borrowed || !st.BorrowedUntil.Equal(until) {
		t.Fatalf("status %+v", st)
	}
	// The revocation check at open fails (no server): the borrow holds.
	eventually(t, 5*time.Second, "the failed revocation check in Status", func() bool { return open.Status().LastError != nil })
	if !open.Valid() {
		t.Fatal("an unreachable server ended the borrow")
	}
	select {
	case <-open.Done():
	case <-time.After(time.Until(until) + 2*time.Second):
		t.Fatalf("Done not closed after the borrow's end %s", until)
	}
	if open.Valid() || time.Now().Before(until) || !errors.Is(open.Err(), license.ErrBorrowEnded) {
		t.Fatalf("after the end: valid %v, err %v, now %s, end %s", open.Valid(), open.Err(), time.Now(), until)
	}
	noFile(t, cfg.BorrowFile)
	if _, err := license.OpenBorrowed(cfg); !errors.Is(err, license.ErrNotBorrowed) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenBorrowed without a file = %v", err)
	}
}

// TestOpenBorrowedByTheClock: Config.Now decides: valid before the end,
// ErrBorrowEnded (and the file removed) after.
func TestOpenBorrowedByTheClock(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	seat, until := borrowed(t, f, cfg, time.Hour)
	seat.Close(context.Background())
	f.srv.Close()

	at := until.Add(-time.Minute)
	cfg.Now = func() time.Time { return at }
	open, err := license.OpenBorrowed(cfg)
	if err != nil || !open.Valid() {
		t.Fatalf("a minute before the end: %v", err)
	}
	open.Close(context.Background())

	at = until
	if _, err := license.OpenBorrowed(cfg); !errors.Is(err, license.ErrBorrowEnded) {
		t.Fatalf("at the end: %v, want ErrBorrowEnded", err)
	}
	noFile(t, cfg.BorrowFile)
}

// TestBorrowExtendReusesTheDeviceKey: borrowing again, from the same seat
// or from the file in a later run, sends the same device key (the server
// refuses another) and moves the end.
func TestBorrowExtendReusesTheDeviceKey(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	seat, first := borrowed(t, f, cfg, time.Hour)
	sid := seat.Status().SessionID
	key := deviceKeyOf(t, record(t, cfg.BorrowFile))

	second, err := seat.Borrow(context.Background(), 2*time.Hour)
	if err != nil {
		t.Fatalf("extending: %v", err)
	}
	if !second.After(first) || !seat.Status().BorrowedUntil.Equal(second) {
		t.Fatalf("extended to %s from %s; status %+v", second, first, seat.Status())
	}
	rec := record(t, cfg.BorrowFile)
	if !deviceKeyOf(t, rec).Equal(key) {
		t.Fatal("the extension wrote another device key")
	}
	if c, err := (leasejws.Verifier{Roots: cfg.RootKeys}).VerifyBorrow(rec["lease"].(string), time.Now()); err != nil || !c.ExpiresAt.Equal(second) {
		t.Fatalf("the file's lease after the extension: %+v, %v", c, err)
	}
	seat.Close(context.Background())

	// A later run extends from the file.
	later, err := license.OpenBorrowed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer later.Close(context.Background())
	third, err := later.Borrow(context.Background(), 3*time.Hour)
	if err != nil || !third.After(second) {
		t.Fatalf("extending a reopened borrow: %s, %v", third, err)
	}
	f.set(func(f *fakeAPI) {
		if len(f.borrowReqs) != 3 {
			t.Fatalf("%d borrow requests", len(f.borrowReqs))
		}
		for _, r := range f.borrowReqs {
			if r.DeviceKey.X != leasejws.DeviceJWK(key.Public().(ed25519.PublicKey)).X || r.SessionID != sid {
				t.Fatalf("a borrow request with another key or session: %+v", r)
			}
		}
		if *f.borrowReqs[0].Seconds != 3600 || *f.borrowReqs[2].Seconds != 3*3600 {
			t.Fatalf("seconds %d, %d", *f.borrowReqs[0].Seconds, *f.borrowReqs[2].Seconds)
		}
	})
}

func TestReturn(t *testing.T) {
	t.Parallel()
	t.Run("gives the seat back with a valid proof", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		if err := seat.Return(context.Background()); err != nil {
			t.Fatalf("Return: %v", err)
		}
		// The fake took the proof only under the device key.
		if f.returns() != 1 {
			t.Fatalf("%d returns", f.returns())
		}
		noFile(t, cfg.BorrowFile)
		if seat.Valid() || !isDone(seat) || seat.Err() != nil || seat.Status().Borrowed {
			t.Fatalf("after Return: valid %v, done %v, err %v", seat.Valid(), isDone(seat), seat.Err())
		}
		if err := seat.Return(context.Background()); !errors.Is(err, license.ErrClosed) {
			t.Fatalf("a second Return = %v", err)
		}
		if err := seat.Close(context.Background()); err != nil || f.count("/v1/release") != 0 {
			t.Fatalf("Close after Return: %v, %d releases", err, f.count("/v1/release"))
		}
	})
	t.Run("from a reopened borrow", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		seat.Close(context.Background())
		open, err := license.OpenBorrowed(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := open.Return(context.Background()); err != nil || f.returns() != 1 {
			t.Fatalf("Return: %v, %d returns", err, f.returns())
		}
		noFile(t, cfg.BorrowFile)
	})
	t.Run("refused proof keeps the borrow", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		f.setFault("/v1/return", &fault{status: http.StatusForbidden, code: "invalid_proof", left: 1})
		if err := seat.Return(context.Background()); !errors.Is(err, license.ErrInvalidProof) {
			t.Fatalf("Return = %v, want ErrInvalidProof", err)
		}
		if !seat.Valid() || !seat.Status().Borrowed {
			t.Fatal("a refused return ended the borrow")
		}
		if _, err := os.Stat(cfg.BorrowFile); err != nil {
			t.Fatalf("a refused return removed the file: %v", err)
		}
		// Each proof is fresh: the retry is taken.
		if err := seat.Return(context.Background()); err != nil || f.returns() != 1 {
			t.Fatalf("retried Return: %v, %d returns", err, f.returns())
		}
	})
	t.Run("unreachable server keeps the borrow", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		f.setFault("/v1/return", &fault{status: dropConnection})
		if err := seat.Return(context.Background()); err == nil || !seat.Valid() {
			t.Fatalf("Return = %v, valid %v", err, seat.Valid())
		}
		if _, err := os.Stat(cfg.BorrowFile); err != nil {
			t.Fatal(err)
		}
	})
	for _, gone := range []struct {
		status int
		code   string
	}{{404, "session_not_found"}, {409, "not_borrowed"}} {
		t.Run("server no longer has it: "+gone.code, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			cfg := borrowConfig(t, f)
			seat, _ := borrowed(t, f, cfg, time.Hour)
			f.setFault("/v1/return", &fault{status: gone.status, code: gone.code})
			if err := seat.Return(context.Background()); err != nil {
				t.Fatalf("Return = %v, want nil: the borrow is gone", err)
			}
			noFile(t, cfg.BorrowFile)
			if seat.Valid() || !isDone(seat) {
				t.Fatal("the seat outlived its borrow")
			}
		})
	}
	t.Run("not borrowed", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		seat := acquire(t, borrowConfig(t, f))
		if err := seat.Return(context.Background()); !errors.Is(err, license.ErrNotBorrowed) || f.count("/v1/return") != 0 {
			t.Fatalf("Return = %v", err)
		}
		if !seat.Valid() {
			t.Fatal("Return of a seat not borrowed ended it")
		}
	})
}

func TestRevokedBorrow(t *testing.T) {
	t.Parallel()
	t.Run("CheckRevocations ends a listed borrow", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		f.revokeBorrow("someone-else")
		if err := seat.CheckRevocations(context.Background()); err != nil || !seat.Valid() {
			t.Fatalf("a list without this session: %v, valid %v", err, seat.Valid())
		}
		f.revokeBorrow(seat.Status().SessionID)
		err := seat.CheckRevocations(context.Background())
		if !errors.Is(err, license.ErrSessionRevoked) || !errors.Is(seat.Err(), license.ErrSessionRevoked) {
			t.Fatalf("CheckRevocations = %v, Err %v", err, seat.Err())
		}
		if seat.Valid() || !isDone(seat) {
			t.Fatal("a revoked borrow is still valid")
		}
		noFile(t, cfg.BorrowFile)
	})
	t.Run("opening checks at once", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		seat.Close(context.Background())
		// Status of a closed seat names no session: take it from the file.
		f.revokeBorrow(record(t, cfg.BorrowFile)["session_id"].(string))
		open, err := license.OpenBorrowed(cfg)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-open.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the revoked borrow was not dropped")
		}
		if !errors.Is(open.Err(), license.ErrSessionRevoked) || open.Valid() {
			t.Fatalf("Err %v", open.Err())
		}
		noFile(t, cfg.BorrowFile)
	})
	t.Run("a list that does not verify changes nothing", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		f.revokeBorrow(seat.Status().SessionID)
		f.set(func(f *fakeAPI) { f.badRevocations = true })
		if err := seat.CheckRevocations(context.Background()); !errors.Is(err, license.ErrInvalidLease) {
			t.Fatalf("CheckRevocations = %v, want ErrInvalidLease", err)
		}
		if !seat.Valid() || seat.Status().LastError == nil {
			t.Fatalf("status %+v", seat.Status())
		}
	})
	t.Run("offline changes nothing", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		f.setFault("/v1/licenses/revocations", &fault{status: http.StatusServiceUnavailable, code: "unavailable"})
		if err := seat.CheckRevocations(context.Background()); !errors.Is(err, license.ErrUnavailable) || !seat.Valid() {
			t.Fatalf("CheckRevocations = %v, valid %v", err, seat.Valid())
		}
		if _, err := os.Stat(cfg.BorrowFile); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("not borrowed", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		seat := acquire(t, f.config())
		if err := seat.CheckRevocations(context.Background()); !errors.Is(err, license.ErrNotBorrowed) {
			t.Fatalf("CheckRevocations = %v", err)
		}
	})
}

// TestBorrowFileRefused: a borrow file that is not exactly what Borrow
// wrote for this license and workstation is refused, by OpenBorrowed and
// by Acquire.
func TestBorrowFileRefused(t *testing.T) {
	t.Parallel()
	_, rogueKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(t *testing.T, f *fakeAPI, path string, m map[string]any)
		want   error
	}{
		{"lease re-signed under another root", func(t *testing.T, f *fakeAPI, _ string, m map[string]any) {
			key := deviceKeyOf(t, m)
			jwk := leasejws.DeviceJWK(key.Public().(ed25519.PublicKey))
			tok, err := f.rogueBorrower.Lease(context.Background(), lease.Claims{SessionDigest: leasejws.SessionDigest(m["session_id"].(string)),
				LicenseID: f.licenseID, TenantID: f.tenantID, Fingerprint: testFingerprint,
				ExpiresAt: time.Now().Add(time.Hour), Borrow: true, Confirmation: &jwk})
			if err != nil {
				t.Fatal(err)
			}
			m["lease"] = tok
		}, license.ErrInvalidLease},
		{"lease re-signed by a delegated key", func(t *testing.T, f *fakeAPI, _ string, m map[string]any) {
			key := deviceKeyOf(t, m)
			jwk := leasejws.DeviceJWK(key.Public().(ed25519.PublicKey))
			m["lease"] = delegatedBorrowLease(t, lease.Claims{SessionDigest: leasejws.SessionDigest(m["session_id"].(string)),
				LicenseID: f.licenseID, TenantID: f.tenantID, Fingerprint: testFingerprint,
				ExpiresAt: time.Now().Add(time.Hour), Borrow: true, Confirmation: &jwk})
		}, license.ErrInvalidLease},
		{"device key swapped", func(t *testing.T, _ *fakeAPI, _ string, m map[string]any) {
			m["device_key"] = base64.RawURLEncoding.EncodeToString(rogueKey.Seed())
		}, license.ErrInvalidLease},
		{"session swapped", func(t *testing.T, _ *fakeAPI, _ string, m map[string]any) {
			m["session_id"] = m["session_id"].(string) + "x"
		}, license.ErrInvalidLease},
		{"lease of a plain seat", func(t *testing.T, f *fakeAPI, _ string, m map[string]any) {
			tok, err := f.signer.Lease(lease.Claims{SessionDigest: leasejws.SessionDigest(m["session_id"].(string)),
				LicenseID: f.licenseID, TenantID: f.tenantID, Fingerprint: testFingerprint, ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			m["lease"] = tok
		}, license.ErrInvalidLease},
		{"device key not a seed", func(t *testing.T, _ *fakeAPI, _ string, m map[string]any) {
			m["device_key"] = "AAAA"
		}, license.ErrBorrowFile},
		{"unknown version", func(t *testing.T, _ *fakeAPI, _ string, m map[string]any) {
			m["version"] = 2
		}, license.ErrBorrowFile},
		{"another workstation", func(t *testing.T, _ *fakeAPI, _ string, m map[string]any) {
			m["fingerprint"] = otherFingerprint
		}, license.ErrBorrowFile},
		{"not JSON", func(t *testing.T, _ *fakeAPI, path string, m map[string]any) {
			clear(m)
		}, license.ErrBorrowFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			cfg := borrowConfig(t, f)
			seat, _ := borrowed(t, f, cfg, time.Hour)
			seat.Close(context.Background())
			m := record(t, cfg.BorrowFile)
			c.change(t, f, cfg.BorrowFile, m)
			if len(m) == 0 {
				os.WriteFile(cfg.BorrowFile, []byte("{not json"), 0o600)
			} else {
				writeRecord(t, cfg.BorrowFile, m)
			}
			if s, err := license.OpenBorrowed(cfg); !errors.Is(err, c.want) {
				if s != nil {
					s.Close(context.Background())
				}
				t.Fatalf("OpenBorrowed = %v, want %v", err, c.want)
			}
			acquires := f.count("/v1/acquire")
			s, err := license.Acquire(context.Background(), cfg)
			if c.name == "another workstation" {
				// Not this workstation's borrow: Acquire leaves it and
				// acquires (the fake then says the session is borrowed:
				// the workstation's fingerprint is the same).
				if f.count("/v1/acquire") != acquires+1 {
					t.Fatalf("Acquire did not acquire: %v", err)
				}
			} else if !errors.Is(err, c.want) || f.count("/v1/acquire") != acquires {
				t.Fatalf("Acquire = %v, want %v and no acquire", err, c.want)
			}
			if s != nil {
				s.Close(context.Background())
			}
			if _, err := os.Stat(cfg.BorrowFile); err != nil {
				t.Fatalf("a refused borrow file was removed: %v", err)
			}
		})
	}
	t.Run("open to other users", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no Unix permissions")
		}
		t.Parallel()
		f := newFake(t)
		cfg := borrowConfig(t, f)
		seat, _ := borrowed(t, f, cfg, time.Hour)
		seat.Close(context.Background())
		if err := os.Chmod(cfg.BorrowFile, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := license.OpenBorrowed(cfg); !errors.Is(err, license.ErrBorrowFile) {
			t.Fatalf("OpenBorrowed of a 0644 file = %v, want ErrBorrowFile", err)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		cfg := f.config()
		cfg.BorrowFile = t.TempDir()
		if _, err := license.OpenBorrowed(cfg); !errors.Is(err, license.ErrBorrowFile) {
			t.Fatalf("OpenBorrowed of a directory = %v, want ErrBorrowFile", err)
		}
	})
	t.Run("no BorrowFile", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		if _, err := license.OpenBorrowed(f.config()); err == nil {
			t.Fatal("OpenBorrowed without a BorrowFile")
		}
		seat := acquire(t, f.config())
		if _, err := seat.Borrow(context.Background(), time.Hour); err == nil || f.count("/v1/borrow") != 0 {
			t.Fatalf("Borrow without a BorrowFile = %v", err)
		}
	})
}

// TestBorrowRefusals: the server's refusals map to the package's errors,
// and the seat stays as it was: heartbeating, not borrowed, no file.
func TestBorrowRefusals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status int
		code   string
		want   error
	}{
		{403, "borrow_not_allowed", license.ErrBorrowNotAllowed},
		{409, "session_borrowed", license.ErrSessionBorrowed},
		{409, "borrow_limit", license.ErrBorrowLimit},
		{409, "other_device", license.ErrOtherDevice},
		{404, "session_not_found", license.ErrSessionNotFound},
		{403, "license_inactive", license.ErrLicenseInactive},
		{400, "invalid_request", nil},
	} {
		t.Run(c.code, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			cfg := borrowConfig(t, f)
			seat := acquire(t, cfg)
			f.setFault("/v1/borrow", &fault{status: c.status, code: c.code})
			_, err := seat.Borrow(context.Background(), time.Hour)
			var ae *license.APIError
			if !errors.As(err, &ae) || ae.Status != c.status || ae.Code != c.code || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Borrow = %v, want %d %s", err, c.status, c.code)
			}
			stillHeartbeating(t, f, seat, cfg.BorrowFile)
		})
	}
	t.Run("policy off", func(t *testing.T) {
		t.Parallel()
		f := newFake(t)
		f.set(func(f *fakeAPI) { f.borrowOff = true })
		cfg := borrowConfig(t, f)
		seat := acquire(t, cfg)
		if _, err := seat.Borrow(context.Background(), time.Hour); !errors.Is(err, license.ErrBorrowNotAllowed) {
			t.Fatalf("Borrow = %v", err)
		}
		stillHeartbeating(t, f, seat, cfg.BorrowFile)
	})
}

func stillHeartbeating(t *testing.T, f *fakeAPI, seat *license.Seat, path string) {
	t.Helper()
	noFile(t, path)
	if st := seat.Status(); st.Borrowed || !st.Valid {
		t.Fatalf("status after a refused borrow: %+v", st)
	}
	n := f.count("/v1/heartbeat")
	eventually(t, 5*time.Second, "a heartbeat after a refused borrow", func() bool { return f.count("/v1/heartbeat") > n })
}

// TestBorrowRejectsBadLeases: a borrow answer whose lease is not the
// borrow of this session under this device key is not kept, and the borrow
// is given back to the server with the device's proof.
func TestBorrowRejectsBadLeases(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{borrowNotBorrow, borrowOtherDevice, borrowUntilMismatch, borrowUnpinned,
		borrowOtherSession, borrowOtherFP, borrowDelegated} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			cfg := borrowConfig(t, f)
			seat := acquire(t, cfg)
			f.set(func(f *fakeAPI) { f.badBorrow = kind })
			if _, err := seat.Borrow(context.Background(), time.Hour); !errors.Is(err, license.ErrInvalidLease) {
				t.Fatalf("Borrow = %v, want ErrInvalidLease", err)
			}
			if f.returns() != 1 {
				t.Fatalf("%d returns of the rejected borrow, want 1", f.returns())
			}
			noFile(t, cfg.BorrowFile)
			// The returned session is gone: the seat acquires again.
			eventually(t, 5*time.Second, "a new session", func() bool {
				st := seat.Status()
				return st.Valid && !st.Borrowed && f.count("/v1/acquire") == 2
			})
		})
	}
}

// TestAcquireWithABorrowFile: Acquire returns the borrowed seat the file
// holds without calling the server, and acquires once the borrow has ended.
func TestAcquireWithABorrowFile(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	seat, until := borrowed(t, f, cfg, 2*time.Second)
	sid := seat.Status().SessionID
	seat.Close(context.Background())

	again := acquire(t, cfg)
	if st := again.Status(); !st.Borrowed || st.SessionID != sid || !st.BorrowedUntil.Equal(until) || f.count("/v1/acquire") != 1 {
		t.Fatalf("status %+v after %d acquires", st, f.count("/v1/acquire"))
	}
	again.Close(context.Background())

	time.Sleep(time.Until(until) + 10*time.Millisecond)
	fresh := acquire(t, cfg)
	if st := fresh.Status(); st.Borrowed || st.SessionID == sid || f.count("/v1/acquire") != 2 {
		t.Fatalf("after the borrow ended: %+v", st)
	}
	noFile(t, cfg.BorrowFile)
}

// TestAnotherProcessTakesTheBorrowOver: processes of one workstation share
// its seat and its borrow file. When one borrows, another can extend the
// borrow at once with the device key from the file (a new key would be
// refused, other_device), and a third, whose heartbeat hears
// session_borrowed, takes the borrow over from the file and can return it.
func TestAnotherProcessTakesTheBorrowOver(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := borrowConfig(t, f)
	a, b, c := acquire(t, cfg), acquire(t, cfg), acquire(t, cfg)
	if a.Status().SessionID != b.Status().SessionID || a.Status().SessionID != c.Status().SessionID {
		t.Fatal("the fake did not share the seat")
	}
	if _, err := a.Borrow(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	until, err := b.Borrow(context.Background(), 2*time.Hour)
	if err != nil {
		t.Fatalf("extending from another process: %v", err)
	}
	if st := b.Status(); !st.Borrowed || !st.BorrowedUntil.Equal(until) {
		t.Fatalf("status %+v", st)
	}
	eventually(t, 5*time.Second, "the third process holding the borrow", func() bool {
		st := c.Status()
		return st.Borrowed && st.BorrowedUntil.Equal(until) && st.Valid
	})
	if err := c.Return(context.Background()); err != nil || f.returns() != 1 {
		t.Fatalf("Return from the third process: %v", err)
	}
}
