// Package licensing is the license write-through the admin functions share.
// PostgreSQL is the system of record; Redis holds the copy of each license
// the seat scripts read. After a change commits in PostgreSQL (a license
// edited or deleted, a tenant suspended or deleted, a workstation blocked),
// the licenses it touches are written to Redis here, in one implementation
// for the licenses, tenants and workstations functions. The package also
// answers whether a tenant is live, for the functions that show a tenant's
// resources.
//
// Its answers are the API's (a 503 to retry, a 404): the write-through's
// contract is that a change Redis could not take is answered 503, and
// retrying the same request applies it. Nobody may retry, so every cleanup
// run also reconciles (Reconcile): it writes through again every license
// changed since the last complete reconciliation, and a change Redis could
// not take is in effect within one schedule period and one run.
package licensing

import (
	"context"
	"errors"
	"fmt"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
)

// Service writes licenses through to the seat engine's Redis and checks
// tenants.
type Service struct {
	licenses *licenses.Store
	tenants  *tenants.Store
	engine   *seats.Engine
}

// New returns the service on the stores the licenses are read from and the
// seat engine they are written to.
func New(licenseStore *licenses.Store, tenantStore *tenants.Store, engine *seats.Engine) (*Service, error) {
	if licenseStore == nil || tenantStore == nil || engine == nil {
		return nil, errors.New("licensing: missing dependency")
	}
	return &Service{licenses: licenseStore, tenants: tenantStore, engine: engine}, nil
}

// SyncLicense writes one license through to Redis after a committed change
// to it (l is the license as the change left it).
func (s *Service) SyncLicense(ctx context.Context, l licenses.License) error {
	seat, err := s.licenses.SeatLicenseOf(ctx, l)
	if err != nil {
		return err
	}
	return s.write(ctx, []seats.License{seat})
}

// SyncTenant writes every license of a tenant through to Redis after a
// committed change they all depend on: the tenant's status, or the
// workstations it blocks.
func (s *Service) SyncTenant(ctx context.Context, tenantID string) error {
	all, err := s.licenses.SeatLicensesOfTenant(ctx, tenantID)
	if err != nil {
		return fmt.Errorf("reading the licenses of tenant %s: %w", tenantID, err)
	}
	return s.write(ctx, all)
}

// write hands the licenses to the seat engine. The change is already
// committed, so a Redis that cannot take it is a 503 (httpjson.NotInEffect)
// whose retry writes it again. One license that fails does not stop the
// others: each one written is a revocation in effect now rather than at the
// retry, and the error names every license that failed.
func (s *Service) write(ctx context.Context, all []seats.License) error {
	if err := s.writeAll(ctx, all); err != nil {
		return httpjson.NotInEffect(err)
	}
	return nil
}

// writeAll writes every license it can and joins the failures, each naming
// its license (the engine's error does).
func (s *Service) writeAll(ctx context.Context, all []seats.License) error {
	var errs []error
	// The admin whose change this is (none for a reconciliation) is named
	// in the ledger as having ended the sessions of a workstation it blocks.
	actor := database.ActorOf(ctx)
	for _, l := range all {
		if _, _, err := s.engine.SyncLicenseBy(ctx, l, actor); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reconcile writes through to Redis every license changed in PostgreSQL
// since mark (see licenses.Store.ChangedSince; 0: every license), so a
// change whose write-through failed and was never retried is in effect
// after the next call all the same. It returns the mark for the next call
// and how many licenses it wrote. The mark moves on only when every license
// was written: after a failure it returns mark itself, and the next call
// writes them all again (a write is idempotent, and Redis keeps the newest
// revision, so writing a license again never rolls it back).
func (s *Service) Reconcile(ctx context.Context, mark uint64) (uint64, int, error) {
	changed, next, err := s.licenses.ChangedSince(ctx, mark)
	if err != nil {
		return mark, 0, err
	}
	if err := s.writeAll(ctx, changed); err != nil {
		return mark, 0, fmt.Errorf("reconciling %d licenses changed since transaction %d: %w", len(changed), mark, err)
	}
	return next, len(changed), nil
}

// LiveTenant checks a tenant exists and is not deleted, so listing the
// resources of one that does not answers 404 rather than an empty list.
func (s *Service) LiveTenant(ctx context.Context, id string) error {
	_, err := s.tenants.Get(ctx, id)
	if errors.Is(err, database.ErrNotFound) {
		return apierror.TenantNotFound()
	}
	return err
}
