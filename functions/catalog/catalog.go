// Package catalog lists every function with its dependencies wired, for the
// two ways they are served: one at a time behind functions-framework in
// production (cmd/function), all together in the local server
// (cmd/devserver). Both get the same routes from here.
package catalog

import (
	"context"
	"fmt"

	"github.com/coditect-ai/license-server/functions/acquire"
	"github.com/coditect-ai/license-server/functions/apikeys"
	"github.com/coditect-ai/license-server/functions/audit"
	"github.com/coditect-ai/license-server/functions/health"
	"github.com/coditect-ai/license-server/functions/heartbeat"
	"github.com/coditect-ai/license-server/functions/licenses"
	"github.com/coditect-ai/license-server/functions/openapi"
	"github.com/coditect-ai/license-server/functions/release"
	"github.com/coditect-ai/license-server/functions/repositories"
	"github.com/coditect-ai/license-server/functions/tenants"
	"github.com/coditect-ai/license-server/functions/workstations"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/route"
)

// Names returns the function names FUNCTION_TARGET accepts.
func Names() []string {
	return []string{health.Name, acquire.Name, heartbeat.Name, release.Name, tenants.Name, licenses.Name,
		apikeys.Name, workstations.Name, repositories.Name, audit.Name, openapi.Name}
}

// Authenticator builds the credential checks on the backend. verifier may
// be nil when no identity provider is configured.
func Authenticator(b *backend.Backend, token string, verifier auth.TokenVerifier, limits config.RateLimit) (*auth.Authenticator, error) {
	return auth.New(auth.Config{
		BootstrapToken: token,
		Keys:           b.APIKeys,
		Verifier:       verifier,
		ResolveTenant: func(ctx context.Context, idpTenantID string) (string, error) {
			t, err := b.Tenants.ByIdentityTenant(ctx, idpTenantID)
			return t.ID, err
		},
		RateLimit: ratelimit.Rule{Limiter: b.Limiter,
			Limit: ratelimit.PerSecond(limits.PerCredential, limits.PerCredentialBurst)},
	})
}

// All builds every function on the backend.
func All(b *backend.Backend, authn *auth.Authenticator, limits config.RateLimit) ([]route.Function, error) {
	perLicense := ratelimit.Rule{Limiter: b.Limiter, Limit: ratelimit.PerSecond(limits.PerLicense, limits.PerLicenseBurst)}
	builders := []func() (route.Function, error){
		func() (route.Function, error) {
			return health.New(
				health.Check{Name: "redis", Ping: b.PingRedis},
				health.Check{Name: "postgres", Ping: b.DB.Ping},
			)
		},
		func() (route.Function, error) { return acquire.New(b.Seats, authn, b.Sightings, perLicense) },
		func() (route.Function, error) { return heartbeat.New(b.Seats) },
		func() (route.Function, error) { return release.New(b.Seats) },
		func() (route.Function, error) { return tenants.New(authn, b.Tenants, b.Licenses, b.Seats) },
		func() (route.Function, error) { return licenses.New(authn, b.Licenses, b.Tenants, b.Seats) },
		func() (route.Function, error) { return apikeys.New(authn, b.APIKeys, b.Tenants) },
		func() (route.Function, error) {
			return workstations.New(authn, b.Workstations, b.Licenses, b.Tenants, b.Seats)
		},
		func() (route.Function, error) { return repositories.New(authn, b.Repositories, b.Tenants) },
		func() (route.Function, error) { return audit.New(authn, b.Audit, b.Tenants) },
		openapi.New,
	}
	out := make([]route.Function, 0, len(builders))
	for _, build := range builders {
		f, err := build()
		if err != nil {
			return nil, fmt.Errorf("building function: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Build makes every function as configured: the authenticator (with the
// identity provider's verifier when AUTH_* is set) and the rate limits.
func Build(ctx context.Context, b *backend.Backend, cfg config.Config) ([]route.Function, error) {
	var verifier auth.TokenVerifier
	if cfg.Auth.JWKSURL != "" {
		v, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: cfg.Auth.JWKSURL, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
		if err != nil {
			return nil, fmt.Errorf("loading the identity provider's keys: %w", err)
		}
		verifier = v
	}
	authn, err := Authenticator(b, cfg.Admin.BootstrapToken, verifier, cfg.RateLimit)
	if err != nil {
		return nil, err
	}
	return All(b, authn, cfg.RateLimit)
}
