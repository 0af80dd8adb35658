// Package members stores memberships: a person (or a service account),
// named by e-mail, in a tenant with a role, or in the platform as a
// platform admin. A membership is created pending by an invitation and
// bound to the identity provider's issuer and subject by the person's first
// sign-in with that e-mail verified; after that the subject identifies the
// person, never the e-mail again.
package members

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// Roles a membership may hold. On the platform's own memberships, admin
// makes a platform admin.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Kinds of member.
const (
	KindPerson         = "person"
	KindServiceAccount = "service_account"
)

// Errors of the store.
var (
	// ErrExists: the e-mail has a live membership of that tenant already.
	ErrExists = errors.New("members: e-mail is a member already")
	// ErrLastAdmin: the change would leave the tenant with no admin.
	ErrLastAdmin = errors.New("members: the last admin cannot be removed or demoted")
)

// Membership is a membership as the API shows it: never the subject it is
// bound to, only whether it is bound.
type Membership struct {
	ID string `json:"id"`
	// TenantID is nil for the platform's own memberships.
	TenantID  *string         `json:"tenant_id"`
	Email     string          `json:"email"`
	Role      string          `json:"role"`
	Kind      string          `json:"kind"`
	Status    string          `json:"status"` // pending until the first sign-in, then active
	CreatedBy string          `json:"created_by"`
	CreatedAt timestamp.Time  `json:"created_at"`
	BoundAt   *timestamp.Time `json:"bound_at"`
	UpdatedAt timestamp.Time  `json:"updated_at"`
}

// Store reads and writes memberships.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("members: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, tenant_id, email, role, kind, CASE WHEN subject IS NULL THEN 'pending' ELSE 'active' END,
	created_by, created_at, bound_at, updated_at`

func scan(row pgx.Row) (Membership, error) {
	var m Membership
	err := row.Scan(&m.ID, &m.TenantID, &m.Email, &m.Role, &m.Kind, &m.Status, &m.CreatedBy, &m.CreatedAt, &m.BoundAt, &m.UpdatedAt)
	return m, database.NotFound(err)
}

// scope is tenantID's scope; "" is the platform's own memberships, which
// only the platform scope sees (they have no tenant).
func scope(tenantID string) database.Scope {
	if tenantID == "" {
		return database.Platform()
	}
	return database.Tenant(tenantID)
}

// tenantArg is tenantID as a query argument: NULL for the platform. Every
// query compares with IS NOT DISTINCT FROM, so the platform scope, which
// sees every tenant's rows, still reads only the platform's.
func tenantArg(tenantID string) any {
	if tenantID == "" {
		return nil
	}
	return tenantID
}

// NormalizeEmail lower-cases and trims an e-mail address and reports
// whether it is plausible (one @, something either side, no spaces, at
// most 320 characters). Delivery is the identity provider's business: the
// address only has to match the verified e-mail of an ID token.
func NormalizeEmail(s string) (string, bool) {
	e := strings.ToLower(strings.TrimSpace(s))
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(e) > 320 ||
		strings.ContainsFunc(e, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", false
	}
	return e, true
}

// Invite creates a pending membership of a live tenant ("": the platform)
// for email, which must be normalised (NormalizeEmail).
func (s *Store) Invite(ctx context.Context, tenantID, email, role, kind, createdBy string) (Membership, error) {
	if kind == "" {
		kind = KindPerson
	}
	m, err := database.One(ctx, s.db, scope(tenantID), scan, `
		INSERT INTO memberships (tenant_id, email, role, kind, created_by)
		SELECT $1::uuid, $2, $3, $4, $5
		WHERE $1::uuid IS NULL OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = $1::uuid AND t.status <> 'deleted')
		RETURNING `+columns, tenantArg(tenantID), email, role, kind, createdBy)
	switch {
	case database.IsUniqueViolationOf(err, "memberships_live_email"):
		return Membership{}, ErrExists
	case err != nil && !errors.Is(err, database.ErrNotFound):
		return Membership{}, fmt.Errorf("inserting membership: %w", err)
	}
	return m, err
}

// List returns a page of the live memberships of a tenant ("": the
// platform), oldest first.
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]Membership, string, error) {
	out, next, err := database.List(ctx, s.db, scope(tenantID), p,
		func(m Membership) database.Cursor { return database.Cursor{At: m.CreatedAt.Time, ID: m.ID} }, scan,
		`SELECT `+columns+` FROM memberships WHERE tenant_id IS NOT DISTINCT FROM $1::uuid AND deleted_at IS NULL
			AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, tenantArg(tenantID))
	if err != nil {
		return nil, "", fmt.Errorf("listing memberships: %w", err)
	}
	return out, next, nil
}

// Get returns a live membership of a tenant ("": the platform).
func (s *Store) Get(ctx context.Context, tenantID, id string) (Membership, error) {
	m, err := database.One(ctx, s.db, scope(tenantID), scan, `SELECT `+columns+` FROM memberships
		WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2::uuid AND deleted_at IS NULL`, id, tenantArg(tenantID))
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Membership{}, fmt.Errorf("reading membership: %w", err)
	}
	return m, err
}

// SetRole changes a live membership's role. Demoting the tenant's last
// live admin is ErrLastAdmin.
func (s *Store) SetRole(ctx context.Context, tenantID, id, role string) (Membership, error) {
	return s.change(ctx, tenantID, id, role != RoleAdmin, "changing membership role", `
		UPDATE memberships SET role = $3, updated_at = now()
		WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2::uuid AND deleted_at IS NULL
		RETURNING `+columns, role)
}

// Remove ends a live membership (soft: deleted_at). Removing the tenant's
// last live admin is ErrLastAdmin.
func (s *Store) Remove(ctx context.Context, tenantID, id string) (Membership, error) {
	return s.change(ctx, tenantID, id, true, "removing membership", `
		UPDATE memberships SET deleted_at = now(), updated_at = now()
		WHERE id = $1 AND tenant_id IS NOT DISTINCT FROM $2::uuid AND deleted_at IS NULL
		RETURNING `+columns)
}

// change runs update ($1 id, $2 tenant, then args) on a membership, after
// the last-admin check when the change takes an admin away (losesAdmin and
// the membership is an admin). The check locks every live admin row of
// the tenant first, so two concurrent changes that would each leave one
// admin are serialised: the second re-reads the rows after the first
// commits (READ COMMITTED re-checks a locked row's WHERE), sees one admin
// left, and is refused.
func (s *Store) change(ctx context.Context, tenantID, id string, losesAdmin bool, what, update string, args ...any) (Membership, error) {
	var out Membership
	err := s.db.Tx(ctx, scope(tenantID), func(tx pgx.Tx) error {
		if losesAdmin {
			rows, err := tx.Query(ctx, `SELECT id::text FROM memberships
				WHERE tenant_id IS NOT DISTINCT FROM $1::uuid AND role = 'admin' AND deleted_at IS NULL
				ORDER BY id FOR UPDATE`, tenantArg(tenantID))
			if err != nil {
				return err
			}
			admins, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, a := range admins {
				if a == id && len(admins) == 1 {
					return ErrLastAdmin
				}
			}
		}
		var err error
		out, err = scan(tx.QueryRow(ctx, update, append([]any{id, tenantArg(tenantID)}, args...)...))
		return err
	})
	switch {
	case errors.Is(err, ErrLastAdmin), errors.Is(err, database.ErrNotFound):
		return Membership{}, err
	case err != nil:
		return Membership{}, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Identity is a verified ID token's person, and which memberships the
// token may claim.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	// Platform: the token may claim the platform's memberships (it comes
	// from the platform's own identity provider tenant).
	Platform bool
	// OnlyTenant: "" the token may claim any tenant's memberships; else
	// only that tenant's (a customer's Identity Platform tenant, whose
	// admins can mint tokens for any e-mail).
	OnlyTenant string
}

// Grant is one live membership of a signed-in person.
type Grant struct {
	ID       string
	TenantID string // "" for the platform's
	Email    string
	Role     string
	Kind     string
}

// SignIn returns the live memberships of the person id names: those bound
// to its issuer and subject, after binding to them, when the e-mail is
// verified, the pending ones of that e-mail. A membership bound to another
// subject is never matched by e-mail. The binding is audited under the
// person's verified e-mail. None is not an error: the caller refuses the
// token.
func (s *Store) SignIn(ctx context.Context, id Identity) ([]Grant, error) {
	if id.Issuer == "" || id.Subject == "" {
		return nil, nil
	}
	email, ok := NormalizeEmail(id.Email)
	if !ok {
		email = ""
	}
	if email != "" && id.EmailVerified {
		ctx = database.WithActor(ctx, "user:"+email)
	}
	var only any
	if id.OnlyTenant != "" {
		only = id.OnlyTenant
	}
	out, err := database.All(ctx, s.db, database.Platform(), func(row pgx.Row) (Grant, error) {
		var g Grant
		var tenant *string
		err := row.Scan(&g.ID, &tenant, &g.Email, &g.Role, &g.Kind)
		if tenant != nil {
			g.TenantID = *tenant
		}
		return g, err
	}, `SELECT id::text, tenant_id::text, email, role, kind FROM member_sign_in($1, $2, $3, $4, $5, $6::uuid)`,
		id.Issuer, id.Subject, email, id.EmailVerified, id.Platform, only)
	if err != nil {
		return nil, fmt.Errorf("signing in: %w", err)
	}
	return out, nil
}

// PlatformAdminSignedIn reports whether a platform admin has signed in (a
// live platform admin membership is bound): from then on the bootstrap
// token is refused unless configured otherwise.
func (s *Store) PlatformAdminSignedIn(ctx context.Context) (bool, error) {
	var bound bool
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT platform_admin_bound()`).Scan(&bound)
	})
	if err != nil {
		return false, fmt.Errorf("reading whether a platform admin has signed in: %w", err)
	}
	return bound, nil
}
