package acquire

import (
	"net/http"
	"slices"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/jsonappend"
	"github.com/coditect-ai/license-server/shared/repositories"
)

type request struct {
	LicenseKey  string `json:"license_key"`
	Fingerprint string `json:"fingerprint"`
	Hostname    string `json:"hostname"`
	OS          string `json:"os"`
	User        string `json:"user"`
	Repository  string `json:"repository"`
	// InstanceID names the process acquiring: processes of one workstation
	// share its seat, which frees when the last of them releases.
	InstanceID string `json:"instance_id"`
}

func decodeRequest(w http.ResponseWriter, r *http.Request) (request, error) {
	var req request
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if err := req.checkFields(); err != nil {
		return req, err
	}
	if req.Repository != "" {
		n, err := repositories.Normalize(req.Repository)
		if err != nil {
			return req, httpjson.Invalid(`field "repository" must be a git remote URL`)
		}
		req.Repository = n
	}
	return req, nil
}

// checkFields holds each field to its documented length, valid UTF-8 and no
// control characters.
func (req request) checkFields() error {
	return httpjson.First(
		httpjson.Text("license_key", req.LicenseKey, true, 200),
		httpjson.Text("fingerprint", req.Fingerprint, true, 256),
		httpjson.Text("hostname", req.Hostname, false, 255),
		httpjson.Text("os", req.OS, false, 100),
		httpjson.Text("user", req.User, false, 256),
		httpjson.Text("repository", req.Repository, false, 500),
		apierror.InstanceID(req.InstanceID),
	)
}

type response struct {
	SessionID                string `json:"session_id"`
	ExpiresAt                string `json:"expires_at"`
	HeartbeatIntervalSeconds int    `json:"heartbeat_interval_seconds"`
	SeatsUsed                int    `json:"seats_used"`
	SeatsTotal               int    `json:"seats_total"`
	Resumed                  bool   `json:"resumed"`
	Lease                    string `json:"lease"`
	// SeatClass: "entitled", or "overage" for a seat beyond the license's
	// seats under its overage policy (always present).
	SeatClass string `json:"seat_class"`
}

// AppendJSON writes the answer as json.Marshal would (the tags above are
// the reference; a test holds the two equal) without reflection.
func (r response) AppendJSON(b []byte) []byte {
	b = slices.Grow(b, len(r.Lease)+256)
	return jsonappend.NewObject(b).String("session_id", r.SessionID).String("expires_at", r.ExpiresAt).
		Int("heartbeat_interval_seconds", r.HeartbeatIntervalSeconds).Int("seats_used", r.SeatsUsed).
		Int("seats_total", r.SeatsTotal).Bool("resumed", r.Resumed).String("lease", r.Lease).
		String("seat_class", r.SeatClass).Bytes()
}
