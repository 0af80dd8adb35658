// Package apierror turns the seat engine's errors into the API's answers, so
// the SDK functions (acquire, heartbeat, release) give the same code for the
// same condition.
package apierror

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Seats maps a seat engine error to its API error; other errors (a backend
// failure) are returned as they are, for httpjson.WriteError to classify.
func Seats(err error) error {
	var full *seats.NoSeatsError
	switch {
	case errors.As(err, &full):
		return &httpjson.Error{Status: http.StatusConflict, Code: "no_seats_available", Message: full.Error(),
			Extra: map[string]any{"seats_used": full.Used, "seats_total": full.Seats}}
	case errors.Is(err, seats.ErrLicenseNotFound):
		return LicenseNotFound()
	case errors.Is(err, seats.ErrSessionNotFound):
		return httpjson.NotFound("session_not_found", "session")
	case errors.Is(err, seats.ErrLicenseInactive):
		return httpjson.Errorf(http.StatusForbidden, "license_inactive", "the license is suspended or expired")
	}
	return err
}

// LicenseNotFound is the answer for an unknown license key, malformed or not.
func LicenseNotFound() *httpjson.Error { return httpjson.NotFound("license_not_found", "license") }

// TenantNotFound is the answer for an unknown tenant, or one of another tenant.
func TenantNotFound() *httpjson.Error { return httpjson.NotFound("tenant_not_found", "tenant") }
