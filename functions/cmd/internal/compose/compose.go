// Package compose is the composition root: the one place that knows every
// function. The entry points (cmd/function in production, cmd/devserver for
// make run) get the same functions, wired the same way, from here.
//
// A function declares what it needs on its own Spec (functions/<name>/spec.go);
// this package only lists the specs and turns the configuration into their
// dependencies. Adding a function touches its package and Specs below.
package compose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/coditect-ai/license-server/functions/acquire"
	"github.com/coditect-ai/license-server/functions/apikeys"
	"github.com/coditect-ai/license-server/functions/audit"
	"github.com/coditect-ai/license-server/functions/billing"
	"github.com/coditect-ai/license-server/functions/billingschedule"
	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/functions/console"
	"github.com/coditect-ai/license-server/functions/health"
	"github.com/coditect-ai/license-server/functions/heartbeat"
	"github.com/coditect-ai/license-server/functions/keys"
	"github.com/coditect-ai/license-server/functions/licenses"
	"github.com/coditect-ai/license-server/functions/members"
	"github.com/coditect-ai/license-server/functions/notifications"
	"github.com/coditect-ai/license-server/functions/notify"
	"github.com/coditect-ai/license-server/functions/openapi"
	"github.com/coditect-ai/license-server/functions/release"
	"github.com/coditect-ai/license-server/functions/repositories"
	"github.com/coditect-ai/license-server/functions/tenants"
	"github.com/coditect-ai/license-server/functions/usage"
	"github.com/coditect-ai/license-server/functions/workstations"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/idempotency"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/nudge"
	"github.com/coditect-ai/license-server/shared/probe"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsroot"
	"github.com/coditect-ai/license-server/shared/route"
)

// Specs lists every function: the HTTP functions, then the CloudEvent
// functions Cleanup, Notify and BillingSchedule. FUNCTION_TARGET accepts exactly these names.
func Specs() []function.Spec {
	return []function.Spec{
		health.Spec(), acquire.Spec(), heartbeat.Spec(), release.Spec(), tenants.Spec(), licenses.Spec(),
		apikeys.Spec(), workstations.Spec(), repositories.Spec(), audit.Spec(), usage.Spec(), keys.Spec(),
		openapi.Spec(), members.Spec(), console.Spec(), notifications.Spec(), billing.Spec(), cleanup.Spec(), notify.Spec(),
		billingschedule.Spec(),
	}
}

// Names returns the function names FUNCTION_TARGET accepts.
func Names() []string {
	var names []string
	for _, s := range Specs() {
		names = append(names, s.Name)
	}
	return names
}

// Select returns the spec named target, or every spec for "".
func Select(target string) ([]function.Spec, error) {
	all := Specs()
	if target == "" {
		return all, nil
	}
	i := slices.IndexFunc(all, func(s function.Spec) bool { return s.Name == target })
	if i < 0 {
		return nil, fmt.Errorf("FUNCTION_TARGET %q is not one of %v", target, Names())
	}
	return all[i : i+1], nil
}

// Needs is what the named function ("" for every one) needs beyond Redis
// and PostgreSQL. The deployment gives each only what it needs.
func Needs(target string) function.Needs {
	specs, err := Select(target)
	if err != nil {
		return function.Needs{}
	}
	return function.Union(specs...)
}

// AuthSettings are what the credential checks are configured with.
type AuthSettings struct {
	BootstrapToken string
	// BootstrapAfterPlatformAdmin keeps the bootstrap token working after
	// the first platform admin has signed in.
	BootstrapAfterPlatformAdmin bool
	// Verifier checks the identity provider's ID tokens, ServiceAccounts
	// Google's (nil: not accepted).
	Verifier, ServiceAccounts auth.TokenVerifier
	PlatformIDP               string
	Limits                    config.RateLimit
	// Logger receives the bootstrap token's warnings (nil: slog.Default()).
	Logger *slog.Logger
}

// AuthenticatorWith builds the credential checks on the backend as s says.
func AuthenticatorWith(b *backend.Backend, s AuthSettings) (*auth.Authenticator, error) {
	return auth.New(auth.Config{
		BootstrapToken:              s.BootstrapToken,
		BootstrapAfterPlatformAdmin: s.BootstrapAfterPlatformAdmin,
		Keys:                        b.APIKeys,
		Members:                     b.Members,
		Verifier:                    s.Verifier,
		ServiceAccounts:             s.ServiceAccounts,
		PlatformIDPTenant:           s.PlatformIDP,
		ResolveTenant: func(ctx context.Context, idpTenantID string) (string, error) {
			t, err := b.Tenants.ByIdentityTenant(ctx, idpTenantID)
			return t.ID, err
		},
		RateLimit: credentialRule(b, s.Limits),
		Logger:    s.Logger,
	})
}

// credentialRule is the per-credential limit: Authenticator applies it to
// every call, and a replayed answer counts in the same bucket.
func credentialRule(b *backend.Backend, limits config.RateLimit) ratelimit.Rule {
	return ratelimit.Rule{Limiter: b.Limiter, Limit: ratelimit.PerSecond(limits.PerCredential, limits.PerCredentialBurst)}
}

// Deps are what the functions are built from.
type Deps struct {
	// Backend is the process's own (nil when no selected function needs
	// Redis or PostgreSQL): its Redis serves every function, and the
	// functions that use no database role are built on it.
	Backend *backend.Backend
	// Probes are Health's readiness checks; nil: Backend's own connections
	// are pinged (for callers that hold them open anyway, such as tests).
	Probes []function.Probe
	Authn  *auth.Authenticator
	// Roles are the backends (and credential checks on them) of the
	// database roles: a function is built on its role's, so its queries
	// run with only that role's rights. Every role a selected function
	// names must be here.
	Roles  map[database.Role]Role
	Limits config.RateLimit
	// Root is the root signing key (nil when no selected function signs);
	// Issuer names this service in leases.
	Root   rootkey.Root
	Issuer string
	Logger *slog.Logger
	// Console is what the web console's pages are told.
	Console config.Console
	// Notify are the notification settings and keys, given to the
	// functions whose Needs say Notify.
	Notify config.Notify
	// Billing are the Stripe settings, given to the functions whose Needs
	// say Stripe or StripeWebhook.
	Billing config.Billing
	// Nudger is told after each successful change of a function whose
	// Needs say Nudges (nil: nobody is; the sweep delivers).
	Nudger function.Nudger
}

// Role is what the functions of one database role are built on: a
// backend whose pool logs in as the role, and the credential checks made
// through it.
type Role struct {
	Backend *backend.Backend
	Authn   *auth.Authenticator
}

// Built is what Build makes of the selected specs.
type Built struct {
	// HTTP are the HTTP functions, their POSTs behind Idempotency-Key
	// unless they opt out.
	HTTP []route.Function
	// Events are the CloudEvent functions by name.
	Events map[string]function.EventHandler
}

// delegationRetry is how often a failed delegation renewal is retried.
const delegationRetry = time.Minute

// jwksStartWait is how long an instance waits at start for the identity
// provider's keys before it serves without them.
const jwksStartWait = 2 * time.Second

// All builds the given specs. If any needs a lease signer, the instance's
// delegation is made at start and renewed until ctx ends.
func All(ctx context.Context, d Deps, specs []function.Spec) (Built, error) {
	fd := function.Deps{Backend: d.Backend, Authn: d.Authn, Limits: d.Limits, Issuer: d.Issuer, Logger: d.Logger, Console: d.Console,
		Notify: d.Notify, Nudger: d.Nudger, Billing: d.Billing}
	needs := function.Union(specs...)
	if needs.RootKey() && d.Root == nil {
		return Built{}, errors.New("a function needs the root key, but none was given")
	}
	for _, s := range specs {
		if s.Needs.Redis != (s.Needs.Database != "") {
			return Built{}, fmt.Errorf("function %s needs only one of Redis and PostgreSQL, but the backend is built on both", s.Name)
		}
	}
	if needs.Backends() && d.Backend == nil {
		return Built{}, errors.New("a function needs Redis and PostgreSQL, but no backend was given")
	}
	if needs.Probes {
		fd.Probes = d.Probes
		if fd.Probes == nil && d.Backend != nil {
			fd.Probes = []function.Probe{{Name: "redis", Ping: d.Backend.PingRedis}, {Name: "postgres", Ping: d.Backend.DB.Ping}}
		}
	}
	if needs.Signing() {
		fd.Root = d.Root
	}
	if needs.RootPublicKeys {
		fd.RootPublicKeys = d.Root
	}
	if needs.Signer {
		s, err := lease.NewSigner(ctx, d.Root, d.Issuer, lease.Options{})
		if err != nil {
			return Built{}, fmt.Errorf("making the lease delegation: %w", err)
		}
		go s.Run(ctx, d.Logger, delegationRetry)
		fd.Signer = s
	}
	// A replay is authorised as the function's own authentication would
	// have been: through its role's credential checks.
	idems := map[database.Role]*idempotency.Store{}
	idemFor := func(role database.Role, b *backend.Backend, authn *auth.Authenticator) (*idempotency.Store, error) {
		if b == nil {
			// No Redis: no POST to keep (withIdempotency refuses a
			// function that has POSTs but no store).
			return nil, nil
		}
		if s, ok := idems[role]; ok {
			return s, nil
		}
		s, err := idempotency.New(idempotency.Config{Redis: b.Redis, Prefix: b.KeyPrefix,
			Authorize: replayAuthorizer(authn, credentialRule(b, d.Limits))})
		if err != nil {
			return nil, fmt.Errorf("building the Idempotency-Key store: %w", err)
		}
		idems[role] = s
		return s, nil
	}
	out := Built{Events: map[string]function.EventHandler{}}
	for _, s := range specs {
		// Each function sees only what it declared.
		own := fd
		if role := s.Needs.Database; role != "" {
			r, ok := d.Roles[role]
			if !ok || r.Backend == nil {
				return Built{}, fmt.Errorf("function %s connects as database role %s, but no backend was given for it", s.Name, role)
			}
			own.Backend = r.Backend
			if r.Authn != nil {
				own.Authn = r.Authn
			}
		}
		if !s.Needs.Signer {
			own.Signer = nil
		}
		if !s.Needs.Signing() {
			own.Root = nil
		}
		if !s.Needs.RootPublicKeys {
			own.RootPublicKeys = nil
		}
		if !s.Needs.Backends() {
			own.Backend, own.Authn = nil, nil
		}
		if !s.Needs.Probes {
			own.Probes = nil
		}
		if !s.Needs.Notify {
			own.Notify = config.Notify{}
		}
		if !s.Needs.Stripe && !s.Needs.StripeWebhook {
			own.Billing = config.Billing{}
		}
		idem, err := idemFor(s.Needs.Database, own.Backend, own.Authn)
		if err != nil {
			return Built{}, err
		}
		switch {
		case s.HTTP != nil:
			f, err := s.HTTP(own)
			if err != nil {
				return Built{}, fmt.Errorf("building function %s: %w", s.Name, err)
			}
			if f, err = withIdempotency(f, s.Idempotency, idem); err != nil {
				return Built{}, fmt.Errorf("building function %s: %w", s.Name, err)
			}
			if s.Needs.Nudges && d.Nudger != nil {
				f = withNudge(f, d.Nudger)
			}
			out.HTTP = append(out.HTTP, f)
		case s.Event != nil:
			h, err := s.Event(own)
			if err != nil {
				return Built{}, fmt.Errorf("building function %s: %w", s.Name, err)
			}
			out.Events[s.Name] = h
		default:
			return Built{}, fmt.Errorf("function %s has neither an HTTP nor an Event builder", s.Name)
		}
	}
	return out, nil
}

// IdempotentPOST reports whether the named function's POSTs to the route
// pattern honour the Idempotency-Key header: every function's unless its
// spec opts out, so none added later can be left out by accident.
func IdempotentPOST(name, pattern string) bool {
	specs, err := Select(name)
	return err == nil && name != "" && specs[0].Idempotency.Takes(pattern)
}

// withIdempotency runs f's POSTs through the Idempotency-Key store. It
// wraps them from outside, authentication included (the composition root
// cannot reach inside a function): a 401 or 429 of that authentication
// passes back through the store, which never keeps one, and a replay,
// which does not reach it, is checked by replayAuthorizer instead.
// A function with POSTs to keep but no Redis (idem nil) is refused.
func withIdempotency(f route.Function, how function.Idempotency, idem *idempotency.Store) (route.Function, error) {
	if how.Skip && len(how.Keyed) == 0 {
		return f, nil
	}
	routes := make([]route.Route, len(f.Routes))
	for i, rt := range f.Routes {
		methods := make(route.Methods, len(rt.Methods))
		for method, h := range rt.Methods {
			if method == http.MethodPost && how.Takes(rt.Pattern) {
				if idem == nil {
					return route.Function{}, errors.New("its POSTs take an Idempotency-Key, which needs Redis")
				}
				h = idem.Wrap(h, how.Caller).ServeHTTP
			}
			methods[method] = h
		}
		routes[i] = route.Route{Pattern: rt.Pattern, Methods: methods}
	}
	return route.Function{Name: f.Name, Routes: routes}, nil
}

// withNudge tells n after every change of f that succeeded (a 2xx answer
// to anything but GET and HEAD): its transaction has committed by then,
// with whatever outbox events it appended. It wraps the Idempotency-Key
// store too, so a replayed answer nudges again, which costs one message
// and loses nothing.
func withNudge(f route.Function, n function.Nudger) route.Function {
	routes := make([]route.Route, len(f.Routes))
	for i, rt := range f.Routes {
		methods := make(route.Methods, len(rt.Methods))
		for method, h := range rt.Methods {
			if method != http.MethodGet && method != http.MethodHead {
				next := h
				h = func(w http.ResponseWriter, r *http.Request) {
					sw := &statusWriter{ResponseWriter: w}
					next(sw, r)
					if sw.status >= 200 && sw.status < 300 {
						n.Nudge(r.Context())
					}
				}
			}
			methods[method] = h
		}
		routes[i] = route.Route{Pattern: rt.Pattern, Methods: methods}
	}
	return route.Function{Name: f.Name, Routes: routes}
}

// statusWriter notes the status a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// Option changes what Build builds from the configuration.
type Option func(*buildOptions)

type buildOptions struct {
	verifier auth.TokenVerifier
	nudger   function.Nudger
}

// WithNudger tells n of changes that appended outbox events, instead of
// publishing on NOTIFY_TOPIC: make run's own delivery loop.
func WithNudger(n function.Nudger) Option {
	return func(o *buildOptions) { o.nudger = n }
}

// WithVerifier checks the identity provider's ID tokens with v instead of
// a verifier of AUTH_*'s: make run's own stand-in for Identity Platform.
func WithVerifier(v auth.TokenVerifier) Option {
	return func(o *buildOptions) { o.verifier = v }
}

// Build makes the selected functions as configured: the authenticator
// (with the identity provider's verifier when AUTH_* is set, or the one
// WithVerifier gives), the root signing key (opened only when a selected
// function signs or publishes its public keys, so only those need KMS
// access) and the rate limits.
//
// roles are the backends of the selected functions' database roles (see
// OpenRoles).
func Build(ctx context.Context, b *backend.Backend, roles map[database.Role]*backend.Backend, cfg config.Config, logger *slog.Logger,
	m *metrics.Metrics, specs []function.Spec, opts ...Option) (Built, error) {
	var o buildOptions
	for _, opt := range opts {
		opt(&o)
	}
	var verifier, google auth.TokenVerifier
	// Only HTTP functions with a backend check credentials: Cleanup (and
	// Health, Keys, OpenAPI) must not depend on the identity provider
	// being reachable.
	checks := b != nil && slices.ContainsFunc(specs, func(s function.Spec) bool { return s.HTTP != nil })
	switch {
	case o.verifier != nil:
		verifier = o.verifier
	case cfg.Auth.JWKSURL != "" && checks:
		v, err := startVerifier(ctx, logger, "the identity provider",
			jwtauth.Config{JWKSURL: cfg.Auth.JWKSURL, Issuer: cfg.Auth.Issuer, Audience: cfg.Auth.Audience})
		if err != nil {
			return Built{}, err
		}
		verifier = v
	}
	if cfg.Auth.GoogleAudience != "" && checks {
		v, err := startVerifier(ctx, logger, "Google",
			jwtauth.Config{JWKSURL: cfg.Auth.GoogleJWKSURL, Issuer: auth.GoogleIssuer, Audience: cfg.Auth.GoogleAudience})
		if err != nil {
			return Built{}, err
		}
		google = v
	}
	settings := AuthSettings{BootstrapToken: cfg.Admin.BootstrapToken, BootstrapAfterPlatformAdmin: cfg.Admin.BootstrapAfterPlatformAdmin,
		Verifier: verifier, ServiceAccounts: google, PlatformIDP: cfg.Auth.PlatformIDPTenant, Limits: cfg.RateLimit, Logger: logger}
	needs := function.Union(specs...)
	// Credentials are checked against the stores in PostgreSQL: only
	// functions with a backend have any to check.
	var authn *auth.Authenticator
	var err error
	if b != nil {
		if authn, err = AuthenticatorWith(b, settings); err != nil {
			return Built{}, err
		}
	}
	withAuthn, err := RolesOf(roles, func(rb *backend.Backend) (*auth.Authenticator, error) {
		return AuthenticatorWith(rb, settings)
	})
	if err != nil {
		return Built{}, err
	}
	var root rootkey.Root
	if needs.RootKey() {
		if root, err = Root(ctx, cfg.Signing, logger, m); err != nil {
			return Built{}, err
		}
	}
	var probes []function.Probe
	if needs.Probes {
		if probes, err = Probes(cfg); err != nil {
			return Built{}, err
		}
	}
	nudger := o.nudger
	if nudger == nil && needs.Nudges && cfg.Notify.Topic != "" {
		if nudger, err = PubSubNudger(ctx, cfg.Notify.Topic, nudgeSource(specs), logger); err != nil {
			return Built{}, err
		}
	}
	return All(ctx, Deps{Backend: b, Probes: probes, Authn: authn, Roles: withAuthn, Limits: cfg.RateLimit, Root: root,
		Issuer: cfg.Signing.Issuer, Logger: logger, Console: cfg.Console, Notify: cfg.Notify, Billing: cfg.Billing, Nudger: nudger}, specs)
}

// nudgeSource names the publisher of nudges: the function, or "all".
func nudgeSource(specs []function.Spec) string {
	if len(specs) == 1 {
		return specs[0].Name
	}
	return "all"
}

// PubSubNudger publishes nudges on topic (projects/P/topics/T) as this
// process's service account; opts are further client options (tests point
// the client at a fake Pub/Sub). The publisher lives as long as ctx.
func PubSubNudger(ctx context.Context, topic, source string, logger *slog.Logger, opts ...option.ClientOption) (*nudge.PubSub, error) {
	project := strings.Split(topic, "/")[1]
	client, err := pubsub.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to Pub/Sub: %w", err)
	}
	n, err := nudge.NewPubSub(client, topic, source, logger)
	if err != nil {
		client.Close()
		return nil, err
	}
	go func() {
		<-ctx.Done()
		n.Stop()
		client.Close()
	}()
	return n, nil
}

// startVerifier starts fetching an issuer's keys. Usually they arrive in
// milliseconds, before the first request; but a slow or failing endpoint
// must not keep this instance from serving API keys, license keys and
// sessions, so the wait is short and the keys keep loading in the
// background.
func startVerifier(ctx context.Context, logger *slog.Logger, whose string, c jwtauth.Config) (*jwtauth.Verifier, error) {
	v, err := jwtauth.New(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("configuring %s's keys: %w", whose, err)
	}
	wait, cancel := context.WithTimeout(ctx, jwksStartWait)
	defer cancel()
	if err := v.WaitReady(wait); err != nil {
		logger.WarnContext(ctx, "serving before "+whose+"'s keys are loaded: its ID tokens are refused until they are",
			slog.String("error", err.Error()))
	}
	return v, nil
}

// Probes are the readiness checks of the backends cfg names, made from
// their addresses and server CAs alone (shared/probe): Health holds no
// password.
func Probes(cfg config.Config) ([]function.Probe, error) {
	r, err := probe.Redis(cfg.Redis)
	if err != nil {
		return nil, err
	}
	p, err := probe.Postgres(cfg.Database)
	if err != nil {
		return nil, err
	}
	return []function.Probe{{Name: "redis", Ping: r}, {Name: "postgres", Ping: p}}, nil
}

// RolesOf pairs each role's backend with the credential checks authn
// builds on it.
func RolesOf(backends map[database.Role]*backend.Backend, authn func(*backend.Backend) (*auth.Authenticator, error)) (map[database.Role]Role, error) {
	out := make(map[database.Role]Role, len(backends))
	for role, b := range backends {
		a, err := authn(b)
		if err != nil {
			return nil, err
		}
		out[role] = Role{Backend: b, Authn: a}
	}
	return out, nil
}

// OpenRoles opens, on base's Redis, a backend for each database role the
// specs name. A process serving one function (FUNCTION_TARGET) logs in as
// that function's role through DATABASE_URL itself, so base is its role's
// backend and nothing more is opened; a process serving several logs in as
// each role with DATABASE_PASSWORD_<CLASS> (backend.OpenDatabaseAs). The
// returned func closes what was opened.
func OpenRoles(ctx context.Context, base *backend.Backend, c config.Database, single bool, specs []function.Spec,
	logger *slog.Logger, m *metrics.Metrics) (map[database.Role]*backend.Backend, func(), error) {
	out := map[database.Role]*backend.Backend{}
	var opened []*backend.Backend
	closeAll := func() {
		for _, b := range opened {
			b.Sightings.Close()
			b.DB.Close()
		}
	}
	for _, role := range function.Roles(specs...) {
		if single {
			out[role] = base
			continue
		}
		db, err := backend.OpenDatabaseAs(ctx, c, role, m)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		// Its statements are counted by the tracer OpenDatabaseAs installed.
		b, err := backend.NewForRole(base, db, role, logger)
		if err != nil {
			db.Close()
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, b)
		out[role] = b
	}
	return out, closeAll, nil
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
