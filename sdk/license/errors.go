package license

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Errors that an [*APIError] matches with errors.Is, by the code the server
// answered with, and the SDK's own.
var (
	// ErrNoSeats: every seat of the license is taken (409
	// no_seats_available), this user holds as many as the license allows
	// one person (409 user_seat_limit, which also matches ErrUserSeatLimit),
	// or this workstation's seat has as many processes holding it as one
	// seat may (409 instance_limit, which also matches ErrInstanceLimit).
	ErrNoSeats = errors.New("license: no seat available")
	// ErrUserSeatLimit: the user holds as many seats as the license allows
	// one person (409 user_seat_limit).
	ErrUserSeatLimit = errors.New("license: user seat limit reached")
	// ErrInstanceLimit: this workstation's seat already has as many
	// holders (processes) as the license allows one seat (409
	// instance_limit, which also matches ErrNoSeats).
	ErrInstanceLimit = errors.New("license: instance limit of the seat reached")
	// ErrLicenseNotFound: the license key is wrong or the license was
	// deleted (404 license_not_found).
	ErrLicenseNotFound = errors.New("license: license not found")
	// ErrLicenseInactive: the license or its tenant is suspended, or the
	// license expired (403 license_inactive).
	ErrLicenseInactive = errors.New("license: license inactive")
	// ErrWorkstationBlocked: an admin blocked this workstation (403
	// workstation_blocked, on acquire or heartbeat).
	ErrWorkstationBlocked = errors.New("license: workstation blocked")
	// ErrSessionRevoked: an admin ended the session (403 session_revoked,
	// on heartbeat): the seat is lost for good and not retried; acquiring
	// again is the application's decision.
	ErrSessionRevoked = errors.New("license: session revoked")
	// ErrUserRequired: the license needs the user's credential
	// ([Config.Credential]) (401 user_required).
	ErrUserRequired = errors.New("license: user credential required")
	// ErrForbidden: the credential may not use this license (403 forbidden).
	ErrForbidden = errors.New("license: forbidden")
	// ErrSessionNotFound: the server no longer knows the session (404
	// session_not_found); the seat acquires again by itself.
	ErrSessionNotFound = errors.New("license: session not found")
	// ErrRateLimited: too many calls (429 rate_limited); retried.
	ErrRateLimited = errors.New("license: rate limited")
	// ErrUnavailable: the service is down for now (503); retried.
	ErrUnavailable = errors.New("license: service unavailable")
	// ErrInvalidLease: the server's answer carried a lease that does not
	// verify against the pinned root keys, or that names another session,
	// license or workstation. It is never taken as a seat.
	ErrInvalidLease = errors.New("license: lease rejected")

	// ErrBorrowNotAllowed: the license does not let seats be borrowed
	// (403 borrow_not_allowed).
	ErrBorrowNotAllowed = errors.New("license: borrowing not allowed")
	// ErrSessionBorrowed: the session is borrowed (409 session_borrowed):
	// the server answers heartbeats, releases and a resuming acquire so
	// while a borrow lasts. A Seat with the borrow's [Config.BorrowFile]
	// takes the borrow over by itself.
	ErrSessionBorrowed = errors.New("license: session borrowed")
	// ErrBorrowLimit: the license has as many seats borrowed as it allows,
	// or a borrow would leave fewer seats than it keeps for online users
	// (409 borrow_limit).
	ErrBorrowLimit = errors.New("license: borrow limit reached")
	// ErrOtherDevice: the session is borrowed under another device key
	// (409 other_device): only the device holding the borrow extends it.
	ErrOtherDevice = errors.New("license: borrowed by another device")
	// ErrNotBorrowed: the seat is not borrowed (409 not_borrowed, or
	// [Seat.Return] and [Seat.CheckRevocations] of a seat that is not).
	ErrNotBorrowed = errors.New("license: seat not borrowed")
	// ErrInvalidProof: the server refused the return proof (403
	// invalid_proof): forged, too old or already used. The borrow stays.
	ErrInvalidProof = errors.New("license: return proof refused")
	// ErrBorrowEnded: the borrow's lease has run out: the seat is over
	// ([Seat.Err]), and [OpenBorrowed] of its file fails with it (the file
	// is removed).
	ErrBorrowEnded = errors.New("license: borrow ended")
	// ErrBorrowFile: the borrow file cannot be used: unreadable, not a
	// regular file, readable by other users, malformed, or the borrow of
	// another license or workstation. A lease in it that does not verify
	// is [ErrInvalidLease] instead.
	ErrBorrowFile = errors.New("license: borrow file unusable")
	// ErrClosed: the seat is over (closed, lost, returned or ended).
	ErrClosed = errors.New("license: seat is over")
)

// codes maps the server's error codes to the errors above.
var codes = map[string][]error{
	"no_seats_available":  {ErrNoSeats},
	"user_seat_limit":     {ErrNoSeats, ErrUserSeatLimit},
	"instance_limit":      {ErrNoSeats, ErrInstanceLimit},
	"license_not_found":   {ErrLicenseNotFound},
	"license_inactive":    {ErrLicenseInactive},
	"workstation_blocked": {ErrWorkstationBlocked},
	"session_revoked":     {ErrSessionRevoked},
	"user_required":       {ErrUserRequired},
	"forbidden":           {ErrForbidden},
	"session_not_found":   {ErrSessionNotFound},
	"rate_limited":        {ErrRateLimited},
	"unavailable":         {ErrUnavailable},
	"borrow_not_allowed":  {ErrBorrowNotAllowed},
	"session_borrowed":    {ErrSessionBorrowed},
	"borrow_limit":        {ErrBorrowLimit},
	"other_device":        {ErrOtherDevice},
	"not_borrowed":        {ErrNotBorrowed},
	"invalid_proof":       {ErrInvalidProof},
}

// APIError is an error answer of the service: its HTTP status and the code
// and message of its {"error":{"code","message"}} envelope.
type APIError struct {
	Status  int    // HTTP status
	Code    string // e.g. "no_seats_available"; "" when the body was not the API's envelope (a proxy's page)
	Message string
	// RetryAfter is the answer's Retry-After, 0 when it had none.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("license: server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("license: server answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches the package's errors by code (ErrUnavailable also by a 503
// status, whatever the body).
func (e *APIError) Is(target error) bool {
	for _, t := range codes[e.Code] {
		if t == target {
			return true
		}
	}
	return target == ErrUnavailable && e.Status == http.StatusServiceUnavailable
}

// temporary reports whether an answer is worth retrying as it is: the
// service asked to wait (429, 503) or a gateway failed (502, 504).
func (e *APIError) temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// lostForGood reports whether err means the seat cannot come back by
// retrying: the license is unusable, the workstation blocked or the
// session ended by an admin.
func lostForGood(err error) bool {
	return errors.Is(err, ErrLicenseInactive) || errors.Is(err, ErrLicenseNotFound) ||
		errors.Is(err, ErrWorkstationBlocked) || errors.Is(err, ErrSessionRevoked)
}
