package lease

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestCertificate(t *testing.T) {
	t.Parallel()
	shared := newTestRoot(t)
	root := &testRoot{key: shared.key, kid: shared.kid} // with a count of its own signatures
	c := &Certifier{Root: root, Issuer: "https://api.test"}
	exp := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	five := 5
	l := License{ID: "lic", TenantID: "ten", Product: "coditect", Seats: 50, LeaseTTLSeconds: 300, Status: "active",
		ExpiresAt: &exp, MaxSeatsPerUser: &five, Leasing: "per_user", UpdatedAt: time.Unix(1764129600, 123)}
	ctx := context.Background()

	parse := func(cert string) (jwt.MapClaims, *jwt.Token) {
		t.Helper()
		var cl jwt.MapClaims
		tok, err := jwt.ParseWithClaims(cert, &cl, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"}))
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
		cl["lease_ttl_seconds"] != float64(300) || cl["status"] != "active" || cl["exp"] != float64(exp.Unix()) {
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
	if _, hasExp := cl["exp"]; c2 == c1 || cl["seats"] != float64(7) || hasExp || root.signs.Load() != 2 {
		t.Fatalf("after a change: claims %v, %d signatures", cl, root.signs.Load())
	}
	if policy, _ := cl["policy"].(map[string]any); policy["max_seats_per_user"] != nil {
		t.Fatalf("policy = %v", cl["policy"])
	}
}
