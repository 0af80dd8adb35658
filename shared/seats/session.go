package seats

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coditect-ai/license-server/shared/tokens"
)

// sessionInfo is what acquire.lua stores per session (cjson keys).
type sessionInfo struct {
	Fingerprint string  `json:"fp"`
	Hostname    string  `json:"host"`
	User        string  `json:"user"`
	OS          string  `json:"os"`
	Repository  string  `json:"repo"`
	At          float64 `json:"at"`
}

// decodeSession reads one row of the sessions script. name is how Redis
// names the session: its digest, or, for a session written before digests,
// its clear token, which is shown (and named in errors) only by the digest
// of its id.
func decodeSession(licenseID, name, expiry, raw string) (Session, error) {
	digest := name
	if !tokens.IsSessionDigest(name) {
		digest = tokens.SessionDigest(tokens.SessionID(licenseID, name))
	}
	exp, err := strconv.ParseFloat(expiry, 64)
	if err != nil {
		return Session{}, fmt.Errorf("session %s: bad expiry %q", digest, expiry)
	}
	var info sessionInfo
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return Session{}, fmt.Errorf("session %s: bad info: %w", digest, err)
	}
	return Session{
		SessionDigest: digest,
		Fingerprint:   info.Fingerprint,
		Hostname:      info.Hostname,
		User:          info.User,
		OS:            info.OS,
		Repository:    info.Repository,
		AcquiredAt:    time.UnixMilli(int64(info.At)).UTC(),
		ExpiresAt:     time.UnixMilli(int64(exp)).UTC(),
	}, nil
}
