package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// borrowFileVersion is the version of the borrow file's format.
const borrowFileVersion = 1

// maxBorrowFile bounds how much of a borrow file is read: a real one is
// under 4 KB.
const maxBorrowFile = 64 << 10

// borrowRecord is what Config.BorrowFile holds, as JSON. The session id is
// the seat's bearer credential and DeviceKey the private key that alone
// returns the borrow: hence the file's 0600.
type borrowRecord struct {
	Version int `json:"version"`
	// Server is the BaseURL the seat was borrowed from, for people reading
	// the file. Calls go to Config.BaseURL, never here: a file rewritten to
	// name another server must not be able to send it the session id.
	Server      string `json:"server"`
	LicenseID   string `json:"license_id"`
	Fingerprint string `json:"fingerprint"`
	SessionID   string `json:"session_id"`
	Lease       string `json:"lease"`
	// DeviceKey is the Ed25519 seed (RFC 8032 private key) of the borrow's
	// device key, base64url.
	DeviceKey string `json:"device_key"`
	// BorrowedUntil is the lease's exp, for people reading the file; the
	// verified lease is what counts.
	BorrowedUntil string `json:"borrowed_until"`
}

// errOtherBorrow: the borrow file is well formed but holds the borrow of
// another license or workstation: not this Config's to use nor overwrite.
var errOtherBorrow = errors.New("it holds the borrow of")

// borrow is a verified borrow: from the server's answer or from the file.
type borrow struct {
	sessionID string
	token     string
	claims    leasejws.Claims
	key       ed25519.PrivateKey
}

// writeBorrowFile replaces path with b, atomically: a temporary file in the
// same directory, created 0600, written, synced and renamed over path, then
// the directory synced, so that a crash leaves the old file or the new one,
// never a torn one (which would lose the device key of a live borrow).
func (c *client) writeBorrowFile(b borrow) (err error) {
	path := c.borrowFile
	data, err := json.MarshalIndent(borrowRecord{
		Version: borrowFileVersion, Server: c.base, LicenseID: c.licenseID, Fingerprint: c.fingerprint,
		SessionID: b.sessionID, Lease: b.token, DeviceKey: base64.RawURLEncoding.EncodeToString(b.key.Seed()),
		BorrowedUntil: b.claims.ExpiresAt.UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("license: encoding the borrow file: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// CreateTemp makes the file 0600 before anything is written to it.
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("license: writing the borrow file: %w", err)
	}
	// Make the rename itself durable. Windows cannot open a directory to
	// sync it; its rename is as durable as it gets.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// readBorrowFile reads the borrow file without verifying the lease. On
// Unix it refuses a file other users may read or write (as ssh refuses a
// private key): the device key and session id in it are the borrow.
func readBorrowFile(path string) (borrowRecord, error) {
	var rec borrowRecord
	f, err := os.Open(path)
	if err != nil {
		// fs.ErrNotExist stays matchable: no file, no borrow.
		return rec, fmt.Errorf("license: reading the borrow file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rec, fmt.Errorf("%w: %w", ErrBorrowFile, err)
	}
	if !st.Mode().IsRegular() {
		return rec, fmt.Errorf("%w: %s is not a regular file", ErrBorrowFile, path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return rec, fmt.Errorf("%w: %s is open to other users (mode %#o): it holds the borrow's private key; make it 0600",
			ErrBorrowFile, path, st.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxBorrowFile+1))
	if err != nil {
		return rec, fmt.Errorf("%w: %w", ErrBorrowFile, err)
	}
	if len(data) > maxBorrowFile {
		return rec, fmt.Errorf("%w: %s is larger than %d bytes", ErrBorrowFile, path, maxBorrowFile)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, fmt.Errorf("%w: %s: %w", ErrBorrowFile, path, err)
	}
	if rec.Version != borrowFileVersion {
		return rec, fmt.Errorf("%w: %s has version %d, not %d", ErrBorrowFile, path, rec.Version, borrowFileVersion)
	}
	return rec, nil
}

// loadBorrow reads and verifies the borrow file at now, with no network:
// the lease a borrow lease of this license and workstation under the
// pinned roots ([leasejws.Verifier.VerifyBorrow]), of the file's session,
// bound to the public half of the file's device key, and not run out.
//
// A genuine borrow that has run out is ErrBorrowEnded, and its file is
// removed: nothing can use it any more.
func (c *client) loadBorrow(now time.Time) (borrow, error) {
	rec, err := readBorrowFile(c.borrowFile)
	if err != nil {
		return borrow{}, err
	}
	switch {
	case rec.LicenseID != c.licenseID:
		return borrow{}, fmt.Errorf("%w: %w: another license", ErrBorrowFile, errOtherBorrow)
	case rec.Fingerprint != c.fingerprint:
		return borrow{}, fmt.Errorf("%w: %w: another workstation", ErrBorrowFile, errOtherBorrow)
	case rec.SessionID == "":
		return borrow{}, fmt.Errorf("%w: it names no session", ErrBorrowFile)
	}
	seed, err := base64.RawURLEncoding.DecodeString(rec.DeviceKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return borrow{}, fmt.Errorf("%w: its device key is not an Ed25519 seed", ErrBorrowFile)
	}
	b := borrow{sessionID: rec.SessionID, token: rec.Lease, key: ed25519.NewKeyFromSeed(seed)}
	// Verify at now, or just before the lease's end when the (unverified)
	// end is past: a genuine borrow that ended is told apart from a file
	// that never held one. The verification decides; the peek only picks
	// the instant.
	at, ended := now, false
	if exp, ok := leaseExpiry(rec.Lease); ok && !now.Before(exp) {
		at, ended = exp.Add(-time.Second), true
	}
	if b.claims, err = c.checkBorrowLease(rec.Lease, at, rec.SessionID, leasejws.DeviceJWK(b.key.Public().(ed25519.PublicKey))); err != nil {
		return borrow{}, fmt.Errorf("license: the borrow file: %w", err)
	}
	if ended {
		if err := c.removeBorrowFile(rec.SessionID); err != nil {
			c.log.Warn("license: removing the borrow file of an ended borrow", "error", err)
		}
		return b, fmt.Errorf("%w at %s", ErrBorrowEnded, b.claims.ExpiresAt.Format(time.RFC3339))
	}
	return b, nil
}

// checkBorrowLease verifies a borrow lease at now: see loadBorrow.
func (c *client) checkBorrowLease(token string, now time.Time, sessionID string, device leasejws.OKPKey) (leasejws.Claims, error) {
	claims, err := c.verifier.VerifyBorrow(token, now)
	if err != nil {
		return leasejws.Claims{}, fmt.Errorf("%w: %w", ErrInvalidLease, err)
	}
	var mismatch string
	switch {
	case claims.SessionDigest != leasejws.SessionDigest(sessionID):
		mismatch = "it is the lease of another session"
	case claims.LicenseID != c.licenseID:
		mismatch = "it is the lease of another license"
	case claims.Fingerprint != c.fingerprint:
		mismatch = "it is the lease of another workstation"
	case claims.Confirmation == nil || claims.Confirmation.X != device.X:
		// VerifyBorrow took cnf only as an Ed25519 JWK: the same x is the
		// same key.
		mismatch = "it is bound to another device key"
	case !now.Before(claims.ExpiresAt):
		mismatch = fmt.Sprintf("it expired at %s (is this machine's clock right?)", claims.ExpiresAt.Format(time.RFC3339))
	}
	if mismatch != "" {
		return leasejws.Claims{}, fmt.Errorf("%w: borrow lease: %s", ErrInvalidLease, mismatch)
	}
	return claims, nil
}

// leaseExpiry reads a compact JWS's "exp" without verifying anything.
func leaseExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var p struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Exp == nil {
		return time.Time{}, false
	}
	return time.Unix(int64(*p.Exp), 0), true
}

// removeBorrowFile removes the borrow file if it still holds sessionID's
// borrow: another process of the workstation may have replaced it with a
// borrow of its own since.
func (c *client) removeBorrowFile(sessionID string) error {
	rec, err := readBorrowFile(c.borrowFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil && rec.SessionID != sessionID {
		return nil
	}
	// A file unreadable or open to others that names this path is removed
	// too: it was ours, and a copy of the device key lying about is worse.
	if err := os.Remove(c.borrowFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("license: removing the borrow file: %w", err)
	}
	return nil
}
