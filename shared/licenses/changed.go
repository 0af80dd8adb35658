package licenses

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/seats"
)

// ChangedSince returns, as the seat engine sees them, every license that may
// have changed since mark (deleted ones too): changed itself, or its
// tenant, or the tenant's blocked workstations, in a transaction from mark
// on. It returns with them the mark to pass next time: the oldest
// transaction still running when it read (schema/006 says why a
// transaction id and not a time). Mark 0 returns every license.
//
// Everything a transaction below the new mark changed was committed (or
// rolled back) before the licenses were read, so it is in what this call
// returns or in what an earlier one did; a transaction from the new mark on
// is returned by the next call, whatever order transactions commit in.
func (s *Store) ChangedSince(ctx context.Context, mark uint64) ([]seats.License, uint64, error) {
	var out []seats.License
	var next uint64
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		// The mark is read before the licenses, so every transaction below
		// it had ended before the read below began: its rows are visible.
		var xmin string
		if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
			return fmt.Errorf("reading the oldest running transaction: %w", err)
		}
		var err error
		if next, err = strconv.ParseUint(xmin, 10, 64); err != nil {
			return fmt.Errorf("reading the oldest running transaction %q: %w", xmin, err)
		}
		since := strconv.FormatUint(mark, 10)
		rows, err := tx.Query(ctx, `
			WITH touched AS (
				SELECT id FROM licenses WHERE changed_xid >= $1::text::xid8
				UNION
				SELECT l.id FROM licenses l JOIN tenants t ON t.id = l.tenant_id WHERE t.changed_xid >= $1::text::xid8
				UNION
				SELECT l.id FROM licenses l JOIN workstations w ON w.tenant_id = l.tenant_id
					WHERE w.changed_xid >= $1::text::xid8 AND w.changed_xid <> '0'
			)`+selectLicense+` WHERE l.id IN (SELECT id FROM touched) ORDER BY l.tenant_id, l.id`, since)
		if err != nil {
			return err
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (License, error) { return scan(r) })
		if err != nil {
			return err
		}
		blocked := map[string][]string{}
		for _, l := range all {
			fps, ok := blocked[l.TenantID]
			if !ok {
				if fps, err = blockedFingerprints(ctx, tx, l.TenantID); err != nil {
					return err
				}
				blocked[l.TenantID] = fps
			}
			out = append(out, l.Seat(fps))
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("listing licenses changed since transaction %d: %w", mark, err)
	}
	return out, next, nil
}
