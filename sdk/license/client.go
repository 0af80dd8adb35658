package license

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// maxBody bounds how much of an answer is read.
const maxBody = 1 << 20

const userAgent = "coditect-license-go/1"

// grant is a verified answer to an acquire or a heartbeat.
type grant struct {
	sessionID string
	token     string
	claims    leasejws.Claims
	interval  time.Duration // heartbeat_interval_seconds
	resumed   bool
	revived   bool
}

type acquireRequest struct {
	LicenseKey  string `json:"license_key"`
	Fingerprint string `json:"fingerprint"`
	Hostname    string `json:"hostname,omitempty"`
	OS          string `json:"os,omitempty"`
	User        string `json:"user,omitempty"`
	Repository  string `json:"repository,omitempty"`
	InstanceID  string `json:"instance_id,omitempty"`
}

// seatResponse is the answer to an acquire or a heartbeat (which lacks the
// seat counts and resumed; an acquire lacks revived).
type seatResponse struct {
	SessionID                string `json:"session_id"`
	ExpiresAt                string `json:"expires_at"`
	HeartbeatIntervalSeconds int    `json:"heartbeat_interval_seconds"`
	SeatsUsed                int    `json:"seats_used"`
	SeatsTotal               int    `json:"seats_total"`
	Resumed                  bool   `json:"resumed"`
	Revived                  bool   `json:"revived"`
	Lease                    string `json:"lease"`
}

type sessionRequest struct {
	SessionID string `json:"session_id"`
	// Fingerprint is sent on heartbeats: with per-user leasing the server
	// signs the lease for the workstation asking.
	Fingerprint string `json:"fingerprint,omitempty"`
	// InstanceID is this holder of a seat several processes share: its
	// heartbeat renews, and its release ends, only its own hold.
	InstanceID string `json:"instance_id,omitempty"`
}

// acquire asks for a seat. On ErrInvalidLease the unverified answer is
// returned too, so the caller can give the seat back.
func (c *client) acquire(ctx context.Context) (grant, seatResponse, error) {
	cred, err := c.credential(ctx)
	if err != nil {
		return grant{}, seatResponse{}, fmt.Errorf("license: getting the user credential: %w", err)
	}
	var resp seatResponse
	err = c.post(ctx, "/v1/acquire", cred, acquireRequest{
		LicenseKey: c.key, Fingerprint: c.fingerprint, Hostname: c.hostname, OS: c.os,
		User: c.user, Repository: c.repository, InstanceID: c.instance,
	}, &resp)
	if err != nil {
		return grant{}, seatResponse{}, err
	}
	if resp.SessionID == "" {
		return grant{}, resp, fmt.Errorf("%w: the answer names no session", ErrInvalidLease)
	}
	g, err := c.verify(resp, resp.SessionID)
	return g, resp, err
}

// heartbeat extends a session.
func (c *client) heartbeat(ctx context.Context, sessionID string) (grant, error) {
	var resp seatResponse
	if err := c.post(ctx, "/v1/heartbeat", "", sessionRequest{SessionID: sessionID, Fingerprint: c.fingerprint,
		InstanceID: c.instance}, &resp); err != nil {
		return grant{}, err
	}
	if resp.SessionID != sessionID {
		return grant{}, fmt.Errorf("%w: the answer names another session", ErrInvalidLease)
	}
	return c.verify(resp, sessionID)
}

// released is the answer to a release.
type released struct {
	// Released: the server still held this holder's hold on the session.
	Released bool `json:"released"`
	// SeatFreed: the seat is free now (false while other processes of the
	// workstation still hold it).
	SeatFreed bool `json:"seat_freed"`
}

// release gives this holder's hold on a session back.
func (c *client) release(ctx context.Context, sessionID string) (released, error) {
	var resp released
	err := c.post(ctx, "/v1/release", "", sessionRequest{SessionID: sessionID, InstanceID: c.instance}, &resp)
	return resp, err
}

// verify checks an answer's lease against the pinned roots and that it is
// the lease of this session, license and workstation, unexpired now.
func (c *client) verify(resp seatResponse, sessionID string) (grant, error) {
	now := c.now()
	claims, err := c.verifier.Verify(resp.Lease, now)
	if err != nil {
		return grant{}, fmt.Errorf("%w: %w", ErrInvalidLease, err)
	}
	var mismatch string
	switch {
	case claims.SessionDigest != leasejws.SessionDigest(sessionID):
		// A lease names its session by digest: the id is the credential.
		mismatch = "it is the lease of another session"
	case claims.LicenseID != c.licenseID:
		mismatch = "it is the lease of another license"
	case claims.Fingerprint != c.fingerprint:
		mismatch = "it is the lease of another workstation"
	case !now.Before(claims.ExpiresAt):
		// Verify tolerates some clock skew; a seat never holds a lease
		// that has already run out by this machine's clock.
		mismatch = fmt.Sprintf("it expired at %s (is this machine's clock right?)", claims.ExpiresAt.Format(time.RFC3339))
	}
	if mismatch != "" {
		return grant{}, fmt.Errorf("%w: %s", ErrInvalidLease, mismatch)
	}
	return grant{
		sessionID: sessionID, token: resp.Lease, claims: claims,
		interval: time.Duration(resp.HeartbeatIntervalSeconds) * time.Second, resumed: resp.Resumed,
		revived: resp.Revived,
	}, nil
}

// post sends one JSON call and decodes a 200 answer into out. Other answers
// become an *APIError.
func (c *client) post(ctx context.Context, path, bearer string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("license: encoding %s: %w", path, err)
	}
	return c.do(ctx, http.MethodPost, path, bearer, body, out)
}

// do sends one call (with a JSON body unless body is nil) and decodes a
// 200 answer into out. Other answers become an *APIError. path may carry a
// query: it is never logged nor put in an error.
func (c *client) do(ctx context.Context, method, path, bearer string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	name := path
	if i := strings.IndexByte(name, '?'); i >= 0 {
		// The query of GET /v1/licenses/revocations holds the license key.
		name = name[:i]
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("license: %s: %w", name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if name != path && errors.As(err, &ue) {
			// url.Error repeats the URL, query (license key) included.
			err = ue.Err
		}
		return fmt.Errorf("license: %s %s: %w", method, name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("license: reading the answer to %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return apiError(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("license: decoding the answer to %s: %w", name, err)
	}
	return nil
}

func apiError(resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil {
		e.Code, e.Message = env.Error.Code, env.Error.Message
	}
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n <= 0 {
			return 0
		}
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// backoff is the wait before retry number n (1, 2, …): MinBackoff doubling
// up to MaxBackoff, with "equal jitter" (somewhere in its upper half) so
// that clients which failed together do not retry together.
func (c *client) backoff(n int) time.Duration {
	d := c.maxBackoff
	if n < 1 {
		n = 1
	}
	if n <= 32 {
		if b := c.minBackoff << (n - 1); b > 0 && b < d {
			d = b
		}
	}
	return d/2 + rand.N(d/2+1)
}

// retryDelay is how long to wait after failure number n: the answer's
// Retry-After (plus up to 10% jitter) when it has one, else the backoff.
func (c *client) retryDelay(err error, n int) time.Duration {
	var ae *APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		return ae.RetryAfter + rand.N(ae.RetryAfter/10+1)
	}
	return c.backoff(n)
}

// retryAcquire reports whether Acquire should retry after err rather than
// return it.
func (c *client) retryAcquire(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.temporary() || c.waitForSeat && errors.Is(err, ErrNoSeats)
}
