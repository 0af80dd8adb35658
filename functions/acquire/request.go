package acquire

import (
	"net/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
)

type request struct {
	LicenseKey  string `json:"license_key"`
	Fingerprint string `json:"fingerprint"`
	Hostname    string `json:"hostname"`
	User        string `json:"user"`
}

func decodeRequest(w http.ResponseWriter, r *http.Request) (request, error) {
	var req request
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	return req, httpjson.First(
		httpjson.Text("license_key", req.LicenseKey, true, 200),
		httpjson.Text("fingerprint", req.Fingerprint, true, 256),
		httpjson.Text("hostname", req.Hostname, false, 255),
		httpjson.Text("user", req.User, false, 256),
	)
}

type response struct {
	SessionID                string `json:"session_id"`
	ExpiresAt                string `json:"expires_at"`
	HeartbeatIntervalSeconds int    `json:"heartbeat_interval_seconds"`
	SeatsUsed                int    `json:"seats_used"`
	SeatsTotal               int    `json:"seats_total"`
	Resumed                  bool   `json:"resumed"`
}
