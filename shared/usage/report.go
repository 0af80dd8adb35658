package usage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// groupColumn is the column of usage_sessions and usage_events a report
// groups on: a fixed list, never caller text, goes into the SQL.
func groupColumn(groupBy string) (string, bool) {
	switch groupBy {
	case "license":
		return "license_id::text", true
	case "user":
		return "user_name", true
	case "workstation":
		return "fingerprint", true
	case "repository":
		return "repository", true
	}
	return "", false
}

// BucketSize is the length of a report bucket.
func BucketSize(granularity string) (time.Duration, bool) {
	switch granularity {
	case "hour":
		return time.Hour, true
	case "day":
		return 24 * time.Hour, true
	}
	return 0, false
}

// Query asks for a report over [From, To) in UTC buckets.
type Query struct {
	From, To    time.Time
	GroupBy     string // license, user, workstation or repository
	Granularity string // hour or day
}

// Row is one group in one bucket in which anything happened.
type Row struct {
	Key         string
	BucketStart time.Time
	// PeakSeats is the most sessions of the group live at one instant of
	// the bucket; SeatHours the time all of them held a seat in it.
	PeakSeats int
	SeatHours float64
	Denials   int
	// OverageSeatHours is the part of SeatHours held by overage seats
	// (beyond the license's seats, under its overage policy), and
	// PeakOverage the most overage seats of the group at one instant of
	// the bucket: the figures overage is billed from.
	OverageSeatHours float64
	PeakOverage      int
}

// ErrTooManyRows: the report would be larger than MaxRows; ask for a
// shorter range or a coarser grouping.
var ErrTooManyRows = errors.New("usage: report too large")

// MaxRows bounds one report.
const MaxRows = 10000

// KnownGroup reports whether Report can group by g.
func KnownGroup(g string) bool {
	_, ok := groupColumn(g)
	return ok
}

// Valid reports whether GroupBy and Granularity are ones Report knows.
func (q Query) Valid() bool {
	_, g := groupColumn(q.GroupBy)
	_, b := BucketSize(q.Granularity)
	return g && b && q.To.After(q.From)
}

// reportSQL splits every session that overlaps the range into its pieces
// per bucket; the peak of a bucket is the highest running count of piece
// starts (+1) and ends (-1) in time order, ends first at a tie so a seat
// handed over at one instant is not counted twice. A session still open is
// counted up to now. An interval granted as overage has an overage part,
// from its start to its reclassification (overage_until) or its end,
// clipped the same way; its hours and peak are summed the same way.
// (Every other column is computed exactly as before.)
const reportSQL = `
WITH b AS (
  SELECT g AS bstart, g + $4::interval AS bend
  FROM generate_series(date_trunc($5, $2::timestamptz, 'UTC'), $3::timestamptz - interval '1 microsecond', $4::interval) g
), s AS (
  SELECT %[1]s AS key, greatest(started_at, $2) AS st, least(coalesce(ended_at, now()), $3) AS en,
         CASE WHEN overage THEN least(coalesce(overage_until, 'infinity'), coalesce(ended_at, now()), $3) END AS oen
  FROM usage_sessions
  WHERE tenant_id = $1 AND started_at < $3 AND coalesce(ended_at, now()) > $2
), p AS (
  SELECT s.key, b.bstart, greatest(s.st, b.bstart) AS ps, least(s.en, b.bend) AS pe,
         -- least() passes over a NULL: an entitled interval has no overage part.
         CASE WHEN s.oen IS NOT NULL THEN least(s.oen, b.bend) END AS ope
  FROM s JOIN b ON s.st < b.bend AND s.en > b.bstart
), pts AS (
  SELECT key, bstart, ps AS t, 1 AS d FROM p
  UNION ALL
  SELECT key, bstart, pe, -1 FROM p
), run AS (
  SELECT key, bstart, sum(d) OVER (PARTITION BY key, bstart ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c FROM pts
), peaks AS (
  SELECT key, bstart, max(c)::int AS peak FROM run GROUP BY key, bstart
), hours AS (
  SELECT key, bstart, (sum(extract(epoch FROM pe - ps)) / 3600)::float8 AS seat_hours FROM p GROUP BY key, bstart
), op AS (
  SELECT key, bstart, ps, ope FROM p WHERE ope > ps
), opts AS (
  SELECT key, bstart, ps AS t, 1 AS d FROM op
  UNION ALL
  SELECT key, bstart, ope, -1 FROM op
), orun AS (
  SELECT key, bstart, sum(d) OVER (PARTITION BY key, bstart ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS c FROM opts
), ovr AS (
  SELECT o.key, o.bstart, o.peak, h.oh
  FROM (SELECT key, bstart, max(c)::int AS peak FROM orun GROUP BY key, bstart) o
  JOIN (SELECT key, bstart, (sum(extract(epoch FROM ope - ps)) / 3600)::float8 AS oh FROM op GROUP BY key, bstart) h
    USING (key, bstart)
), denials AS (
  SELECT %[1]s AS key, date_trunc($5, at, 'UTC') AS bstart, count(*)::int AS n
  FROM usage_events
  WHERE tenant_id = $1 AND kind = 'denied' AND at >= $2 AND at < $3
  GROUP BY 1, 2
)
SELECT key, bstart, coalesce(peaks.peak, 0), coalesce(seat_hours, 0), coalesce(n, 0),
       coalesce(ovr.oh, 0), coalesce(ovr.peak, 0)
FROM hours JOIN peaks USING (key, bstart) FULL JOIN denials USING (key, bstart) LEFT JOIN ovr USING (key, bstart)
ORDER BY key, bstart
LIMIT $6`

// Report computes a tenant's usage per group and bucket. Only buckets in
// which a group held a seat or was denied one appear.
func (s *Store) Report(ctx context.Context, tenantID string, q Query) ([]Row, error) {
	if !q.Valid() {
		return nil, fmt.Errorf("usage: invalid query %+v", q)
	}
	column, _ := groupColumn(q.GroupBy)
	sql := fmt.Sprintf(reportSQL, column)
	step, _ := BucketSize(q.Granularity)
	rows, err := database.All(ctx, s.db, database.Tenant(tenantID), func(r pgx.Row) (Row, error) {
		var row Row
		err := r.Scan(&row.Key, &row.BucketStart, &row.PeakSeats, &row.SeatHours, &row.Denials,
			&row.OverageSeatHours, &row.PeakOverage)
		row.BucketStart = row.BucketStart.UTC()
		// Micro-hours are far below what anyone bills; rounding keeps the
		// figures stable across float summation orders.
		row.SeatHours = math.Round(row.SeatHours*1e6) / 1e6
		row.OverageSeatHours = math.Round(row.OverageSeatHours*1e6) / 1e6
		return row, err
	}, sql, tenantID, q.From, q.To, step, q.Granularity, MaxRows+1)
	if err != nil {
		return nil, fmt.Errorf("usage report: %w", err)
	}
	if len(rows) > MaxRows {
		return nil, ErrTooManyRows
	}
	return rows, nil
}
