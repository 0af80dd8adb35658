package metering

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// Billed is what was reported to Stripe for one license and day, in
// seat-hours; nil where the license has no meter of that kind that day.
type Billed struct {
	SeatHours        *float64
	OverageSeatHours *float64
}

// BilledDay keys Billed by license and day.
type BilledDay struct {
	LicenseID string
	Day       time.Time
}

// Reports reads what was billed, for the Usage API.
type Reports struct{ db *database.DB }

// NewReports returns a reader on db (the reader role).
func NewReports(db *database.DB) (*Reports, error) {
	if db == nil {
		return nil, errors.New("metering: missing database")
	}
	return &Reports{db: db}, nil
}

// Billed returns, for each day in [from, to) of each license of the tenant
// with a meter then, the seat-hours Stripe was sent (0 until the day is
// reported).
func (r *Reports) Billed(ctx context.Context, tenantID string, from, to time.Time) (map[BilledDay]Billed, error) {
	out := map[BilledDay]Billed{}
	err := r.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT m.license_id, d::date, m.kind,
			       coalesce((SELECT sum(quantity) FROM billing_meter_reports b
			                 WHERE b.license_id = m.license_id AND b.kind = m.kind AND b.day = d::date AND b.status = 'sent'), 0)
			FROM billing_meters m
			CROSS JOIN generate_series($2::timestamptz::date, ($3::timestamptz - interval '1 microsecond')::date, interval '1 day') AS d
			WHERE m.tenant_id = $1 AND d::date >= m.starts_on AND (m.ends_on IS NULL OR d::date < m.ends_on)`,
			tenantID, from.UTC(), to.UTC())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, kind string
			var day time.Time
			var minutes int64
			if err := rows.Scan(&id, &day, &kind, &minutes); err != nil {
				return err
			}
			k := BilledDay{LicenseID: id, Day: day.UTC()}
			b := out[k]
			h := float64(minutes) / 60
			if kind == KindOverage {
				b.OverageSeatHours = &h
			} else {
				b.SeatHours = &h
			}
			out[k] = b
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("reading what was billed: %w", err)
	}
	return out, nil
}
