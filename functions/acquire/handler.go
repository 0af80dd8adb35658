// Package acquire is the Acquire function: an SDK presents a license key and
// its workstation's fingerprint and gets a session holding one seat. A
// license that requires users also needs the caller's ID token or member API
// key of the license's tenant.
package acquire

import (
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
	"github.com/coditect-ai/license-server/shared/workstations"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Acquire"

// Sightings receives each workstation an acquire came from.
type Sightings interface {
	Seen(workstations.Sighting)
}

// New returns the function. perLicense limits acquires per license; the
// acquire script checks it in the same Redis call that takes the seat. m
// (nil for none) counts each call's outcome.
func New(engine *seats.Engine, signer *lease.Signer, authn *auth.Authenticator, seen Sightings, perLicense seats.RateLimit, m *metrics.Metrics) (route.Function, error) {
	if engine == nil || signer == nil || authn == nil || seen == nil {
		return route.Function{}, errors.New("acquire: missing dependency")
	}
	h := &handler{engine: engine, signer: signer, seen: seen, limit: perLicense, metrics: m}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/acquire", Methods: route.Methods{http.MethodPost: authn.Optional(h.acquire)}},
	}}, nil
}

type handler struct {
	engine  *seats.Engine
	signer  *lease.Signer
	seen    Sightings
	limit   seats.RateLimit
	metrics *metrics.Metrics
}

func (h *handler) acquire(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRequest(w, r)
	if err != nil {
		h.metrics.AcquireOutcome(r.Context(), metrics.Acquire{Outcome: metrics.OutcomeInvalid})
		httpjson.WriteError(w, r, err)
		return
	}
	licenseID, _, err := tokens.ParseLicenseKey(req.LicenseKey)
	if err != nil {
		// A key that cannot be one of ours is as unknown as a wrong one.
		h.metrics.AcquireOutcome(r.Context(), metrics.Acquire{Outcome: metrics.OutcomeDenied, Reason: "license_not_found"})
		httpjson.WriteError(w, r, apierror.LicenseNotFound())
		return
	}
	ar := seats.AcquireRequest{
		LicenseID: licenseID, LicenseKey: req.LicenseKey,
		Fingerprint: req.Fingerprint, Hostname: req.Hostname, OS: req.OS, Repository: req.Repository,
		User: req.User, RateLimit: h.limit, InstanceID: req.InstanceID,
	}
	// An authenticated caller is the user, whatever the body says.
	if p, ok := auth.FromContext(r.Context()); ok {
		ar.User, ar.CallerTenants = p.User, p.TenantIDs()
	}
	g, err := h.engine.Acquire(r.Context(), ar)
	var limited *seats.RateLimitedError
	if errors.As(err, &limited) {
		h.metrics.AcquireOutcome(r.Context(), metrics.Acquire{Outcome: metrics.OutcomeDenied, Reason: "rate_limited", LicenseID: licenseID})
		ratelimit.Refuse(w, r, limited.Limit.Burst, 0, limited.RetryAfter)
		return
	}
	if err != nil {
		answer := apierror.Seats(err)
		h.metrics.AcquireOutcome(r.Context(), refused(licenseID, err, answer))
		httpjson.WriteError(w, r, answer)
		return
	}
	signed, err := h.signer.Lease(lease.Claims{SessionDigest: g.SessionDigest, LicenseID: g.LicenseID, TenantID: g.TenantID,
		Fingerprint: g.Fingerprint, ExpiresAt: g.ExpiresAt, Overage: g.SeatClass == seats.SeatOverage})
	if err != nil {
		// The seat is held; the client retries and resumes the same session.
		h.metrics.AcquireOutcome(r.Context(), metrics.Acquire{Outcome: metrics.OutcomeError, LicenseID: licenseID})
		httpjson.WriteError(w, r, apierror.CannotSign(err))
		return
	}
	outcome := metrics.OutcomeGranted
	if g.Resumed {
		outcome = metrics.OutcomeResumed
	}
	h.metrics.AcquireOutcome(r.Context(), metrics.Acquire{Outcome: outcome, LicenseID: licenseID, Seats: g.SeatsTotal})
	if g.RateRemaining >= 0 {
		ratelimit.Headers(w, h.limit.Burst, g.RateRemaining, refill(h.limit, g.RateRemaining))
	}
	h.seen.Seen(workstations.Sighting{TenantID: g.TenantID, Fingerprint: req.Fingerprint,
		Hostname: req.Hostname, OS: req.OS, User: ar.User, At: time.Now()})
	httpjson.Write(w, http.StatusOK, response{
		SessionID:                g.SessionID,
		ExpiresAt:                httpjson.Time(g.ExpiresAt),
		HeartbeatIntervalSeconds: g.HeartbeatInterval(),
		SeatsUsed:                g.SeatsUsed,
		SeatsTotal:               g.SeatsTotal,
		Resumed:                  g.Resumed,
		Lease:                    signed,
		SeatClass:                g.SeatClass,
	})
}

// refill is how long until the full burst is back, remaining being left.
func refill(l seats.RateLimit, remaining int) time.Duration {
	return time.Duration(l.Burst-remaining) * time.Second / time.Duration(l.PerSecond)
}

// refused is how an acquire the engine refused is counted: an answer the
// client is told (4xx) is a denial with its error code as the reason, a
// malformed one (400) invalid, anything else (a backend failure) an error.
func refused(licenseID string, err, answer error) metrics.Acquire {
	a := metrics.Acquire{Outcome: metrics.OutcomeError, LicenseID: licenseID}
	var full *seats.NoSeatsError
	if errors.As(err, &full) {
		a.Seats = full.Seats
	}
	var e *httpjson.Error
	switch {
	case !errors.As(answer, &e) || e.Status >= 500:
	case e.Status == http.StatusBadRequest:
		a.Outcome = metrics.OutcomeInvalid
	default:
		a.Outcome, a.Reason = metrics.OutcomeDenied, e.Code
	}
	return a
}
