// Package auth decides who is calling and what they may do.
//
// Three credentials reach the API as "Authorization: Bearer <credential>":
// the bootstrap token (a platform admin, for first setup), API keys
// ("ak_..." service accounts, stored hashed, revocable at once) and ID tokens
// from the identity provider or Google (JWTs checked against its JWKS, the
// person then found by their memberships). Each becomes a Principal: who
// (for the audit log), which tenants, which role in each.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/members"
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
	// "api_key:<id>" or "user:<email>".
	Actor string
	// User is the person (or service account) for seat policy: a person's
	// e-mail, or "api_key:<id>".
	User string
	// Role is PlatformAdmin for the platform's callers (the bootstrap
	// token, platform admins), else "": other roles are per tenant.
	Role Role
	// Tenants are the caller's roles by tenant id: an API key's one
	// tenant, a person's memberships.
	Tenants map[string]Role
	// Email, Issuer and Subject name a person signed in with an ID token
	// (Issuer as stored on the membership: see Authenticator).
	Email, Issuer, Subject string
}

// Authorize checks that p may act on tenantID with at least role need. A
// tenant that is not p's answers 404, exactly as if it did not exist; p's own
// tenant with too small a role answers 403.
func (p Principal) Authorize(tenantID string, need Role) error {
	if p.IsPlatformAdmin() {
		return nil
	}
	role := p.RoleIn(tenantID)
	if role == "" {
		return httpjson.NotFound("tenant_not_found", "tenant")
	}
	if role.rank() < need.rank() {
		return Forbidden()
	}
	return nil
}

// IsPlatformAdmin reports whether p may act on every tenant and on the
// platform itself: the bootstrap token, and the platform's admins.
func (p Principal) IsPlatformAdmin() bool {
	return p.Role == PlatformAdmin
}

// RoleIn is p's own role in tenantID ("" when p is not of it); a platform
// admin's power over every tenant is not a role in it.
func (p Principal) RoleIn(tenantID string) Role { return p.Tenants[tenantID] }

// TenantIDs are the tenants p has a role in, sorted.
func (p Principal) TenantIDs() []string { return slices.Sorted(maps.Keys(p.Tenants)) }

// Forbidden is the answer for a known caller without the role it needs.
func Forbidden() *httpjson.Error {
	return httpjson.Errorf(http.StatusForbidden, "forbidden", "your role does not allow this")
}

// Errors of Authenticate.
var (
	ErrNoCredential      = errors.New("no credential")
	ErrInvalidCredential = errors.New("invalid credential")
)

// refusal is an ID token (or bootstrap token) refused with its own code,
// so the person learns why (never whose membership exists): it wraps
// ErrInvalidCredential, so it is a 401 like every bad credential.
type refusal struct {
	code, message string
}

func (e *refusal) Error() string        { return e.message }
func (e *refusal) Is(target error) bool { return target == ErrInvalidCredential }

// Refusals of a valid ID token (or of the retired bootstrap token).
var (
	// ErrEmailNotVerified: the token's e-mail is not verified and no
	// membership is bound to its subject.
	ErrEmailNotVerified error = &refusal{"email_not_verified", "the token's e-mail is not verified: sign in with a verified e-mail"}
	// ErrNotMember: no live membership for the token's subject or
	// verified e-mail (unknown, removed, or an e-mail whose membership is
	// bound to another person).
	ErrNotMember error = &refusal{"not_a_member", "no membership for this identity: ask an admin to invite your e-mail"}
	// ErrBootstrapRetired: a platform admin has signed in, and the
	// bootstrap token is no longer accepted.
	ErrBootstrapRetired error = &refusal{"bootstrap_retired", "the bootstrap token is retired: a platform admin has signed in"}
)

// GoogleIssuer is the issuer of Google-signed ID tokens, such as a Google
// service account's.
const GoogleIssuer = "https://accounts.google.com"

// TokenVerifier checks identity-provider ID tokens (jwtauth.Verifier).
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (jwtauth.Claims, error)
}

// KeyLookup finds the live API key a secret belongs to (apikeys.Store).
type KeyLookup interface {
	Authenticate(ctx context.Context, secret string) (apikeys.Key, error)
}

// MemberLookup signs a person in: their live memberships (members.Store).
type MemberLookup interface {
	SignIn(ctx context.Context, id members.Identity) ([]members.Grant, error)
	PlatformAdminSignedIn(ctx context.Context) (bool, error)
}

// TenantResolver maps an Identity Platform tenant to our tenant id.
type TenantResolver func(ctx context.Context, idpTenantID string) (string, error)

// Authenticator turns credentials into principals.
type Authenticator struct {
	bootstrap string
	// bootstrapAfter: the bootstrap token keeps working after a platform
	// admin has signed in.
	bootstrapAfter bool
	keys           KeyLookup
	members        MemberLookup
	tokens         TokenVerifier // nil: ID tokens of the identity provider are not accepted
	google         TokenVerifier // nil: Google service accounts' ID tokens are not accepted
	resolve        TenantResolver
	limit          ratelimit.Rule // per credential, on every authenticated call
	// platformIDP is the Identity Platform tenant whose people may hold
	// platform memberships ("": the project itself, tokens naming no
	// tenant).
	platformIDP string
	logger      *slog.Logger
}

// Config are an authenticator's dependencies. Verifier may be nil when no
// identity provider is configured; a zero RateLimit disables rate limiting.
type Config struct {
	BootstrapToken string
	// BootstrapAfterPlatformAdmin keeps the bootstrap token working after
	// the first platform admin has signed in
	// (BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN=allow); by default it is then
	// refused.
	BootstrapAfterPlatformAdmin bool
	Keys                        KeyLookup
	// Members signs people in; required when either verifier is set.
	Members  MemberLookup
	Verifier TokenVerifier
	// ServiceAccounts verifies Google-signed ID tokens (issuer
	// GoogleIssuer, audience AUTH_GOOGLE_AUDIENCE): a Google service
	// account registered as a member. nil: not accepted.
	ServiceAccounts TokenVerifier
	ResolveTenant   TenantResolver
	RateLimit       ratelimit.Rule
	// PlatformIDPTenant is the Identity Platform tenant of the platform's
	// own people (AUTH_PLATFORM_IDP_TENANT): only its ID tokens may claim
	// a platform membership. "" means tokens of the project itself, which
	// name no Identity Platform tenant; a customer's tenant never can.
	PlatformIDPTenant string
	// Logger receives the warning every use of the bootstrap token logs
	// (nil: slog.Default()).
	Logger *slog.Logger
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
	if (c.Verifier != nil || c.ServiceAccounts != nil) && c.Members == nil {
		return nil, errors.New("auth: ID tokens need the memberships to sign people in")
	}
	logger := c.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Authenticator{bootstrap: c.BootstrapToken, bootstrapAfter: c.BootstrapAfterPlatformAdmin, keys: c.Keys,
		members: c.Members, tokens: c.Verifier, google: c.ServiceAccounts, resolve: c.ResolveTenant, limit: c.RateLimit,
		platformIDP: c.PlatformIDPTenant, logger: logger}, nil
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
		return Principal{Actor: "api_key:" + k.ID, User: "api_key:" + k.ID, Tenants: map[string]Role{k.TenantID: Role(k.Role)}}, nil
	case jwtauth.LooksLikeJWT(cred):
		return a.fromToken(ctx, cred)
	case a.bootstrap != "" && tokens.Equal(cred, a.bootstrap):
		return a.fromBootstrap(r)
	}
	return Principal{}, fmt.Errorf("%w: credential not recognised", ErrInvalidCredential)
}

// fromBootstrap accepts the bootstrap token: a shared secret, audited only
// as "bootstrap", so every use is a warning in the log (never the token),
// and once a platform admin has signed in it is refused unless configured
// otherwise: from then on platform admins are people, audited by name.
func (a *Authenticator) fromBootstrap(r *http.Request) (Principal, error) {
	ctx := r.Context()
	if !a.bootstrapAfter && a.members != nil {
		bound, err := a.members.PlatformAdminSignedIn(ctx)
		if err != nil {
			return Principal{}, err
		}
		if bound {
			a.logger.WarnContext(ctx, "bootstrap admin token refused: a platform admin has signed in",
				slog.String("method", r.Method), slog.String("path", r.URL.Path))
			return Principal{}, ErrBootstrapRetired
		}
	}
	a.logger.WarnContext(ctx, "bootstrap admin token used: create a platform admin membership and sign in instead",
		slog.String("method", r.Method), slog.String("path", r.URL.Path))
	return Principal{Actor: "bootstrap", User: "bootstrap", Role: PlatformAdmin}, nil
}

// fromToken signs a person in with an ID token. The membership table is the
// only source of roles: a token's role and tenant_id claims are ignored,
// since anyone able to set claims at the provider (a customer's Identity
// Platform admins) could otherwise grant themselves roles, and a removed
// member would keep whatever the provider still says.
//
// Which memberships a token may claim depends on who controls its
// identities: the platform's own Identity Platform tenant (or the project's
// own users when AUTH_PLATFORM_IDP_TENANT is unset) may claim the platform's
// memberships and any tenant's; the project's own users, when the platform
// has its own tenant, any tenant's; a customer's Identity Platform tenant,
// whose admins can mint a verified token for any e-mail, only the memberships
// of the tenant it is mapped to; a Google service account (GoogleIssuer)
// any, since Google alone mints its e-mail.
func (a *Authenticator) fromToken(ctx context.Context, raw string) (Principal, error) {
	v, service := a.tokens, false
	if a.google != nil && jwtauth.UnverifiedIssuer(raw) == GoogleIssuer {
		v, service = a.google, true
	}
	if v == nil {
		return Principal{}, fmt.Errorf("%w: ID tokens are not accepted here", ErrInvalidCredential)
	}
	c, err := v.Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidCredential, err)
	}
	id := members.Identity{Issuer: c.Issuer, Subject: c.Subject, Email: c.Email, EmailVerified: c.EmailVerified}
	switch {
	case service:
		id.Platform = true
	case c.FirebaseTenant == a.platformIDP:
		id.Platform = true
	case c.FirebaseTenant == "":
		// The project's own users, where the platform has a tenant of its
		// own: any tenant's memberships, not the platform's.
	default:
		t, err := a.resolve(ctx, c.FirebaseTenant)
		if errors.Is(err, database.ErrNotFound) {
			return Principal{}, fmt.Errorf("%w: identity platform tenant is not mapped to a tenant", ErrInvalidCredential)
		}
		if err != nil {
			return Principal{}, err
		}
		id.OnlyTenant = t
	}
	if c.FirebaseTenant != "" {
		// Subjects are unique per Identity Platform tenant, not across
		// them: the tenant is part of who the person is.
		id.Issuer += "#tenant=" + c.FirebaseTenant
	}
	grants, err := a.members.SignIn(ctx, id)
	if err != nil {
		return Principal{}, err
	}
	if len(grants) == 0 {
		if !c.EmailVerified {
			return Principal{}, ErrEmailNotVerified
		}
		return Principal{}, ErrNotMember
	}
	email := grants[0].Email
	if e, ok := members.NormalizeEmail(c.Email); ok && c.EmailVerified {
		email = e
	}
	p := Principal{Actor: "user:" + email, User: email, Email: email, Issuer: id.Issuer, Subject: c.Subject,
		Tenants: map[string]Role{}}
	for _, g := range grants {
		switch {
		case g.TenantID == "" && g.Role == members.RoleAdmin:
			p.Role = PlatformAdmin
		case g.TenantID != "":
			p.Tenants[g.TenantID] = Role(g.Role)
		}
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
			code, msg := "unauthorized", "invalid credentials"
			var ref *refusal
			if errors.As(err, &ref) {
				code, msg = ref.code, ref.message
			}
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusUnauthorized, Code: code,
				Message: msg, Cause: err})
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
