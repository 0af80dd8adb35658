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
//
// This package is a leaf: it imports neither client. It knows their errors
// by what they expose (the standard library's network and context errors,
// a PostgreSQL error's SQLState, pgx's SafeToRetry, a Redis reply's
// RedisError marker) and by an Unavailable() bool method, which a package
// doing I/O puts on an error that exposes nothing else (shared/database on
// a failed connection attempt). go-redis's pool and closed-client errors
// are bare errors.New values, met through every package that calls Redis
// and on clients built anywhere, so they are known by their text
// (redisPoolDown). unavailable_test.go checks all of it against the real
// clients' errors.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if redisPoolDown(err) || redisBusy(err) || postgresDown(err) {
		return true
	}
	var u interface{ Unavailable() bool }
	return errors.As(err, &u) && u.Unavailable()
}

// redisPoolDown reports go-redis's errors for a call that never got a
// connection: its pool wait ran out (redis.ErrPoolTimeout), the pool is at
// its limit (redis.ErrPoolExhausted), or the client is closed (redis.ErrClosed,
// an instance shutting down with calls in flight). They have no type of
// their own, so they are matched by their text anywhere in the chain, as
// errors.Is would match the values.
func redisPoolDown(err error) bool {
	return inChain(err, func(e error) bool {
		switch e.Error() {
		case "redis: connection pool timeout", "redis: connection pool exhausted", "redis: client is closed":
			return true
		}
		return false
	})
}

// redisBusy reports a Redis error reply that says "not now" rather than
// "never": loading the dataset after a restart, a failover under way, a
// script running past its limit, or no room for another client. go-redis
// marks replies with a RedisError method; like its own predicates
// (redis.IsLoadingError and the rest), this also looks at the message of an
// error that is not a reply, and finds a BUSY reply with or without the
// "ERR " some servers put first (redis.HasErrorPrefix).
func redisBusy(err error) bool {
	if notNow(err.Error()) {
		return true
	}
	return inChain(err, func(e error) bool {
		if _, reply := e.(interface{ RedisError() }); !reply {
			return false
		}
		msg := e.Error()
		return notNow(msg) || strings.HasPrefix(strings.TrimPrefix(msg, "ERR "), "BUSY ")
	})
}

// notNow reports a Redis reply that a retry may not get: LOADING, READONLY
// (a replica, or a script's write refused by one), CLUSTERDOWN, TRYAGAIN,
// MASTERDOWN, or the server's client limit.
func notNow(msg string) bool {
	for _, prefix := range []string{"LOADING ", "READONLY ", "CLUSTERDOWN ", "TRYAGAIN ", "MASTERDOWN ",
		"ERR max number of clients reached"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return strings.Contains(msg, "-READONLY You can't write against a read only replica")
}

// postgresDown reports a PostgreSQL failure to retry: the server ended the
// session or refuses connections for now (a fast shutdown, starting up,
// too many connections: the SQLSTATE of pgconn.PgError), or pgx says the
// statement never reached the server (its SafeToRetry, which also covers a
// request whose context ended before the statement was sent). Timeouts are
// net.Error or context.DeadlineExceeded, seen by Unavailable; a failed
// connection attempt is marked Unavailable by shared/database.
func postgresDown(err error) bool {
	var retry interface{ SafeToRetry() bool }
	if errors.As(err, &retry) && retry.SafeToRetry() {
		return true
	}
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) {
		switch code := pe.SQLState(); {
		case strings.HasPrefix(code, "08"), // connection exception
			code == "57P01", // admin_shutdown
			code == "57P02", // crash_shutdown
			code == "57P03", // cannot_connect_now
			code == "53300": // too_many_connections
			return true
		}
	}
	return false
}

// inChain reports whether f holds for err or any error it wraps, walking
// the same tree errors.Is does.
func inChain(err error, f func(error) bool) bool {
	for err != nil {
		if f(err) {
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if inChain(e, f) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}
