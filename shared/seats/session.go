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

func decodeSession(licenseID, token, expiry, raw string) (Session, error) {
	exp, err := strconv.ParseFloat(expiry, 64)
	if err != nil {
		return Session{}, fmt.Errorf("session %s: bad expiry %q", token, expiry)
	}
	var info sessionInfo
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		return Session{}, fmt.Errorf("session %s: bad info: %w", token, err)
	}
	return Session{
		SessionID:   tokens.SessionID(licenseID, token),
		Fingerprint: info.Fingerprint,
		Hostname:    info.Hostname,
		User:        info.User,
		OS:          info.OS,
		Repository:  info.Repository,
		AcquiredAt:  time.UnixMilli(int64(info.At)).UTC(),
		ExpiresAt:   time.UnixMilli(int64(exp)).UTC(),
	}, nil
}
