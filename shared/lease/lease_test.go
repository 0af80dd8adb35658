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
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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
	rootsOnce sync.Once
	roots     [2]*testRoot
)

func testRoots(t *testing.T) (*testRoot, *testRoot) {
	t.Helper()
	rootsOnce.Do(func() {
		for i := range roots {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			roots[i] = &testRoot{key: k, kid: thumb(&k.PublicKey)}
		}
	})
	return roots[0], roots[1]
}

func thumb(pub *rsa.PublicKey) string {
	n := b64.EncodeToString(pub.N.Bytes())
	e := b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return b64.EncodeToString(sum[:])
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

var claims = Claims{SessionID: "sess", LicenseID: "lic", TenantID: "ten", Fingerprint: "fp"}

func newSigner(t *testing.T, root rootkey.Root, o Options) *Signer {
	t.Helper()
	s, err := NewSigner(context.Background(), root, "https://api.test", o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
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
	if got.SessionID != "sess" || got.LicenseID != "lic" || got.TenantID != "ten" || got.Fingerprint != "fp" ||
		!got.ExpiresAt.Equal(c.ExpiresAt) || got.Issuer != "https://api.test" {
		t.Fatalf("claims = %+v", got)
	}
	// Exact header shape, as the format promises any JOSE library.
	var h map[string]any
	raw, _ := b64.DecodeString(strings.Split(tok, ".")[0])
	json.Unmarshal(raw, &h)
	if h["alg"] != "EdDSA" || h["typ"] != "lease+jwt" || h["kid"] == "" || h["dlg"] != s.Delegations()[0] {
		t.Fatalf("header = %v", h)
	}
	// After it expires, it no longer verifies.
	if _, err := root.verifier().Verify(tok, c.ExpiresAt.Add(time.Minute)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired lease: %v", err)
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	exp := time.Now().Add(5 * time.Minute)
	c := claims
	c.ExpiresAt = exp
	s := newSigner(t, root, Options{})
	good, _ := s.Lease(c)
	parts := strings.Split(good, ".")
	payload, _ := b64.DecodeString(parts[1])
	header, _ := b64.DecodeString(parts[0])
	var hdr map[string]any
	json.Unmarshal(header, &hdr)

	// A delegation signed by a key that is not a pinned root.
	rogue := newSigner(t, other, Options{})
	rogueLease, _ := rogue.Lease(c)

	// A delegation that has expired: made two hours ago, living one hour.
	past := time.Now().Add(-2 * time.Hour)
	old := newSigner(t, root, Options{Lifetime: time.Hour, Now: func() time.Time { return past }})
	oc := c
	oc.ExpiresAt = past.Add(30 * time.Minute)
	oldLease, err := old.Lease(oc)
	if err != nil {
		t.Fatal(err)
	}

	// alg substitutions: HS256 keyed with the root public key, and none.
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "sess", "lic": "lic", "iss": "https://api.test",
		"iat": time.Now().Unix(), "exp": exp.Unix()})
	for k, v := range hdr {
		if k != "alg" {
			hs.Header[k] = v
		}
	}
	hsLease, _ := hs.SignedString(root.key.PublicKey.N.Bytes())
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "sess", "lic": "lic", "iss": "https://api.test",
		"iat": time.Now().Unix(), "exp": exp.Unix()})
	for k, v := range hdr {
		if k != "alg" {
			none.Header[k] = v
		}
	}
	noneLease, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	// A delegation whose alg is swapped to none, keeping its payload.
	dlgParts := strings.Split(hdr["dlg"].(string), ".")
	noneDlg := b64.EncodeToString([]byte(`{"alg":"none","kid":"`+root.kid+`"}`)) + "." + dlgParts[1] + "."
	withHeader := func(h map[string]any) string {
		b, _ := json.Marshal(h)
		return b64.EncodeToString(b) + "." + parts[1] + "." + parts[2]
	}
	swapped := map[string]any{}
	for k, v := range hdr {
		swapped[k] = v
	}
	swapped["dlg"] = noneDlg

	cases := map[string]string{
		"tampered payload":              parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), `"fp"`, `"fq"`, 1))) + "." + parts[2],
		"tampered signature":            parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)),
		"delegation from a rogue root":  rogueLease,
		"delegation expired":            oldLease,
		"HS256 with the root key":       hsLease,
		"alg none":                      noneLease,
		"delegation alg none":           withHeader(swapped),
		"no delegation":                 withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": hdr["kid"]}),
		"wrong typ":                     withHeader(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": hdr["kid"], "dlg": hdr["dlg"]}),
		"kid of another delegated key":  withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": "x", "dlg": hdr["dlg"]}),
		"another instance's delegation": withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": hdr["kid"], "dlg": rogue.Delegations()[0]}),
		"garbage":                       "not.a.lease",
	}
	for name, tok := range cases {
		if _, err := root.verifier().Verify(tok, time.Now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := (Verifier{Roots: root.verifier().Roots, Issuer: "https://other"}).Verify(good, time.Now()); err == nil {
		t.Error("a lease of another issuer verified")
	}
}

func TestSignerRefusesAfterDelegationExpires(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
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
	if len(s.Delegations()) != 0 {
		t.Fatal("an expired delegation is still listed")
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
	root, _ := testRoots(t)
	// JWT times are whole seconds, so the shortest useful lifetime is a few.
	s := newSigner(t, root, Options{Lifetime: 3 * time.Second})
	first := s.Delegations()[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, slog.New(slog.DiscardHandler), 10*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for s.Delegations()[0] == first {
		if time.Now().After(deadline) {
			t.Fatal("the delegation was not renewed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Renewed at half-life: the old one is still listed until it expires.
	if d := s.Delegations(); len(d) != 2 || d[1] != first {
		t.Fatalf("delegations after renewal = %d", len(d))
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
	root, _ := testRoots(t)
	f := &flakyRoot{testRoot: root}
	s := newSigner(t, f, Options{Lifetime: 3 * time.Second})
	first := s.Delegations()[0]
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
	if _, err := root.verifier().Verify(tok, time.Now()); err != nil || s.Delegations()[0] != first {
		t.Fatalf("lease after a failed renewal: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, slog.New(slog.DiscardHandler), 20*time.Millisecond)
	time.Sleep(2 * time.Second) // past half-life: Run is retrying against the broken root
	if s.Delegations()[0] != first {
		t.Fatal("a delegation appeared while the root was broken")
	}
	f.broken.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for s.Delegations()[0] == first {
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
}
