package e2e_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// instance is one server process's worth of functions on a fixed address,
// so it can be stopped and started again where clients expect it.
type instance struct {
	t    *testing.T
	addr string
	b    *backend.Backend
	srv  *http.Server
	stop context.CancelFunc
}

func (in *instance) start() {
	in.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	authn, err := authnOn(in.b, config.RateLimit{})
	if err != nil {
		in.t.Fatal(err)
	}
	// A new instance makes a new delegation under the same root.
	fns, err := allHTTP(in.t, ctx, compose.Deps{Backend: in.b, Authn: authn, Root: testRoot(in.t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, config.RateLimit{})
		})
	if err != nil {
		in.t.Fatal(err)
	}
	var ln net.Listener
	for range 50 { // the old socket may linger a moment after Close
		if ln, err = net.Listen("tcp", in.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		in.t.Fatal(err)
	}
	in.addr = ln.Addr().String()
	in.srv = &http.Server{Handler: route.Mux(route.Options{Logger: slog.New(slog.DiscardHandler)}, fns...)}
	in.stop = cancel
	go in.srv.Serve(ln)
}

func (in *instance) halt() {
	in.srv.Close()
	in.stop()
}

// TestSDKEndToEnd: the Go SDK against the real server (real Redis and
// PostgreSQL): it acquires and verifies its lease against the pinned root,
// survives a server restart within the lease, loses its seat when the
// license is suspended, and releases on Close.
func TestSDKEndToEnd(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	in := &instance{t: t, addr: "127.0.0.1:0", b: b}
	in.start()
	t.Cleanup(in.halt)
	admin := &api{t: t, srv: nil, b: b}
	call := func(method, path string, body any) reply {
		t.Helper()
		return admin.callURL("http://"+in.addr, method, path, adminToken, body)
	}
	tenant := call("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"}).str("id")
	lic := call("POST", "/v1/tenants/"+tenant+"/licenses", map[string]any{"product": "coditect", "seats": 1, "lease_ttl_seconds": 4})
	licenseID, key := lic.str("id"), lic.str("key")
	if key == "" {
		t.Fatalf("license: %s", lic.raw)
	}

	// Root keys pinned out of band (as a product ships them), not fetched.
	keys, _ := testRoot(t).PublicKeys(context.Background())
	pinned := map[string]*rsa.PublicKey{keys[0].KID: keys[0].Key}
	cfg := license.Config{BaseURL: "http://" + in.addr, LicenseKey: key, Fingerprint: "e2e-workstation",
		RootKeys: pinned, Issuer: testIssuer, MinBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seat, err := license.Acquire(ctx, cfg)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	_, claims := seat.Lease()
	if !seat.Valid() || claims.LicenseID != licenseID || claims.TenantID != tenant || claims.Fingerprint != "e2e-workstation" {
		t.Fatalf("seat = %+v, claims %+v", seat.Status(), claims)
	}
	// The seat is taken: another workstation is refused.
	other := cfg
	other.Fingerprint = "someone-else"
	if _, err := license.Acquire(ctx, other); !errors.Is(err, license.ErrNoSeats) {
		t.Fatalf("second workstation: %v, want ErrNoSeats", err)
	}

	// The server goes away for less than a lease: the seat stays valid
	// (offline grace), and heartbeats resume against the new instance.
	in.halt()
	time.Sleep(1500 * time.Millisecond)
	if !seat.Valid() {
		t.Fatalf("seat invalid during a short outage: %+v", seat.Status())
	}
	before := seat.Status().ExpiresAt
	in.start()
	deadline := time.Now().Add(10 * time.Second)
	for !seat.Status().ExpiresAt.After(before) || seat.Status().LastError != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat after the restart: %+v", seat.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !seat.Valid() {
		t.Fatal("seat invalid after the restart")
	}

	// Suspending the license takes the seat within a heartbeat.
	if r := call("PATCH", "/v1/tenants/"+tenant+"/licenses/"+licenseID, map[string]any{"status": "suspended"}); r.status != 200 {
		t.Fatalf("suspend: %s", r.raw)
	}
	select {
	case <-seat.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("seat not lost after suspension: %+v", seat.Status())
	}
	if !errors.Is(seat.Err(), license.ErrLicenseInactive) || seat.Valid() {
		t.Fatalf("Err = %v, Valid = %v", seat.Err(), seat.Valid())
	}
	seat.Close(ctx)

	// Close releases: the seat is free for the next workstation at once.
	call("PATCH", "/v1/tenants/"+tenant+"/licenses/"+licenseID, map[string]any{"status": "active"})
	s2, err := license.Acquire(ctx, other)
	if err != nil {
		t.Fatalf("acquire after reactivation: %v", err)
	}
	if err := s2.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if used := call("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil).num("seats_used"); used != 0 {
		t.Fatalf("seats_used after Close = %d", used)
	}
	s3, err := license.Acquire(ctx, cfg)
	if err != nil {
		t.Fatalf("acquire after Close: %v", err)
	}
	s3.Close(ctx)
}
