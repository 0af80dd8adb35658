// Package usage is the Usage function: a tenant's admins read how their
// licenses were used (peak concurrent seats, seat-hours, denials, and the
// overage seat-hours and peak beyond the seats) per
// license, user, workstation or repository, by hour or day. The figures come
// from the usage ledger, so they include every session however it ended.
package usage

import (
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/metering"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/timestamp"
	"github.com/coditect-ai/license-server/shared/usage"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Usage"

// maxBuckets bounds a report's range: a month of hours, a leap year of days.
func maxBuckets(granularity string) int {
	if granularity == "hour" {
		return 31 * 24
	}
	return 366
}

// New returns the function.
func New(authn *auth.Authenticator, store *usage.Store, lic *licensing.Service, billed *metering.Reports) (route.Function, error) {
	if authn == nil || store == nil || lic == nil || billed == nil {
		return route.Function{}, errors.New("usage: missing dependency")
	}
	h := handler{store: store, licensing: lic, billed: billed}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/usage", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: h.report,
		})},
	}}, nil
}

type handler struct {
	store     *usage.Store
	licensing *licensing.Service
	billed    *metering.Reports
}

// bucket is one row of the report.
type bucket struct {
	Key       string         `json:"key"`
	Start     timestamp.Time `json:"start"`
	PeakSeats int            `json:"peak_seats"`
	SeatHours float64        `json:"seat_hours"`
	Denials   int            `json:"denials"`
	// OverageSeatHours and PeakOverage: the part of seat_hours held beyond
	// the license's seats under its overage policy, and the most such
	// seats at once (what overage is billed from).
	OverageSeatHours float64 `json:"overage_seat_hours"`
	PeakOverage      int     `json:"peak_overage"`
	// BilledSeatHours and BilledOverageSeatHours are what was reported to
	// Stripe for the bucket (whole seat-minutes), beside what was
	// measured: in a report by license and day, for a license with a
	// metered price that day; null otherwise.
	BilledSeatHours        *float64 `json:"billed_seat_hours"`
	BilledOverageSeatHours *float64 `json:"billed_overage_seat_hours"`
}

type report struct {
	From        timestamp.Time `json:"from"`
	To          timestamp.Time `json:"to"`
	GroupBy     string         `json:"group_by"`
	Granularity string         `json:"granularity"`
	Buckets     []bucket       `json:"buckets"`
}

func (h handler) report(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	q, err := parseQuery(r, time.Now())
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := h.licensing.LiveTenant(r.Context(), tenantID); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	rows, err := h.store.Report(r.Context(), tenantID, q)
	if errors.Is(err, usage.ErrTooManyRows) {
		err = httpjson.Errorf(http.StatusBadRequest, "report_too_large",
			"the report would have more than %d rows; ask for a shorter range or coarser buckets", usage.MaxRows)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	var billed map[metering.BilledDay]metering.Billed
	if q.GroupBy == "license" && q.Granularity == "day" {
		if billed, err = h.billed.Billed(r.Context(), tenantID, q.From, q.To); err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
	}
	out := report{From: timestamp.Of(q.From), To: timestamp.Of(q.To), GroupBy: q.GroupBy,
		Granularity: q.Granularity, Buckets: make([]bucket, 0, len(rows))}
	for _, row := range rows {
		b := billed[metering.BilledDay{LicenseID: row.Key, Day: row.BucketStart}]
		out.Buckets = append(out.Buckets, bucket{Key: row.Key, Start: timestamp.Of(row.BucketStart),
			PeakSeats: row.PeakSeats, SeatHours: row.SeatHours, Denials: row.Denials,
			OverageSeatHours: row.OverageSeatHours, PeakOverage: row.PeakOverage,
			BilledSeatHours: b.SeatHours, BilledOverageSeatHours: b.OverageSeatHours})
	}
	httpjson.Write(w, http.StatusOK, out)
}

// parseQuery reads group_by (default license), granularity (default day),
// and from and to (RFC 3339): to defaults to the end of the current bucket,
// from to a week (of days) or a day (of hours) before to.
func parseQuery(r *http.Request, now time.Time) (usage.Query, error) {
	v := r.URL.Query()
	q := usage.Query{GroupBy: v.Get("group_by"), Granularity: v.Get("granularity")}
	if q.GroupBy == "" {
		q.GroupBy = "license"
	}
	if q.Granularity == "" {
		q.Granularity = "day"
	}
	size, ok := usage.BucketSize(q.Granularity)
	if !ok {
		return q, httpjson.Invalid("granularity must be hour or day")
	}
	if !usage.KnownGroup(q.GroupBy) {
		return q, httpjson.Invalid("group_by must be license, user, workstation or repository")
	}
	var err error
	if q.To, err = parseTime(v.Get("to"), "to", now.UTC().Truncate(size).Add(size)); err != nil {
		return q, err
	}
	defaultSpan := 7 * size
	if q.Granularity == "hour" {
		defaultSpan = 24 * size
	}
	if q.From, err = parseTime(v.Get("from"), "from", q.To.Add(-defaultSpan)); err != nil {
		return q, err
	}
	limit := size * time.Duration(maxBuckets(q.Granularity))
	switch {
	case !q.To.After(q.From):
		return q, httpjson.Invalid("to must be after from")
	case q.To.Sub(q.From) > limit:
		return q, httpjson.Invalid("a %s report covers at most %d days", q.Granularity, int(limit.Hours()/24))
	}
	return q, nil
}

func parseTime(s, name string, otherwise time.Time) (time.Time, error) {
	if s == "" {
		return otherwise, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 || t.Year() > 9999 {
		return time.Time{}, httpjson.Invalid("%s must be an RFC 3339 time, e.g. 2026-11-01T00:00:00Z", name)
	}
	return t.UTC(), nil
}
