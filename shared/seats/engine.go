// Package seats counts floating-license seats in Redis.
//
// Every seat change is one Lua script (package lua) run atomically by Redis,
// so no interleaving of function instances can hand out more seats than a
// license has. Each method here is a typed wrapper around one script: the
// KEYS/ARGV order is written down only in this package.
package seats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Errors a caller maps to API answers.
var (
	ErrLicenseNotFound = errors.New("license not found")
	ErrLicenseInactive = errors.New("license inactive")
	ErrNoSeats         = errors.New("no seats available")
	ErrSessionNotFound = errors.New("session not found")
	// ErrUserRequired: the license's policy needs a user (an authenticated
	// one of its tenant, when it requires users).
	ErrUserRequired = errors.New("user required")
	// ErrUserMissing: the policy counts seats per user and no user was given.
	ErrUserMissing = errors.New("user missing")
	// ErrWrongTenant: the authenticated caller belongs to another tenant.
	ErrWrongTenant = errors.New("caller of another tenant")
	// ErrWorkstationBlocked: an admin blocked this workstation.
	ErrWorkstationBlocked = errors.New("workstation blocked")
	// ErrSessionRevoked: an admin ended the session (heartbeat only).
	ErrSessionRevoked = errors.New("session revoked")
)

// UserLimitError: the person already holds the most seats the license allows
// one person. It matches ErrNoSeats.
type UserLimitError struct{ Used, Max int }

func (e *UserLimitError) Error() string {
	return fmt.Sprintf("this user already holds %d of the %d seats one user may hold", e.Used, e.Max)
}

// Is makes errors.Is(err, ErrNoSeats) true.
func (e *UserLimitError) Is(target error) bool { return target == ErrNoSeats }

// MaxHoldersPerSeat bounds the holders of one shared seat whatever the
// license's policy says (lua/common.lua's MAX_HOLDERS): the work and memory
// of one session stay small however many processes a key is used from.
const MaxHoldersPerSeat = 256

// InstanceLimitError: the workstation's seat already has as many holders
// (processes) as the license allows one seat; Max is the policy's
// max_instances_per_seat, or MaxHoldersPerSeat when the policy sets none.
type InstanceLimitError struct{ Holders, Max int }

func (e *InstanceLimitError) Error() string {
	return fmt.Sprintf("this seat already has %d holders, the most one seat may have (%d)", e.Holders, e.Max)
}

// RateLimitedError: the license took more acquires than its rate allows;
// RetryAfter says when the next one will be let through.
type RateLimitedError struct {
	RetryAfter time.Duration
	Limit      RateLimit
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("acquire rate limit of the license reached; retry in %s", e.RetryAfter)
}

// NoSeatsError tells how full the license is. It matches ErrNoSeats.
type NoSeatsError struct{ Used, Seats int }

func (e *NoSeatsError) Error() string {
	return fmt.Sprintf("all %d seats are in use (%d live sessions)", e.Seats, e.Used)
}

// Is makes errors.Is(err, ErrNoSeats) true.
func (e *NoSeatsError) Is(target error) bool { return target == ErrNoSeats }

// License is the metadata the scripts need, written through from PostgreSQL.
type License struct {
	ID           string
	TenantID     string
	KeyHash      string
	Status       string // active, suspended or deleted
	TenantStatus string // active, suspended or deleted
	Seats        int
	LeaseTTL     time.Duration
	ExpiresAt    time.Time // zero: never
	// Policy.
	RequireUser     bool // acquire needs an authenticated user of the tenant
	MaxSeatsPerUser int  // 0: no limit
	PerUser         bool // one seat per person rather than per workstation
	// MaxInstancesPerSeat bounds the processes holding one shared seat
	// (0: only MaxHoldersPerSeat).
	MaxInstancesPerSeat int
	LingerSeconds       int // a released seat keeps counting this long for its holder to resume (0: off)
	ReviveSeconds       int // a heartbeat this long after expiry revives the session if a seat is free (0: off)
	// OverageMode and OverageValue are the overage policy: how many
	// sessions beyond Seats acquire grants (see Allowance).
	OverageMode  string
	OverageValue int
	// Borrow is the offline-checkout policy (nil: borrowing off).
	Borrow   *BorrowPolicy
	Blocked  []string // the tenant's blocked workstation fingerprints
	Revision int64
	// After a key rotation, the previous key's hash opens the license for
	// acquires until PreviousKeyExpiresAt (by the Redis clock); "" or a
	// zero time: no previous key.
	PreviousKeyHash      string
	PreviousKeyExpiresAt time.Time
}

// Overage modes: how a license's allowance (the most live sessions acquire
// grants) follows from its seats.
const (
	OverageNone      = "none"      // seats
	OveragePercent   = "percent"   // seats + floor(seats × value / 100)
	OverageAbsolute  = "absolute"  // seats + value
	OverageUnlimited = "unlimited" // no bound
)

// Seat classes: a session granted within seats is entitled; one granted
// beyond them (within the overage allowance) is overage until an entitled
// seat frees and it becomes entitled, oldest first.
const (
	SeatEntitled = "entitled"
	SeatOverage  = "overage"
)

// Allowance is the most live sessions acquire grants under the license's
// overage policy: Seats for none (or a mode it does not know), -1 for
// unlimited.
func (l License) Allowance() int {
	v := max(l.OverageValue, 0)
	switch l.OverageMode {
	case OveragePercent:
		return l.Seats + l.Seats*v/100
	case OverageAbsolute:
		return l.Seats + v
	case OverageUnlimited:
		return -1
	}
	return l.Seats
}

// Loader reads a license's metadata from the system of record. It returns
// ErrLicenseNotFound when there is no such license. The engine calls it only
// when Redis has no metadata for a license (first use, or Redis lost its data),
// so the hot path makes no database round trip in steady state.
type Loader func(ctx context.Context, licenseID string) (License, error)

// Engine runs the seat scripts.
type Engine struct {
	rdb     redis.UniversalClient
	prefix  string
	load    Loader
	scripts scripts
	// unknownTTL is how long Redis remembers that the loader found no
	// such license (see UnknownLicenseTTL).
	unknownTTL time.Duration
	// hot sends the acquire, heartbeat and release scripts; batched, it
	// pipelines the calls of concurrent requests.
	hot func(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd
}

// Option configures an Engine.
type Option func(*Engine)

// Pipelined has the acquire, heartbeat and release calls of concurrent
// requests sent to Redis together, at most lanes pipelines in flight and
// perPipeline calls in each (see batcher). lanes 0 sends each call on its
// own.
func Pipelined(lanes, perPipeline int) Option {
	return func(e *Engine) {
		if lanes > 0 {
			e.hot = newBatcher(e.rdb, lanes, perPipeline).run
		}
	}
}

// UnknownLicenseTTL sets how long the engine remembers, in Redis, that the
// loader found no license of an id: acquires naming it meanwhile are
// answered not found by the acquire script alone, so a flood of made-up
// license keys reads PostgreSQL once per id per ttl. Writing a license
// through (SyncLicense, which every create does) ends the mark at once.
func UnknownLicenseTTL(ttl time.Duration) Option {
	return func(e *Engine) {
		if ttl > 0 {
			e.unknownTTL = ttl
		}
	}
}

// DefaultUnknownLicenseTTL is how long an unknown license id is remembered
// unless UnknownLicenseTTL says otherwise. Ids are random UUIDs the server
// makes and every create writes its license through, which ends the mark,
// so a mark can only be wrong for a license that came back in a PostgreSQL
// restore: for this long at most.
const DefaultUnknownLicenseTTL = 30 * time.Second

// DefaultPipelineLanes and DefaultPerPipeline are what the backend uses.
// One lane: while a pipeline is in flight the next one fills, so calls
// travel in fewer, larger pipelines, and the replies come back in one
// regular wave instead of two interleaved ones; in make bench one lane gave
// a tighter acquire tail and more heartbeats than two, and fewer calls per
// pipeline no gain (figures: BENCHMARKS.md, "Figures the code relies on").
const (
	DefaultPipelineLanes = 1
	DefaultPerPipeline   = 64
)

// New returns an engine using rdb (a single node or a cluster). Every key it
// touches starts with prefix, so tests and tenants of one Redis never collide.
func New(rdb redis.UniversalClient, prefix string, load Loader, opts ...Option) (*Engine, error) {
	if rdb == nil {
		return nil, errors.New("seats: nil redis client")
	}
	if load == nil {
		return nil, errors.New("seats: nil loader")
	}
	e := &Engine{rdb: rdb, prefix: prefix, load: load, scripts: loadScripts(), unknownTTL: DefaultUnknownLicenseTTL}
	e.hot = func(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
		return script.Run(ctx, e.rdb, keys, args...)
	}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// scripts are the seat scripts, each wrapped once: a field per script, so
// a method can only run one that exists.
type scripts struct {
	acquire, heartbeat, release, syncLicense, sessions, count, sweep, revoke namedScript
	borrow, returnBorrow, borrowedBy, revokedBorrows                         namedScript
}

// namedScript is a script ready to run (EVALSHA, falling back to EVAL),
// with its name for error messages.
type namedScript struct {
	*redis.Script
	name string
}

func loadScripts() scripts {
	l := lua.Load()
	wrap := func(s lua.Script) namedScript { return namedScript{Script: redis.NewScript(s.Source), name: s.Name} }
	return scripts{acquire: wrap(l.Acquire), heartbeat: wrap(l.Heartbeat), release: wrap(l.Release),
		syncLicense: wrap(l.SyncLicense), sessions: wrap(l.Sessions), count: wrap(l.Count), sweep: wrap(l.Sweep),
		revoke: wrap(l.Revoke), borrow: wrap(l.Borrow), returnBorrow: wrap(l.Return), borrowedBy: wrap(l.BorrowedBy),
		revokedBorrows: wrap(l.RevokedBorrows)}
}

// keys of one license; the {id} hash tag keeps them in one cluster slot.
// unknown marks an id the loader found no license of (see
// UnknownLicenseTTL). ended holds the tombstones of sessions an operator
// ended (see lua/common.lua).
// ov holds the sessions of class overage; bw the borrowed sessions, rb the
// revoked borrows and rp the return proofs used (see lua/common.lua).
type licenseKeys struct {
	meta, live, info, users, blocked, events, unknown, ended, ov string
	bw, rb, rp                                                   string
}

func (e *Engine) keys(licenseID string) licenseKeys {
	base := e.prefix + "{" + licenseID + "}:"
	return licenseKeys{meta: base + "m", live: base + "l", info: base + "i",
		users: base + "u", blocked: base + "b", events: base + "e", unknown: base + "n", ended: base + "x", ov: base + "o",
		bw: base + "w", rb: base + "r", rp: base + "p"}
}

// registry is the set of every license whose metadata was ever written to
// Redis: a superset of the licenses that can have sessions or ledger
// entries, so the sweep finds them all without KEYS.
func (e *Engine) registry() string { return e.prefix + "{registry}:licenses" }

// Grant is a seat held by a session.
type Grant struct {
	// SessionID is the session's bearer credential, for its holder only.
	SessionID string
	// SessionDigest names the session in leases and everywhere else.
	SessionDigest string
	LicenseID     string
	TenantID      string // of the license
	Fingerprint   string
	// PerUser: the license leases per person, so one session may be held
	// from several workstations (heartbeat only).
	PerUser    bool
	ExpiresAt  time.Time
	LeaseTTL   time.Duration
	SeatsUsed  int
	SeatsTotal int
	// Resumed: the workstation (or person) already held this session, or
	// had released it and took it back while it lingered.
	Resumed bool
	// Revived: the session had expired and a heartbeat took it back within
	// the license's revive window (heartbeat only).
	Revived bool
	// RateRemaining is how many more acquires of the license the rate
	// limit lets through at once (-1: no limit; acquire only).
	RateRemaining int
	// SeatClass is the session's class now: SeatEntitled, or SeatOverage
	// while it holds one of the seats the overage policy allows beyond
	// the license's (it becomes entitled when an older seat frees).
	SeatClass string
}

// AcquireRequest names a license by id and the key presented.
type AcquireRequest struct {
	LicenseID string
	// LicenseKey is checked, by its hash, against the license's; the
	// session id is derived from it (tokens.DeriveSession).
	LicenseKey  string
	Fingerprint string
	Hostname    string
	OS          string
	Repository  string
	// User is the person: the authenticated caller's subject when there is
	// one, else what the client says.
	User string
	// CallerTenants are the tenants the authenticated caller belongs to
	// (an API key's one; a person's memberships), none when the call
	// carries only the license key. require_user needs the license's
	// tenant among them, checked in the script with the license's own
	// tenant, so no tenant has to be picked before Redis is asked.
	CallerTenants []string
	// RateLimit bounds acquires per license, checked in the same script
	// (zero: no limit).
	RateLimit RateLimit
	// InstanceID names the process acquiring: several processes of one
	// workstation (or person, under per-user leasing) then share its seat,
	// each holding it until it releases or lapses, and the seat frees with
	// the last of them. "" is one anonymous holder, the behaviour before
	// holders: any release frees the seat.
	InstanceID string
}

// RateLimit is a per-license acquire rate: PerSecond on average, Burst at
// once.
type RateLimit struct{ PerSecond, Burst int }

// Acquire takes a seat, or resumes the workstation's live session.
func (e *Engine) Acquire(ctx context.Context, req AcquireRequest) (Grant, error) {
	s, err := tokens.NewSession(req.LicenseID, req.LicenseKey)
	if err != nil {
		return Grant{}, fmt.Errorf("acquire: %w", ErrLicenseNotFound)
	}
	k := e.keys(req.LicenseID)
	res, err := e.runWithMeta(ctx, req.LicenseID, e.scripts.acquire,
		[]string{k.meta, k.live, k.info, k.users, k.blocked, k.events, k.unknown, k.ov},
		tokens.Hash(req.LicenseKey), req.Fingerprint, s.Digest, req.Hostname, req.User, req.OS, req.Repository,
		strings.Join(req.CallerTenants, " "), req.RateLimit.PerSecond, req.RateLimit.Burst, s.Nonce, req.InstanceID)
	if err != nil {
		return Grant{}, err
	}
	return acquireReply(res, req, s)
}

// acquireReply turns the acquire script's reply into the grant, or the
// refusal, it stands for. A reply of the wrong shape is an error, never a
// zero grant or a refusal with zero counts.
func acquireReply(res result, req AcquireRequest, s tokens.Session) (Grant, error) {
	var g Grant
	var refusal error
	switch res.status {
	case "granted", "resumed":
		digest, nonce, class := res.str(1), res.str(8), seatClass(&res, 9)
		if res.err != nil {
			return Grant{}, res.err
		}
		var err error
		if res.status == "resumed" {
			// The resumed session's id, derived again from its nonce and
			// the key the script has just checked.
			s, err = tokens.DeriveSession(req.LicenseID, req.LicenseKey, nonce)
		}
		if err != nil || s.Digest != digest || s.Nonce != nonce {
			// Never a wrong id handed out. Only a corrupt record gets here:
			// the key cannot change while its hash matches.
			return Grant{}, fmt.Errorf("acquire script: session %s does not derive from its nonce", digest)
		}
		g = Grant{
			SessionID:     s.ID,
			SessionDigest: s.Digest,
			LicenseID:     req.LicenseID,
			Fingerprint:   req.Fingerprint,
			ExpiresAt:     time.UnixMilli(res.int(2)).UTC(),
			SeatsUsed:     int(res.int(3)),
			SeatsTotal:    int(res.int(4)),
			LeaseTTL:      time.Duration(res.int(5)) * time.Second,
			TenantID:      res.str(6),
			Resumed:       res.status == "resumed",
			RateRemaining: int(res.int(7)),
			SeatClass:     class,
		}
	case "no_seats":
		refusal = &NoSeatsError{Used: int(res.int(1)), Seats: int(res.int(2))}
	case "rate_limited":
		refusal = &RateLimitedError{RetryAfter: time.Duration(res.int(1)) * time.Millisecond, Limit: req.RateLimit}
	case "user_limit":
		refusal = &UserLimitError{Used: int(res.int(1)), Max: int(res.int(2))}
	case "instance_limit":
		limit := &InstanceLimitError{Holders: int(res.int(1)), Max: int(res.int(2))}
		if limit.Max == 0 {
			limit.Max = MaxHoldersPerSeat
		}
		refusal = limit
	case "not_found":
		refusal = ErrLicenseNotFound
	case "inactive":
		refusal = ErrLicenseInactive
	case "user_required":
		refusal = ErrUserRequired
	case "user_missing":
		refusal = ErrUserMissing
	case "wrong_tenant":
		refusal = ErrWrongTenant
	case "blocked":
		refusal = ErrWorkstationBlocked
	case "session_borrowed":
		refusal = ErrSessionBorrowed
	default:
		return Grant{}, res.unexpected()
	}
	// Read only after the statements that read the values: res.str and
	// res.int set res.err, and Go leaves unspecified whether a read of
	// res.err in the same statement as those calls (a return of the
	// composite literal and res.err) sees what they set.
	if res.err != nil {
		return Grant{}, res.err
	}
	return g, refusal
}

// Heartbeat extends a live session. A session of a license that is no longer
// usable is revoked and ErrLicenseInactive returned; one an admin ended
// answers ErrSessionRevoked, and one of a blocked workstation is ended and
// answers ErrWorkstationBlocked.
func (e *Engine) Heartbeat(ctx context.Context, sessionID string) (Grant, error) {
	return e.HeartbeatFrom(ctx, sessionID, "")
}

// HeartbeatFrom is Heartbeat from the workstation fingerprint names: under
// per-user leasing one session may be held from several workstations, and
// a blocked one among them ends it too ("" names none).
func (e *Engine) HeartbeatFrom(ctx context.Context, sessionID, fingerprint string) (Grant, error) {
	return e.HeartbeatHolder(ctx, sessionID, fingerprint, "")
}

// HeartbeatHolder is HeartbeatFrom by one holder of a shared seat, named by
// its instance id ("" the anonymous holder): it renews that holder's hold.
// A holder not among the seat's live holders gets ErrSessionNotFound, and
// rejoins by acquiring again.
func (e *Engine) HeartbeatHolder(ctx context.Context, sessionID, fingerprint, instance string) (Grant, error) {
	licenseID, _, err := tokens.ParseSessionID(sessionID)
	if err != nil {
		return Grant{}, ErrSessionNotFound
	}
	// Redis knows the session only by its digest (one SHA-256 of 55 bytes,
	// a fraction of a microsecond: BenchmarkSessionDigest).
	digest := tokens.SessionDigest(sessionID)
	k := e.keys(licenseID)
	res, err := e.runWithMeta(ctx, licenseID, e.scripts.heartbeat,
		[]string{k.meta, k.live, k.info, k.users, k.events, k.blocked, k.ended, k.ov}, digest, fingerprint, instance)
	if errors.Is(err, ErrLicenseNotFound) {
		return Grant{}, ErrSessionNotFound
	}
	if err != nil {
		return Grant{}, err
	}
	return heartbeatReply(res, licenseID, sessionID, digest)
}

// heartbeatReply turns the heartbeat script's reply into the extended
// grant, or the refusal it stands for; a reply of the wrong shape is an
// error (see acquireReply).
func heartbeatReply(res result, licenseID, sessionID, digest string) (Grant, error) {
	switch res.status {
	case "ok":
		g := Grant{
			SessionID:     sessionID,
			SessionDigest: digest,
			LicenseID:     licenseID,
			ExpiresAt:     time.UnixMilli(res.int(1)).UTC(),
			LeaseTTL:      time.Duration(res.int(2)) * time.Second,
			TenantID:      res.str(3),
			Fingerprint:   res.str(4),
			PerUser:       res.int(5) == 1,
			Revived:       res.int(6) == 1,
			SeatClass:     seatClass(&res, 7),
		}
		// After the statement above, not in it (see acquireReply).
		if res.err != nil {
			return Grant{}, res.err
		}
		return g, nil
	case "not_found":
		return Grant{}, ErrSessionNotFound
	case "inactive":
		return Grant{}, ErrLicenseInactive
	case "revoked":
		return Grant{}, ErrSessionRevoked
	case "blocked":
		return Grant{}, ErrWorkstationBlocked
	case "session_borrowed":
		return Grant{}, ErrSessionBorrowed
	}
	return Grant{}, res.unexpected()
}

// Release ends a session. It reports whether a live session was released;
// releasing one that is already gone is not an error.
func (e *Engine) Release(ctx context.Context, sessionID string) (bool, error) {
	r, err := e.ReleaseHolder(ctx, sessionID, "")
	return r.Released, err
}

// Released is what a release did: Released when the caller held the
// session (its hold ended), SeatFreed when the seat is free now (false
// while other holders of a shared seat keep it, or while it lingers).
type Released struct {
	Released, SeatFreed bool
	// LingersUntil is when the released seat stops counting, by the
	// license's linger_seconds (zero: it does not linger). Until then an
	// acquire by the same workstation (or person) takes the session back.
	LingersUntil time.Time
}

// ReleaseHolder ends one holder's hold on a session (instance "" is the
// anonymous holder, which is every holder of a session acquired without
// instance ids): the session ends with its last holder.
func (e *Engine) ReleaseHolder(ctx context.Context, sessionID, instance string) (Released, error) {
	licenseID, _, err := tokens.ParseSessionID(sessionID)
	if err != nil {
		return Released{}, nil
	}
	k := e.keys(licenseID)
	reply, err := e.hot(ctx, e.scripts.release.Script, []string{k.live, k.info, k.users, k.events, k.meta, k.ov},
		tokens.SessionDigest(sessionID), instance).Result()
	if err != nil {
		return Released{}, fmt.Errorf("release script: %w", err)
	}
	return releaseReply(reply)
}

// releaseReply turns the release script's reply into what the release did.
func releaseReply(reply any) (Released, error) {
	if list, ok := reply.([]any); ok {
		// {4}: borrowed; only a return ends it before its end.
		if len(list) == 1 && list[0] == int64(4) {
			return Released{}, ErrSessionBorrowed
		}
		// {3, linger_end_ms}: released into the license's linger.
		if len(list) == 2 && list[0] == int64(3) {
			if until, ok := list[1].(int64); ok && until > 0 {
				return Released{Released: true, LingersUntil: time.UnixMilli(until).UTC()}, nil
			}
		}
		return Released{}, fmt.Errorf("release script: unexpected reply %v", reply)
	}
	n, ok := reply.(int64)
	if !ok {
		return Released{}, fmt.Errorf("release script: unexpected reply %v", reply)
	}
	switch n {
	case 0:
		return Released{}, nil
	case 1:
		return Released{Released: true, SeatFreed: true}, nil
	case 2:
		return Released{Released: true}, nil
	}
	return Released{}, fmt.Errorf("release script: unexpected reply %d", n)
}

// SyncLicense writes license metadata through to Redis. An older revision
// than the one Redis holds is ignored, so racing writers converge on the
// newest; it reports whether it wrote. A workstation it blocks that was not
// blocked in Redis before loses its live sessions of the license in the
// same step (see SyncLicenseBy).
func (e *Engine) SyncLicense(ctx context.Context, l License) (bool, error) {
	ok, _, err := e.SyncLicenseBy(ctx, l, "")
	return ok, err
}

// SyncLicenseBy is SyncLicense on behalf of actor (the admin whose change
// is written through; "" the service itself), who is named in the ledger as
// having ended the sessions of the workstations the write blocks. It also
// returns how many sessions it ended.
func (e *Engine) SyncLicenseBy(ctx context.Context, l License, actor string) (bool, int, error) {
	var exp int64
	if !l.ExpiresAt.IsZero() {
		exp = l.ExpiresAt.UnixMilli()
	}
	ttl := int64(l.LeaseTTL / time.Second)
	fields := []any{
		"kh", l.KeyHash,
		"status", l.Status,
		"tstatus", l.TenantStatus,
		"seats", l.Seats,
		"exp", exp,
		"ttl", ttl,
		"ru", flag(l.RequireUser),
		"mpu", l.MaxSeatsPerUser,
		"pu", flag(l.PerUser),
		"mis", l.MaxInstancesPerSeat,
		"lg", l.LingerSeconds,
		"rv", l.ReviveSeconds,
		"oa", l.Allowance(),
		"tenant", l.TenantID,
		"pkh", l.PreviousKeyHash,
		"pkx", previousKeyExpiry(l),
	}
	fields = append(fields, l.Borrow.fields()...)
	args := append([]any{l.Revision, actor, len(fields)}, fields...)
	for _, fp := range l.Blocked {
		args = append(args, fp)
	}
	// Registered before the metadata exists, so no license can hold a
	// session the sweep cannot find.
	if err := e.rdb.SAdd(ctx, e.registry(), l.ID).Err(); err != nil {
		return false, 0, fmt.Errorf("register license %s: %w", l.ID, err)
	}
	k := e.keys(l.ID)
	res, err := e.scripts.syncLicense.Run(ctx, e.rdb,
		[]string{k.meta, k.blocked, k.unknown, k.live, k.info, k.users, k.events, k.ended, k.ov, k.rb}, args...).Int64Slice()
	if err != nil || len(res) != 2 {
		return false, 0, fmt.Errorf("sync license %s: reply %v: %w", l.ID, res, err)
	}
	return res[0] == 1, int(res[1]), nil
}

// previousKeyExpiry is when the previous key stops opening the license, in
// ms; 0 when there is none.
func previousKeyExpiry(l License) int64 {
	if l.PreviousKeyHash == "" || l.PreviousKeyExpiresAt.IsZero() {
		return 0
	}
	return l.PreviousKeyExpiresAt.UnixMilli()
}

// Revocation reasons, as the ledger records them with each revoked event.
const (
	ReasonRevoked   = "revoked"    // one session ended by an admin
	ReasonRevokeAll = "revoke_all" // every session of the license ended by an admin
	ReasonBlocked   = "blocked"    // its workstation was blocked
	ReasonRekeyed   = "rekeyed"    // released: resumed with the other key of a rotation
	// ReasonLinger: released by its holder into the license's linger; the
	// seat counts until the linger_ended event (or a reattached one).
	ReasonLinger = "linger"
)

// Revoke ends one live session of a license, named by its digest (admins
// never see session ids), on behalf of actor: the seat is free at once, the
// ledger records it revoked by actor, and the session's next heartbeat
// answers ErrSessionRevoked. It returns ErrSessionNotFound when no such
// session is live.
func (e *Engine) Revoke(ctx context.Context, licenseID, digest, actor string) error {
	if digest == "" {
		return ErrSessionNotFound
	}
	n, err := e.revoke(ctx, licenseID, digest, ReasonRevoked, actor)
	if err == nil && n == 0 {
		err = ErrSessionNotFound
	}
	return err
}

// RevokeAll ends every live session of a license at once, as Revoke does
// one, and returns how many it ended.
func (e *Engine) RevokeAll(ctx context.Context, licenseID, actor string) (int, error) {
	return e.revoke(ctx, licenseID, "", ReasonRevokeAll, actor)
}

func (e *Engine) revoke(ctx context.Context, licenseID, digest, reason, actor string) (int, error) {
	k := e.keys(licenseID)
	n, err := e.scripts.revoke.Run(ctx, e.rdb, []string{k.live, k.info, k.users, k.events, k.ended, k.ov, k.meta, k.rb},
		digest, reason, actor).Int()
	if err != nil {
		return 0, fmt.Errorf("revoke script: %w", err)
	}
	return n, nil
}

// Session is one live session as listed to admins: named by its digest,
// never by its id (the holder's credential).
type Session struct {
	SessionDigest string    `json:"session_digest"`
	Fingerprint   string    `json:"fingerprint"`
	Hostname      string    `json:"hostname"`
	User          string    `json:"user"`
	OS            string    `json:"os"`
	Repository    string    `json:"repository"`
	AcquiredAt    time.Time `json:"acquired_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Holders are the processes holding the seat, soonest expiry first: one
	// anonymous holder (InstanceID "") for a session acquired without
	// instance ids; none while it lingers.
	Holders []Holder `json:"holders"`
	// Lingering: its holder released it and the seat counts until
	// ExpiresAt (the license's linger), for the same holder to take back.
	Lingering bool `json:"lingering"`
	// SeatClass is the session's class now: SeatEntitled, or SeatOverage
	// for a seat held beyond the license's seats under its overage policy.
	SeatClass string `json:"seat_class"`
	// Borrowed: its device checked the seat out offline; ExpiresAt is the
	// borrow's end, and it has no holders.
	Borrowed bool `json:"borrowed"`
}

// Holder is one process holding a session's seat.
type Holder struct {
	InstanceID string    `json:"instance_id"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Sessions lists up to limit live sessions of a license, soonest expiry first.
func (e *Engine) Sessions(ctx context.Context, licenseID string, limit int) ([]Session, error) {
	k := e.keys(licenseID)
	rows, err := e.scripts.sessions.Run(ctx, e.rdb, []string{k.live, k.info, k.ov, k.meta}, limit).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("sessions script: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("sessions script: empty reply")
	}
	now, err := strconv.ParseInt(rows[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("sessions script: bad clock %q", rows[0])
	}
	if (len(rows)-1)%4 != 0 {
		return nil, fmt.Errorf("sessions script: %d values after the clock, not rows of 4", len(rows)-1)
	}
	out := make([]Session, 0, len(rows)/4)
	for i := 1; i+3 < len(rows); i += 4 {
		s, err := decodeSession(licenseID, now, rows[i], rows[i+1], rows[i+2])
		if err != nil {
			return nil, err
		}
		switch rows[i+3] {
		case "e":
			s.SeatClass = SeatEntitled
		case "o":
			s.SeatClass = SeatOverage
		default:
			return nil, fmt.Errorf("sessions script: session %s of class %q", s.SessionDigest, rows[i+3])
		}
		out = append(out, s)
	}
	return out, nil
}

// Count returns the number of live sessions of each license.
func (e *Engine) Count(ctx context.Context, licenseIDs []string) (map[string]int, error) {
	out := make(map[string]int, len(licenseIDs))
	if len(licenseIDs) == 0 {
		return out, nil
	}
	script := e.scripts.count
	run := func() ([]*redis.Cmd, error) {
		cmds := make([]*redis.Cmd, len(licenseIDs))
		_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range licenseIDs {
				cmds[i] = script.EvalSha(ctx, p, []string{e.keys(id).live})
			}
			return nil
		})
		return cmds, err
	}
	cmds, err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis lost its script cache (restart, failover): load and retry once.
		if err := script.Load(ctx, e.rdb).Err(); err != nil {
			return nil, fmt.Errorf("load count script: %w", err)
		}
		cmds, err = run()
	}
	if err != nil {
		return nil, fmt.Errorf("count script: %w", err)
	}
	for i, id := range licenseIDs {
		n, err := cmds[i].Int()
		if err != nil {
			return nil, fmt.Errorf("count script: %w", err)
		}
		out[id] = n
	}
	return out, nil
}

// runWithMeta runs a script that may find the license's metadata missing in
// Redis; it then loads it from the system of record, writes it through and
// runs the script once more.
func (e *Engine) runWithMeta(ctx context.Context, licenseID string, s namedScript, keys []string, args ...any) (result, error) {
	for attempt := 0; ; attempt++ {
		raw, err := e.hot(ctx, s.Script, keys, args...).Slice()
		if err != nil {
			return result{}, fmt.Errorf("%s script: %w", s.name, err)
		}
		res := parseResult(s.name, raw)
		if res.status != "no_meta" {
			return res, nil
		}
		if attempt > 0 {
			return result{}, fmt.Errorf("%s script: license %s metadata missing after sync", s.name, licenseID)
		}
		l, err := e.load(ctx, licenseID)
		if errors.Is(err, ErrLicenseNotFound) {
			// Remembered after the read, not checked with it: a license
			// written through meanwhile has its metadata, which the
			// scripts read before the mark, so the mark cannot hide it.
			if err := e.rdb.Set(ctx, e.keys(licenseID).unknown, "1", e.unknownTTL).Err(); err != nil {
				return result{}, fmt.Errorf("remember unknown license %s: %w", licenseID, err)
			}
		}
		if err != nil {
			return result{}, fmt.Errorf("load license %s: %w", licenseID, err)
		}
		if _, err := e.SyncLicense(ctx, l); err != nil {
			return result{}, err
		}
	}
}

// result is a script's reply: a status word, then values.
type result struct {
	script string
	status string
	vals   []any
	err    error // set when a value had the wrong type
}

func parseResult(script string, raw []any) result {
	r := result{script: script, vals: raw}
	if len(raw) > 0 {
		r.status, _ = raw[0].(string)
	}
	return r
}

func (r *result) str(i int) string {
	if i < len(r.vals) {
		if s, ok := r.vals[i].(string); ok {
			return s
		}
	}
	r.err = r.unexpected()
	return ""
}

func (r *result) int(i int) int64 {
	if i < len(r.vals) {
		switch v := r.vals[i].(type) {
		case int64:
			return v
		case string:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	r.err = r.unexpected()
	return 0
}

// seatClass reads a grant's class ('e' or 'o') at i; anything else is an
// unexpected reply.
func seatClass(r *result, i int) string {
	switch r.str(i) {
	case "e":
		return SeatEntitled
	case "o":
		return SeatOverage
	}
	r.err = r.unexpected()
	return ""
}

func (r *result) unexpected() error {
	return fmt.Errorf("%s script: unexpected reply %v", r.script, r.vals)
}

// HeartbeatInterval is how often a client should heartbeat: three beats per
// lease, so one lost beat never costs the seat.
func (g Grant) HeartbeatInterval() int {
	n := int(g.LeaseTTL / time.Second / 3)
	if n < 1 {
		n = 1
	}
	return n
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
