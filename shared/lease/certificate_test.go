package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

func TestCertificate(t *testing.T) {
	t.Parallel()
	shared := newTestRoot(t)
	root := &testRoot{key: shared.key, kid: shared.kid} // with a count of its own signatures
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &Certifier{Root: root, Issuer: "https://api.test", Now: func() time.Time { return now }}
	exp := time.Date(2026, 12, 20, 3, 4, 5, 0, time.UTC) // sooner than the longest validity
	five := 5
	l := License{ID: "lic", TenantID: "ten", Product: "coditect", Seats: 50, LeaseTTLSeconds: 300, Status: "active",
		ExpiresAt: &exp, MaxSeatsPerUser: &five, Leasing: "per_user", TenantStatus: "active",
		UpdatedAt: time.Unix(1764129600, 123)}
	ctx := context.Background()

	parse := func(cert string) (jwt.MapClaims, *jwt.Token) {
		t.Helper()
		var cl jwt.MapClaims
		tok, err := jwt.ParseWithClaims(cert, &cl, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
		if err != nil || !tok.Valid {
			t.Fatalf("certificate does not verify with the root key: %v", err)
		}
		return cl, tok
	}
	c1, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	cl, tok := parse(c1)
	if tok.Header["typ"] != CertificateType || tok.Header["kid"] != root.kid || cl["iss"] != "https://api.test" ||
		cl["sub"] != "lic" || cl["ten"] != "ten" || cl["prd"] != "coditect" || cl["seats"] != float64(50) ||
		cl["lease_ttl_seconds"] != float64(300) || cl["status"] != "active" || cl["tenant_status"] != "active" ||
		cl["iat"] != float64(now.Unix()) || cl["exp"] != float64(exp.Unix()) || cl["license_exp"] != float64(exp.Unix()) {
		t.Fatalf("certificate: header %v, claims %v", tok.Header, cl)
	}
	policy, _ := cl["policy"].(map[string]any)
	if policy["require_user"] != false || policy["max_seats_per_user"] != float64(5) || policy["leasing"] != "per_user" {
		t.Fatalf("policy = %v", cl["policy"])
	}

	// Cached until the license changes, from any number of goroutines.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if again, err := c.Certificate(ctx, l); err != nil || again != c1 {
				t.Errorf("cached certificate: %v", err)
			}
		})
	}
	wg.Wait()
	if n := root.signs.Load(); n != 1 {
		t.Fatalf("%d root signatures for one license version, want 1", n)
	}
	l.Seats, l.ExpiresAt, l.MaxSeatsPerUser = 7, nil, nil
	l.UpdatedAt = l.UpdatedAt.Add(time.Second)
	c2, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	cl, _ = parse(c2)
	if c2 == c1 || cl["seats"] != float64(7) || root.signs.Load() != 2 {
		t.Fatalf("after a change: claims %v, %d signatures", cl, root.signs.Load())
	}
	if policy, _ := cl["policy"].(map[string]any); policy["max_seats_per_user"] != nil {
		t.Fatalf("policy = %v", cl["policy"])
	}
	// A license without expiry: its certificate expires all the same.
	if _, has := cl["license_exp"]; has || cl["exp"] != float64(now.Add(MaxCertificateValidity).Unix()) {
		t.Fatalf("certificate of a license without expiry: exp %v, license_exp %v; want exp now+%v and no license_exp",
			cl["exp"], cl["license_exp"], MaxCertificateValidity)
	}
	// Nor does a far expiry make it last longer.
	far := now.AddDate(2, 0, 0)
	l.ExpiresAt, l.UpdatedAt = &far, l.UpdatedAt.Add(time.Second)
	c3, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ = parse(c3); cl["exp"] != float64(now.Add(MaxCertificateValidity).Unix()) || cl["license_exp"] != float64(far.Unix()) {
		t.Fatalf("certificate of a license expiring in 2 years: exp %v, license_exp %v", cl["exp"], cl["license_exp"])
	}
	v := Verifier{Roots: root.verifier().Roots, Issuer: "https://api.test"}
	if got, err := v.VerifyCertificate(c3, now); err != nil || got.LicenseID != "lic" || got.TenantStatus != "active" {
		t.Fatalf("the SDK's check of an active license's certificate: %+v, %v", got, err)
	}

	// Half-way through its validity a cached certificate is signed again,
	// so one handed out always has at least the other half left.
	now = now.Add(MaxCertificateValidity/2 - time.Second)
	if again, err := c.Certificate(ctx, l); err != nil || again != c3 {
		t.Fatalf("certificate re-signed before half its validity: %v", err)
	}
	now = now.Add(time.Second)
	c4, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ = parse(c4); c4 == c3 || cl["iat"] != float64(now.Unix()) {
		t.Fatalf("certificate not re-signed half-way through its validity: iat %v", cl["iat"])
	}

	// The tenant suspended (the license itself unchanged): a new
	// certificate states it, and the SDK's check refuses it.
	l.TenantStatus = "suspended"
	c5, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ = parse(c5); c5 == c4 || cl["tenant_status"] != "suspended" || cl["status"] != "active" {
		t.Fatalf("certificate after the tenant's suspension: %v", cl)
	}
	if _, err := v.VerifyCertificate(c5, now); !errors.Is(err, leasejws.ErrInactive) {
		t.Fatalf("the SDK's check of a suspended tenant's certificate: %v, want ErrInactive", err)
	}
}

// TestMachineBoundCertificate: a certificate asked for one machine names
// its fingerprint ("fpr"), is signed afresh each time rather than served
// from (or put into) the per-license cache, and verifies on that machine
// only.
func TestMachineBoundCertificate(t *testing.T) {
	t.Parallel()
	shared := newTestRoot(t)
	root := &testRoot{key: shared.key, kid: shared.kid}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := &Certifier{Root: root, Issuer: "https://api.test", Now: func() time.Time { return now }}
	l := License{ID: "lic", TenantID: "ten", Product: "coditect", Seats: 5, LeaseTTLSeconds: 300, Status: "active",
		Leasing: "per_fingerprint", TenantStatus: "active", UpdatedAt: time.Unix(1764129600, 0)}
	ctx := context.Background()
	floating, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	l.Fingerprint = "ws-1"
	bound, err := c.Certificate(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Certificate(ctx, l); err != nil || root.signs.Load() != 3 {
		t.Fatalf("bound certificates: %d signatures after one floating and two bound, want 3 (%v)", root.signs.Load(), err)
	}
	l.Fingerprint = ""
	if again, err := c.Certificate(ctx, l); err != nil || again != floating {
		t.Fatalf("the floating certificate after bound ones: %v; want the cached one", err)
	}
	var cl jwt.MapClaims
	if _, err := jwt.ParseWithClaims(bound, &cl, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil || cl["fpr"] != "ws-1" {
		t.Fatalf("bound certificate: %v, %v", cl, err)
	}
	v := Verifier{Roots: root.verifier().Roots, Issuer: "https://api.test"}
	if got, err := v.VerifyCertificateFor(bound, "ws-1", now); err != nil || got.Fingerprint != "ws-1" {
		t.Fatalf("on its machine: %+v, %v", got, err)
	}
	if _, err := v.VerifyCertificateFor(bound, "ws-2", now); !errors.Is(err, leasejws.ErrOtherMachine) {
		t.Fatalf("on another machine: %v", err)
	}
}
