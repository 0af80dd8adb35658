// Package auth decides who is calling and what they may do.
//
// Three credentials reach the API as "Authorization: Bearer <credential>":
// the bootstrap token (a platform admin, for first setup), API keys
// ("ak_..." service accounts, stored hashed, revocable at once) and ID tokens
// from the identity provider (JWTs checked against its JWKS). Each becomes a
// Principal: who (for the audit log), which tenant, which role.
package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Role is what a principal may do.
type Role string

// Roles, from most to least powerful.
const (
	PlatformAdmin Role = "platform_admin" // everything, every tenant
	Admin         Role = "admin"          // its own tenant's resources
	Member        Role = "member"         // its tenant's seats, and reading its licenses
)

func (r Role) rank() int {
	switch r {
	case PlatformAdmin:
		return 3
	case Admin:
		return 2
	case Member:
		return 1
	}
	return 0
}

// Principal is an authenticated caller.
type Principal struct {
	// Actor names the caller in the audit log: "bootstrap",
	// "api_key:<id>" or "user:<subject>".
	Actor string
	// User is the person (or service account) for seat policy: a JWT's
	// email or subject, or "api_key:<id>".
	User     string
	TenantID string // "" for a platform admin
	Role     Role
}

// Authorize checks that p may act on tenantID with at least role need. A
// tenant that is not p's answers 404, exactly as if it did not exist; p's own
// tenant with too small a role answers 403.
func (p Principal) Authorize(tenantID string, need Role) error {
	if p.Role == PlatformAdmin {
		return nil
	}
	if p.TenantID == "" || p.TenantID != tenantID {
		return httpjson.NotFound("tenant_not_found", "tenant")
	}
	if p.Role.rank() < need.rank() {
		return Forbidden()
	}
	return nil
}

// IsPlatformAdmin reports whether p acts for the platform (the vendor), the
// only role that may change a license's commercial terms.
func (p Principal) IsPlatformAdmin() bool { return p.Role == PlatformAdmin }

// Forbidden is the answer for a known caller without the role it needs.
func Forbidden() *httpjson.Error {
	return httpjson.Errorf(http.StatusForbidden, "forbidden", "your role does not allow this")
}

// Errors of Authenticate.
var (
	ErrNoCredential      = errors.New("no credential")
	ErrInvalidCredential = errors.New("invalid credential")
)

// TokenVerifier checks identity-provider ID tokens (jwtauth.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (jwtauth.Claims, error)
}

// KeyLookup finds the live API key a secret belongs to (apikeys.Store).
type KeyLookup interface {
	Authenticate(ctx context.Context, secret string) (apikeys.Key, error)
}

// TenantResolver maps an Identity Platform tenant to our tenant id.
type TenantResolver func(ctx context.Context, idpTenantID string) (string, error)

// Authenticator turns credentials into principals.
type Authenticator struct {
	bootstrap string
	keys      KeyLookup
	tokens    TokenVerifier // nil: ID tokens are not accepted
	resolve   TenantResolver
	limit     ratelimit.Rule // per credential, on every authenticated call
	// platformIDP is the Identity Platform tenant whose people may hold
	// platform roles ("": the project itself, tokens naming no tenant).
	platformIDP string
}

// Config are an authenticator's dependencies. Verifier may be nil when no
// identity provider is configured; a zero RateLimit disables rate limiting.
type Config struct {
	BootstrapToken string
	Keys           KeyLookup
	Verifier       TokenVerifier
	ResolveTenant  TenantResolver
	RateLimit      ratelimit.Rule
	// PlatformIDPTenant is the Identity Platform tenant of the platform's
	// own people (AUTH_PLATFORM_IDP_TENANT): only its ID tokens may carry
	// a platform role. "" means tokens of the project itself, which name
	// no Identity Platform tenant; a customer's tenant never can.
	PlatformIDPTenant string
}

// New returns an authenticator.
func New(c Config) (*Authenticator, error) {
	// "" turns the bootstrap credential off: a function that serves no
	// admin calls is not given the token at all.
	if c.BootstrapToken != "" && len(c.BootstrapToken) < config.MinBootstrapTokenLen {
		return nil, fmt.Errorf("auth: bootstrap admin token must be at least %d characters", config.MinBootstrapTokenLen)
	}
	if c.Keys == nil || c.ResolveTenant == nil {
		return nil, errors.New("auth: missing dependency")
	}
	return &Authenticator{bootstrap: c.BootstrapToken, keys: c.Keys, tokens: c.Verifier,
		resolve: c.ResolveTenant, limit: c.RateLimit, platformIDP: c.PlatformIDPTenant}, nil
}

// Authenticate reads the request's credential. It returns ErrNoCredential
// when there is none, an error wrapping ErrInvalidCredential when it is
// wrong, and other errors when a backend could not be asked.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	cred, ok := bearer(r)
	if !ok {
		if r.Header.Get("Authorization") != "" {
			return Principal{}, fmt.Errorf("%w: use Authorization: Bearer <credential>", ErrInvalidCredential)
		}
		return Principal{}, ErrNoCredential
	}
	ctx := r.Context()
	switch {
	case strings.HasPrefix(cred, apikeys.Prefix):
		k, err := a.keys.Authenticate(ctx, cred)
		if errors.Is(err, database.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: unknown or revoked API key", ErrInvalidCredential)
		}
		if err != nil {
			return Principal{}, err
		}
		return Principal{Actor: "api_key:" + k.ID, User: "api_key:" + k.ID, TenantID: k.TenantID, Role: Role(k.Role)}, nil
	case jwtauth.LooksLikeJWT(cred):
		return a.fromToken(ctx, cred)
	case a.bootstrap != "" && tokens.Equal(cred, a.bootstrap):
		return Principal{Actor: "bootstrap", User: "bootstrap", Role: PlatformAdmin}, nil
	}
	return Principal{}, fmt.Errorf("%w: credential not recognised", ErrInvalidCredential)
}

func (a *Authenticator) fromToken(ctx context.Context, raw string) (Principal, error) {
	if a.tokens == nil {
		return Principal{}, fmt.Errorf("%w: ID tokens are not accepted here", ErrInvalidCredential)
	}
	c, err := a.tokens.Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	role := Role(c.Role)
	if role.rank() == 0 {
		return Principal{}, fmt.Errorf("%w: token has no valid role claim", ErrInvalidCredential)
	}
	user := c.Email
	if user == "" {
		user = c.Subject
	}
	p := Principal{Actor: "user:" + c.Subject, User: user, Role: role}
	if role == PlatformAdmin {
		// A role claim is whatever the token's Identity Platform tenant
		// lets its admins set: only the platform's own tenant may grant
		// a platform role, never a customer's.
		if c.FirebaseTenant != a.platformIDP {
			return Principal{}, fmt.Errorf("%w: platform role from an identity platform tenant that is not the platform's", ErrInvalidCredential)
		}
		return p, nil
	}
	switch {
	case c.FirebaseTenant != "":
		// The token's Identity Platform tenant decides the tenant; a
		// tenant_id claim, which that tenant's admins could set to
		// anything, may only agree with it.
		id, err := a.resolve(ctx, c.FirebaseTenant)
		if errors.Is(err, database.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: identity platform tenant is not mapped to a tenant", ErrInvalidCredential)
		}
		if err != nil {
			return Principal{}, err
		}
		if c.TenantID != "" && c.TenantID != id {
			return Principal{}, fmt.Errorf("%w: tenant_id claim disagrees with the identity platform tenant", ErrInvalidCredential)
		}
		p.TenantID = id
	case c.TenantID != "":
		if !tokens.ValidUUID(c.TenantID) {
			return Principal{}, fmt.Errorf("%w: tenant_id claim is not a tenant id", ErrInvalidCredential)
		}
		p.TenantID = c.TenantID
	default:
		return Principal{}, fmt.Errorf("%w: token names no tenant", ErrInvalidCredential)
	}
	return p, nil
}

type principalKey struct{}

// FromContext returns the principal Require or Optional stored.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Require wraps a handler that needs a caller: no or a bad credential is a
// 401. The principal is in the request context, and changes the handler
// makes are audited under its name.
func (a *Authenticator) Require(next http.HandlerFunc) http.HandlerFunc {
	return a.wrap(next, true)
}

// Optional wraps a handler that accepts a caller but does not need one (the
// SDK calls, which authenticate by license key). A credential that is
// presented must still be valid.
func (a *Authenticator) Optional(next http.HandlerFunc) http.HandlerFunc {
	return a.wrap(next, false)
}

func (a *Authenticator) wrap(next http.HandlerFunc, required bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Authenticate(r)
		switch {
		case errors.Is(err, ErrNoCredential) && !required:
			next(w, r)
			return
		case errors.Is(err, ErrNoCredential):
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusUnauthorized, "unauthorized",
				"send Authorization: Bearer <credential>"))
			return
		case errors.Is(err, jwtauth.ErrKeysUnavailable):
			// The token may be fine: the identity provider's keys are not
			// loaded yet (or not reachable for a new kid). Say so, so the
			// client retries instead of signing the person out.
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			w.Header().Set("Retry-After", "5")
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusUnauthorized, Code: "identity_provider_unavailable",
				Message: "ID tokens cannot be checked until the identity provider's keys are loaded; retry shortly, or use an API key",
				Cause:   err})
			return
		case errors.Is(err, ErrInvalidCredential):
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "invalid credentials", Cause: err})
			return
		case err != nil:
			httpjson.WriteError(w, r, err)
			return
		}
		// Counted per credential (its id, never the secret).
		if !a.limit.Allow(w, r, "cred:"+p.Actor) {
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		next(w, r.WithContext(database.WithActor(ctx, p.Actor)))
	}
}

// RequireAll guards every method of a route.
func (a *Authenticator) RequireAll(m map[string]http.HandlerFunc) map[string]http.HandlerFunc {
	out := make(map[string]http.HandlerFunc, len(m))
	for k, h := range m {
		out[k] = a.Require(h)
	}
	return out
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != "" && len(tok) <= 8192
}
