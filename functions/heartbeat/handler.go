// Package heartbeat is the Heartbeat function: a client keeps its session,
// and so its seat, alive. A session that expired, was released or was
// revoked is gone; the SDK must acquire again (unless the license revives:
// then a session expired within revive_seconds comes back, revived: true,
// when a seat is free) (an admin's revocation, 403 session_revoked, and a
// blocked workstation, 403 workstation_blocked, are answered as such, and
// the SDK does not). A live session may instead be borrowed for offline
// use, returned early from the device that borrowed it, and checked
// against the license's revocation list (borrow.go).
package heartbeat

import (
	"errors"
	"net/http"
	"slices"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/jsonappend"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Heartbeat"

// New returns the function.
// borrower signs borrow leases with the root (see borrow.go).
func New(engine *seats.Engine, signer *lease.Signer, borrower *lease.BorrowSigner) (route.Function, error) {
	if engine == nil || signer == nil || borrower == nil || borrower.Root == nil {
		return route.Function{}, errors.New("heartbeat: missing dependency")
	}
	h := &handler{engine: engine, signer: signer, borrower: borrower}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/heartbeat", Methods: route.Methods{http.MethodPost: h.heartbeat}},
		{Pattern: BorrowPath, Methods: route.Methods{http.MethodPost: h.borrow}},
		{Pattern: ReturnPath, Methods: route.Methods{http.MethodPost: h.giveBack}},
		{Pattern: RevocationsPath, Methods: route.Methods{http.MethodGet: h.revocations}},
	}}, nil
}

type handler struct {
	engine   *seats.Engine
	signer   *lease.Signer
	borrower *lease.BorrowSigner
}

type request struct {
	SessionID string `json:"session_id"`
	// Fingerprint is the heartbeating workstation. With per-user leasing a
	// person's one session may be held from several machines, and the lease
	// names the one asking; otherwise the lease names the session's own.
	Fingerprint string `json:"fingerprint"`
	// InstanceID is the process heartbeating, when it acquired naming one:
	// its own hold on a shared seat is renewed.
	InstanceID string `json:"instance_id"`
}

type response struct {
	SessionID                string `json:"session_id"`
	ExpiresAt                string `json:"expires_at"`
	HeartbeatIntervalSeconds int    `json:"heartbeat_interval_seconds"`
	Lease                    string `json:"lease"`
	// Revived: the session had expired and this heartbeat took it back,
	// within the license's revive_seconds, because a seat was free.
	Revived bool `json:"revived"`
	// SeatClass: the session's class now, "entitled" or "overage" (an
	// overage seat becomes entitled when an older seat frees).
	SeatClass string `json:"seat_class"`
}

// AppendJSON writes the answer as json.Marshal would (the tags above are
// the reference; a test holds the two equal) without reflection.
func (r response) AppendJSON(b []byte) []byte {
	b = slices.Grow(b, len(r.Lease)+192)
	return jsonappend.NewObject(b).String("session_id", r.SessionID).String("expires_at", r.ExpiresAt).
		Int("heartbeat_interval_seconds", r.HeartbeatIntervalSeconds).String("lease", r.Lease).Bool("revived", r.Revived).
		String("seat_class", r.SeatClass).Bytes()
}

func (h *handler) heartbeat(w http.ResponseWriter, r *http.Request) {
	var req request
	if err := decode(w, r, &req); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	// The fingerprint named is checked against the blocked workstations
	// as well as the session's own (it is the one the lease would name).
	g, err := h.engine.HeartbeatHolder(r.Context(), req.SessionID, req.Fingerprint, req.InstanceID)
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	fp := g.Fingerprint
	if g.PerUser && req.Fingerprint != "" {
		fp = req.Fingerprint
	}
	signed, err := h.signer.Lease(lease.Claims{SessionDigest: g.SessionDigest, LicenseID: g.LicenseID, TenantID: g.TenantID,
		Fingerprint: fp, ExpiresAt: g.ExpiresAt, Overage: g.SeatClass == seats.SeatOverage})
	if err != nil {
		httpjson.WriteError(w, r, apierror.CannotSign(err))
		return
	}
	httpjson.Write(w, http.StatusOK, response{
		SessionID:                g.SessionID,
		ExpiresAt:                httpjson.Time(g.ExpiresAt),
		HeartbeatIntervalSeconds: g.HeartbeatInterval(),
		Lease:                    signed,
		Revived:                  g.Revived,
		SeatClass:                g.SeatClass,
	})
}

func decode(w http.ResponseWriter, r *http.Request, req *request) error {
	if err := httpjson.Decode(w, r, req); err != nil {
		return err
	}
	return httpjson.First(httpjson.Text("session_id", req.SessionID, true, 128),
		httpjson.Text("fingerprint", req.Fingerprint, false, 256), apierror.InstanceID(req.InstanceID))
}
