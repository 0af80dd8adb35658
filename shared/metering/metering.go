// Package metering reports a license's use to Stripe Billing Meter events,
// once per license, meter and day: the seat-minutes of the day (kind usage,
// pure pay-per-use) or those above the committed seats (kind overage), as
// the usage ledger measures them (shared/usage's report, the figures the
// Usage API shows).
//
// Units: whole seat-minutes, each day's seat-hours × 60 rounded to the
// nearest minute (Stripe's meter values are whole numbers); price a meter
// per seat-hour with transform_quantity divide_by 60, or per seat-minute.
//
// When: a day is reported once it is over by Settle (an hour: every
// session that ended in it has been swept by then) and the license's
// ledger holds no entry older than the day's end (the drain has stored
// everything of that day). Days more than MaxAge ago are not reported:
// Stripe refuses meter events older than 35 days.
//
// Exactly once: a day's quantity is the measure minus what was already
// reported for it; a positive difference becomes a new row of
// billing_meter_reports (schema/020), claimed, committed, then sent with an
// identifier derived from (license, kind, day, seq), which Stripe
// deduplicates meter events by, and marked sent. Two runs at once insert
// under one advisory lock per (license, kind, day), so one of them finds
// nothing left to add; a pending row is sent only by the run that claimed it
// (until the claim ends), and a run that died after Stripe's answer but
// before marking it leaves it pending: the next run sends it again with
// the same identifier, which Stripe counts once. A late ledger entry for a
// day already reported makes the measure grow, and the next run sends the
// difference (seq + 1): a correction, never a loss. The measure of a day
// never shrinks (the ledger only gains entries), so no negative correction
// is needed.
package metering

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v82"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/usage"
)

// Kinds of meter.
const (
	KindUsage   = "usage"
	KindOverage = "overage"
)

// Settle is how long after a day's end it is reported.
const Settle = time.Hour

// MaxAge is how far back a day is still reported (Stripe takes meter
// events up to 35 days old; a margin for the clock and the run).
const MaxAge = 34 * 24 * time.Hour

// claim is how long a run holds a row it is sending.
const claim = 2 * time.Minute

// Event is one meter event.
type Event struct {
	EventName, CustomerID, Identifier string
	Value                             int64
	Timestamp                         time.Time
}

// Sender sends a meter event to Stripe.
type Sender interface {
	Send(ctx context.Context, e Event) error
}

// StripeSender sends meter events with stripe-go.
type StripeSender struct{ Client *stripe.Client }

// Send creates the meter event; the identifier doubles as the request's
// idempotency key.
func (s StripeSender) Send(ctx context.Context, e Event) error {
	p := &stripe.BillingMeterEventCreateParams{EventName: stripe.String(e.EventName), Identifier: stripe.String(e.Identifier),
		Timestamp: stripe.Int64(e.Timestamp.Unix()),
		Payload:   map[string]string{"stripe_customer_id": e.CustomerID, "value": strconv.FormatInt(e.Value, 10)}}
	p.SetIdempotencyKey(e.Identifier)
	if _, err := s.Client.V1BillingMeterEvents.Create(ctx, p); err != nil {
		return fmt.Errorf("sending meter event %s: %w", e.Identifier, err)
	}
	return nil
}

// Ledger tells the time of each license's oldest ledger entry not yet
// drained into PostgreSQL (absent: none waits).
type Ledger interface {
	Oldest(ctx context.Context, licenseIDs []string) (map[string]time.Time, error)
}

// Measure is the usage report the days are measured with.
type Measure interface {
	Report(ctx context.Context, tenantID string, q usage.Query) ([]usage.Row, error)
}

// Reporter reports every meter's complete days.
type Reporter struct {
	db      *database.DB
	measure Measure
	ledger  Ledger
	sender  Sender
	logger  *slog.Logger
}

// New returns a reporter; db is the background role's (license_cleanup).
func New(db *database.DB, m Measure, l Ledger, s Sender, logger *slog.Logger) (*Reporter, error) {
	if db == nil || m == nil || l == nil || s == nil || logger == nil {
		return nil, errors.New("metering: missing dependency")
	}
	return &Reporter{db: db, measure: m, ledger: l, sender: s, logger: logger}, nil
}

// Result says what a run did.
type Result struct {
	Sent    int // meter events Stripe accepted
	Skipped int // days not drained yet
}

type meter struct {
	licenseID, tenantID, kind, eventName, customer string
	startsOn                                       time.Time
	endsOn                                         *time.Time
}

// Run reports every meter's complete, drained days up to now. It goes on
// past a failed day and returns the failures joined (the days stay to the
// next run).
func (r *Reporter) Run(ctx context.Context, now time.Time) (Result, error) {
	var res Result
	var meters []meter
	err := r.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT license_id, tenant_id, kind, event_name, stripe_customer_id, starts_on, ends_on
			FROM billing_meters ORDER BY license_id, kind`)
		if err != nil {
			return err
		}
		meters, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (meter, error) {
			var m meter
			err := row.Scan(&m.licenseID, &m.tenantID, &m.kind, &m.eventName, &m.customer, &m.startsOn, &m.endsOn)
			return m, err
		})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("reading billing meters: %w", err)
	}
	if len(meters) == 0 {
		return res, nil
	}
	ids := make([]string, 0, len(meters))
	for _, m := range meters {
		ids = append(ids, m.licenseID)
	}
	oldest, err := r.ledger.Oldest(ctx, ids)
	if err != nil {
		return res, fmt.Errorf("reading the ledgers' oldest entries: %w", err)
	}
	var errs []error
	for _, m := range meters {
		first := m.startsOn.UTC()
		if floor := now.Add(-MaxAge).UTC().Truncate(24 * time.Hour); first.Before(floor) {
			first = floor
		}
		for day := first; !day.Add(24*time.Hour + Settle).After(now); day = day.Add(24 * time.Hour) {
			if m.endsOn != nil && !day.Before(m.endsOn.UTC()) {
				break
			}
			if o, waiting := oldest[m.licenseID]; waiting && o.Before(day.Add(24*time.Hour)) {
				res.Skipped++
				continue
			}
			n, err := r.day(ctx, m, day, now)
			res.Sent += n
			if err != nil {
				errs = append(errs, fmt.Errorf("license %s, %s meter, %s: %w", m.licenseID, m.kind, day.Format(time.DateOnly), err))
			}
		}
	}
	return res, errors.Join(errs...)
}

// Minutes is a day's measure in whole seat-minutes.
func Minutes(seatHours float64) int64 { return int64(math.Round(seatHours * 60)) }

// Identifier is the meter event's identifier of (license, kind, day, seq):
// at most 100 characters, the same for the same four, whatever run makes
// it.
func Identifier(licenseID, kind string, day time.Time, seq int) string {
	sum := sha256.Sum256([]byte(licenseID + "|" + kind + "|" + day.Format(time.DateOnly) + "|" + strconv.Itoa(seq)))
	return "lic-" + kind + "-" + day.Format("20060102") + "-" + strconv.Itoa(seq) + "-" + hex.EncodeToString(sum[:12])
}

type row struct {
	seq        int
	identifier string
	quantity   int64
}

// day measures one day of one meter, records what is left to report, and
// sends every row of the day this run claims.
func (r *Reporter) day(ctx context.Context, m meter, day, now time.Time) (int, error) {
	rows, err := r.measure.Report(ctx, m.tenantID, usage.Query{From: day, To: day.Add(24 * time.Hour), GroupBy: "license", Granularity: "day"})
	if err != nil {
		return 0, fmt.Errorf("measuring: %w", err)
	}
	var measured int64
	for _, row := range rows {
		if row.Key != m.licenseID {
			continue
		}
		if m.kind == KindOverage {
			measured += Minutes(row.OverageSeatHours)
		} else {
			measured += Minutes(row.SeatHours)
		}
	}
	var claimed []row
	err = r.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		// One run at a time per license, meter and day.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 21))`,
			m.licenseID+"|"+m.kind+"|"+day.Format(time.DateOnly)); err != nil {
			return err
		}
		var reported int64
		var last int
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0), coalesce(max(seq), 0) FROM billing_meter_reports
			WHERE license_id = $1 AND kind = $2 AND day = $3`, m.licenseID, m.kind, day).Scan(&reported, &last); err != nil {
			return err
		}
		if measured > reported {
			seq := last + 1
			if _, err := tx.Exec(ctx, `INSERT INTO billing_meter_reports (license_id, tenant_id, kind, day, seq, identifier, quantity)
				VALUES ($1, $2, $3, $4, $5, $6, $7)`, m.licenseID, m.tenantID, m.kind, day, seq,
				Identifier(m.licenseID, m.kind, day, seq), measured-reported); err != nil {
				return err
			}
		}
		q, err := tx.Query(ctx, `UPDATE billing_meter_reports SET claimed_until = $4
			WHERE license_id = $1 AND kind = $2 AND day = $3 AND status = 'pending'
			  AND (claimed_until IS NULL OR claimed_until < $5)
			RETURNING seq, identifier, quantity`, m.licenseID, m.kind, day, now.Add(claim), now)
		if err != nil {
			return err
		}
		claimed, err = pgx.CollectRows(q, func(cr pgx.CollectableRow) (row, error) {
			var x row
			err := cr.Scan(&x.seq, &x.identifier, &x.quantity)
			return x, err
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("recording: %w", err)
	}
	sent := 0
	for _, x := range claimed {
		// Inside the day it measures, so Stripe bills it to that day.
		e := Event{EventName: m.eventName, CustomerID: m.customer, Identifier: x.identifier, Value: x.quantity,
			Timestamp: day.Add(12 * time.Hour)}
		if err := r.sender.Send(ctx, e); err != nil {
			return sent, err
		}
		if err := r.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE billing_meter_reports SET status = 'sent', sent_at = $2, claimed_until = NULL
				WHERE identifier = $1`, x.identifier, now)
			return err
		}); err != nil {
			// Sent but not marked: the next run sends it again under the
			// same identifier, which Stripe counts once.
			return sent, fmt.Errorf("marking %s sent: %w", x.identifier, err)
		}
		sent++
		r.logger.Info("metering: reported", "license_id", m.licenseID, "kind", m.kind, "day", day.Format(time.DateOnly),
			"seq", x.seq, "seat_minutes", x.quantity)
	}
	return sent, nil
}

// EngineLedger reads the ledgers' oldest entries from the seat engine's
// Redis streams (what the cleanup has not drained yet).
type EngineLedger struct{ Engine *seats.Engine }

// Oldest is the time of each license's oldest entry still in Redis.
func (l EngineLedger) Oldest(ctx context.Context, licenseIDs []string) (map[string]time.Time, error) {
	evs, err := l.Engine.EventsOf(ctx, licenseIDs, 1)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(evs))
	for id, e := range evs {
		if len(e) > 0 {
			out[id] = e[0].At
		}
	}
	return out, nil
}
