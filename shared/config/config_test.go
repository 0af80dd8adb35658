package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(MapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Redis.KeyPrefix != "lic:" || c.Redis.Timeout != time.Second || c.Redis.Cluster ||
		c.RequestTimeout != 10*time.Second {
		t.Fatalf("defaults = %+v", c)
	}
	if err := c.RequireBackends(Needs{Admin: true, Signing: true, Redis: true, Database: true}); err == nil ||
		!strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), "DATABASE_URL") ||
		!strings.Contains(err.Error(), "BOOTSTRAP_ADMIN_TOKEN") || !strings.Contains(err.Error(), "SIGNING_KMS_KEY_VERSION") {
		t.Fatalf("RequireBackends = %v, want all four named", err)
	}
	// A function that neither administers nor signs is not asked for the
	// token or the key, so its deployment need not be given them.
	if err := c.RequireBackends(Needs{Redis: true, Database: true}); err == nil ||
		strings.Contains(err.Error(), "BOOTSTRAP_ADMIN_TOKEN") || strings.Contains(err.Error(), "SIGNING") {
		t.Fatalf("RequireBackends(backends only) = %v, want only the backends named", err)
	}
	// A function that uses neither backend (OpenAPI, Keys) is not asked
	// for their addresses, so its deployment need not be given them
	// (issue 16, finding 2).
	if err := c.RequireBackends(Needs{}); err != nil {
		t.Fatalf("RequireBackends(Needs{}) = %v, want nil", err)
	}
	if err := c.RequireBackends(Needs{Redis: true}); err == nil || strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("RequireBackends(Redis only) = %v, want only REDIS_URL named", err)
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	c, err := Load(MapLookup(map[string]string{
		"PORT": "9090", "REDIS_URL": "redis://r:6379/0", "REDIS_CLUSTER": "true", "REDIS_TIMEOUT": "250ms",
		"REQUEST_TIMEOUT": "2s", "DATABASE_URL": "postgres://db/x", "BOOTSTRAP_ADMIN_TOKEN": strings.Repeat("t", 32), "LOG_LEVEL": "debug",
		"SIGNING_KMS_KEY_VERSION":      "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
		"SIGNING_KMS_TRUSTED_VERSIONS": " a , b ",
		"OTEL_EXPORTER_OTLP_ENDPOINT":  "http://collector:4317", "METRICS_PORT": "9464",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9090 || !c.Redis.Cluster || c.Redis.Timeout != 250*time.Millisecond || c.RequestTimeout != 2*time.Second || c.RequireBackends(Needs{Admin: true, Signing: true, Redis: true}) != nil ||
		len(c.Signing.KMSTrustedVersions) != 2 || c.Signing.KMSTrustedVersions[1] != "b" || c.Signing.Issuer != "https://api.coditect.ai" ||
		c.Metrics != (Metrics{OTLPEndpoint: "http://collector:4317", Port: 9464}) {
		t.Fatalf("config = %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for k, v := range map[string]string{
		"PORT": "http", "REDIS_CLUSTER": "maybe", "REDIS_TIMEOUT": "-1s",
		"BOOTSTRAP_ADMIN_TOKEN": "short", "LOG_LEVEL": "loud", "METRICS_PORT": "70000",
		"REQUEST_TIMEOUT": "0s",
	} {
		if _, err := Load(MapLookup(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v, want one naming %s", k, v, err, k)
		}
	}
	if _, err := Load(MapLookup(map[string]string{"PORT": "8080", "METRICS_PORT": "8080"})); err == nil ||
		!strings.Contains(err.Error(), "METRICS_PORT") {
		t.Errorf("METRICS_PORT = PORT: err = %v", err)
	}
	for _, v := range []string{"soon", "-5s"} {
		if _, err := Load(MapLookup(map[string]string{"REQUEST_TIMEOUT": v})); err == nil || !strings.Contains(err.Error(), "REQUEST_TIMEOUT") {
			t.Errorf("REQUEST_TIMEOUT=%q: err = %v", v, err)
		}
	}
	// A deadline shorter than one Redis call's bound would time out every
	// slow call: refused, naming both.
	if _, err := Load(MapLookup(map[string]string{"REQUEST_TIMEOUT": "500ms", "REDIS_TIMEOUT": "1s"})); err == nil ||
		!strings.Contains(err.Error(), "REQUEST_TIMEOUT") || !strings.Contains(err.Error(), "REDIS_TIMEOUT") {
		t.Errorf("REQUEST_TIMEOUT < REDIS_TIMEOUT: err = %v", err)
	}
}

// TestKeysListsEverythingLoadReads: a variable Load reads but Keys omits
// would never have its secret:// reference resolved.
func TestKeysListsEverythingLoadReads(t *testing.T) {
	t.Parallel()
	read := map[string]bool{}
	Load(func(k string) (string, bool) { read[k] = true; return "", false })
	listed := map[string]bool{}
	for _, k := range Keys() {
		listed[k] = true
	}
	for k := range read {
		if !listed[k] {
			t.Errorf("Load reads %s but Keys does not list it", k)
		}
	}
	for k := range listed {
		if !read[k] {
			t.Errorf("Keys lists %s but Load does not read it", k)
		}
	}
}

// TestProductionRefusesAnUnverifiedDatabase: a remote PostgreSQL must be
// reached with sslmode=verify-full (issue 16, finding 9); anything weaker
// would hand the password to whoever sits on the path. Loopback addresses
// and Unix sockets (make run, the tests, a local relay) are exempt.
func TestProductionRefusesAnUnverifiedDatabase(t *testing.T) {
	t.Parallel()
	for url, ok := range map[string]bool{
		"postgres://u@10.1.2.3:5432/licenses?sslmode=verify-full":           true,
		"postgres://u@10.1.2.3:5432/licenses?sslmode=require":               false,
		"postgres://u@10.1.2.3:5432/licenses?sslmode=verify-ca":             false,
		"postgres://u@10.1.2.3:5432/licenses?sslmode=disable":               false,
		"postgres://u@10.1.2.3:5432/licenses":                               false, // libpq's default: prefer
		"postgresql://u@db.example.com/licenses?sslmode=prefer":             false,
		"postgres://u@127.0.0.1:5432/licenses?sslmode=verify-full&sslmode=": true,
		"postgres://u@127.0.0.1:5432/x?sslmode=disable":                     true,
		"postgres://u@[::1]:5432/x?sslmode=disable":                         true,
		"postgres://u@localhost/x":                                          true,
		"postgres://u@127.0.0.1,10.1.2.3/x?sslmode=require":                 false,
		"postgres://u@/x?host=/var/run/postgresql":                          true,
		"postgres://u@127.0.0.1/x?host=10.1.2.3&sslmode=require":            false,
		"host=10.1.2.3 user=u dbname=licenses sslmode=verify-full":          true,
		"host=10.1.2.3 user=u dbname=licenses sslmode=require":              false,
		"host=127.0.0.1 user=u dbname=licenses sslmode=disable":             true,
	} {
		c, err := Load(MapLookup(map[string]string{"DATABASE_URL": url}))
		if err != nil {
			t.Fatal(err)
		}
		err = c.RequireBackends(Needs{Database: true})
		if ok && err != nil {
			t.Errorf("%s: refused: %v", url, err)
		} else if !ok && (err == nil || !strings.Contains(err.Error(), "sslmode=verify-full")) {
			t.Errorf("%s: err = %v, want a refusal asking for sslmode=verify-full", url, err)
		}
		// A function that does not use the database is not held to it.
		if err := c.RequireBackends(Needs{}); err != nil {
			t.Errorf("%s, no database needed: %v", url, err)
		}
	}
}

// TestCORSAllowedOrigins: origins are kept exactly as browsers send them;
// a wildcard, a path, a default port, upper case or anything else that
// could never match an Origin header (and so hides a typo) is refused.
func TestCORSAllowedOrigins(t *testing.T) {
	t.Parallel()
	c, err := Load(MapLookup(map[string]string{
		"CORS_ALLOWED_ORIGINS": " https://console.coditect.ai , http://localhost:5173,,https://console.coditect.ai,https://[::1]:8443"}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://console.coditect.ai", "http://localhost:5173", "https://[::1]:8443"}
	if strings.Join(c.CORSAllowedOrigins, " ") != strings.Join(want, " ") {
		t.Fatalf("origins = %q, want %q", c.CORSAllowedOrigins, want)
	}
	if c, err := Load(MapLookup(nil)); err != nil || c.CORSAllowedOrigins != nil {
		t.Fatalf("unset: %q %v, want none", c.CORSAllowedOrigins, err)
	}
	for _, bad := range []string{"*", "https://*.coditect.ai", "https://console.coditect.ai/", "https://console.coditect.ai/app",
		"console.coditect.ai", "ftp://console.coditect.ai", "https://Console.coditect.ai", "https://console.coditect.ai:443",
		"http://localhost:80", "https://console.coditect.ai:", "https://console.coditect.ai:99999", "https://user@console.coditect.ai",
		"https://console.coditect.ai?x=1", "https://console.coditect.ai#x", "null", "https://", "https://ok.example, *"} {
		if _, err := Load(MapLookup(map[string]string{"CORS_ALLOWED_ORIGINS": bad})); err == nil ||
			!strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q: err = %v", bad, err)
		}
	}
}

// TestBootstrapTokenIsOptionalWithAnIdentityProvider: an admin function
// needs someone able to call it, the bootstrap token or the identity
// provider, not necessarily the token (issue 17); and
// BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN takes allow or refuse (default).
func TestBootstrapTokenIsOptionalWithAnIdentityProvider(t *testing.T) {
	t.Parallel()
	admin := Needs{Admin: true}
	idp := map[string]string{"AUTH_JWKS_URL": "https://idp.example/jwks", "AUTH_ISSUER": "https://idp.example", "AUTH_AUDIENCE": "p"}
	c, err := Load(MapLookup(idp))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RequireBackends(admin); err != nil {
		t.Fatalf("admin function with an identity provider and no bootstrap token: %v", err)
	}
	if c.Admin.BootstrapAfterPlatformAdmin || c.Auth.GoogleJWKSURL != DefaultGoogleJWKSURL {
		t.Fatalf("defaults = %+v", c)
	}
	c, err = Load(MapLookup(map[string]string{"AUTH_GOOGLE_AUDIENCE": "https://api.example"}))
	if err != nil || c.RequireBackends(admin) != nil || c.Auth.GoogleAudience != "https://api.example" {
		t.Fatalf("admin function with only service accounts: %v, %+v", err, c.Auth)
	}
	c, err = Load(MapLookup(map[string]string{"BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN": "allow"}))
	if err != nil || !c.Admin.BootstrapAfterPlatformAdmin {
		t.Fatalf("allow: %v, %+v", err, c.Admin)
	}
	if _, err := Load(MapLookup(map[string]string{"BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN": "yes"})); err == nil ||
		!strings.Contains(err.Error(), "BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN") {
		t.Fatalf("a value that is neither allow nor refuse: %v", err)
	}
}

// TestPoolSizes: each function's deployment sets its pools' bounds, which
// the connection budgets (terraform) add up; a value that is not a whole
// number from 1 to MaxPoolSize is refused rather than left to pgx or
// go-redis (which would take 0 for their own CPU-dependent defaults).
func TestPoolSizes(t *testing.T) {
	t.Parallel()
	c, err := Load(MapLookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.MaxConns != DefaultDatabaseMaxConns || c.Redis.PoolSize != DefaultRedisPoolSize {
		t.Errorf("defaults: DATABASE_MAX_CONNS %d, REDIS_POOL_SIZE %d; want %d and %d",
			c.Database.MaxConns, c.Redis.PoolSize, DefaultDatabaseMaxConns, DefaultRedisPoolSize)
	}
	c, err = Load(MapLookup(map[string]string{"DATABASE_MAX_CONNS": "2", "REDIS_POOL_SIZE": "16"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.MaxConns != 2 || c.Redis.PoolSize != 16 {
		t.Errorf("DATABASE_MAX_CONNS=2 REDIS_POOL_SIZE=16 read as %d and %d", c.Database.MaxConns, c.Redis.PoolSize)
	}
	for _, k := range []string{"DATABASE_MAX_CONNS", "REDIS_POOL_SIZE"} {
		for _, v := range []string{"0", "-1", "101", "four", "2.5", " 3"} {
			if _, err := Load(MapLookup(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%q: err = %v, want one naming %s", k, v, err, k)
			}
		}
		if c, err := Load(MapLookup(map[string]string{k: "100"})); err != nil {
			t.Errorf("%s=100 (MaxPoolSize): %v", k, err)
		} else if got := max(c.Database.MaxConns, c.Redis.PoolSize); got != MaxPoolSize {
			t.Errorf("%s=100 read as %d", k, got)
		}
	}
}
