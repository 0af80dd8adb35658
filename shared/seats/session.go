package seats

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	// Holders of a shared seat: instance id ("*" the anonymous holder) ->
	// expiry in ms, or -1 for a sole holder, whose expiry is the session's
	// (see lua/common.lua).
	Holders map[string]float64 `json:"ho"`
	// Lingering: released, counted until its linger ends (its expiry).
	Lingering int `json:"lg"`
	// BorrowedUntil: borrowed until then (ms); its expiry is the same.
	BorrowedUntil float64 `json:"bw"`
}

// anonymousHolder is how the scripts name the holder without an instance.
const anonymousHolder = "*"

// decodeSession reads one row of the sessions script, at nowMS by the Redis
// clock. name is how Redis
// names the session: its digest, or, for a session written before digests,
// its clear token, which is shown (and named in errors) only by the digest
// of its id.
func decodeSession(licenseID string, nowMS int64, name, expiry, raw string) (Session, error) {
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
	expiresAt := time.UnixMilli(int64(exp)).UTC()
	// Only the live holders: a lapsed one stays in Redis until the seat is
	// next written.
	holders := []Holder{}
	lingering := info.Lingering == 1
	borrowed := info.BorrowedUntil > 0
	if info.Holders == nil && !lingering && !borrowed {
		holders = append(holders, Holder{ExpiresAt: expiresAt})
	}
	for name, e := range info.Holders {
		if e < 0 {
			// The sole holder: its expiry is the session's.
			e = exp
		}
		if int64(e) <= nowMS {
			continue
		}
		if name == anonymousHolder {
			name = ""
		}
		holders = append(holders, Holder{InstanceID: name, ExpiresAt: time.UnixMilli(int64(e)).UTC()})
	}
	slices.SortFunc(holders, func(a, b Holder) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.InstanceID, b.InstanceID)
	})
	return Session{
		Lingering:     lingering,
		Borrowed:      borrowed,
		Holders:       holders,
		SessionDigest: digest,
		Fingerprint:   info.Fingerprint,
		Hostname:      info.Hostname,
		User:          info.User,
		OS:            info.OS,
		Repository:    info.Repository,
		AcquiredAt:    time.UnixMilli(int64(info.At)).UTC(),
		ExpiresAt:     expiresAt,
	}, nil
}
