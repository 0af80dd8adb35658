// Command devserver is `make run`: every function on one local server, on the
// same public paths production uses. It needs nothing but Go and the
// PostgreSQL server binaries: without REDIS_URL it runs an embedded Redis
// (miniredis, which runs the same Lua scripts), and without DATABASE_URL a
// throwaway PostgreSQL cluster in a temporary directory. It applies the
// migrations, and prints the admin token and a walkthrough to paste.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/billingschedule"
	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/cmd/internal/server"
	"github.com/coditect-ai/license-server/functions/notify"
	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/gctune"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/nudge"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/secrets"
)

const (
	// cleanupInterval is how often the local timer sweeps and drains
	// (CLEANUP_INTERVAL overrides it); production's schedule is a minute.
	cleanupInterval = 15 * time.Second
	// logFlush bounds how long a log line waits in the buffer.
	logFlush = 100 * time.Millisecond
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Here, not in run: it changes the process, and tests call run.
	gctune.Apply(config.Env, gctune.CgroupMemoryMax)
	if err := run(ctx, config.Env, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. A nil listener means listen on PORT.
func run(ctx context.Context, env config.Lookup, out io.Writer, ln net.Listener) error {
	cfg, err := secrets.LoadConfig(ctx, env, secrets.OpenManager)
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "devserver: "+format+"\n", args...) }

	if cfg.Redis.URL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return fmt.Errorf("starting embedded redis: %w", err)
		}
		defer mr.Close()
		cfg.Redis.URL = "redis://" + mr.Addr()
		logf("REDIS_URL not set: using an embedded Redis (miniredis) at %s; its data lives as long as this process", mr.Addr())
	}
	if cfg.Database.URL == "" {
		pg, err := startThrowawayPostgres(ctx, logf)
		if err != nil {
			return fmt.Errorf("DATABASE_URL not set and no throwaway PostgreSQL could be started: %w", err)
		}
		defer pg.Stop()
		cfg.Database.URL = pg.URL
		logf("DATABASE_URL not set: using a throwaway PostgreSQL cluster, removed on exit")
	}
	token := cfg.Admin.BootstrapToken
	if token == "" {
		if token, err = newToken(); err != nil {
			return err
		}
	}

	// One line per request, written in batches (see logging.Buffered).
	logs := logging.NewBuffered(out, 64<<10, logFlush)
	defer logs.Close()
	logger := logging.New(logs, cfg.LogLevel)
	redis.SetLogger(logging.RedisLogger{Logger: logger})
	m, err := metrics.New(ctx, metrics.Options{OTLPEndpoint: cfg.Metrics.OTLPEndpoint})
	if err != nil {
		return err
	}
	// Last to run: flushes what the OTLP exporter (if any) has not pushed.
	defer func() { _ = m.Shutdown(context.WithoutCancel(ctx)) }()
	b, err := backend.Open(ctx, cfg, logger, m)
	if err != nil {
		return err
	}
	defer b.Close()
	applied, err := database.Migrate(ctx, b.DB, schema.Files)
	if err != nil {
		return err
	}
	logf("migrations applied: %v", applied)
	// Every function connects as its own role, as in production: the
	// roles get fresh passwords (this process's only), so the local server
	// works whatever authentication its PostgreSQL asks for.
	if cfg.Database.RolePasswords, err = rolePasswords(ctx, b.DB); err != nil {
		return err
	}
	roles, closeRoles, err := compose.OpenRoles(ctx, b, cfg.Database, false, compose.Specs(), logger, m)
	if err != nil {
		return err
	}
	defer closeRoles()

	cfg.Admin.BootstrapToken = token
	// Locally the printed token keeps working after someone signs in as a
	// platform admin (production retires it then, unless told otherwise).
	if v, _ := env("BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN"); v == "" {
		cfg.Admin.BootstrapAfterPlatformAdmin = true
	}
	// Open before building: the console is told the stand-in's address.
	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listening on port %d: %w", cfg.Port, err)
		}
	}
	defer ln.Close() // closed by Serve too; this is for the returns before it
	// With no identity provider configured (AUTH_*), make run brings its
	// own: a stand-in for Identity Platform's e-mail link sign-in (idp.go),
	// whose tokens the API checks as production checks Google's.
	var opts []compose.Option
	var idp *devIDP
	if cfg.Auth.JWKSURL == "" {
		if idp, err = newDevIDP(devProject, logf); err != nil {
			return err
		}
		v, stopVerifier, err := idp.startVerifier(ctx)
		if err != nil {
			return err
		}
		defer stopVerifier()
		opts = append(opts, compose.WithVerifier(v))
		cfg.Console.DevSignIn = baseURL(ln) + devIDPPrefix
		cfg.Console.Project = devProject
		cfg.Console.TokenSignIn = true
	}
	if err := devNotify(&cfg.Notify, env, baseURL(ln), logf); err != nil {
		return err
	}
	if err := devBilling(&cfg.Billing, logf); err != nil {
		return err
	}
	// Changes nudge the local delivery loop (below), as they publish to
	// Pub/Sub in production.
	nudges := nudge.NewLocal()
	opts = append(opts, compose.WithNudger(nudges))
	built, err := compose.Build(ctx, b, roles, cfg, logger, m, compose.Specs(), opts...)
	if err != nil {
		return err
	}
	every, err := interval(env)
	if err != nil {
		return err
	}
	clean := built.Events[cleanup.Name]
	deliver := built.Events[notify.Name]
	billed := built.Events[billingschedule.Name]
	// Not routed by production's Ingress: there the schedule triggers it.
	// A plain POST runs it by hand (the walkthrough does).
	mux := http.NewServeMux()
	mux.Handle("/internal/cleanup", m.HTTP(cleanup.Name, "/internal/cleanup", route.CloudEvents(clean, cleanup.TypeManual)))
	mux.Handle("/internal/notify", m.HTTP(notify.Name, "/internal/notify", route.CloudEvents(deliver, notify.TypeManual)))
	mux.Handle("/internal/billing", m.HTTP(billingschedule.Name, "/internal/billing",
		route.CloudEvents(billed, billingschedule.TypeManual)))
	// GET /metrics comes with the routes (route.Options.Metrics).
	mux.Handle("/", route.Mux(route.Options{Logger: logger, ProjectID: cfg.ProjectID, Metrics: m,
		RequestTimeout: cfg.RequestTimeout, ClientAddress: clientaddr.Resolver{Index: cfg.ClientAddressIndex},
		CORSOrigins: cfg.CORSAllowedOrigins}, built.HTTP...))
	if idp != nil {
		// Under /dev/idp/, and where the Firebase Auth SDK calls it: at
		// Google's host names, as paths of this origin (idp.go).
		for _, p := range []string{devIDPPrefix + "/", "/" + identityToolkitHost + "/", "/" + secureTokenHost + "/"} {
			mux.Handle(p, idp)
		}
	}
	if v, _ := env("DEVSERVER_PPROF"); v == "true" {
		// For make bench's -cpuprofile: profiles of the local server only.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	}
	timerCtx, stopTimer := context.WithCancel(ctx)
	timerDone := make(chan struct{})
	go func() {
		defer close(timerDone)
		runCleanupEvery(timerCtx, every, clean, billed)
	}()
	notifyDone := make(chan struct{})
	go func() {
		defer close(notifyDone)
		runNotify(timerCtx, every, nudges.C(), deliver)
	}()
	// Stopped, and waited for, before the backends close.
	defer func() { stopTimer(); <-timerDone; <-notifyDone }()
	fmt.Fprint(out, banner(baseURL(ln), token, idp != nil))
	// The same server, timeouts and graceful shutdown as production; the
	// backends close afterwards (the deferred calls, in reverse order of
	// opening).
	if err := server.Serve(ctx, ln, mux, server.Defaults()); err != nil {
		return err
	}
	logf("stopped")
	return nil
}

// interval reads CLEANUP_INTERVAL.
func interval(env config.Lookup) (time.Duration, error) {
	v, ok := env("CLEANUP_INTERVAL")
	if !ok || v == "" {
		return cleanupInterval, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("CLEANUP_INTERVAL must be a positive duration such as 15s, not %q", v)
	}
	return d, nil
}

// runCleanupEvery is the local stand-in for the production schedule: it
// sends the cleanup function a PingSource-shaped event every interval until
// ctx ends. Failures are logged by the function and retried next tick.
func runCleanupEvery(ctx context.Context, every time.Duration, fns ...function.EventHandler) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			e := cloudevents.NewEvent()
			e.SetType(cleanup.TypePing)
			e.SetSource("/devserver/timer")
			e.SetID(strconv.FormatInt(now.UnixNano(), 10))
			for _, fn := range fns {
				_ = fn(ctx, e)
			}
		}
	}
}

// runNotify is the local stand-in for Notify's triggers: the minute sweep
// (every interval here) and the nudges that changes publish (nudged).
func runNotify(ctx context.Context, every time.Duration, nudged <-chan struct{}, fn function.EventHandler) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		case <-nudged:
			now = time.Now()
		}
		e := cloudevents.NewEvent()
		e.SetType(notify.TypeManual)
		e.SetSource("/devserver/notify")
		e.SetID(strconv.FormatInt(now.UnixNano(), 10))
		_ = fn(ctx, e)
	}
}

// devNotify fills in what make run's notifications need and the
// environment left unset: keys made for this process (webhook secrets and
// mail links made now do not outlive it, like the throwaway database),
// links to this server, and webhooks allowed to reach receivers on this
// machine over plain HTTP (production allows neither). Mail goes to the
// log unless SMTP_ADDR or SENDGRID_API_KEY is set.
func devNotify(n *config.Notify, env config.Lookup, base string, logf func(string, ...any)) error {
	for _, k := range []struct {
		name string
		key  *[]byte
	}{{"NOTIFY_SECRETS_KEY", &n.SecretsKey}, {"NOTIFY_LINK_KEY", &n.LinkKey}} {
		if len(*k.key) > 0 {
			continue
		}
		*k.key = make([]byte, 32)
		if _, err := rand.Read(*k.key); err != nil {
			return fmt.Errorf("making %s: %w", k.name, err)
		}
	}
	if v, _ := env("PUBLIC_URL"); v == "" {
		n.PublicURL = base
	}
	if v, _ := env("WEBHOOK_ALLOW_HTTP"); v == "" {
		n.WebhookAllowHTTP = true
	}
	if v, _ := env("WEBHOOK_ALLOW_CIDRS"); v == "" {
		n.WebhookAllowCIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if v, _ := env("MAIL_TO_LOG"); v == "" {
		n.MailToLog = true
	}
	switch {
	case n.SendGridAPIKey != "":
		logf("mail: sent through SendGrid (%s)", n.SendGridURL)
	case n.SMTPAddr != "":
		logf("mail: sent over SMTP to %s", n.SMTPAddr)
	default:
		logf("mail: written to this log (set SMTP_ADDR to send to an SMTP server, e.g. mailpit)")
	}
	return nil
}

// devBilling fills in what make run's billing needs and the environment
// left unset: a Stripe test key with Stripe's API at stripe-mock's default
// address (`go run github.com/stripe/stripe-mock@v0.203.0` listens there),
// and, without STRIPE_WEBHOOK_SECRET, a random signing secret that is
// never shown: no delivery verifies until you set the one the Stripe CLI's
// `stripe listen` prints (a secret is never written to the log).
func devBilling(b *config.Billing, logf func(string, ...any)) error {
	if b.StripeAPIKey == "" {
		b.StripeAPIKey = "sk_test_devserver"
		if b.StripeAPIURL == "" {
			b.StripeAPIURL = "http://127.0.0.1:12111"
		}
	}
	if b.StripeWebhookSecret == "" {
		secret, err := newToken()
		if err != nil {
			return fmt.Errorf("making the Stripe webhook secret: %w", err)
		}
		b.StripeWebhookSecret = "whsec_" + secret
		logf("billing: Stripe webhooks refused until STRIPE_WEBHOOK_SECRET is set (e.g. from `stripe listen`)")
	}
	api := b.StripeAPIURL
	if api == "" {
		api = "Stripe"
	}
	logf("billing: Stripe calls go to %s", api)
	return nil
}

// rolePasswords gives every function role a new random password and
// returns them by class, as DATABASE_PASSWORD_<CLASS> would.
func rolePasswords(ctx context.Context, db *database.DB) (map[string]string, error) {
	byRole := map[database.Role]string{}
	byClass := map[string]string{}
	for _, r := range database.Roles() {
		p, err := newToken()
		if err != nil {
			return nil, err
		}
		byRole[r], byClass[r.Class()] = p, p
	}
	if err := database.SetPasswords(ctx, db, byRole); err != nil {
		return nil, err
	}
	return byClass, nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating admin token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func baseURL(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return "http://127.0.0.1:" + port
}
