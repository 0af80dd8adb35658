// Package auth decides who may call the admin API. Today one credential
// exists: the bootstrap token, a platform-admin secret for first setup.
package auth

import (
	"errors"
	"net/http"
	"strings"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// MinTokenLen is the shortest bootstrap token accepted: long enough that it
// cannot be guessed online.
const MinTokenLen = 32

// Admin guards admin routes.
type Admin struct{ token string }

// NewAdmin returns a guard that accepts "Authorization: Bearer <token>".
func NewAdmin(token string) (*Admin, error) {
	if len(token) < MinTokenLen {
		return nil, errors.New("auth: bootstrap admin token must be at least 32 characters")
	}
	return &Admin{token: token}, nil
}

// Require wraps a handler so that only the admin may reach it.
func (a *Admin) Require(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		given, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusUnauthorized, "unauthorized",
				"send Authorization: Bearer <token>"))
			return
		}
		if !tokens.Equal(given, a.token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusUnauthorized, "unauthorized", "invalid credentials"))
			return
		}
		next(w, r)
	}
}

// RequireAll guards every method of a route.
func (a *Admin) RequireAll(m map[string]http.HandlerFunc) map[string]http.HandlerFunc {
	out := make(map[string]http.HandlerFunc, len(m))
	for k, h := range m {
		out[k] = a.Require(h)
	}
	return out
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
