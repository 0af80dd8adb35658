// Package release is the Release function: a client gives its seat back.
// Releasing twice, or after expiry, is not an error: the answer says whether
// the caller held the session (released) and whether the seat is free now
// (seat_freed: false while other processes sharing the seat hold it, or
// while it lingers: lingers_until says until when).
package release

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Release"

// New returns the function.
func New(engine *seats.Engine) (route.Function, error) {
	if engine == nil {
		return route.Function{}, errors.New("release: nil seat engine")
	}
	h := &handler{engine: engine}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/release", Methods: route.Methods{http.MethodPost: h.release}},
	}}, nil
}

type handler struct{ engine *seats.Engine }

type request struct {
	SessionID string `json:"session_id"`
	// InstanceID is the process releasing, when it acquired naming one.
	InstanceID string `json:"instance_id"`
}

type response struct {
	Released  bool `json:"released"`
	SeatFreed bool `json:"seat_freed"`
	// LingersUntil: the license lingers, so the released seat counts until
	// then, and an acquire by the same workstation (or person) before then
	// takes the session back. Absent when the seat does not linger.
	LingersUntil string `json:"lingers_until,omitempty"`
}

func (h *handler) release(w http.ResponseWriter, r *http.Request) {
	req, err := decode(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	done, err := h.engine.ReleaseHolder(r.Context(), req.SessionID, req.InstanceID)
	if err != nil {
		// A borrowed session is 409 session_borrowed; others are backend
		// failures, which apierror.Seats leaves as they are.
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	res := response{Released: done.Released, SeatFreed: done.SeatFreed}
	if !done.LingersUntil.IsZero() {
		res.LingersUntil = httpjson.Time(done.LingersUntil)
	}
	httpjson.Write(w, http.StatusOK, res)
}

// decode reads and checks a release request; its errors are *httpjson.Error.
func decode(w http.ResponseWriter, r *http.Request) (request, error) {
	var req request
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	return req, httpjson.First(httpjson.Text("session_id", req.SessionID, true, 128), apierror.InstanceID(req.InstanceID))
}
