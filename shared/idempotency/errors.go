package idempotency

import (
	"net/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
)

// The answers this package gives of its own. They live here, beside the
// rules they state, as ratelimit's 429 and auth's 401 live in theirs.

// InvalidKey is the answer to a malformed Idempotency-Key.
func InvalidKey() *httpjson.Error {
	return httpjson.Errorf(http.StatusBadRequest, "invalid_idempotency_key",
		"%s must be one header of 1 to %d visible ASCII characters", Header, MaxKeyLen)
}

// Reused is the answer to a key sent again with another request body.
func Reused() *httpjson.Error {
	return httpjson.Errorf(http.StatusUnprocessableEntity, "idempotency_key_reused",
		"this %s was used with another request body; send a new key for a new request", Header)
}

// InProgress is the answer to a retry while the first request still runs.
func InProgress() *httpjson.Error {
	return &httpjson.Error{Status: http.StatusConflict, Code: "idempotency_key_in_progress", RetryAfter: 1,
		Message: "a request with this " + Header + " is still running; retry shortly"}
}

// Unavailable is the answer when the records cannot be read or written:
// the request is not run, as it could otherwise run twice.
func Unavailable(cause error) *httpjson.Error {
	return &httpjson.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: 1, Cause: cause,
		Message: "cannot check the " + Header + " right now; retry the same request shortly"}
}
