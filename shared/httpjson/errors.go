// Package httpjson is the one place requests are decoded and responses and
// errors are written. Every error a client sees is the envelope
// {"error":{"code":"snake_case","message":"..."}}; internal details are
// logged, never sent.
package httpjson

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/logging"
)

// Error is an error with an answer for the client.
type Error struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int
	// Extra fields are added to the envelope beside "error".
	Extra map[string]any
	// Cause, when set, is logged with the request, never sent.
	Cause error
	// Headers are set on the answer (e.g. WWW-Authenticate on a 401).
	Headers map[string]string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Errorf makes an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 400 invalid_request.
func Invalid(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "invalid_request", format, args...)
}

// NotInEffect answers a change that was saved in PostgreSQL but could not be
// written through to Redis: a 503 the client retries, which applies it.
func NotInEffect(cause error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: 1, Cause: cause,
		Message: "the change is saved but not yet in effect; retry the request"}
}

// NotFound is a 404 with the given code.
func NotFound(code, what string) *Error {
	return Errorf(http.StatusNotFound, code, "%s not found", what)
}

type envelope struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with err. An *Error is sent as it is. An error from a
// backend that is down or slow is a 503 unavailable with Retry-After; anything
// else is a 500 internal whose detail goes only to the log.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	switch {
	case errors.As(err, &e):
		if e.Cause != nil {
			logging.RecordError(r.Context(), e.Cause)
		}
	case Unavailable(err):
		logging.RecordError(r.Context(), err)
		e = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
			Message: "a backing service is unavailable; retry shortly", RetryAfter: 1}
	default:
		logging.RecordError(r.Context(), err)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
	}
	for k, v := range e.Headers {
		w.Header().Set(k, v)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	body := map[string]any{"error": envelope{Code: e.Code, Message: e.Message}}
	for k, v := range e.Extra {
		body[k] = v
	}
	Write(w, e.Status, body)
}

// Unavailable reports whether err means a backend could not be reached in
// time, or cannot serve right now, so that retrying later may succeed:
// network errors and timeouts of any kind (a call's or the request's
// deadline), a connection the server closed, Redis's pool wait running out,
// a Redis that is loading its data or failing over, and a PostgreSQL that
// cannot be connected to or is shutting down or starting up.
func Unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrPoolExhausted) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if redisBusy(err) || postgresDown(err) {
		return true
	}
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// redisBusy reports a Redis error reply that says "not now" rather than
// "never": loading the dataset after a restart, a failover under way, a
// script running past its limit, or no room for another client.
func redisBusy(err error) bool {
	if redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) {
		return true
	}
	return redis.HasErrorPrefix(err, "BUSY ")
}

// postgresDown reports a PostgreSQL failure to retry: no connection could be
// made (refused, timed out, or the server said it is starting up or
// shutting down), the server ended the session (a fast shutdown), a
// statement timed out client-side, or pgx says the statement never reached
// the server.
func postgresDown(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now
			pe.Code == "53300": // too_many_connections
			return true
		}
	}
	return false
}
