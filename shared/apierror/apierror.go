// Package apierror turns the seat engine's errors into the API's answers, so
// the SDK functions (acquire, heartbeat, release) give the same code for the
// same condition, and holds the answers several functions share. It does
// no I/O: reading tenants and writing licenses through is shared/licensing's.
package apierror

import (
	"errors"
	"net/http"
	"regexp"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Seats maps a seat engine error to its API error; other errors (a backend
// failure) are returned as they are, for httpjson.WriteError to classify.
func Seats(err error) error {
	var full *seats.NoSeatsError
	var mine *seats.UserLimitError
	var holders *seats.InstanceLimitError
	var borrowed *seats.BorrowLimitError
	var tooLong *seats.BorrowTooLongError
	switch {
	case errors.As(err, &full):
		return &httpjson.Error{Status: http.StatusConflict, Code: "no_seats_available", Message: full.Error(),
			Extra: map[string]any{"seats_used": full.Used, "seats_total": full.Seats}}
	case errors.As(err, &mine):
		return &httpjson.Error{Status: http.StatusConflict, Code: "user_seat_limit", Message: mine.Error(),
			Extra: map[string]any{"user_seats_used": mine.Used, "max_seats_per_user": mine.Max}}
	case errors.As(err, &holders):
		return &httpjson.Error{Status: http.StatusConflict, Code: "instance_limit", Message: holders.Error(),
			Extra: map[string]any{"instances": holders.Holders, "max_instances_per_seat": holders.Max}}
	case errors.As(err, &borrowed):
		return &httpjson.Error{Status: http.StatusConflict, Code: "borrow_limit", Message: borrowed.Error(),
			Extra: map[string]any{"borrowed": borrowed.Borrowed, "max_concurrent": borrowed.MaxConcurrent,
				"min_online_seats": borrowed.MinOnlineSeats, "seats_total": borrowed.Seats}}
	case errors.As(err, &tooLong):
		return httpjson.Invalid("the borrow may end at most max_seconds (%d) from now", tooLong.MaxSeconds)
	case errors.Is(err, seats.ErrInvalidBorrowEnd):
		return httpjson.Invalid("the borrow's end must be in the future")
	case errors.Is(err, seats.ErrBorrowNotAllowed):
		return httpjson.Errorf(http.StatusForbidden, "borrow_not_allowed", "this license does not allow borrowing")
	case errors.Is(err, seats.ErrSessionBorrowed):
		return httpjson.Errorf(http.StatusConflict, "session_borrowed",
			"the session is borrowed: it holds its seat offline until it is returned or its borrow ends")
	case errors.Is(err, seats.ErrNotBorrowed):
		return httpjson.Errorf(http.StatusConflict, "not_borrowed", "the session is not borrowed")
	case errors.Is(err, seats.ErrOtherDevice):
		return httpjson.Errorf(http.StatusConflict, "other_device", "the session is borrowed by another device")
	case errors.Is(err, seats.ErrProofUsed):
		return httpjson.Errorf(http.StatusForbidden, "invalid_proof", "the return proof is invalid or was already used")
	case errors.Is(err, seats.ErrUserRequired):
		return &httpjson.Error{Status: http.StatusUnauthorized, Code: "user_required",
			Headers: map[string]string{"WWW-Authenticate": `Bearer realm="api"`},
			Message: "this license needs the user's ID token or API key of its tenant"}
	case errors.Is(err, seats.ErrUserMissing):
		return httpjson.Invalid(`field "user" is required: this license counts seats per user`)
	case errors.Is(err, seats.ErrWrongTenant):
		return httpjson.Errorf(http.StatusForbidden, "forbidden", "the credential belongs to another tenant")
	case errors.Is(err, seats.ErrSessionRevoked):
		return httpjson.Errorf(http.StatusForbidden, "session_revoked", "an admin ended this session")
	case errors.Is(err, seats.ErrWorkstationBlocked):
		return httpjson.Errorf(http.StatusForbidden, "workstation_blocked", "this workstation is blocked by an admin")
	case errors.Is(err, seats.ErrLicenseNotFound):
		return LicenseNotFound()
	case errors.Is(err, seats.ErrSessionNotFound):
		return httpjson.NotFound("session_not_found", "session")
	case errors.Is(err, seats.ErrLicenseInactive):
		return httpjson.Errorf(http.StatusForbidden, "license_inactive", "the license is suspended or expired")
	}
	return err
}

// instanceIDPattern is what an instance id may be: short, and of characters
// that need no escaping anywhere it is shown ("*", the scripts' name for the
// anonymous holder, cannot be one).
var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)

// InstanceID checks the optional instance_id of an acquire, heartbeat or
// release: the process holding a shared seat.
func InstanceID(v string) *httpjson.Error {
	if v == "" || instanceIDPattern.MatchString(v) {
		return nil
	}
	return httpjson.Invalid(`field "instance_id" must be 1-64 letters, digits, or . _ : - (starting with a letter or digit)`)
}

// LicenseNotFound is the answer for an unknown license key, malformed or not.
func LicenseNotFound() *httpjson.Error { return httpjson.NotFound("license_not_found", "license") }

// TenantNotFound is the answer for an unknown tenant, or one of another tenant.
func TenantNotFound() *httpjson.Error { return httpjson.NotFound("tenant_not_found", "tenant") }

// Sessions is how live sessions are listed to admins: by digest, the name
// their leases carry, never by id (the id heartbeats and releases the seat),
// with the processes holding each (an anonymous holder's instance_id is
// null; a lingering or borrowed session has none; a borrowed one's
// expires_at is its borrow's end).
func Sessions(list []seats.Session) []map[string]any {
	out := make([]map[string]any, len(list))
	for i, s := range list {
		holders := make([]map[string]any, len(s.Holders))
		for j, h := range s.Holders {
			var id any
			if h.InstanceID != "" {
				id = h.InstanceID
			}
			holders[j] = map[string]any{"instance_id": id, "expires_at": httpjson.Time(h.ExpiresAt)}
		}
		out[i] = map[string]any{
			"session_digest": s.SessionDigest, "fingerprint": s.Fingerprint, "hostname": s.Hostname, "user": s.User,
			"os": s.OS, "repository": s.Repository,
			"acquired_at": httpjson.Time(s.AcquiredAt), "expires_at": httpjson.Time(s.ExpiresAt),
			"holders": holders, "lingering": s.Lingering, "seat_class": s.SeatClass, "borrowed": s.Borrowed,
		}
	}
	return out
}

// CannotSign answers a seat call whose lease could not be signed (no valid
// delegation): a 503 the client retries; the seat itself is held and the
// retry resumes the same session.
func CannotSign(err error) *httpjson.Error {
	return &httpjson.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
		Message: "cannot sign leases right now; retry shortly", RetryAfter: 1, Cause: err}
}
