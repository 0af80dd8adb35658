// Package config reads the service's settings from the environment once, at
// start, into one struct made of small per-concern parts, and validates them.
// Tests pass a map instead of the real environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/shared/logging"
)

// Lookup reads one setting; os.LookupEnv is the production one.
type Lookup func(key string) (string, bool)

// MapLookup reads settings from a map, for tests.
func MapLookup(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Keys lists every variable Load reads, so that secret:// references among
// them can be resolved before it runs.
func Keys() []string {
	return []string{"PORT", "GOOGLE_CLOUD_PROJECT", "LOG_LEVEL", "REQUEST_TIMEOUT",
		"REDIS_URL", "REDIS_PASSWORD", "REDIS_CA_PEM", "REDIS_CLUSTER", "REDIS_KEY_PREFIX", "REDIS_TIMEOUT",
		"DATABASE_URL", "DATABASE_PASSWORD", "DATABASE_PASSWORD_SEATS", "DATABASE_PASSWORD_ADMIN",
		"DATABASE_PASSWORD_READER", "DATABASE_PASSWORD_CLEANUP", "BOOTSTRAP_ADMIN_TOKEN",
		"AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_PLATFORM_IDP_TENANT",
		"RATE_LIMIT_LICENSE", "RATE_LIMIT_LICENSE_BURST", "RATE_LIMIT_CREDENTIAL", "RATE_LIMIT_CREDENTIAL_BURST",
		"SIGNING_KMS_KEY_VERSION", "SIGNING_KMS_TRUSTED_VERSIONS", "SIGNING_LOCAL_KEY_PEM", "LEASE_ISSUER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "METRICS_PORT"}
}

// Env reads settings from the process environment.
func Env(key string) (string, bool) { return os.LookupEnv(key) }

// Config is everything the service reads from its environment.
type Config struct {
	Port      int
	ProjectID string // GOOGLE_CLOUD_PROJECT, for trace links in logs
	LogLevel  slog.Level
	// RequestTimeout (REQUEST_TIMEOUT, default 10s) is the deadline of every
	// request's context: whatever a request waits on (a PostgreSQL or Redis
	// call, a pool) gives up by then and the client gets a 503 to retry,
	// instead of requests piling up behind a frozen backend.
	RequestTimeout time.Duration
	Redis          Redis
	Database       Database
	Admin          Admin
	Auth           Auth
	RateLimit      RateLimit
	Signing        Signing
	Metrics        Metrics
}

// Metrics settings. /metrics (Prometheus text) is always served; these add
// a push exporter and a second port.
type Metrics struct {
	// OTLPEndpoint (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://collector:4317)
	// also pushes metrics over OTLP gRPC, e.g. to an OpenTelemetry
	// Collector feeding Google Cloud Managed Service for Prometheus. The
	// exporter reads the other standard OTEL_EXPORTER_OTLP_* variables itself.
	OTLPEndpoint string
	// Port (METRICS_PORT), when set, serves GET /metrics on a port of its
	// own too: the only way to scrape the Cleanup function, whose
	// CloudEvent handler functions-framework serves on every path of PORT.
	Port int
}

// Signing settings: the root key leases are signed under.
type Signing struct {
	// KMSKeyVersion is the Cloud KMS RSA-4096 key version that signs
	// (SIGNING_KMS_KEY_VERSION: projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V).
	KMSKeyVersion string
	// KMSTrustedVersions are further versions clients still trust
	// (SIGNING_KMS_TRUSTED_VERSIONS, comma-separated), for rotation.
	KMSTrustedVersions []string
	// LocalKeyPEM is a local RSA-4096 private key (SIGNING_LOCAL_KEY_PEM:
	// the PEM text, often a secret:// reference, or the path of a PEM file)
	// used when no KMS key is set; without either, a key is generated at
	// start (development only).
	LocalKeyPEM string
	// Issuer names this service in leases and certificates (LEASE_ISSUER).
	Issuer string
}

// Auth settings: the identity provider whose ID tokens are accepted. All
// three set, or none (then only API keys and the bootstrap token work).
type Auth struct {
	JWKSURL  string // AUTH_JWKS_URL
	Issuer   string // AUTH_ISSUER, e.g. https://securetoken.google.com/<project>
	Audience string // AUTH_AUDIENCE, e.g. <project>
	// PlatformIDPTenant is AUTH_PLATFORM_IDP_TENANT: the Identity Platform
	// tenant of the platform's own people, the only one whose ID tokens
	// may carry a platform role ("": the project's, naming no tenant).
	PlatformIDPTenant string
}

// RateLimit settings, per second with a burst; a rate of 0 switches a limit off.
type RateLimit struct {
	PerLicense, PerLicenseBurst       int // RATE_LIMIT_LICENSE, _BURST: acquires per license key
	PerCredential, PerCredentialBurst int // RATE_LIMIT_CREDENTIAL, _BURST: calls per API key, token or user
}

// Redis settings.
type Redis struct {
	URL      string // REDIS_URL, redis:// or rediss://
	Password string // REDIS_PASSWORD: the AUTH string, when not in the URL (e.g. a secret:// reference)
	// CAPEM is REDIS_CA_PEM: the CA (PEM) that signed the server's TLS
	// certificate, for a rediss:// URL whose server is not under a public CA
	// (Memorystore's in-transit encryption).
	CAPEM     string
	Cluster   bool   // REDIS_CLUSTER: the URL names a Redis Cluster
	KeyPrefix string // REDIS_KEY_PREFIX, default "lic:"
	// Timeout bounds each Redis call, so a dead Redis fails requests fast.
	Timeout time.Duration // REDIS_TIMEOUT, default 1s
}

// Database settings.
type Database struct {
	URL      string // DATABASE_URL
	Password string // DATABASE_PASSWORD, when not in the URL (e.g. a secret:// reference)
	// RolePasswords are the function roles' passwords by class ("seats",
	// "admin", "reader", "cleanup"): DATABASE_PASSWORD_<CLASS>. The
	// migrate command sets them; a process serving several functions
	// logs in as each function's role with them.
	RolePasswords map[string]string
}

// Admin settings.
type Admin struct {
	BootstrapToken string // BOOTSTRAP_ADMIN_TOKEN, at least MinBootstrapTokenLen characters
}

// MinBootstrapTokenLen is the shortest bootstrap token accepted: long
// enough that it cannot be guessed online. It lives here, the lowest
// package that checks it, so that config imports nothing above it; auth.New
// enforces the same bound on the token it is given.
const MinBootstrapTokenLen = 32

// DefaultRequestTimeout is REQUEST_TIMEOUT when unset: well under the
// HTTP servers' write timeouts and Knative's request timeout, so the client
// gets our 503 rather than a dropped connection.
const DefaultRequestTimeout = 10 * time.Second

// Load reads and validates the configuration. The backends' URLs are
// optional here: the local server fills in embedded ones.
func Load(get Lookup) (Config, error) {
	c := Config{
		ProjectID: str(get, "GOOGLE_CLOUD_PROJECT", ""),
		Redis: Redis{
			URL:       str(get, "REDIS_URL", ""),
			Password:  str(get, "REDIS_PASSWORD", ""),
			CAPEM:     str(get, "REDIS_CA_PEM", ""),
			KeyPrefix: str(get, "REDIS_KEY_PREFIX", "lic:"),
		},
		Database: Database{URL: str(get, "DATABASE_URL", ""), Password: str(get, "DATABASE_PASSWORD", ""),
			RolePasswords: rolePasswords(get)},
		Admin: Admin{BootstrapToken: str(get, "BOOTSTRAP_ADMIN_TOKEN", "")},
		Auth: Auth{JWKSURL: str(get, "AUTH_JWKS_URL", ""), Issuer: str(get, "AUTH_ISSUER", ""),
			Audience: str(get, "AUTH_AUDIENCE", ""), PlatformIDPTenant: str(get, "AUTH_PLATFORM_IDP_TENANT", "")},
		Metrics: Metrics{OTLPEndpoint: str(get, "OTEL_EXPORTER_OTLP_ENDPOINT", "")},
		Signing: Signing{KMSKeyVersion: str(get, "SIGNING_KMS_KEY_VERSION", ""),
			LocalKeyPEM: str(get, "SIGNING_LOCAL_KEY_PEM", ""), Issuer: str(get, "LEASE_ISSUER", "https://api.coditect.ai")},
	}
	for _, v := range strings.Split(str(get, "SIGNING_KMS_TRUSTED_VERSIONS", ""), ",") {
		if v = strings.TrimSpace(v); v != "" {
			c.Signing.KMSTrustedVersions = append(c.Signing.KMSTrustedVersions, v)
		}
	}
	var errs []error
	var err error
	if c.Port, err = integer(get, "PORT", 8080); err != nil || c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("PORT must be a port number"))
	}
	if c.Metrics.Port, err = integer(get, "METRICS_PORT", 0); err != nil || c.Metrics.Port < 0 || c.Metrics.Port > 65535 {
		errs = append(errs, fmt.Errorf("METRICS_PORT must be a port number"))
	} else if c.Metrics.Port != 0 && c.Metrics.Port == c.Port {
		errs = append(errs, fmt.Errorf("METRICS_PORT must differ from PORT"))
	}
	if c.LogLevel, err = logging.ParseLevel(str(get, "LOG_LEVEL", "")); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	if c.Redis.Cluster, err = boolean(get, "REDIS_CLUSTER"); err != nil {
		errs = append(errs, err)
	}
	if c.Redis.Timeout, err = duration(get, "REDIS_TIMEOUT", time.Second); err != nil || c.Redis.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("REDIS_TIMEOUT must be a positive duration such as 500ms"))
	}
	if c.RequestTimeout, err = duration(get, "REQUEST_TIMEOUT", DefaultRequestTimeout); err != nil || c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("REQUEST_TIMEOUT must be a positive duration such as 10s"))
	} else if c.Redis.Timeout > 0 && c.RequestTimeout < c.Redis.Timeout {
		// A request makes at least one Redis call; a deadline shorter than
		// that call's own bound would turn every slow call into a timeout.
		errs = append(errs, fmt.Errorf("REQUEST_TIMEOUT (%v) must not be shorter than REDIS_TIMEOUT (%v)", c.RequestTimeout, c.Redis.Timeout))
	}
	set := 0
	for _, v := range []string{c.Auth.JWKSURL, c.Auth.Issuer, c.Auth.Audience} {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE must be set together"))
	}
	for _, n := range []struct {
		key string
		def int
		to  *int
	}{
		{"RATE_LIMIT_LICENSE", 100, &c.RateLimit.PerLicense},
		{"RATE_LIMIT_LICENSE_BURST", 200, &c.RateLimit.PerLicenseBurst},
		{"RATE_LIMIT_CREDENTIAL", 20, &c.RateLimit.PerCredential},
		{"RATE_LIMIT_CREDENTIAL_BURST", 50, &c.RateLimit.PerCredentialBurst},
	} {
		if *n.to, err = integer(get, n.key, n.def); err != nil || *n.to < 0 {
			errs = append(errs, fmt.Errorf("%s must be a whole number, 0 or more", n.key))
		}
	}
	if t := c.Admin.BootstrapToken; t != "" && len(t) < MinBootstrapTokenLen {
		errs = append(errs, fmt.Errorf("BOOTSTRAP_ADMIN_TOKEN must be at least %d characters", MinBootstrapTokenLen))
	}
	return c, errors.Join(errs...)
}

// Needs says which settings beyond Redis and PostgreSQL a production
// instance needs: the bootstrap token for admin functions, the root signing
// key for functions that sign. Each function is given only what it uses.
type Needs struct{ Admin, Signing bool }

// RequireBackends checks the settings production cannot run without.
func (c Config) RequireBackends(n Needs) error {
	var errs []error
	if c.Redis.URL == "" {
		errs = append(errs, errors.New("REDIS_URL is required"))
	}
	if c.Database.URL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	}
	if n.Admin && c.Admin.BootstrapToken == "" {
		errs = append(errs, errors.New("BOOTSTRAP_ADMIN_TOKEN is required"))
	}
	if n.Signing && c.Signing.KMSKeyVersion == "" && c.Signing.LocalKeyPEM == "" {
		// A key generated per instance would give every instance its own
		// root, which no client could pin.
		errs = append(errs, errors.New("SIGNING_KMS_KEY_VERSION (or SIGNING_LOCAL_KEY_PEM) is required"))
	}
	return errors.Join(errs...)
}

func str(get Lookup, k, def string) string {
	if v, ok := get(k); ok && v != "" {
		return v
	}
	return def
}

func integer(get Lookup, k string, def int) (int, error) {
	v, ok := get(k)
	if !ok || v == "" {
		return def, nil
	}
	return strconv.Atoi(v)
}

func boolean(get Lookup, k string) (bool, error) {
	v, ok := get(k)
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s must be true or false", k)
	}
	return b, nil
}

func duration(get Lookup, k string, def time.Duration) (time.Duration, error) {
	v, ok := get(k)
	if !ok || v == "" {
		return def, nil
	}
	return time.ParseDuration(v)
}

// rolePasswords reads DATABASE_PASSWORD_<CLASS> for each class set.
func rolePasswords(get Lookup) map[string]string {
	out := map[string]string{}
	for _, c := range []string{"seats", "admin", "reader", "cleanup"} {
		if p := str(get, "DATABASE_PASSWORD_"+strings.ToUpper(c), ""); p != "" {
			out[c] = p
		}
	}
	return out
}
