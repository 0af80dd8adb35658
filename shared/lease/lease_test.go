package lease

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// testRoot is a root key in memory. 2048 bits keep the tests fast; the
// production backends (shared/rootkey) insist on 4096.
type testRoot struct {
	key   *rsa.PrivateKey
	kid   string
	signs atomic.Int64
}

var (
	rootOnce   sync.Once
	sharedRoot *testRoot
)

// newTestRoot returns the root key of the tests, made once.
func newTestRoot(t *testing.T) *testRoot {
	t.Helper()
	rootOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		sharedRoot = &testRoot{key: k, kid: rootkey.Thumbprint(&k.PublicKey)}
	})
	return sharedRoot
}

func (r *testRoot) Sign(_ context.Context, input []byte) (string, []byte, error) {
	r.signs.Add(1)
	d := sha256.Sum256(input)
	sig, err := rsa.SignPKCS1v15(rand.Reader, r.key, crypto.SHA256, d[:])
	return r.kid, sig, err
}

func (r *testRoot) PublicKeys(context.Context) ([]rootkey.PublicKey, error) {
	return []rootkey.PublicKey{{KID: r.kid, Key: &r.key.PublicKey}}, nil
}

func (r *testRoot) verifier() Verifier {
	return Verifier{Roots: map[string]*rsa.PublicKey{r.kid: &r.key.PublicKey}, Issuer: "https://api.test"}
}

var claims = Claims{SessionDigest: "sess", LicenseID: "lic", TenantID: "ten", Fingerprint: "fp"}

func newSigner(t *testing.T, root rootkey.Root, o Options) *Signer {
	t.Helper()
	s, err := NewSigner(context.Background(), root, "https://api.test", o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// current is the delegation s signs under now.
func current(s *Signer) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current.jws
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	c := claims
	c.ExpiresAt = time.Now().Add(5 * time.Minute).Truncate(time.Second)
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := root.verifier().Verify(tok, time.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.SessionDigest != "sess" || got.LicenseID != "lic" || got.TenantID != "ten" || got.Fingerprint != "fp" ||
		!got.ExpiresAt.Equal(c.ExpiresAt) || got.Issuer != "https://api.test" {
		t.Fatalf("claims = %+v", got)
	}
	// Exact header shape, as the format promises any JOSE library.
	var h map[string]any
	raw, _ := b64.DecodeString(strings.Split(tok, ".")[0])
	json.Unmarshal(raw, &h)
	if h["alg"] != "EdDSA" || h["typ"] != "lease+jwt" || h["kid"] == "" || h["dlg"] != current(s) {
		t.Fatalf("header = %v", h)
	}
	// After it expires, it no longer verifies.
	if _, err := root.verifier().Verify(tok, c.ExpiresAt.Add(time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired lease: %v", err)
	}
}

func TestSignerRefusesAfterDelegationExpires(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	s := newSigner(t, root, Options{Lifetime: time.Hour, Now: func() time.Time { return *now.Load() }})
	c := claims
	c.ExpiresAt = start.Add(5 * time.Hour) // longer than the delegation
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := root.verifier().Verify(tok, start)
	if err != nil || got.ExpiresAt.After(start.Add(time.Hour)) {
		t.Fatalf("a lease outlives its delegation: %+v, %v", got, err)
	}
	later := start.Add(time.Hour + time.Second)
	now.Store(&later)
	if _, err := s.Lease(c); !errors.Is(err, ErrNoDelegation) {
		t.Fatalf("signing with an expired delegation: %v", err)
	}
	if err := s.Renew(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lease(c); err != nil {
		t.Fatalf("after renewal: %v", err)
	}
}

func TestRunRenewsBeforeExpiry(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	// JWT times are whole seconds, so the shortest useful lifetime is a few.
	s := newSigner(t, root, Options{Lifetime: 3 * time.Second})
	first := current(s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, slog.New(slog.DiscardHandler), 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for current(s) == first {
		if time.Now().After(deadline) {
			t.Fatal("the delegation was not renewed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flakyRoot fails its signatures while broken is set.
type flakyRoot struct {
	*testRoot
	broken atomic.Bool
}

func (f *flakyRoot) Sign(ctx context.Context, input []byte) (string, []byte, error) {
	if f.broken.Load() {
		return "", nil, errors.New("kms unavailable")
	}
	return f.testRoot.Sign(ctx, input)
}

// TestFailedRenewalKeepsServing: while the root cannot sign, the instance
// keeps signing leases with the delegation it has, and Run retries.
func TestFailedRenewalKeepsServing(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	f := &flakyRoot{testRoot: root}
	s := newSigner(t, f, Options{Lifetime: 3 * time.Second})
	first := current(s)
	f.broken.Store(true)
	if err := s.Renew(context.Background()); err == nil {
		t.Fatal("renewal with a broken root succeeded")
	}
	c := claims
	c.ExpiresAt = time.Now().Add(time.Second)
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatalf("signing after a failed renewal: %v", err)
	}
	if _, err := root.verifier().Verify(tok, time.Now()); err != nil || current(s) != first {
		t.Fatalf("lease after a failed renewal: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, slog.New(slog.DiscardHandler), 20*time.Millisecond)
	time.Sleep(2 * time.Second) // past half-life: Run is retrying against the broken root
	if current(s) != first {
		t.Fatal("a delegation appeared while the root was broken")
	}
	f.broken.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for current(s) == first {
		if time.Now().After(deadline) {
			t.Fatal("Run did not renew once the root recovered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClaimsEncodeAsMarshal(t *testing.T) {
	t.Parallel()
	httpjsontest.EncodesAsMarshal(t, signedClaims{})
	httpjsontest.EncodesAsMarshal(t, signedClaims{Iss: "https://api.coditect.ai", Sub: "lic.s", Lic: "lic", Ten: "ten",
		Fpr: `ws "1" <&>` + "\n\xff", Iat: 1764129600, Exp: -1})
	jwk := leasejws.OKPKey{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	httpjsontest.EncodesAsMarshal(t, signedClaims{Sub: "s", Borrow: true})
	httpjsontest.EncodesAsMarshal(t, signedClaims{Sub: "s", Borrow: true, Cnf: &confirmation{JWK: jwk}})
	httpjsontest.EncodesAsMarshal(t, signedClaims{Sub: "s", Cnf: &confirmation{JWK: jwk}})
	jwk.Kid = `k"<`
	httpjsontest.EncodesAsMarshal(t, signedClaims{Iss: "i", Borrow: true, Cnf: &confirmation{JWK: jwk}, Exp: 9})
	httpjsontest.EncodesAsMarshal(t, signedClaims{Sub: "s", Overage: true})
	httpjsontest.EncodesAsMarshal(t, signedClaims{Sub: "s", Borrow: true, Cnf: &confirmation{JWK: jwk}, Overage: true})
}

// TestOverageLease: the signer writes "overage": true for an overage seat
// and leaves it out for an entitled one (whose lease reads as before);
// Verify and another JOSE library read it back.
func TestOverageLease(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	c := claims
	c.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Second)
	c.Overage = true
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := root.verifier().Verify(tok, time.Now())
	if err != nil || !got.Overage {
		t.Fatalf("Verify = %+v, %v; want overage", got, err)
	}
	dlg := header(t, tok)["dlg"].(string)
	var dc struct {
		jwt.RegisteredClaims
		JWK leasejws.OKPKey `json:"jwk"`
	}
	if _, err := jwt.ParseWithClaims(dlg, &dc, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatal(err)
	}
	delegated, err := dc.JWK.Ed25519()
	if err != nil {
		t.Fatal(err)
	}
	var lc jwt.MapClaims
	if _, err := jwt.ParseWithClaims(tok, &lc, func(*jwt.Token) (any, error) { return delegated, nil },
		jwt.WithValidMethods([]string{"EdDSA"})); err != nil || lc["overage"] != true {
		t.Fatalf("golang-jwt reads overage %v (%v)", lc["overage"], err)
	}
	c.Overage = false
	plain, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := b64.DecodeString(strings.Split(plain, ".")[1])
	if strings.Contains(string(payload), "overage") {
		t.Fatalf("an entitled lease names overage: %s", payload)
	}
	if got, err := root.verifier().Verify(plain, time.Now()); err != nil || got.Overage {
		t.Fatalf("entitled lease = %+v, %v", got, err)
	}
}
