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
// retrying the same request applies it.
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
	for _, l := range all {
		if _, err := s.engine.SyncLicense(ctx, l); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
