package license_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// testIssuer is the issuer the fake signs as and the tests pin.
const testIssuer = "https://api.test"

// testRoot is a root key in memory implementing rootkey.Root. 2048 bits
// keep the tests fast; production roots are RSA-4096.
type testRoot struct {
	key *rsa.PrivateKey
	kid string
}

var _ rootkey.Root = (*testRoot)(nil)

func (r *testRoot) Sign(_ context.Context, input []byte) (string, []byte, error) {
	d := sha256.Sum256(input)
	sig, err := rsa.SignPKCS1v15(rand.Reader, r.key, crypto.SHA256, d[:])
	return r.kid, sig, err
}

func (r *testRoot) PublicKeys(context.Context) ([]rootkey.PublicKey, error) {
	return []rootkey.PublicKey{{KID: r.kid, Key: &r.key.PublicKey}}, nil
}

var (
	rootsOnce sync.Once
	// pinnedRoot is the root the tests pin; rogueRoot is one they do not.
	pinnedRoot, rogueRoot *testRoot
)

func roots() (pinned, rogue *testRoot) {
	rootsOnce.Do(func() {
		gen := func() *testRoot {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			return &testRoot{key: k, kid: rootkey.Thumbprint(&k.PublicKey)}
		}
		pinnedRoot, rogueRoot = gen(), gen()
	})
	return pinnedRoot, rogueRoot
}

// Bad leases the fake can answer with instead of a good one.
const (
	leaseTampered      = "tampered payload"
	leaseBadSignature  = "tampered signature"
	leaseUnpinnedRoot  = "unpinned root"
	leaseOtherIssuer   = "other issuer"
	leaseOtherSession  = "other session"
	leaseOtherLicense  = "other license"
	leaseOtherFP       = "other fingerprint"
	leaseHS256         = "alg HS256 keyed with the root public key"
	leaseNone          = "alg none"
	leaseRootRS256     = "alg RS256 by the root key itself, no delegation"
	leaseOldDelegation = "delegation expired (lease still within its own exp)"
	leaseExpiredLeeway = "expired within the verifier's leeway"
	leaseExpired       = "expired long ago"
	leaseGarbage       = "garbage"
	leaseEmpty         = "empty"
	answerOtherSession = "answer names another session"
)

// Delegations the pinned root really signed that no verifier may take.
const (
	leaseYearDelegation = "delegation the root signed for a year"
	leaseJWTDelegation  = "delegation typed JWT, as servers wrote it before"
	leaseCertDelegation = "delegation typed as a license certificate"
)

const (
	// defaultTTL is the fake's lease time: heartbeats every second.
	defaultTTL       = 3 * time.Second
	otherLicenseID   = "00000000-0000-4000-8000-000000000000"
	otherFingerprint = "fp1:someone-else"
	testFingerprint  = "fp1:test-workstation"
	testCredential   = "ak_test_credential"
	// dropConnection as a fault's status closes the connection unanswered.
	dropConnection = -1
)

// fault makes the fake answer an endpoint with an error (status
// dropConnection: close the connection without answering).
type fault struct {
	status     int
	code       string
	retryAfter int
	left       int // answers left to fail; 0: until cleared
}

type fakeSession struct {
	fp  string
	exp time.Time // the borrow's end while borrowed
	// device is the borrow's device key, nil when not borrowed.
	device *leasejws.OKPKey
}

// fakeAPI mimics the service's SDK endpoints, signing real leases with
// shared/lease under pinnedRoot: ordinary ones with a delegated key
// (lease.Signer), borrow leases with the root itself (lease.BorrowSigner),
// as the server does.
type fakeAPI struct {
	t                   *testing.T
	srv                 *httptest.Server
	signer, rogue, evil *lease.Signer
	// borrower signs borrow leases under pinnedRoot, rogueBorrower under
	// rogueRoot.
	borrower, rogueBorrower *lease.BorrowSigner
	licenseID, tenantID     string
	key                     string

	mu       sync.Mutex
	seats    int
	ttl      time.Duration
	sessions map[string]*fakeSession
	inactive bool
	deleted  bool
	blocked  bool
	// revoked and hbBlocked: heartbeats answer 403 session_revoked or
	// workstation_blocked (an admin ended the session or blocked the
	// workstation while it held it).
	revoked, hbBlocked bool
	credential         string // required bearer, "" for none
	faults             map[string]*fault
	badLeases          map[string]string // path → kind
	calls              map[string]int    // path → calls
	failed             map[string]int    // path → faulted answers
	released           int               // releases that freed a live session
	lastAcquire        map[string]string
	lastAuth           string

	// Borrowing. borrowOff: 403 borrow_not_allowed. badBorrow: the kind of
	// bad borrow answer to give (see the borrow* kinds). revokedBorrows:
	// the session digests the revocation list names; badRevocations: the
	// list is signed under an unpinned root.
	borrowOff bool
	maxBorrow time.Duration
	// overage: every seat answered is of class overage (the lease says so).
	overage        bool
	badBorrow      string
	borrowReqs     []borrowReq
	returned       int             // returns that freed a borrowed session
	proofsSeen     map[string]bool // return proof ids, each taken once
	revokedBorrows []string
	badRevocations bool
}

// borrowReq is a borrow request as the fake read it.
type borrowReq struct {
	SessionID string           `json:"session_id"`
	Seconds   *int64           `json:"seconds"`
	Until     *string          `json:"until"`
	DeviceKey *leasejws.OKPKey `json:"device_key"`
}

// Bad borrow answers the fake can give.
const (
	borrowNotBorrow     = "lease without borrow and cnf"
	borrowOtherDevice   = "lease bound to another device key"
	borrowUntilMismatch = "borrowed_until is not the lease's exp"
	borrowUnpinned      = "lease signed under an unpinned root"
	borrowOtherSession  = "lease of another session"
	borrowOtherFP       = "lease of another workstation"
	// A borrow lease signed EdDSA by a delegated key under a delegation
	// the pinned root really signed, valid now: what a stolen delegated
	// key could sign, which borrow leases are not.
	borrowDelegated = "lease signed by a delegated key"
)

func newFake(t *testing.T) *fakeAPI {
	t.Helper()
	pinned, rogue := roots()
	ctx := context.Background()
	mk := func(r rootkey.Root, iss string) *lease.Signer {
		s, err := lease.NewSigner(ctx, r, iss, lease.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f := &fakeAPI{
		t:      t,
		signer: mk(pinned, testIssuer), rogue: mk(rogue, testIssuer), evil: mk(pinned, "https://evil.test"),
		borrower:      &lease.BorrowSigner{Root: pinned, Issuer: testIssuer},
		rogueBorrower: &lease.BorrowSigner{Root: rogue, Issuer: testIssuer},
		licenseID:     "0b6f7c3e-2d4a-4f7e-9a51-3c2b1d0e9f88", tenantID: "5d7f2a9c-1111-4222-8333-444455556666",
		seats: 5, ttl: defaultTTL, sessions: map[string]*fakeSession{},
		faults: map[string]*fault{}, badLeases: map[string]string{}, calls: map[string]int{}, failed: map[string]int{},
		maxBorrow: 7 * 24 * time.Hour, proofsSeen: map[string]bool{},
	}
	f.key = "lk_" + strings.ReplaceAll(f.licenseID, "-", "") + "_" + randomB64(32)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/acquire", f.serve("/v1/acquire", f.acquire))
	mux.HandleFunc("POST /v1/heartbeat", f.serve("/v1/heartbeat", f.heartbeat))
	mux.HandleFunc("POST /v1/release", f.serve("/v1/release", f.release))
	mux.HandleFunc("POST /v1/borrow", f.serveRaw("/v1/borrow", f.borrow))
	mux.HandleFunc("POST /v1/return", f.serve("/v1/return", f.giveBack))
	mux.HandleFunc("GET /v1/licenses/revocations", f.serveRaw("/v1/licenses/revocations", f.revocations))
	mux.HandleFunc("GET /v1/keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, lease.Keys{Keys: []map[string]string{rootkey.JWK(&pinned.key.PublicKey)}})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// config is a Config for the fake with fast backoff.
func (f *fakeAPI) config() license.Config {
	pinned, _ := roots()
	return license.Config{
		BaseURL: f.srv.URL, LicenseKey: f.key, Fingerprint: testFingerprint,
		RootKeys: map[string]*rsa.PublicKey{pinned.kid: &pinned.key.PublicKey}, Issuer: testIssuer,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(f.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func randomB64(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type apiErr struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string, retryAfter int) {
	var e apiErr
	e.Error.Code, e.Error.Message = code, "fake: "+code
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	writeJSON(w, status, e)
}

// serve counts calls and applies the endpoint's fault before h, which gets
// the body as an object of strings.
func (f *fakeAPI) serve(path string, h func(w http.ResponseWriter, r *http.Request, body map[string]string)) http.HandlerFunc {
	return f.serveRaw(path, func(w http.ResponseWriter, r *http.Request, raw []byte) {
		var body map[string]string
		if err := json.Unmarshal(raw, &body); err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_request", 0)
			return
		}
		h(w, r, body)
	})
}

// serveRaw counts calls and applies the endpoint's fault before h, which
// gets the body as it came.
func (f *fakeAPI) serveRaw(path string, h func(w http.ResponseWriter, r *http.Request, raw []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_request", 0)
			return
		}
		f.mu.Lock()
		f.calls[path]++
		ft := f.faults[path]
		if ft != nil {
			f.failed[path]++
			if ft.left > 0 {
				if ft.left--; ft.left == 0 {
					delete(f.faults, path)
				}
			}
		}
		f.mu.Unlock()
		if ft != nil {
			if ft.status == dropConnection {
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			writeErr(w, ft.status, ft.code, ft.retryAfter)
			return
		}
		h(w, r, raw)
	}
}

func (f *fakeAPI) acquire(w http.ResponseWriter, r *http.Request, body map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastAcquire, f.lastAuth = body, r.Header.Get("Authorization")
	switch {
	case body["license_key"] != f.key || f.deleted:
		writeErr(w, http.StatusNotFound, "license_not_found", 0)
		return
	case f.inactive:
		writeErr(w, http.StatusForbidden, "license_inactive", 0)
		return
	case f.credential != "" && f.lastAuth != "Bearer "+f.credential:
		writeErr(w, http.StatusUnauthorized, "user_required", 0)
		return
	case f.blocked:
		writeErr(w, http.StatusForbidden, "workstation_blocked", 0)
		return
	}
	now := time.Now()
	fp := body["fingerprint"]
	for id, s := range f.sessions {
		if s.fp == fp && s.exp.After(now) && s.device != nil {
			writeErr(w, http.StatusConflict, "session_borrowed", 0)
			return
		}
		if s.fp == fp && s.exp.After(now) {
			s.exp = now.Add(f.ttl)
			f.answer(w, "/v1/acquire", id, s, true)
			return
		}
	}
	if f.liveLocked(now) >= f.seats {
		writeErr(w, http.StatusConflict, "no_seats_available", 0)
		return
	}
	id, s := f.newSessionLocked(fp, now.Add(f.ttl))
	f.answer(w, "/v1/acquire", id, s, false)
}

func (f *fakeAPI) heartbeat(w http.ResponseWriter, _ *http.Request, body map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := body["session_id"]
	s, ok := f.sessions[id]
	now := time.Now()
	if !ok || !s.exp.After(now) {
		writeErr(w, http.StatusNotFound, "session_not_found", 0)
		return
	}
	if f.inactive {
		delete(f.sessions, id)
		writeErr(w, http.StatusForbidden, "license_inactive", 0)
		return
	}
	if f.revoked {
		writeErr(w, http.StatusForbidden, "session_revoked", 0)
		return
	}
	if f.hbBlocked {
		writeErr(w, http.StatusForbidden, "workstation_blocked", 0)
		return
	}
	if s.device != nil {
		writeErr(w, http.StatusConflict, "session_borrowed", 0)
		return
	}
	s.exp = now.Add(f.ttl)
	f.answer(w, "/v1/heartbeat", id, s, false)
}

func (f *fakeAPI) release(w http.ResponseWriter, _ *http.Request, body map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[body["session_id"]]
	live := ok && s.exp.After(time.Now())
	if live && s.device != nil {
		writeErr(w, http.StatusConflict, "session_borrowed", 0)
		return
	}
	delete(f.sessions, body["session_id"])
	if live {
		f.released++
	}
	writeJSON(w, http.StatusOK, map[string]bool{"released": live})
}

func (f *fakeAPI) liveLocked(now time.Time) int {
	n := 0
	for _, s := range f.sessions {
		if s.exp.After(now) {
			n++
		}
	}
	return n
}

func (f *fakeAPI) newSessionLocked(fp string, exp time.Time) (string, *fakeSession) {
	id := strings.ReplaceAll(f.licenseID, "-", "") + "." + randomB64(16)
	s := &fakeSession{fp: fp, exp: exp}
	f.sessions[id] = s
	return id, s
}

// answer writes a seat answer with a lease, good unless the path has a bad
// lease kind set.
func (f *fakeAPI) answer(w http.ResponseWriter, path, id string, s *fakeSession, resumed bool) {
	c := lease.Claims{SessionDigest: leasejws.SessionDigest(id), LicenseID: f.licenseID, TenantID: f.tenantID, Fingerprint: s.fp,
		ExpiresAt: s.exp, Overage: f.overage}
	class := "entitled"
	if f.overage {
		class = "overage"
	}
	kind := f.badLeases[path]
	tok := f.lease(kind, c)
	answerID := id
	if kind == answerOtherSession {
		answerID = strings.ReplaceAll(f.licenseID, "-", "") + "." + randomB64(16)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"session_id": answerID, "expires_at": s.exp.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		"heartbeat_interval_seconds": max(1, int(f.ttl/time.Second/3)),
		"seats_used":                 f.liveLocked(time.Now()), "seats_total": f.seats, "resumed": resumed, "lease": tok,
		"seat_class": class,
	})
}

// lease signs c, spoiled as kind says.
func (f *fakeAPI) lease(kind string, c lease.Claims) string {
	t := f.t
	sign := func(s *lease.Signer, c lease.Claims) string {
		tok, err := s.Lease(c)
		if err != nil {
			t.Error(err)
		}
		return tok
	}
	good := sign(f.signer, c)
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding
	header, _ := b64.DecodeString(parts[0])
	var hdr map[string]any
	json.Unmarshal(header, &hdr)
	mapClaims := jwt.MapClaims{"iss": testIssuer, "sub": c.SessionDigest, "lic": c.LicenseID, "ten": c.TenantID,
		"fpr": c.Fingerprint, "iat": time.Now().Unix(), "exp": c.ExpiresAt.Unix()}
	withHeader := func(tok *jwt.Token) *jwt.Token {
		for k, v := range hdr {
			if k != "alg" {
				tok.Header[k] = v
			}
		}
		return tok
	}
	pinned, _ := roots()
	switch kind {
	case "", answerOtherSession:
		return good
	case leaseTampered:
		payload, _ := b64.DecodeString(parts[1])
		var m map[string]any
		json.Unmarshal(payload, &m)
		m["exp"] = time.Now().Add(time.Hour).Unix() // a longer lease, for free
		p, _ := json.Marshal(m)
		return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
	case leaseBadSignature:
		sig, _ := b64.DecodeString(parts[2])
		sig[0] ^= 1
		return parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig)
	case leaseUnpinnedRoot:
		return sign(f.rogue, c)
	case leaseOtherIssuer:
		return sign(f.evil, c)
	case leaseOtherSession:
		c.SessionDigest = leasejws.SessionDigest(strings.ReplaceAll(f.licenseID, "-", "") + "." + randomB64(16))
		return sign(f.signer, c)
	case leaseOtherLicense:
		c.LicenseID = otherLicenseID
		return sign(f.signer, c)
	case leaseOtherFP:
		c.Fingerprint = otherFingerprint
		return sign(f.signer, c)
	case leaseHS256:
		tok, err := withHeader(jwt.NewWithClaims(jwt.SigningMethodHS256, mapClaims)).SignedString(pinned.key.PublicKey.N.Bytes())
		if err != nil {
			t.Error(err)
		}
		return tok
	case leaseNone:
		tok, err := withHeader(jwt.NewWithClaims(jwt.SigningMethodNone, mapClaims)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Error(err)
		}
		return tok
	case leaseRootRS256:
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, mapClaims)
		tok.Header["typ"], tok.Header["kid"] = lease.Type, pinned.kid
		s, err := tok.SignedString(pinned.key)
		if err != nil {
			t.Error(err)
		}
		return s
	case leaseOldDelegation:
		// A delegation the pinned root really signed, which ended an hour
		// ago; the lease was issued within it and claims a future exp.
		past := time.Now().Add(-2 * time.Hour)
		return forgedLease(t, pinned, leasejws.DelegationType, past, past.Add(time.Hour), mapClaims)
	case leaseYearDelegation:
		return forgedLease(t, pinned, leasejws.DelegationType, time.Now().Add(-time.Minute), time.Now().AddDate(1, 0, 0), mapClaims)
	case leaseJWTDelegation:
		return forgedLease(t, pinned, "JWT", time.Now().Add(-time.Minute), time.Now().Add(time.Hour), mapClaims)
	case leaseCertDelegation:
		return forgedLease(t, pinned, "license+jwt", time.Now().Add(-time.Minute), time.Now().Add(time.Hour), mapClaims)
	case leaseExpiredLeeway:
		c.ExpiresAt = time.Now().Add(-5 * time.Second)
		return sign(f.signer, c)
	case leaseExpired:
		c.ExpiresAt = time.Now().Add(-5 * time.Minute)
		return sign(f.signer, c)
	case leaseGarbage:
		return "not.a.lease"
	case leaseEmpty:
		return ""
	}
	t.Errorf("unknown lease kind %q", kind)
	return good
}

// forgedLease is a lease under a delegation the pinned root really signed,
// typed typ and valid from nbf to exp, issued half way between them (or
// now, whichever is earlier) with the claims c otherwise.
func forgedLease(t *testing.T, pinned *testRoot, typ string, nbf, exp time.Time, c jwt.MapClaims) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := leasejws.NewOKPKey(pub)
	d := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": testIssuer, "sub": jwk.Kid, "jwk": jwk,
		"iat": nbf.Unix(), "nbf": nbf.Unix(), "exp": exp.Unix()})
	d.Header["typ"], d.Header["kid"] = typ, pinned.kid
	dlg, err := d.SignedString(pinned.key)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	for k, v := range c {
		claims[k] = v
	}
	iat := nbf.Add(exp.Sub(nbf) / 2)
	if now := time.Now(); iat.After(now) {
		iat = now
	}
	claims["iat"] = iat.Unix()
	l := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	l.Header["typ"], l.Header["kid"], l.Header["dlg"] = lease.Type, jwk.Kid, dlg
	tok, err := l.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// Controls.

func (f *fakeAPI) setFault(path string, ft *fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ft == nil {
		delete(f.faults, path)
		return
	}
	f.faults[path] = ft
}

func (f *fakeAPI) setBadLease(path, kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.badLeases[path] = kind
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// dropSessions forgets every session, as a server that lost its Redis.
func (f *fakeAPI) dropSessions() {
	f.set(func(f *fakeAPI) { clear(f.sessions) })
}

// occupy makes another workstation hold a seat for d.
func (f *fakeAPI) occupy(d time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, _ := f.newSessionLocked(otherFingerprint+randomB64(4), time.Now().Add(d))
	return id
}

func (f *fakeAPI) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

func (f *fakeAPI) failures(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed[path]
}

func (f *fakeAPI) releases() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.released
}

// keysDoc is the fake's GET /v1/keys document.
func (f *fakeAPI) keysDoc(t *testing.T) []byte {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	return raw
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// acquire takes a seat and closes it when the test ends.
func acquire(t *testing.T, cfg license.Config) *license.Seat {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seat, err := license.Acquire(ctx, cfg)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	t.Cleanup(func() { seat.Close(context.Background()) })
	return seat
}
