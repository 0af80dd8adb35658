// Package acquire is the Acquire function: an SDK presents a license key and
// its workstation's fingerprint and gets a session holding one seat.
package acquire

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Acquire"

// New returns the function.
func New(engine *seats.Engine) (route.Function, error) {
	if engine == nil {
		return route.Function{}, errors.New("acquire: nil seat engine")
	}
	h := &handler{engine: engine}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/acquire", Methods: route.Methods{http.MethodPost: h.acquire}},
	}}, nil
}

type handler struct{ engine *seats.Engine }

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
	g, err := h.engine.Acquire(r.Context(), seats.AcquireRequest{
		LicenseID: licenseID, KeyHash: keyHash,
		Fingerprint: req.Fingerprint, Hostname: req.Hostname, User: req.User,
	})
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	httpjson.Write(w, http.StatusOK, response{
		SessionID:                g.SessionID,
		ExpiresAt:                httpjson.Time(g.ExpiresAt),
		HeartbeatIntervalSeconds: g.HeartbeatInterval(),
		SeatsUsed:                g.SeatsUsed,
		SeatsTotal:               g.SeatsTotal,
		Resumed:                  g.Resumed,
	})
}
