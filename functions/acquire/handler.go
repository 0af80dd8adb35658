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

// New returns the function. perLicense limits acquires per license key.
func New(engine *seats.Engine, signer *lease.Signer, authn *auth.Authenticator, seen Sightings, perLicense ratelimit.Rule) (route.Function, error) {
	if engine == nil || signer == nil || authn == nil || seen == nil {
		return route.Function{}, errors.New("acquire: missing dependency")
	}
	h := &handler{engine: engine, signer: signer, seen: seen, limit: perLicense}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/acquire", Methods: route.Methods{http.MethodPost: authn.Optional(h.acquire)}},
	}}, nil
}

type handler struct {
	engine *seats.Engine
	signer *lease.Signer
	seen   Sightings
	limit  ratelimit.Rule
}

func (h *handler) acquire(w http.ResponseWriter, r *http.Request) {
	req, err := decodeRequest(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	licenseID, keyHash, err := tokens.ParseLicenseKey(req.LicenseKey)
	if err != nil {
		// A key that cannot be one of ours is as unknown as a wrong one.
		httpjson.WriteError(w, r, apierror.LicenseNotFound())
		return
	}
	if !h.limit.Allow(w, r, "lic:"+licenseID) {
		return
	}
	ar := seats.AcquireRequest{
		LicenseID: licenseID, KeyHash: keyHash,
		Fingerprint: req.Fingerprint, Hostname: req.Hostname, OS: req.OS, Repository: req.Repository,
		User: req.User,
	}
	// An authenticated caller is the user, whatever the body says.
	if p, ok := auth.FromContext(r.Context()); ok {
		ar.User, ar.CallerTenant = p.User, p.TenantID
	}
	g, err := h.engine.Acquire(r.Context(), ar)
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	signed, err := h.signer.Lease(lease.Claims{SessionID: g.SessionID, LicenseID: g.LicenseID, TenantID: g.TenantID,
		Fingerprint: g.Fingerprint, ExpiresAt: g.ExpiresAt})
	if err != nil {
		// The seat is held; the client retries and resumes the same session.
		httpjson.WriteError(w, r, apierror.CannotSign(err))
		return
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
	})
}
