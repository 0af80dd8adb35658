// Package backend connects to the services behind the functions (Redis and
// PostgreSQL) and builds the stores and the seat engine on them, once per
// process, so every function gets its dependencies explicitly.
package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/cleanup"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/repositories"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/usage"
	"github.com/coditect-ai/license-server/shared/workstations"
)

// Backend holds the connections and what is built on them.
type Backend struct {
	Redis redis.UniversalClient
	// KeyPrefix starts every Redis key the backend's parts write
	// (REDIS_KEY_PREFIX), so tests and deployments sharing a Redis never
	// collide.
	KeyPrefix string
	DB        *database.DB
	Seats     *seats.Engine
	Tenants   *tenants.Store
	Licenses  *licenses.Store
	// APIKeys are the API keys with each lookup's answer kept in Redis
	// for a few seconds (revocation still takes effect at once).
	APIKeys      *apikeys.Cache
	Workstations *workstations.Store
	Repositories *repositories.Store
	// Members are the memberships of people and service accounts, and
	// their sign-in.
	Members *members.Store
	Audit   *audit.Store
	// Usage is the ledger in PostgreSQL; Cleaner sweeps expired sessions
	// and drains the ledger streams into it.
	Usage   *usage.Store
	Cleaner *cleanup.Cleaner
	// Sightings records workstations seen on acquire, in the background.
	Sightings *workstations.Recorder
	Limiter   *ratelimit.Limiter
	// Metrics is what New was given (nil: none), for the functions that
	// record their own outcomes.
	Metrics *metrics.Metrics

	// Licensing writes committed license changes through to the seat
	// engine's Redis and checks tenants are live, for the admin functions.
	Licensing *licensing.Service

	// opts are New's options, which NewForRole gives the role backends too.
	opts []Option
}

// Open connects to Redis and PostgreSQL as the configuration says. m (nil
// for none) counts and times every Redis command and PostgreSQL statement.
func Open(ctx context.Context, c config.Config, logger *slog.Logger, m *metrics.Metrics) (*Backend, error) {
	rdb, err := OpenRedis(ctx, c.Redis)
	if err != nil {
		return nil, err
	}
	db, err := OpenDatabase(ctx, c.Database, m)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	b, err := New(rdb, db, c.Redis.KeyPrefix, logger, m,
		WithAddressLimit(ratelimit.PerSecond(c.RateLimit.PerAddress, max(c.RateLimit.PerAddressBurst, 1))))
	if err != nil {
		rdb.Close()
		db.Close()
		return nil, err
	}
	return b, nil
}

// OpenDatabase connects to PostgreSQL as c says: its URL, with the
// password DATABASE_PASSWORD gives (usually a secret:// reference, resolved
// before the configuration is loaded) in place of the URL's when set. Every
// program that connects goes through here, so none reads one setting and
// ignores the other. m (nil for none) counts and times every statement.
func OpenDatabase(ctx context.Context, c config.Database, m *metrics.Metrics) (*database.DB, error) {
	return database.Open(ctx, c.URL, database.WithPassword(c.Password), database.WithServerCA(c.CAPEM, c.ServerName),
		database.WithMaxConns(c.MaxConns), database.WithTracer(m.PostgresTracer()))
}

// Option configures what New builds.
type Option func(*options)

type options struct{ perAddress ratelimit.Limit }

// WithAddressLimit limits, per client address, the PostgreSQL reads that
// no credential has paid for yet: loading a license Redis does not know
// (an acquire's license key names it), and looking up an API key Redis
// holds no answer for. Each is counted just before the read, so calls that
// Redis answers alone never pay for the count. A zero rate, or no option,
// leaves them unlimited.
func WithAddressLimit(l ratelimit.Limit) Option {
	return func(o *options) { o.perAddress = l }
}

// OpenDatabaseAs connects to PostgreSQL as a function role: DATABASE_URL's
// server and database, with the role as user name and its password
// DATABASE_PASSWORD_<CLASS> (none: the server must trust the login, as the
// local and test servers do). A process serving several functions opens
// one pool per role this way, so each function keeps its own role's
// rights.
func OpenDatabaseAs(ctx context.Context, c config.Database, role database.Role, m *metrics.Metrics) (*database.DB, error) {
	u, err := database.URLAs(c.URL, role)
	if err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, u, database.WithPassword(c.RolePasswords[role.Class()]), database.WithMaxConns(c.MaxConns),
		database.WithTracer(m.PostgresTracer()))
	if err != nil {
		return nil, fmt.Errorf("connecting as %s: %w", role, err)
	}
	return db, nil
}

// New builds a backend on open connections. m (nil for none) gets a hook on
// rdb counting its commands, which must therefore be a client no other
// backend was built on with metrics (hooks stack); the seat gauges and the
// cleanup runs are reported to it too. PostgreSQL statements are counted
// only when db was opened with m's tracer (Open does that).
func New(rdb redis.UniversalClient, db *database.DB, keyPrefix string, logger *slog.Logger, m *metrics.Metrics, opts ...Option) (*Backend, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	b := &Backend{Redis: rdb, DB: db, Metrics: m, KeyPrefix: keyPrefix, opts: opts}
	var err error
	if b.Limiter, err = ratelimit.New(rdb, keyPrefix); err != nil {
		return nil, err
	}
	perAddress := ratelimit.Rule{Limiter: b.Limiter, Limit: o.perAddress}
	if hook := m.RedisHook(scriptSources()); hook != nil {
		rdb.AddHook(hook)
	}
	if b.Licenses, err = licenses.NewStore(db); err != nil {
		return nil, err
	}
	if b.Tenants, err = tenants.NewStore(db); err != nil {
		return nil, err
	}
	keys, err := apikeys.NewStore(db)
	if err != nil {
		return nil, err
	}
	if b.APIKeys, err = apikeys.NewCache(keys, rdb, keyPrefix, apikeys.CacheConfig{BeforeRead: perAddress.Guard}); err != nil {
		return nil, err
	}
	if b.Workstations, err = workstations.NewStore(db); err != nil {
		return nil, err
	}
	if b.Members, err = members.NewStore(db); err != nil {
		return nil, err
	}
	if b.Repositories, err = repositories.NewStore(db); err != nil {
		return nil, err
	}
	if b.Audit, err = audit.NewStore(db); err != nil {
		return nil, err
	}
	// Concurrent acquires, heartbeats and releases share pipelines: a
	// script call's round trip costs both sides more than the script.
	// A license Redis does not know is read from PostgreSQL only within
	// the per-address limit; one PostgreSQL does not know either is then
	// remembered in Redis (seats.DefaultUnknownLicenseTTL).
	load := func(ctx context.Context, id string) (seats.License, error) {
		if err := perAddress.Guard(ctx); err != nil {
			return seats.License{}, err
		}
		return b.Licenses.SeatLicense(ctx, id)
	}
	if b.Seats, err = seats.New(rdb, keyPrefix, load,
		seats.Pipelined(seats.DefaultPipelineLanes, seats.DefaultPerPipeline)); err != nil {
		return nil, err
	}
	m.CountSeatsWith(b.Seats.Count)
	if b.Licensing, err = licensing.New(b.Licenses, b.Tenants, b.Seats); err != nil {
		return nil, err
	}
	if b.Usage, err = usage.NewStore(db); err != nil {
		return nil, err
	}
	alerts, err := outbox.NewStore(db)
	if err != nil {
		return nil, err
	}
	observe := []cleanup.Option{cleanup.WithSeatAlerts(alerts)}
	if m != nil {
		observe = append(observe, cleanup.WithObserver(cleanupMetrics{m}))
	}
	if b.Cleaner, err = cleanup.New(rdb, keyPrefix, b.Seats, b.Usage, b.Licensing, cleanup.DefaultLimits(), logger, observe...); err != nil {
		return nil, err
	}
	b.Sightings = workstations.NewRecorder(b.Workstations, logger, sightingsFlush)
	m.CountDroppedSightingsWith(b.Sightings.Dropped)
	return b, nil
}

// NewForRole builds, on base's Redis and key prefix, a backend whose
// PostgreSQL pool db logs in as a function role, for a process that serves
// functions of several roles. It reports to base's metrics without adding
// hooks to the shared Redis client a second time; the seats role's backend
// holds the engine and workstation recorder acquire uses, so the seat and
// dropped-sightings gauges read those.
func NewForRole(base *Backend, db *database.DB, role database.Role, logger *slog.Logger) (*Backend, error) {
	// The same options (the per-address limit before PostgreSQL reads):
	// a role's backend is base's, logged in as another role.
	b, err := New(base.Redis, db, base.KeyPrefix, logger, nil, base.opts...)
	if err != nil {
		return nil, err
	}
	b.Metrics = base.Metrics
	switch {
	case b.Metrics == nil:
	case role == database.RoleSeats:
		b.Metrics.CountSeatsWith(b.Seats.Count)
		b.Metrics.CountDroppedSightingsWith(b.Sightings.Dropped)
	case role == database.RoleCleanup:
		// Its runs are the ones the cleanup function makes.
		alerts, err := outbox.NewStore(db)
		if err != nil {
			b.Sightings.Close()
			return nil, err
		}
		if b.Cleaner, err = cleanup.New(base.Redis, base.KeyPrefix, b.Seats, b.Usage, b.Licensing, cleanup.DefaultLimits(), logger,
			cleanup.WithObserver(cleanupMetrics{b.Metrics}), cleanup.WithSeatAlerts(alerts)); err != nil {
			b.Sightings.Close()
			return nil, err
		}
	}
	return b, nil
}

// cleanupMetrics reports cleanup runs to the metrics. The adapter lives
// here, where the cleaner and the metrics meet, so that neither imports the
// other: metrics stays a leaf, and cleanup keeps its Observer.
type cleanupMetrics struct{ m *metrics.Metrics }

func (o cleanupMetrics) CleanupRun(res cleanup.Result, took time.Duration, err error) {
	o.m.CleanupRun(metrics.Cleanup{Skipped: res.Skipped, Failed: err != nil, Licenses: res.Licenses,
		Expired: res.Expired, Drained: res.Drained, Lag: res.Lag, Took: took})
}

// sightingsFlush is how often workstations seen on acquire reach PostgreSQL.
const sightingsFlush = 500 * time.Millisecond

// scriptSources maps every Lua script's name to its source, so the metrics
// label an EVALSHA with the script it runs.
func scriptSources() map[string]string {
	all := lua.Load().All()
	out := make(map[string]string, len(all))
	for _, s := range all {
		out[s.Name] = s.Source
	}
	return out
}

// Close flushes what is queued and closes the connections.
func (b *Backend) Close() {
	b.Sightings.Close()
	b.Redis.Close()
	b.DB.Close()
}

// OpenRedis connects to a single Redis or a Redis Cluster. Every call is
// bounded by the configured timeout, so a Redis that is down or frozen fails
// requests fast (a 503 the SDK retries) instead of piling them up.
func OpenRedis(ctx context.Context, c config.Redis) (redis.UniversalClient, error) {
	if c.URL == "" {
		return nil, errors.New("no Redis URL")
	}
	var roots *x509.CertPool
	if c.CAPEM != "" {
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, errors.New("REDIS_CA_PEM holds no PEM certificate")
		}
	}
	// bound applies the per-call timeout, the password kept out of the URL
	// and the server's CA.
	bound := func(dial, read, write, pool *time.Duration, poolSize *int, password *string, tlsConfig *tls.Config, useCtx *bool) error {
		*dial, *read, *write, *pool = c.Timeout, c.Timeout, c.Timeout, c.Timeout
		// Explicit (REDIS_POOL_SIZE), so that the connection budget holds
		// whatever the node's CPUs; 0 leaves go-redis's default.
		if c.PoolSize > 0 {
			*poolSize = c.PoolSize
		}
		// The per-call deadline (callDeadline) and the request's reach the
		// socket only with this on.
		*useCtx = true
		if c.Password != "" {
			*password = c.Password
		}
		if roots != nil {
			if tlsConfig == nil {
				// A CA with a plain-text URL would send the AUTH string in
				// the clear while the operator believes it is protected.
				return errors.New("REDIS_CA_PEM is set but REDIS_URL is not rediss://")
			}
			tlsConfig.RootCAs = roots
		}
		return nil
	}
	var rdb redis.UniversalClient
	if c.Cluster {
		opts, err := redis.ParseClusterURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
		}
		if err := bound(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.PoolSize, &opts.Password, opts.TLSConfig,
			&opts.ContextTimeoutEnabled); err != nil {
			return nil, err
		}
		rdb = redis.NewClusterClient(opts)
	} else {
		opts, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
		}
		if err := bound(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.PoolSize, &opts.Password, opts.TLSConfig,
			&opts.ContextTimeoutEnabled); err != nil {
			return nil, err
		}
		rdb = redis.NewClient(opts)
	}
	rdb.AddHook(callDeadline(c.Timeout))
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connecting to redis: %w", err)
	}
	return rdb, nil
}

// callDeadline bounds each Redis call as a whole by d. The client's own
// timeouts bound each step (pool wait, dial, write, read) but go-redis
// retries a call after a read timeout or a pool timeout, so on a frozen
// Redis the steps added up to several times d. With the deadline on the
// context the retries happen only within d (a call on a pooled connection
// that a Redis restart broke is still retried at once on a new one).
type callDeadline time.Duration

func (callDeadline) DialHook(next redis.DialHook) redis.DialHook { return next }

func (d callDeadline) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		ctx, cancel := d.bound(ctx)
		defer cancel()
		return next(ctx, cmd)
	}
}

func (d callDeadline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		ctx, cancel := d.bound(ctx)
		defer cancel()
		return next(ctx, cmds)
	}
}

// bound leaves alone a context whose own deadline is sooner (a request
// about to run out of time): it needs no timer of ours.
func (d callDeadline) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= time.Duration(d) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, time.Duration(d))
}

// PingRedis checks Redis answers.
func (b *Backend) PingRedis(ctx context.Context) error { return b.Redis.Ping(ctx).Err() }
