// Package database wraps the PostgreSQL pool: opening it, transactions, the
// one not-found error, and migrations. Feature stores (shared/tenants,
// shared/licenses) hold their own SQL.
package database

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotFound is returned by stores for a row that does not exist (or that
// belongs to another tenant, which callers must not be able to tell apart).
var ErrNotFound = errors.New("not found")

// DB is the application's handle on PostgreSQL.
type DB struct {
	Pool *pgxpool.Pool
	// Timeout bounds each statement, each wait for a pooled connection
	// (Begin) and each ping when the caller's context allows longer (0:
	// DefaultTimeout). A request's own deadline (REQUEST_TIMEOUT) is usually
	// the shorter one; this bounds what runs without one (the cleanup
	// drain), so a frozen server fails those calls too instead of holding
	// them and their connections forever.
	Timeout time.Duration
}

// DefaultTimeout is DB.Timeout when unset: above the request deadline
// (REQUEST_TIMEOUT, 10s by default), because background work such as a
// drain page of many licenses may take longer than a request should.
const DefaultTimeout = 30 * time.Second

// connectTimeout bounds every connection attempt.
const connectTimeout = 5 * time.Second

// Option configures Open.
type Option func(*options)

type options struct {
	pool    *pgxpool.Config
	timeout time.Duration
	err     error
}

// WithServerCA has the server's certificate verified against the CA in
// caPEM (Cloud SQL's server CA), and its name against serverName ("": the
// URL's host): sslmode=verify-full, with a CA and a name the URL cannot
// carry. The URL must say sslmode=verify-full, so that no fallback to a
// weaker mode is left; an empty caPEM changes nothing.
func WithServerCA(caPEM, serverName string) Option {
	return func(o *options) {
		if caPEM == "" {
			return
		}
		tc := o.pool.ConnConfig.TLSConfig
		if tc == nil || tc.InsecureSkipVerify || len(o.pool.ConnConfig.Fallbacks) > 0 {
			// Anything but verify-full would either send in the clear or
			// skip the name check while the operator believes the server
			// is verified.
			o.err = errors.New("DATABASE_CA_PEM is set but the database URL's sslmode is not verify-full")
			return
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(caPEM)) {
			o.err = errors.New("DATABASE_CA_PEM holds no PEM certificate")
			return
		}
		tc.RootCAs = roots
		if serverName != "" {
			tc.ServerName = serverName
		}
		tc.MinVersion = tls.VersionTLS12
	}
}

// WithPassword replaces the URL's password when p is set (it comes from
// Secret Manager in production).
func WithPassword(p string) Option {
	return func(o *options) {
		if p != "" {
			o.pool.ConnConfig.Password = p
		}
	}
}

// WithTracer has every statement reported to t (metrics); nil adds none.
func WithTracer(t pgx.QueryTracer) Option {
	return func(o *options) {
		if t != nil {
			o.pool.ConnConfig.Tracer = t
		}
	}
}

// WithMaxConns bounds the pool to n connections (DATABASE_MAX_CONNS), in
// place of pgx's default (max(4, NumCPU)) or the URL's pool_max_conns; 0
// or less changes nothing. The deployment sets it per function, so that
// every instance at its max-scale fits Cloud SQL's max_connections.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.pool.MaxConns = int32(min(n, math.MaxInt32))
		}
	}
}

// WithTimeout sets DB.Timeout, the bound of each statement and pool wait
// (0: DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d }
}

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing database url: %w", err)
	}
	o := options{pool: cfg}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	// First, so the tracers after it (metrics) see the bounded context.
	tracers := []pgx.QueryTracer{statementBound{o.timeout}}
	if cfg.ConnConfig.Tracer != nil {
		tracers = append(tracers, cfg.ConnConfig.Tracer)
	}
	cfg.ConnConfig.Tracer = multitracer.New(tracers...)
	// Bound every connection attempt so a dead database fails requests fast
	// instead of holding them until the client gives up.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating database pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to database: %w", connectFailure(err))
	}
	return &DB{Pool: pool, Timeout: o.timeout}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	return connectFailure(db.Pool.Ping(ctx))
}

// bound gives ctx the DB's timeout unless its own deadline is sooner. pgx
// honours it everywhere: waiting for a pooled connection, dialling, and a
// statement on a server that stopped answering (the socket's deadline is
// set when ctx ends, so even a frozen server cannot hold the call).
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := db.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// InTx runs f in a transaction, committing when f returns nil. Begin (its
// wait for a pooled connection included) and Commit are bounded by
// DB.Timeout; f's statements are bounded by the tracer Open installs.
func (db *DB) InTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("starting transaction: %w", connectFailure(err))
	}
	if err := f(tx); err != nil {
		if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, pgx.ErrTxClosed) {
			return fmt.Errorf("rolling back transaction: %w (after %w)", rerr, err)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}

// unreachable marks a failed attempt to connect as a backend that is
// unavailable, which httpjson answers with a 503 to retry: refused, timed
// out, or turned away by the server (starting up, shutting down, out of
// connections, or refusing the login). httpjson cannot test for pgx's
// *pgconn.ConnectError itself (a leaf, it imports no client), and pgx
// connects only when a connection is taken from the pool, which only this
// package does (Open, Ping, InTx's Begin, Migrate), so the mark is put on
// here.
type unreachable struct{ err error }

func (e unreachable) Error() string   { return e.err.Error() }
func (e unreachable) Unwrap() error   { return e.err }
func (unreachable) Unavailable() bool { return true }

// connectFailure marks err unreachable when it is a failed connection
// attempt, and returns any other error (nil included) as it is.
func connectFailure(err error) error {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return unreachable{err}
	}
	return err
}

// NotFound maps pgx.ErrNoRows to ErrNotFound and leaves other errors alone.
func NotFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// IsUniqueViolationOf reports whether err violates the named unique index.
func IsUniqueViolationOf(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// statementBound is a pgx tracer that gives every statement, batch, copy
// and prepare a deadline of d when the caller's context allows longer. pgx
// runs the statement under the context a tracer returns and, when that
// context ends, sets a past deadline on the socket, so a statement sent to
// a frozen server fails after d rather than never. Statements called with
// a store's own context (inside InTx's f) are bounded this way too.
type statementBound struct{ d time.Duration }

type boundCancelKey struct{}

func (b statementBound) start(ctx context.Context) context.Context {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= b.d {
		// Shadow any cancel from an enclosing traced call (pgx prepares a
		// statement inside the query that uses it): its end must not end
		// the enclosing one.
		return context.WithValue(ctx, boundCancelKey{}, context.CancelFunc(nil))
	}
	ctx, cancel := context.WithTimeout(ctx, b.d)
	return context.WithValue(ctx, boundCancelKey{}, cancel)
}

// end releases the timer start made; ctx is the one start returned, which
// pgx hands back to the End hook (for a query, when its rows are closed).
func (statementBound) end(ctx context.Context) {
	if cancel, ok := ctx.Value(boundCancelKey{}).(context.CancelFunc); ok && cancel != nil {
		cancel()
	}
}

func (b statementBound) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return b.start(ctx)
}

func (b statementBound) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	b.end(ctx)
}

func (b statementBound) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return b.start(ctx)
}

func (statementBound) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (b statementBound) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	b.end(ctx)
}

func (b statementBound) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	return b.start(ctx)
}

func (b statementBound) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromEndData) {
	b.end(ctx)
}

func (b statementBound) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return b.start(ctx)
}

func (b statementBound) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareEndData) {
	b.end(ctx)
}
