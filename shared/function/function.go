// Package function describes a deployable function to the code that wires
// and serves it: its name, what its deployment must give it (credentials, a
// signer), which of its calls honour Idempotency-Key, and how it is built
// from the process's shared dependencies.
//
// Each function package exports a Spec; the entry points
// (functions/cmd/internal/compose) hold the one list of them. So adding a
// function touches its own package and that list, and no function package
// needs to know any other.
package function

import (
	"context"
	"log/slog"
	"slices"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/route"
)

// Needs is what a function's deployment must give it. The deployment
// (knative/, terraform/) gives each function only what it declares here,
// and a test holds the two together.
type Needs struct {
	// The backends the function connects to, with their credentials
	// (issue 16, finding 2): a function that needs neither starts with no
	// REDIS_* or DATABASE_* secret. The backend is built on both at once,
	// so a function declares both or neither (compose.All refuses one alone).
	Redis bool
	// Database is the PostgreSQL login role the function connects as: the
	// class of what it may read and write (schema/005 grants each role
	// exactly that). None (""): the function uses no database.
	Database database.Role
	// Probes: the function checks that Redis and PostgreSQL answer, at
	// the protocol level and without their credentials (Health's /ready),
	// so it needs their addresses and server CAs only.
	Probes bool

	// Admin: the function serves admin calls, so it checks credentials
	// and needs the bootstrap admin token.
	Admin bool
	// Signer: the function signs leases, with a delegation of its own
	// that the root key signs at start and renews.
	Signer bool
	// Root: the function signs with the root key itself (certificates).
	Root bool
	// RootPublicKeys: the function reads the root's public keys and never
	// signs (Keys publishes them), so its deployment may read the key's
	// public half (Cloud KMS publicKeyViewer) but not sign with it.
	RootPublicKeys bool

	// Notify: the function seals or opens webhook signing secrets and
	// signs or checks the links mails carry, so it needs their keys (and
	// the mail and webhook settings).
	Notify bool
	// Nudges: the function's changes append outbox events (schema/010), so
	// after each successful change it tells Notify that events wait
	// (Deps.Nudger: a Pub/Sub message in production).
	Nudges bool

	// Stripe: the function calls Stripe's API (STRIPE_API_KEY).
	Stripe bool
	// StripeWebhook: the function checks the signatures of the webhooks
	// Stripe sends (STRIPE_WEBHOOK_SECRET).
	StripeWebhook bool
}

// Signing reports whether the function signs with the root key (Cloud KMS
// signer role in production).
func (n Needs) Signing() bool { return n.Signer || n.Root }

// RootKey reports whether the function needs the root key at all, to sign
// or only to read its public keys: the key must then be configured.
func (n Needs) RootKey() bool { return n.Signing() || n.RootPublicKeys }

// Config is Needs as the configuration's check takes it.
func (n Needs) Config() config.Needs {
	return config.Needs{Admin: n.Admin, Signing: n.RootKey(), Notify: n.Notify, Stripe: n.Stripe, StripeWebhook: n.StripeWebhook,
		Redis: n.Redis || n.Probes, Database: n.Database != "" || n.Probes}
}

// Backends reports whether the function connects to Redis and PostgreSQL
// with their credentials.
func (n Needs) Backends() bool { return n.Redis || n.Database != "" }

// Union is what serving every function in n at once needs.
func Union(specs ...Spec) Needs {
	var u Needs
	for _, s := range specs {
		u.Admin = u.Admin || s.Needs.Admin
		u.Signer = u.Signer || s.Needs.Signer
		u.Root = u.Root || s.Needs.Root
		u.RootPublicKeys = u.RootPublicKeys || s.Needs.RootPublicKeys
		u.Redis = u.Redis || s.Needs.Redis
		// One of the roles stands for "some function uses PostgreSQL";
		// Roles lists them all.
		if u.Database == "" {
			u.Database = s.Needs.Database
		}
		u.Probes = u.Probes || s.Needs.Probes
		u.Notify = u.Notify || s.Needs.Notify
		u.Nudges = u.Nudges || s.Needs.Nudges
		u.Stripe = u.Stripe || s.Needs.Stripe
		u.StripeWebhook = u.StripeWebhook || s.Needs.StripeWebhook
	}
	return u
}

// Roles lists, once each and in the order given, the database roles of
// specs: the pools a process serving them all must open.
func Roles(specs ...Spec) []database.Role {
	var out []database.Role
	for _, s := range specs {
		if s.Needs.Database != "" && !slices.Contains(out, s.Needs.Database) {
			out = append(out, s.Needs.Database)
		}
	}
	return out
}

// Idempotency says how a function's POSTs take an Idempotency-Key. The zero
// value is the default every function gets unless it opts out: keyed POSTs
// are replayed, scoped to the request's Authorization credential.
type Idempotency struct {
	// Skip: the function's POSTs take no key, because running one twice
	// changes nothing more than running it once (heartbeat and release
	// name their session).
	Skip bool
	// Keyed are the route patterns whose POSTs take a key even though Skip
	// says the function's others do not (heartbeat's borrow and return,
	// whose answers a client that lost them must get again).
	Keyed []string
	// Caller, when set, names the caller of a request from its body, for
	// functions whose credential travels in the body (acquire's license
	// key): two callers that pick the same key must never meet. It returns
	// "" for a body it cannot read (the handler refuses it anyway).
	Caller func(body []byte) string
}

// Takes reports whether POSTs to the route pattern take an Idempotency-Key.
func (i Idempotency) Takes(pattern string) bool {
	return !i.Skip || slices.Contains(i.Keyed, pattern)
}

// Probe is one readiness check: a backend's name and how to tell it
// answers.
type Probe struct {
	Name string
	Ping func(ctx context.Context) error
}

// Deps are what functions are built from: one of each per process.
type Deps struct {
	// Backend is nil when no function served needs Redis or PostgreSQL.
	Backend *backend.Backend
	// Probes are the readiness checks, for functions whose Needs say
	// Probes.
	Probes []Probe
	// Authn checks admin credentials (nil only for functions that need
	// none).
	Authn  *auth.Authenticator
	Limits config.RateLimit
	// Signer signs leases; set only for functions whose Needs say Signer.
	Signer *lease.Signer
	// Root is the root signing key; set only for functions whose Needs
	// say Signer or Root. Issuer names this service in what it signs.
	Root   rootkey.Root
	Issuer string
	// RootPublicKeys lists the root's public keys; set only for functions
	// whose Needs say RootPublicKeys.
	RootPublicKeys rootkey.PublicKeyLister
	Logger         *slog.Logger
	// Console is what the web console's pages are told (not secret).
	Console config.Console
	// Notify are the notification settings and keys; set only for
	// functions whose Needs say Notify.
	Notify config.Notify
	// Nudger is told that outbox events wait (nil: nobody is).
	Nudger Nudger
	// Billing are the Stripe settings; set only for functions whose Needs
	// say Stripe or StripeWebhook.
	Billing config.Billing
}

// Nudger is told, right after a commit that appended outbox events, that
// events wait: production publishes a Pub/Sub message that triggers the
// Notify function; make run wakes its own delivery loop. A lost nudge
// only delays delivery until the next scheduled sweep.
type Nudger interface {
	Nudge(ctx context.Context)
}

// EventHandler is a CloudEvent function, in functions-framework-go's
// signature.
type EventHandler func(ctx context.Context, e event.Event) error

// Spec is one deployable function. Exactly one of HTTP and Event is set.
type Spec struct {
	// Name is what FUNCTION_TARGET selects it by.
	Name        string
	Needs       Needs
	Idempotency Idempotency
	// HTTP builds an HTTP function's routes.
	HTTP func(Deps) (route.Function, error)
	// Event builds a CloudEvent function.
	Event func(Deps) (EventHandler, error)
}
