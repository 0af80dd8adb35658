// Package jwtauth verifies OpenID Connect ID tokens issued by Google Identity
// Platform / Firebase Auth, for the admin API and SDK calls.
//
// golang-jwt parses the compact JWS and checks the signature and the
// registered claims; this package supplies the keys from the issuer's JWKS
// (jwks.go), keeps them fresh, and pins everything an ID token must satisfy:
// RS256 or ES256 only, a kid naming a published signing key, exact issuer, our
// audience, exp and iat present, and a subject.
package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is wrapped by every error Verify returns, so callers can
// answer 401 without looking further.
var ErrInvalidToken = errors.New("invalid token")

// ErrKeysUnavailable marks a token that could not be checked because the
// identity provider's keys are not known: none has been fetched yet since
// start, or the JWKS endpoint failed while looking for a new kid. It is
// wrapped together with ErrInvalidToken, so such a token is refused (401),
// and callers can tell the client to retry rather than to sign in again.
var ErrKeysUnavailable = errors.New("JWKS endpoint unavailable")

const (
	defaultLeeway             = 30 * time.Second
	defaultMinRefreshInterval = time.Minute
	defaultRefreshInterval    = time.Hour
	defaultHTTPTimeout        = 10 * time.Second
	defaultRetryMin           = 500 * time.Millisecond
	defaultRetryMax           = 30 * time.Second

	// fetchTimeout bounds one JWKS fetch even when the configured client has
	// no timeout, so a hung endpoint cannot hold the fetch lock forever.
	fetchTimeout = 10 * time.Second

	// maxTokenLen bounds the work an unauthenticated caller can make us do.
	// Firebase ID tokens are about 1 KiB and custom claims are capped at
	// 1000 bytes, so 16 KiB leaves ample room.
	maxTokenLen = 16 << 10
)

// Config says which tokens are accepted.
type Config struct {
	JWKSURL  string        // AUTH_JWKS_URL, e.g. https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com
	Issuer   string        // AUTH_ISSUER, e.g. https://securetoken.google.com/<project>
	Audience string        // AUTH_AUDIENCE, e.g. <project>
	Leeway   time.Duration // clock skew allowed on exp/nbf/iat; default 30s when zero
	// MinRefreshInterval rate-limits JWKS refetches triggered by an unknown kid; default 1 minute when zero.
	MinRefreshInterval time.Duration
	// RefreshInterval is how often the JWKS is refetched in the background; default 1 hour when zero.
	RefreshInterval time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to fetch the
	// JWKS for the first time; defaults 500ms and 30s when zero.
	RetryMin, RetryMax time.Duration
	HTTPClient         *http.Client // default: a client with a 10s timeout
}

// Claims are what the service uses from a verified token.
type Claims struct {
	Issuer         string // iss (already checked to be the configured issuer)
	Subject        string // sub
	Email          string // email (may be empty)
	EmailVerified  bool   // email_verified: true (or "true", as some issuers send it)
	Role           string // custom claim "role" (platform_admin, admin, member, or empty) — returned as-is, not validated here
	TenantID       string // custom claim "tenant_id" (may be empty)
	FirebaseTenant string // firebase.tenant (Identity Platform multi-tenancy; may be empty)
	ExpiresAt      time.Time
}

// Verifier checks tokens against the JWKS. Safe for concurrent use.
type Verifier struct {
	jwksURL            string
	client             *http.Client
	minRefreshInterval time.Duration
	parser             *jwt.Parser

	// keys is swapped whole on every successful fetch, so readers never lock
	// and a key dropped from the JWKS is gone after the next fetch. It is
	// nil until the first fetch succeeds.
	keys atomic.Pointer[keySet]
	// ready is closed once keys is set; lastErr is why it is not yet.
	ready   chan struct{}
	lastErr atomic.Pointer[error]

	// fetchLock (a one-slot semaphore, so waiting can honour a context)
	// allows one fetch at a time: concurrent requests for a freshly rotated
	// kid wait for one fetch instead of each making their own, and an older
	// fetch can never overwrite a newer one.
	fetchLock chan struct{}
	// lastKIDFetch is when an unknown kid last caused a fetch; guarded by
	// fetchLock.
	lastKIDFetch time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// New checks cfg and starts fetching the JWKS in the background, bound to
// ctx: pass a context that lives as long as the Verifier, not a request or
// startup deadline. It does not wait for the keys: a service must start
// (and keep serving API keys, license keys and sessions) while the identity
// provider is slow or down, so until the first fetch succeeds, retried with
// backoff, Verify refuses every token with ErrKeysUnavailable. Callers that
// would rather wait a little use WaitReady.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	v := &Verifier{
		jwksURL:            cfg.JWKSURL,
		client:             cfg.HTTPClient,
		minRefreshInterval: cfg.MinRefreshInterval,
		parser: jwt.NewParser(
			// Only these algorithms: listing them is what stops alg
			// confusion, so "none" and HS256 (with the public key as an HMAC
			// secret) are refused before any key is looked up.
			jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithAudience(cfg.Audience),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithExpirationRequired(),
			// One spelling per token: no padding, no spare bits set.
			jwt.WithStrictDecoding(),
			// Rejects an iat in the future; that iat is present at all is
			// checked by tokenClaims.Validate.
			jwt.WithIssuedAt(),
		),
		fetchLock: make(chan struct{}, 1),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
	}
	ctx, v.cancel = context.WithCancel(ctx)
	go v.refreshLoop(ctx, cfg)
	return v, nil
}

// WaitReady waits until the keys are known or ctx ends; then it returns
// ctx's error together with the reason the last fetch failed.
func (v *Verifier) WaitReady(ctx context.Context) error {
	select {
	case <-v.ready:
		return nil
	case <-ctx.Done():
		if p := v.lastErr.Load(); p != nil {
			return fmt.Errorf("jwtauth: waiting for the JWKS: %w: %w", ctx.Err(), *p)
		}
		return fmt.Errorf("jwtauth: waiting for the JWKS: %w", ctx.Err())
	}
}

func withDefaults(cfg Config) (Config, error) {
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil {
		return cfg, fmt.Errorf("jwtauth: parsing JWKS URL: %w", err)
	}
	// Whoever can alter the JWKS in transit can mint tokens, so it is only
	// fetched over TLS.
	if u.Scheme != "https" || u.Host == "" {
		return cfg, fmt.Errorf("jwtauth: JWKS URL %q must be an absolute https URL", cfg.JWKSURL)
	}
	if cfg.Issuer == "" {
		return cfg, errors.New("jwtauth: issuer is required")
	}
	if cfg.Audience == "" {
		return cfg, errors.New("jwtauth: audience is required")
	}
	if cfg.Leeway < 0 || cfg.MinRefreshInterval < 0 || cfg.RefreshInterval < 0 || cfg.RetryMin < 0 || cfg.RetryMax < 0 {
		return cfg, errors.New("jwtauth: leeway, refresh and retry intervals must not be negative")
	}
	if cfg.RetryMin == 0 {
		cfg.RetryMin = defaultRetryMin
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = defaultRetryMax
	}
	if cfg.RetryMax < cfg.RetryMin {
		return cfg, errors.New("jwtauth: the longest retry interval must not be shorter than the first")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = defaultLeeway
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = defaultMinRefreshInterval
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = defaultRefreshInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	return cfg, nil
}

// Close stops background refresh and waits for it to end. It is safe to call
// more than once.
func (v *Verifier) Close() {
	v.cancel()
	<-v.done
}

// tokenClaims is the JSON shape of an ID token's payload.
type tokenClaims struct {
	jwt.RegisteredClaims
	Email         string       `json:"email"`
	EmailVerified flexibleBool `json:"email_verified"`
	Role          string       `json:"role"`
	TenantID      string       `json:"tenant_id"`
	Firebase      struct {
		Tenant string `json:"tenant"`
	} `json:"firebase"`
}

// Validate adds the checks golang-jwt's validator leaves optional; the parser
// calls it after the standard ones.
func (c *tokenClaims) Validate() error {
	if c.Subject == "" {
		return errors.New("sub claim is required")
	}
	if c.IssuedAt == nil {
		return errors.New("iat claim is required")
	}
	return nil
}

// Verify returns the claims of a valid token, or an error wrapping
// ErrInvalidToken for any invalid token (so callers answer 401). When the
// JWKS endpoint fails during an unknown-kid refresh the error also wraps
// ErrInvalidToken, and its message says the endpoint failed.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: token is longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	// Go's base64 skips line breaks even when strict: without this, a
	// token with one inserted would verify as another spelling of itself.
	if !LooksLikeJWT(token) {
		return Claims{}, fmt.Errorf("%w: token is malformed: not three base64url segments", ErrInvalidToken)
	}
	var tc tokenClaims
	_, err := v.parser.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		return v.keyFor(ctx, t)
	})
	if err != nil {
		// Both wrapped: callers match ErrInvalidToken, logs keep the reason.
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return Claims{
		Issuer:         tc.Issuer,
		Subject:        tc.Subject,
		Email:          tc.Email,
		EmailVerified:  bool(tc.EmailVerified),
		Role:           tc.Role,
		TenantID:       tc.TenantID,
		FirebaseTenant: tc.Firebase.Tenant,
		ExpiresAt:      tc.ExpiresAt.Time,
	}, nil
}

// keyFor is the jwt.Keyfunc: it runs after the algorithm was checked against
// validMethods and returns the public key named by the token's kid.
func (v *Verifier) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	// RFC 7515 says a token naming critical extensions we do not understand
	// must be rejected; golang-jwt does not look at crit, so we do.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New(`"crit" header is not supported`)
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errors.New(`"kid" header is required`)
	}
	k, err := v.lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	alg := t.Method.Alg()
	if k.alg != "" && k.alg != alg {
		return nil, fmt.Errorf("key %.64q is for %s, token uses %s", kid, k.alg, alg)
	}
	// Key type must match the algorithm; golang-jwt would refuse too, but
	// this says why.
	switch k.key.(type) {
	case *rsa.PublicKey:
		if alg != jwt.SigningMethodRS256.Alg() {
			return nil, fmt.Errorf("key %.64q is RSA, token uses %s", kid, alg)
		}
	case *ecdsa.PublicKey:
		if alg != jwt.SigningMethodES256.Alg() {
			return nil, fmt.Errorf("key %.64q is EC, token uses %s", kid, alg)
		}
	}
	return k.key, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS (three
// base64url parts separated by dots), so callers can tell a JWT from other
// bearer credentials (our API keys start with "ak_", our bootstrap token is
// random base64url without dots). It does not decode or verify anything. An
// empty signature part is allowed so that unsigned ("alg: none") tokens are
// routed to Verify and refused there with a clear reason.
func LooksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return false
	}
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			if !isBase64URL(p[i]) {
				return false
			}
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// flexibleBool is a JSON true or "true"; anything else is false. Google's
// older tokens send email_verified as a string.
type flexibleBool bool

func (b *flexibleBool) UnmarshalJSON(data []byte) error {
	*b = flexibleBool(string(data) == "true" || string(data) == `"true"`)
	return nil
}

// UnverifiedIssuer returns the iss claim of a compact JWS without
// verifying anything, so a caller with verifiers for several issuers can
// pick the one to verify with. "" when it cannot be read. Never trust it:
// the chosen verifier checks the issuer again.
func UnverifiedIssuer(token string) string {
	if len(token) > maxTokenLen || !LooksLikeJWT(token) {
		return ""
	}
	parts := strings.SplitN(token, ".", 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}
