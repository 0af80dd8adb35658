// Package licenses stores floating licenses: what a tenant may use, how many
// seats at once, for how long, under which policy. Live seats are not here;
// they are in Redis (shared/seats), which gets a write-through copy of what it
// needs.
package licenses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Leasing modes: what one seat belongs to.
const (
	PerFingerprint = "per_fingerprint" // one seat per workstation
	PerUser        = "per_user"        // one seat per person, whatever the workstation
)

// License is one license as stored.
type License struct {
	ID              string
	TenantID        string
	Product         string
	Seats           int
	LeaseTTLSeconds int
	Status          string
	ExpiresAt       *time.Time
	RequireUser     bool
	MaxSeatsPerUser *int
	// MaxInstancesPerSeat bounds the processes holding one seat (nil: no
	// limit of the policy).
	MaxInstancesPerSeat *int
	// LingerSeconds: how long a released seat keeps counting for its
	// holder to take back (0: off).
	LingerSeconds int
	// ReviveSeconds: how long after a session expired a heartbeat may
	// revive it while a seat is free (0: off).
	ReviveSeconds int
	// OverageMode and OverageValue: the overage policy, a commercial term
	// (seats.Overage* modes; see seats.License.Allowance).
	OverageMode  string
	OverageValue int
	// Borrow is the offline-checkout policy (nil: borrowing off); a tenant
	// decides how its seats are used, so a tenant admin may set it.
	Borrow *seats.BorrowPolicy
	// AutoRenewPeriod ("P1M" or "P1Y"; nil: off) moves expires_at on by a
	// period on the expiry day (schema/021), a commercial term.
	AutoRenewPeriod *string
	Leasing         string
	KeyHash         string
	KeyPrefix       string
	// After a key rotation, the replaced key's hash and when it stops
	// opening the license (nil: no previous key).
	PreviousKeyHash      *string
	PreviousKeyExpiresAt *time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time

	// MaxLeaseTTLSeconds is the platform's ceiling on LeaseTTLSeconds.
	MaxLeaseTTLSeconds int

	revision       int64
	tenantStatus   string
	tenantRevision int64
}

// TenantStatus is the status of the license's tenant, read with it.
func (l License) TenantStatus() string { return l.tenantStatus }

// Seat is the license as the seat scripts see it. Its revision is the sum of
// the license's and its tenant's, so a change to either supersedes the copy
// in Redis. blocked are the tenant's blocked workstation fingerprints.
func (l License) Seat(blocked []string) seats.License {
	s := seats.License{
		ID:           l.ID,
		TenantID:     l.TenantID,
		KeyHash:      l.KeyHash,
		Status:       l.Status,
		TenantStatus: l.tenantStatus,
		Seats:        l.Seats,
		LeaseTTL:     time.Duration(l.LeaseTTLSeconds) * time.Second,
		RequireUser:  l.RequireUser,
		PerUser:      l.Leasing == PerUser,
		Blocked:      blocked,
		Revision:     l.revision + l.tenantRevision,
	}
	if l.MaxSeatsPerUser != nil {
		s.MaxSeatsPerUser = *l.MaxSeatsPerUser
	}
	if l.MaxInstancesPerSeat != nil {
		s.MaxInstancesPerSeat = *l.MaxInstancesPerSeat
	}
	s.LingerSeconds, s.ReviveSeconds = l.LingerSeconds, l.ReviveSeconds
	s.OverageMode, s.OverageValue = l.OverageMode, l.OverageValue
	s.Borrow = l.Borrow
	if l.ExpiresAt != nil {
		s.ExpiresAt = *l.ExpiresAt
	}
	if l.PreviousKeyHash != nil && l.PreviousKeyExpiresAt != nil {
		s.PreviousKeyHash, s.PreviousKeyExpiresAt = *l.PreviousKeyHash, *l.PreviousKeyExpiresAt
	}
	return s
}

// Store reads and writes licenses. Every query names the tenant and runs
// under that tenant's row-level security scope, so one tenant can never read
// or change another's license by guessing its id.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("licenses: nil database")
	}
	return &Store{db: db}, nil
}

// columns are read from a license "l" joined with its tenant "t".
const columns = `l.id, l.tenant_id, l.product, l.seats, l.lease_ttl_seconds, l.status, l.expires_at,
	l.require_user, l.max_seats_per_user, l.max_instances_per_seat, l.linger_seconds, l.revive_seconds,
	l.overage_mode, l.overage_value, l.borrow, l.auto_renew_period, l.leasing, l.max_lease_ttl_seconds,
	l.key_hash, l.key_prefix, l.previous_key_hash, l.previous_key_expires_at,
	l.created_at, l.updated_at, l.revision, t.status, t.revision`

const selectLicense = `SELECT ` + columns + ` FROM licenses l JOIN tenants t ON t.id = l.tenant_id`

// selectChanged reads back the rows a writing CTE named "changed" returned.
const selectChanged = `SELECT ` + columns + ` FROM changed l JOIN tenants t ON t.id = l.tenant_id`

// live restricts to licenses that are not deleted, of tenants not deleted.
const live = ` l.status <> 'deleted' AND t.status <> 'deleted' `

func scan(row pgx.Row) (License, error) {
	var l License
	err := row.Scan(&l.ID, &l.TenantID, &l.Product, &l.Seats, &l.LeaseTTLSeconds, &l.Status, &l.ExpiresAt,
		&l.RequireUser, &l.MaxSeatsPerUser, &l.MaxInstancesPerSeat, &l.LingerSeconds, &l.ReviveSeconds,
		&l.OverageMode, &l.OverageValue, &l.Borrow, &l.AutoRenewPeriod, &l.Leasing, &l.MaxLeaseTTLSeconds,
		&l.KeyHash, &l.KeyPrefix, &l.PreviousKeyHash, &l.PreviousKeyExpiresAt, &l.CreatedAt, &l.UpdatedAt, &l.revision, &l.tenantStatus, &l.tenantRevision)
	if l.ExpiresAt != nil {
		utc := l.ExpiresAt.UTC()
		l.ExpiresAt = &utc
	}
	if l.PreviousKeyExpiresAt != nil {
		utc := l.PreviousKeyExpiresAt.UTC()
		l.PreviousKeyExpiresAt = &utc
	}
	return l, database.NotFound(err)
}

// ErrLeaseTTLOverMax is a write that would leave a license's lease TTL over
// its max_lease_ttl_seconds (schema/009's licenses_lease_ttl_within_max).
var ErrLeaseTTLOverMax = errors.New("lease TTL over the license's maximum")

func (s *Store) one(ctx context.Context, tenantID, what, sql string, args ...any) (License, error) {
	l, err := database.One(ctx, s.db, database.Tenant(tenantID), scan, sql, args...)
	return checked(l, err, what)
}

// oneIn is one inside a transaction the caller holds (and scoped).
func oneIn(ctx context.Context, tx pgx.Tx, what, sql string, args ...any) (License, error) {
	l, err := scan(tx.QueryRow(ctx, sql, args...))
	return checked(l, database.NotFound(err), what)
}

func checked(l License, err error, what string) (License, error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == "licenses_lease_ttl_within_max" {
		return License{}, ErrLeaseTTLOverMax
	}
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return License{}, fmt.Errorf("%s license: %w", what, err)
	}
	return l, err
}

// New describes a license to create.
type New struct {
	Product         string
	Seats           int
	LeaseTTLSeconds int
	ExpiresAt       *time.Time
	RequireUser     bool
	MaxSeatsPerUser *int
	Leasing         string
	// MaxInstancesPerSeat: nil for no limit of the policy.
	MaxInstancesPerSeat *int
	// LingerSeconds and ReviveSeconds: 0 (off) unless set.
	LingerSeconds int
	ReviveSeconds int
	// OverageMode ("" is none) and OverageValue: the overage policy.
	OverageMode  string
	OverageValue int
	// Borrow: the offline-checkout policy, nil for off.
	Borrow *seats.BorrowPolicy
	// AutoRenewPeriod: "P1M" or "P1Y", nil for off.
	AutoRenewPeriod *string

	// MaxLeaseTTLSeconds caps LeaseTTLSeconds; 0 is the default,
	// DefaultMaxLeaseTTLSeconds (schema/009's column default).
	MaxLeaseTTLSeconds int
}

// DefaultMaxLeaseTTLSeconds is a license's lease TTL cap unless the
// platform sets one: a day, the longest lease TTL there is.
const DefaultMaxLeaseTTLSeconds = 86400

// Create adds a license to a tenant that exists and is not deleted, and
// returns it with its key. The key is returned only here: the store keeps
// its hash.
func (s *Store) Create(ctx context.Context, tenantID string, n New) (License, string, error) {
	var l License
	var key string
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		var err error
		l, key, err = CreateIn(ctx, tx, tenantID, n)
		return err
	})
	return l, key, err
}

// CreateIn is Create inside a transaction the caller holds, under a scope
// that sees the tenant: for a change that must commit with others (a
// license a Stripe subscription item creates, with the item's record).
func CreateIn(ctx context.Context, tx pgx.Tx, tenantID string, n New) (License, string, error) {
	id, err := tokens.NewUUID()
	if err != nil {
		return License{}, "", fmt.Errorf("making license id: %w", err)
	}
	key, hash, err := tokens.NewLicenseKey(id)
	if err != nil {
		return License{}, "", fmt.Errorf("making license key: %w", err)
	}
	if n.MaxLeaseTTLSeconds == 0 {
		n.MaxLeaseTTLSeconds = DefaultMaxLeaseTTLSeconds
	}
	if n.OverageMode == "" {
		n.OverageMode = seats.OverageNone
	}
	l, err := oneIn(ctx, tx, "inserting", `
		WITH changed AS (
			INSERT INTO licenses (id, tenant_id, product, seats, lease_ttl_seconds, expires_at,
			                      require_user, max_seats_per_user, leasing, key_hash, key_prefix, max_lease_ttl_seconds,
			                      max_instances_per_seat, linger_seconds, revive_seconds, overage_mode, overage_value, borrow,
			                      auto_renew_period)
			SELECT $1, t.id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19
			FROM tenants t WHERE t.id = $2 AND t.status <> 'deleted'
			RETURNING *
		)`+selectChanged,
		id, tenantID, n.Product, n.Seats, n.LeaseTTLSeconds, n.ExpiresAt,
		n.RequireUser, n.MaxSeatsPerUser, n.Leasing, hash, key[:tokens.DisplayPrefixLen], n.MaxLeaseTTLSeconds,
		n.MaxInstancesPerSeat, n.LingerSeconds, n.ReviveSeconds, n.OverageMode, n.OverageValue, n.Borrow, n.AutoRenewPeriod)
	if err != nil {
		return License{}, "", err
	}
	return l, key, nil
}

// Get returns a tenant's license that is not deleted.
func (s *Store) Get(ctx context.Context, tenantID, id string) (License, error) {
	return s.one(ctx, tenantID, "reading", selectLicense+` WHERE l.id = $1 AND l.tenant_id = $2 AND`+live, id, tenantID)
}

// List returns a page of a tenant's licenses that are not deleted, oldest
// first, and the cursor of the next page ("" at the end).
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]License, string, error) {
	out, next, err := database.List(ctx, s.db, database.Tenant(tenantID), p,
		func(l License) database.Cursor { return database.Cursor{At: l.CreatedAt, ID: l.ID} }, scan,
		selectLicense+` WHERE l.tenant_id = $1 AND`+live+`
			AND ($2::timestamptz IS NULL OR (l.created_at, l.id) > ($2, $3::uuid))
			ORDER BY l.created_at, l.id LIMIT $4`, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("listing licenses: %w", err)
	}
	return out, next, nil
}

// Patch holds the fields an update changes. A nil pointer leaves a field
// alone; the Clear flags set a field to null.
type Patch struct {
	Seats                *int
	Status               *string // active or suspended
	LeaseTTLSeconds      *int
	ExpiresAt            *time.Time
	ClearExpiry          bool
	RequireUser          *bool
	MaxSeatsPerUser      *int
	ClearMaxSeatsPerUser bool
	Leasing              *string
	MaxLeaseTTLSeconds   *int
	// MaxInstancesPerSeat and ClearMaxInstancesPerSeat as MaxSeatsPerUser.
	MaxInstancesPerSeat      *int
	ClearMaxInstancesPerSeat bool
	// LingerSeconds and ReviveSeconds are never null: nil leaves them
	// alone, 0 turns them off.
	LingerSeconds *int
	ReviveSeconds *int
	// OverageMode and OverageValue change together (the API takes the
	// policy whole); nil leaves the policy alone.
	OverageMode  *string
	OverageValue *int
	// Borrow replaces the borrow policy whole (nil leaves it alone);
	// ClearBorrow turns borrowing off.
	Borrow      *seats.BorrowPolicy
	ClearBorrow bool
	// AutoRenewPeriod sets the renewal period; ClearAutoRenew turns it off.
	AutoRenewPeriod *string
	ClearAutoRenew  bool
}

// Update changes a tenant's license that is not deleted. A change that would
// leave the lease TTL over the license's maximum is ErrLeaseTTLOverMax, and
// changes nothing.
func (s *Store) Update(ctx context.Context, tenantID, id string, p Patch) (License, error) {
	var l License
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		var err error
		l, err = UpdateIn(ctx, tx, tenantID, id, p)
		return err
	})
	return l, err
}

// UpdateIn is Update inside a transaction the caller holds (see CreateIn).
func UpdateIn(ctx context.Context, tx pgx.Tx, tenantID, id string, p Patch) (License, error) {
	return oneIn(ctx, tx, "updating", `
		WITH changed AS (
			UPDATE licenses l SET
				seats = COALESCE($3, l.seats),
				status = COALESCE($4, l.status),
				lease_ttl_seconds = COALESCE($5, l.lease_ttl_seconds),
				expires_at = CASE WHEN $7 THEN NULL ELSE COALESCE($6, l.expires_at) END,
				require_user = COALESCE($8, l.require_user),
				max_seats_per_user = CASE WHEN $10 THEN NULL ELSE COALESCE($9, l.max_seats_per_user) END,
				leasing = COALESCE($11, l.leasing),
				max_lease_ttl_seconds = COALESCE($12, l.max_lease_ttl_seconds),
				max_instances_per_seat = CASE WHEN $14 THEN NULL ELSE COALESCE($13, l.max_instances_per_seat) END,
				linger_seconds = COALESCE($15, l.linger_seconds),
				revive_seconds = COALESCE($16, l.revive_seconds),
				overage_mode = COALESCE($17, l.overage_mode),
				overage_value = COALESCE($18, l.overage_value),
				borrow = CASE WHEN $20 THEN NULL ELSE COALESCE($19, l.borrow) END,
				auto_renew_period = CASE WHEN $22 THEN NULL ELSE COALESCE($21, l.auto_renew_period) END,
				revision = l.revision + 1,
				updated_at = now()
			FROM tenants t
			WHERE l.id = $1 AND l.tenant_id = $2 AND t.id = l.tenant_id AND`+live+`
			RETURNING l.*
		)`+selectChanged,
		id, tenantID, p.Seats, p.Status, p.LeaseTTLSeconds, p.ExpiresAt, p.ClearExpiry,
		p.RequireUser, p.MaxSeatsPerUser, p.ClearMaxSeatsPerUser, p.Leasing, p.MaxLeaseTTLSeconds,
		p.MaxInstancesPerSeat, p.ClearMaxInstancesPerSeat, p.LingerSeconds, p.ReviveSeconds, p.OverageMode, p.OverageValue,
		p.Borrow, p.ClearBorrow, p.AutoRenewPeriod, p.ClearAutoRenew)
}

// Delete marks a tenant's license deleted and returns it as deleted, so the
// caller can write the deletion through to Redis.
func (s *Store) Delete(ctx context.Context, tenantID, id string) (License, error) {
	return s.one(ctx, tenantID, "deleting", `
		WITH changed AS (
			UPDATE licenses l SET status = 'deleted', deleted_at = now(), revision = l.revision + 1, updated_at = now()
			FROM tenants t
			WHERE l.id = $1 AND l.tenant_id = $2 AND t.id = l.tenant_id AND`+live+`
			RETURNING l.*
		)`+selectChanged, id, tenantID)
}

// MaxKeyGrace is the longest a replaced key may keep opening its license.
const MaxKeyGrace = 7 * 24 * time.Hour

// RotateKey gives a tenant's license that is not deleted a new key, and
// returns the license with it (the key is returned only here). The
// replaced key keeps opening the license for acquires for grace (0: not
// at all), measured from PostgreSQL's clock at the commit's statement; a
// key an earlier rotation replaced stops at once. Sessions are not touched.
func (s *Store) RotateKey(ctx context.Context, tenantID, id string, grace time.Duration) (License, string, error) {
	if grace < 0 || grace > MaxKeyGrace {
		return License{}, "", fmt.Errorf("rotating license key: grace %s out of range", grace)
	}
	key, hash, err := tokens.NewLicenseKey(id)
	if err != nil {
		return License{}, "", fmt.Errorf("making license key: %w", err)
	}
	l, err := s.one(ctx, tenantID, "rotating the key of", `
		WITH changed AS (
			UPDATE licenses l SET
				previous_key_hash = l.key_hash,
				previous_key_expires_at = now() + make_interval(secs => $5),
				key_hash = $3,
				key_prefix = $4,
				revision = l.revision + 1,
				updated_at = now()
			FROM tenants t
			WHERE l.id = $1 AND l.tenant_id = $2 AND t.id = l.tenant_id AND`+live+`
			RETURNING l.*
		)`+selectChanged,
		id, tenantID, hash, key[:tokens.DisplayPrefixLen], grace.Seconds())
	if err != nil {
		return License{}, "", err
	}
	return l, key, nil
}

// Audited runs do, which acts outside PostgreSQL (on the seats in Redis),
// and records it in the tenant's audit log as action on a target, with the
// detail do returns, under the actor of ctx: the entry is written in a
// transaction that commits only if do succeeded, so a failed action leaves
// no entry; one that succeeded and whose entry could not be written is
// answered as an error (the caller may retry; ending sessions twice ends
// none the second time).
func (s *Store) Audited(ctx context.Context, tenantID, action, targetType, targetID string,
	do func(ctx context.Context) (map[string]any, error)) error {
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		detail, err := do(ctx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT app_audit($1, $2, $3, $4)`, action, targetType, targetID, detail)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, targetID, err)
	}
	return nil
}

// blockedFingerprints reads a tenant's blocked workstations.
func blockedFingerprints(ctx context.Context, tx pgx.Tx, tenantID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT fingerprint FROM workstations WHERE tenant_id = $1 AND blocked ORDER BY fingerprint`, tenantID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SeatLicense loads one license for the seat engine, whatever its state, by
// id alone: the caller proved it holds the license's key, which the seat
// script checks against KeyHash. It is the engine's Loader, so it crosses
// tenants (platform scope).
func (s *Store) SeatLicense(ctx context.Context, id string) (seats.License, error) {
	var out seats.License
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		l, err := scan(tx.QueryRow(ctx, selectLicense+` WHERE l.id = $1`, id))
		if err != nil {
			return err
		}
		blocked, err := blockedFingerprints(ctx, tx, l.TenantID)
		out = l.Seat(blocked)
		return err
	})
	if errors.Is(err, database.ErrNotFound) {
		return seats.License{}, seats.ErrLicenseNotFound
	}
	if err != nil {
		return seats.License{}, fmt.Errorf("reading license: %w", err)
	}
	return out, nil
}

// SeatLicensesOfTenant returns every license of a tenant, deleted ones too,
// as the seat engine sees them: after a tenant (or its workstations)
// changes, each must be written through again.
func (s *Store) SeatLicensesOfTenant(ctx context.Context, tenantID string) ([]seats.License, error) {
	var out []seats.License
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, selectLicense+` WHERE l.tenant_id = $1 ORDER BY l.id`, tenantID)
		if err != nil {
			return err
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (License, error) { return scan(r) })
		if err != nil {
			return err
		}
		blocked, err := blockedFingerprints(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		for _, l := range all {
			out = append(out, l.Seat(blocked))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing licenses of tenant: %w", err)
	}
	return out, nil
}

// SeatLicenseOf returns one license as the seat engine sees it, for writing
// it through after a change.
func (s *Store) SeatLicenseOf(ctx context.Context, l License) (seats.License, error) {
	var blocked []string
	err := s.db.Tx(ctx, database.Tenant(l.TenantID), func(tx pgx.Tx) error {
		var err error
		blocked, err = blockedFingerprints(ctx, tx, l.TenantID)
		return err
	})
	if err != nil {
		return seats.License{}, fmt.Errorf("reading blocked workstations: %w", err)
	}
	return l.Seat(blocked), nil
}
