// Package config reads the service's settings from the environment once, at
// start, into one struct made of small per-concern parts, and validates them.
// Tests pass a map instead of the real environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/shared/clientaddr"
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
	return append([]string{"PORT", "GOOGLE_CLOUD_PROJECT", "LOG_LEVEL", "REQUEST_TIMEOUT",
		"REDIS_URL", "REDIS_PASSWORD", "REDIS_CA_PEM", "REDIS_CLUSTER", "REDIS_KEY_PREFIX", "REDIS_TIMEOUT",
		"REDIS_POOL_SIZE", "DATABASE_URL", "DATABASE_MAX_CONNS", "DATABASE_PASSWORD", "DATABASE_CA_PEM", "DATABASE_SERVER_NAME",
		"DATABASE_PASSWORD_SEATS",
		"DATABASE_PASSWORD_ADMIN", "DATABASE_PASSWORD_READER", "DATABASE_PASSWORD_CLEANUP", "BOOTSTRAP_ADMIN_TOKEN",
		"BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN",
		"AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_PLATFORM_IDP_TENANT", "AUTH_GOOGLE_AUDIENCE", "AUTH_GOOGLE_JWKS_URL",
		"RATE_LIMIT_LICENSE", "RATE_LIMIT_LICENSE_BURST", "RATE_LIMIT_CREDENTIAL", "RATE_LIMIT_CREDENTIAL_BURST",
		"RATE_LIMIT_ADDRESS", "RATE_LIMIT_ADDRESS_BURST", "CLIENT_ADDRESS_XFF_INDEX",
		"SIGNING_KMS_KEY_VERSION", "SIGNING_KMS_TRUSTED_VERSIONS", "SIGNING_LOCAL_KEY_PEM", "LEASE_ISSUER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "METRICS_PORT", "CORS_ALLOWED_ORIGINS",
		"CONSOLE_FIREBASE_API_KEY", "CONSOLE_AUTH_DOMAIN", "CONSOLE_TOKEN_SIGN_IN"}, append(notifyKeys(), billingKeys()...)...)
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
	// ClientAddressIndex (CLIENT_ADDRESS_XFF_INDEX, default
	// clientaddr.DefaultIndex) is the X-Forwarded-For entry, counted from
	// the right once the cluster's own private entries are dropped, that
	// holds the client's address (0: always the TCP peer). The package
	// clientaddr says which entry our load balancer writes, and why.
	ClientAddressIndex int
	Signing            Signing
	Metrics            Metrics
	// CORSAllowedOrigins (CORS_ALLOWED_ORIGINS, comma-separated) are the
	// exact origins, scheme://host[:port], whose browser pages may call the
	// API (the admin web console's). None: no CORS headers at all.
	CORSAllowedOrigins []string
	Console            Console
	Notify             Notify
	Billing            Billing
}

// Console settings: what the admin web console's pages are told about
// signing in (functions/console serves them as /console/config.json).
// None of it is secret: a browser must read it before anyone signs in.
type Console struct {
	// FirebaseAPIKey (CONSOLE_FIREBASE_API_KEY) is Identity Platform's web
	// API key, which names the project to the Firebase Auth SDK (it
	// grants nothing by itself). Set, the console signs people in through
	// Identity Platform; the project is AUTH_AUDIENCE and the platform's
	// own tenant AUTH_PLATFORM_IDP_TENANT.
	FirebaseAPIKey string
	// AuthDomain (CONSOLE_AUTH_DOMAIN) is the domain of Identity
	// Platform's sign-in pages (default <project>.firebaseapp.com).
	AuthDomain string
	// TokenSignIn (CONSOLE_TOKEN_SIGN_IN) offers signing in by pasting an
	// API key or the bootstrap token. Default: only when no identity
	// provider is configured for the console.
	TokenSignIn bool
	// DevSignIn is the path of the local server's own identity provider
	// (make run only; never read from the environment).
	DevSignIn string
	// Project and PlatformTenant are AUTH_AUDIENCE and
	// AUTH_PLATFORM_IDP_TENANT, as the sign-in page needs them.
	Project, PlatformTenant string
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
	// GoogleAudience is AUTH_GOOGLE_AUDIENCE: the audience (the service's
	// URL) of the Google-signed ID tokens of service accounts, which are
	// accepted when the account's e-mail is a member ("": not accepted).
	GoogleAudience string
	// GoogleJWKSURL is AUTH_GOOGLE_JWKS_URL: Google's keys
	// (DefaultGoogleJWKSURL unless a test stands in for Google).
	GoogleJWKSURL string
}

// DefaultGoogleJWKSURL publishes the keys that sign Google's ID tokens.
const DefaultGoogleJWKSURL = "https://www.googleapis.com/oauth2/v3/certs"

// RateLimit settings, per second with a burst; a rate of 0 switches a limit off.
type RateLimit struct {
	PerLicense, PerLicenseBurst       int // RATE_LIMIT_LICENSE, _BURST: acquires per license key
	PerCredential, PerCredentialBurst int // RATE_LIMIT_CREDENTIAL, _BURST: calls per API key, token or user
	// PerAddress, PerAddressBurst (RATE_LIMIT_ADDRESS, _BURST): PostgreSQL
	// reads per client address that no credential has paid for yet (a
	// license or API key Redis does not know), counted just before each.
	PerAddress, PerAddressBurst int
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
	// PoolSize (REDIS_POOL_SIZE, default DefaultRedisPoolSize, at most
	// MaxPoolSize) is the most connections the process keeps to Redis (to
	// each node of a Cluster). Explicit rather than go-redis's default
	// (10 per GOMAXPROCS), so that the sum over every instance at its
	// max-scale can be held under Memorystore's client limit
	// (terraform's connection budget test reads it from each service).
	PoolSize int
}

// DefaultRedisPoolSize is REDIS_POOL_SIZE when unset: go-redis's own
// default for the one CPU a function's container is limited to.
const DefaultRedisPoolSize = 10

// Database settings.
type Database struct {
	URL      string // DATABASE_URL
	Password string // DATABASE_PASSWORD, when not in the URL (e.g. a secret:// reference)
	// CAPEM is DATABASE_CA_PEM: the CA (PEM) that signed the server's
	// certificate (Cloud SQL's server CA), which connections verify the
	// certificate against; the URL's sslmode must then be verify-full.
	CAPEM string
	// ServerName is DATABASE_SERVER_NAME: the name the server's certificate
	// must carry, when it is not the URL's host (Cloud SQL's certificate
	// names the instance's DNS name, while the functions dial its private
	// IP), as libpq's host does beside hostaddr.
	ServerName string
	// RolePasswords are the function roles' passwords by class ("seats",
	// "admin", "reader", "cleanup"): DATABASE_PASSWORD_<CLASS>. The
	// migrate command sets them; a process serving several functions
	// logs in as each function's role with them.
	RolePasswords map[string]string
	// MaxConns (DATABASE_MAX_CONNS, default DefaultDatabaseMaxConns, 1 to
	// MaxPoolSize) is the most connections each PostgreSQL pool of the
	// process opens. Set per function in its Knative service: the sum over
	// every service of this times its max-scale must stay under Cloud
	// SQL's max_connections (terraform's connection budget test). pgx's
	// own default, max(4, NumCPU), would follow the node's CPUs instead.
	MaxConns int
}

// DefaultDatabaseMaxConns is DATABASE_MAX_CONNS when unset: pgx's default
// on the small machines make run and the tests use, enough for the local
// server, which opens one pool per role.
const DefaultDatabaseMaxConns = 4

// MaxPoolSize bounds DATABASE_MAX_CONNS and REDIS_POOL_SIZE: far above
// what one instance needs, so a larger value is a typo (an extra digit)
// that would spend a whole budget on one instance.
const MaxPoolSize = 100

// Admin settings.
type Admin struct {
	BootstrapToken string // BOOTSTRAP_ADMIN_TOKEN, at least MinBootstrapTokenLen characters; optional
	// BootstrapAfterPlatformAdmin is BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN=allow:
	// the bootstrap token keeps working after the first platform admin
	// has signed in. Default (refuse): it is refused from then on.
	BootstrapAfterPlatformAdmin bool
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
			CAPEM: str(get, "DATABASE_CA_PEM", ""), ServerName: str(get, "DATABASE_SERVER_NAME", ""),
			RolePasswords: rolePasswords(get)},
		Admin: Admin{BootstrapToken: str(get, "BOOTSTRAP_ADMIN_TOKEN", "")},
		Auth: Auth{JWKSURL: str(get, "AUTH_JWKS_URL", ""), Issuer: str(get, "AUTH_ISSUER", ""),
			Audience: str(get, "AUTH_AUDIENCE", ""), PlatformIDPTenant: str(get, "AUTH_PLATFORM_IDP_TENANT", ""),
			GoogleAudience: str(get, "AUTH_GOOGLE_AUDIENCE", ""), GoogleJWKSURL: str(get, "AUTH_GOOGLE_JWKS_URL", DefaultGoogleJWKSURL)},
		Metrics: Metrics{OTLPEndpoint: str(get, "OTEL_EXPORTER_OTLP_ENDPOINT", "")},
		Console: Console{FirebaseAPIKey: str(get, "CONSOLE_FIREBASE_API_KEY", ""), AuthDomain: str(get, "CONSOLE_AUTH_DOMAIN", "")},
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
	if c.Notify, err = loadNotify(get); err != nil {
		errs = append(errs, err)
	}
	if c.Billing, err = loadBilling(get); err != nil {
		errs = append(errs, err)
	}
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
	if c.Redis.PoolSize, err = integer(get, "REDIS_POOL_SIZE", DefaultRedisPoolSize); err != nil || c.Redis.PoolSize < 1 || c.Redis.PoolSize > MaxPoolSize {
		errs = append(errs, fmt.Errorf("REDIS_POOL_SIZE must be a whole number from 1 to %d", MaxPoolSize))
	}
	if c.Database.MaxConns, err = integer(get, "DATABASE_MAX_CONNS", DefaultDatabaseMaxConns); err != nil || c.Database.MaxConns < 1 ||
		c.Database.MaxConns > MaxPoolSize {
		errs = append(errs, fmt.Errorf("DATABASE_MAX_CONNS must be a whole number from 1 to %d", MaxPoolSize))
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
		{"RATE_LIMIT_ADDRESS", 10, &c.RateLimit.PerAddress},
		{"RATE_LIMIT_ADDRESS_BURST", 100, &c.RateLimit.PerAddressBurst},
		{"CLIENT_ADDRESS_XFF_INDEX", clientaddr.DefaultIndex, &c.ClientAddressIndex},
	} {
		if *n.to, err = integer(get, n.key, n.def); err != nil || *n.to < 0 {
			errs = append(errs, fmt.Errorf("%s must be a whole number, 0 or more", n.key))
		}
	}
	if c.CORSAllowedOrigins, err = origins(str(get, "CORS_ALLOWED_ORIGINS", "")); err != nil {
		errs = append(errs, fmt.Errorf("CORS_ALLOWED_ORIGINS: %w", err))
	}
	// Pasting a credential into a browser is the fallback for a console
	// without an identity provider, not a second way in beside one.
	c.Console.TokenSignIn = c.Console.FirebaseAPIKey == ""
	if v, ok := get("CONSOLE_TOKEN_SIGN_IN"); ok && v != "" {
		if c.Console.TokenSignIn, err = boolean(get, "CONSOLE_TOKEN_SIGN_IN"); err != nil {
			errs = append(errs, err)
		}
	}
	c.Console.Project, c.Console.PlatformTenant = c.Auth.Audience, c.Auth.PlatformIDPTenant
	if c.Console.FirebaseAPIKey != "" && c.Auth.Audience == "" {
		errs = append(errs, errors.New("CONSOLE_FIREBASE_API_KEY needs the identity provider (AUTH_AUDIENCE is its project)"))
	}
	switch str(get, "BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN", "refuse") {
	case "refuse":
	case "allow":
		c.Admin.BootstrapAfterPlatformAdmin = true
	default:
		errs = append(errs, errors.New(`BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN must be "allow" or "refuse"`))
	}
	if t := c.Admin.BootstrapToken; t != "" && len(t) < MinBootstrapTokenLen {
		errs = append(errs, fmt.Errorf("BOOTSTRAP_ADMIN_TOKEN must be at least %d characters", MinBootstrapTokenLen))
	}
	return c, errors.Join(errs...)
}

// Needs says which settings a production instance needs: for admin
// functions the bootstrap token or an identity provider, the root signing key for functions that sign,
// and each backend's address for the functions that reach it. Each function
// is given only what it uses.
type Needs struct {
	Admin, Signing bool
	// Notify: the function seals or opens webhook secrets and signs or
	// checks mail links, so it needs their keys.
	Notify bool
	// Stripe: the function calls Stripe's API; StripeWebhook: it checks
	// the signatures of Stripe's webhooks.
	Stripe, StripeWebhook bool
	// Redis and Database: the function reaches that backend (with its
	// credentials, or only to probe it), so it needs its URL.
	Redis, Database bool
}

// RequireBackends checks the settings production cannot run without.
func (c Config) RequireBackends(n Needs) error {
	var errs []error
	if n.Redis && c.Redis.URL == "" {
		errs = append(errs, errors.New("REDIS_URL is required"))
	}
	if n.Database && c.Database.URL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	} else if n.Database {
		if err := verifiedDatabase(c.Database.URL); err != nil {
			errs = append(errs, err)
		}
	}
	// Admin functions need someone who can call them: the bootstrap token
	// (until the first platform admin signs in) or the identity provider
	// people sign in with. Either may be absent, not both.
	if n.Admin && c.Admin.BootstrapToken == "" && c.Auth.JWKSURL == "" && c.Auth.GoogleAudience == "" {
		errs = append(errs, errors.New("BOOTSTRAP_ADMIN_TOKEN or the identity provider (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE) is required"))
	}
	if n.Signing && c.Signing.KMSKeyVersion == "" && c.Signing.LocalKeyPEM == "" {
		// A key generated per instance would give every instance its own
		// root, which no client could pin.
		errs = append(errs, errors.New("SIGNING_KMS_KEY_VERSION (or SIGNING_LOCAL_KEY_PEM) is required"))
	}
	if n.Notify && (len(c.Notify.SecretsKey) == 0 || len(c.Notify.LinkKey) == 0) {
		errs = append(errs, errors.New("NOTIFY_SECRETS_KEY and NOTIFY_LINK_KEY are required"))
	}
	if n.Stripe && c.Billing.StripeAPIKey == "" {
		errs = append(errs, errors.New("STRIPE_API_KEY is required"))
	}
	if n.StripeWebhook && c.Billing.StripeWebhookSecret == "" {
		errs = append(errs, errors.New("STRIPE_WEBHOOK_SECRET is required"))
	}
	return errors.Join(errs...)
}

// verifiedDatabase refuses a DATABASE_URL that would let anyone on the path
// to a remote server read or change what is sent (the password included):
// anything but sslmode=verify-full, which checks the certificate's chain and
// its name. A server on the loopback interface or a Unix socket is exempt
// (make run, the tests, a local relay), since nothing but this machine is on
// that path.
func verifiedDatabase(raw string) error {
	mode, hosts, err := sslSettings(raw)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	if mode == "verify-full" {
		return nil
	}
	for _, h := range hosts {
		if !loopback(h) {
			return fmt.Errorf("DATABASE_URL must have sslmode=verify-full (with DATABASE_CA_PEM) for the remote host %s, not sslmode=%s", h, mode)
		}
	}
	return nil
}

// sslSettings reads the sslmode (libpq's default "prefer" when unset) and
// the hosts of a PostgreSQL URL or keyword/value connection string, as pgx
// reads them; PGSSLMODE and PGHOST are not consulted, so a production
// instance's URL must say both itself.
func sslSettings(raw string) (mode string, hosts []string, err error) {
	mode = "prefer"
	if strings.HasPrefix(raw, "postgres://") || strings.HasPrefix(raw, "postgresql://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", nil, errors.New("not a valid URL")
		}
		if m := u.Query().Get("sslmode"); m != "" {
			mode = m
		}
		for _, hp := range strings.Split(u.Host, ",") {
			hosts = append(hosts, hostOnly(hp))
		}
		if h := u.Query().Get("host"); h != "" {
			hosts = append(hosts, strings.Split(h, ",")...)
		}
	} else {
		for _, f := range strings.Fields(raw) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "sslmode":
				mode = strings.Trim(v, "'")
			case "host":
				hosts = append(hosts, strings.Split(strings.Trim(v, "'"), ",")...)
			}
		}
	}
	hosts = slices.DeleteFunc(hosts, func(h string) bool { return h == "" })
	if len(hosts) == 0 {
		// pgx's default host is a Unix socket (or localhost).
		hosts = []string{"localhost"}
	}
	return mode, hosts, nil
}

// hostOnly drops the port of host[:port] and the brackets of an IPv6 address.
func hostOnly(hp string) string {
	if h, _, err := net.SplitHostPort(hp); err == nil {
		return h
	}
	return strings.Trim(hp, "[]")
}

// loopback reports whether host is this machine: a loopback address,
// localhost, or a Unix socket directory.
func loopback(host string) bool {
	if strings.HasPrefix(host, "/") || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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

// origins parses CORS_ALLOWED_ORIGINS: comma-separated origins as a browser
// sends them in Origin (scheme://host[:port], lower case, no path, no
// default port), each matched exactly. A wildcard would let any site's
// pages call the API with whatever token a user pasted into them, so none
// is accepted, nor anything a browser would never send (which would never
// match and so hide a typo).
func origins(raw string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(raw, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		bad := err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" || strings.HasSuffix(u.Host, ":") || u.User != nil ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.ContainsAny(o, "*?#") ||
			o != strings.ToLower(o) || u.Scheme+"://"+u.Host != o ||
			(u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80")
		if !bad && u.Port() != "" {
			n, perr := strconv.Atoi(u.Port())
			bad = perr != nil || n < 1 || n > 65535
		}
		if bad {
			return nil, fmt.Errorf("%q is not an origin: give scheme://host[:port] exactly as browsers send it "+
				"(http or https, lower case, no path, no default port, no wildcard)", o)
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}
