// Package catalog lists every function with its dependencies wired, for the
// two ways they are served: one at a time behind functions-framework in
// production (cmd/function), all together in the local server
// (cmd/devserver). Both get the same routes from here.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/coditect-ai/license-server/functions/acquire"
	"github.com/coditect-ai/license-server/functions/apikeys"
	"github.com/coditect-ai/license-server/functions/audit"
	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/functions/health"
	"github.com/coditect-ai/license-server/functions/heartbeat"
	"github.com/coditect-ai/license-server/functions/keys"
	"github.com/coditect-ai/license-server/functions/licenses"
	"github.com/coditect-ai/license-server/functions/openapi"
	"github.com/coditect-ai/license-server/functions/release"
	"github.com/coditect-ai/license-server/functions/repositories"
	"github.com/coditect-ai/license-server/functions/tenants"
	"github.com/coditect-ai/license-server/functions/usage"
	"github.com/coditect-ai/license-server/functions/workstations"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/idempotency"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsroot"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Names returns the function names FUNCTION_TARGET accepts: the HTTP
// functions, then the CloudEvent function Cleanup.
func Names() []string {
	return append(HTTPNames(), cleanup.Name)
}

// HTTPNames returns the names of the HTTP functions.
func HTTPNames() []string {
	return []string{health.Name, acquire.Name, heartbeat.Name, release.Name, tenants.Name, licenses.Name,
		apikeys.Name, workstations.Name, repositories.Name, audit.Name, usage.Name, keys.Name, openapi.Name}
}

// Needs says what a function needs beyond Redis and PostgreSQL ("" is
// every function): admin functions the bootstrap token, functions that
// sign the root key. The deployment gives each only what it needs.
func Needs(name string) config.Needs {
	switch name {
	case "":
		return config.Needs{Admin: true, Signing: true}
	case licenses.Name:
		return config.Needs{Admin: true, Signing: true}
	case tenants.Name, apikeys.Name, workstations.Name, repositories.Name, audit.Name, usage.Name:
		return config.Needs{Admin: true}
	case acquire.Name, heartbeat.Name, keys.Name:
		return config.Needs{Signing: true}
	}
	return config.Needs{}
}

// Cleanup builds the CloudEvent function that sweeps expired sessions and
// drains the usage ledger.
func Cleanup(b *backend.Backend, logger *slog.Logger) (*cleanup.Function, error) {
	return cleanup.New(b.Cleaner, logger)
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

// Deps are what the functions are built from.
type Deps struct {
	Backend *backend.Backend
	Authn   *auth.Authenticator
	Limits  config.RateLimit
	// Root is the root signing key; Issuer names this service in leases.
	Root   rootkey.Root
	Issuer string
	Logger *slog.Logger
}

// builder makes one function; signer is called only by functions that sign
// leases, so only their instances pay for a delegation (a root signature).
type builder func(d Deps, signer func() (*lease.Signer, error)) (route.Function, error)

func builders() map[string]builder {
	return map[string]builder{
		health.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return health.New(
				health.Check{Name: "redis", Ping: d.Backend.PingRedis},
				health.Check{Name: "postgres", Ping: d.Backend.DB.Ping},
			)
		},
		acquire.Name: func(d Deps, signer func() (*lease.Signer, error)) (route.Function, error) {
			s, err := signer()
			if err != nil {
				return route.Function{}, err
			}
			// Checked inside the acquire script: no extra Redis call.
			perLicense := seats.RateLimit{PerSecond: max(d.Limits.PerLicense, 0), Burst: max(d.Limits.PerLicenseBurst, 1)}
			return acquire.New(d.Backend.Seats, s, d.Authn, d.Backend.Sightings, perLicense, d.Backend.Metrics)
		},
		heartbeat.Name: func(d Deps, signer func() (*lease.Signer, error)) (route.Function, error) {
			s, err := signer()
			if err != nil {
				return route.Function{}, err
			}
			return heartbeat.New(d.Backend.Seats, s)
		},
		keys.Name: func(d Deps, signer func() (*lease.Signer, error)) (route.Function, error) {
			s, err := signer()
			if err != nil {
				return route.Function{}, err
			}
			roots, err := d.Root.PublicKeys(context.Background())
			if err != nil {
				return route.Function{}, err
			}
			return keys.New(roots, s)
		},
		release.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return release.New(d.Backend.Seats)
		},
		tenants.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return tenants.New(d.Authn, d.Backend.Tenants, d.Backend.Licensing)
		},
		licenses.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return licenses.New(d.Authn, d.Backend.Licenses, d.Backend.Licensing, d.Backend.Seats,
				licenses.Certifier{Root: d.Root, Issuer: d.Issuer})
		},
		apikeys.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return apikeys.New(d.Authn, d.Backend.APIKeys, d.Backend.Licensing)
		},
		workstations.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			b := d.Backend
			return workstations.New(d.Authn, b.Workstations, b.Licenses, b.Licensing, b.Seats)
		},
		repositories.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return repositories.New(d.Authn, d.Backend.Repositories, d.Backend.Licensing)
		},
		audit.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return audit.New(d.Authn, d.Backend.Audit, d.Backend.Licensing)
		},
		usage.Name: func(d Deps, _ func() (*lease.Signer, error)) (route.Function, error) {
			return usage.New(d.Authn, d.Backend.Usage, d.Backend.Licensing)
		},
		openapi.Name: func(Deps, func() (*lease.Signer, error)) (route.Function, error) { return openapi.New() },
	}
}

// delegationRetry is how often a failed delegation renewal is retried.
const delegationRetry = time.Minute

// All builds the functions: every one, or only the one named (the
// FUNCTION_TARGET of a production instance). A function that signs leases
// makes the instance's delegation at start and renews it until ctx ends.
func All(ctx context.Context, d Deps, only string) ([]route.Function, error) {
	var signer *lease.Signer
	getSigner := func() (*lease.Signer, error) {
		if signer != nil {
			return signer, nil
		}
		s, err := lease.NewSigner(ctx, d.Root, d.Issuer, lease.Options{})
		if err != nil {
			return nil, fmt.Errorf("making the lease delegation: %w", err)
		}
		go s.Run(ctx, d.Logger, delegationRetry)
		signer = s
		return s, nil
	}
	// The same per-credential limit Authenticator applies to every call.
	perCredential := ratelimit.Rule{Limiter: d.Backend.Limiter,
		Limit: ratelimit.PerSecond(d.Limits.PerCredential, d.Limits.PerCredentialBurst)}
	idem, err := idempotency.New(idempotency.Config{Redis: d.Backend.Redis, Prefix: d.Backend.KeyPrefix,
		Authorize: replayAuthorizer(d.Authn, perCredential)})
	if err != nil {
		return nil, fmt.Errorf("building the Idempotency-Key store: %w", err)
	}
	all := builders()
	var out []route.Function
	for _, name := range HTTPNames() {
		if only != "" && name != only {
			continue
		}
		f, err := all[name](d, getSigner)
		if err != nil {
			return nil, fmt.Errorf("building function %s: %w", name, err)
		}
		out = append(out, withIdempotency(f, idem))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no function named %q", only)
	}
	return out, nil
}

// IdempotentPOSTs reports whether a function's POSTs honour the
// Idempotency-Key header: every function's (acquire, every admin one, and
// any added later, so none can be left out) but Heartbeat's and Release's,
// which need none: they name their session, so running one twice changes
// nothing more than running it once.
func IdempotentPOSTs(name string) bool { return name != heartbeat.Name && name != release.Name }

// withIdempotency runs f's POSTs through the Idempotency-Key store. It
// wraps them from outside, authentication included (the catalog cannot
// reach inside a function): a 401 or 429 of that authentication passes
// back through the store, which never keeps one, and a replay, which does
// not reach it, is checked by replayAuthorizer instead.
func withIdempotency(f route.Function, idem *idempotency.Store) route.Function {
	if !IdempotentPOSTs(f.Name) {
		return f
	}
	var caller idempotency.Caller
	if f.Name == acquire.Name {
		caller = licenseKeyCaller
	}
	routes := make([]route.Route, len(f.Routes))
	for i, rt := range f.Routes {
		methods := make(route.Methods, len(rt.Methods))
		for method, h := range rt.Methods {
			if method == http.MethodPost {
				h = idem.Wrap(h, caller).ServeHTTP
			}
			methods[method] = h
		}
		routes[i] = route.Route{Pattern: rt.Pattern, Methods: methods}
	}
	return route.Function{Name: f.Name, Routes: routes}
}

// licenseKeyCaller names an acquire's caller by its license key, the
// credential its body carries: two SDKs without an Authorization header
// that pick the same Idempotency-Key must never meet.
func licenseKeyCaller(body []byte) string {
	var v struct {
		LicenseKey string `json:"license_key"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "" // the handler refuses the body; the answer is the same for anyone
	}
	return v.LicenseKey
}

// replayAuthorizer checks, before an answer is replayed, what the
// function's own authentication would have checked, since the replay does
// not reach it: the credential is still good (revoking an API key, or an
// ID token expiring, takes effect on replays too) and within its rate
// limit (the bucket auth.Authenticator counts it in). No credential is
// fine: acquire needs none, and an admin call without one was answered
// 401, which is never kept.
func replayAuthorizer(authn *auth.Authenticator, limit ratelimit.Rule) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		p, err := authn.Authenticate(r)
		switch {
		case errors.Is(err, auth.ErrNoCredential):
			return true
		case errors.Is(err, auth.ErrInvalidCredential):
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "invalid credentials", Cause: err})
			return false
		case err != nil:
			httpjson.WriteError(w, r, err)
			return false
		}
		return limit.Allow(w, r, "cred:"+p.Actor)
	}
}

// Build makes the functions as configured: the authenticator (with the
// identity provider's verifier when AUTH_* is set), the root signing key
// and the rate limits. only names one function, or "" for all.
func Build(ctx context.Context, b *backend.Backend, cfg config.Config, root rootkey.Root, logger *slog.Logger, only string) ([]route.Function, error) {
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
	return All(ctx, Deps{Backend: b, Authn: authn, Limits: cfg.RateLimit, Root: root, Issuer: cfg.Signing.Issuer,
		Logger: logger}, only)
}

// Root opens the root signing key the configuration names: a Cloud KMS key
// version in production, else a local PEM key, else (development only) a
// key generated now, which leases cannot outlive. m (nil: none) counts and
// times the KMS calls; opts are further KMS client options (tests point the
// client at a fake).
func Root(ctx context.Context, cfg config.Signing, logger *slog.Logger, m *metrics.Metrics, opts ...option.ClientOption) (rootkey.Root, error) {
	switch {
	case cfg.KMSKeyVersion != "":
		// An interceptor rather than a wrapper of kmsroot: it sees every
		// RPC, retries included, whoever makes it.
		opts = append(opts, option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(m.KMSInterceptor())))
		client, err := kms.NewKeyManagementClient(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("connecting to Cloud KMS: %w", err)
		}
		return kmsroot.New(ctx, client, kmsroot.Config{SigningVersion: cfg.KMSKeyVersion, TrustedVersions: cfg.KMSTrustedVersions})
	case strings.HasPrefix(strings.TrimSpace(cfg.LocalKeyPEM), "-----BEGIN"):
		return rootkey.NewLocal([]byte(cfg.LocalKeyPEM))
	case cfg.LocalKeyPEM != "":
		// Not PEM text: the path of a PEM file (e.g. a mounted secret).
		pemBytes, err := os.ReadFile(cfg.LocalKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("reading SIGNING_LOCAL_KEY_PEM file: %w", err)
		}
		return rootkey.NewLocal(pemBytes)
	}
	logger.Warn("no SIGNING_KMS_KEY_VERSION or SIGNING_LOCAL_KEY_PEM: generating a root key for this process only")
	return rootkey.GenerateLocal()
}
