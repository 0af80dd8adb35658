// Package paging reads the ?limit= and ?cursor= of a list request into a
// database.Page, answering 400 for a limit out of range or a cursor this API
// never gave out. It sits between httpjson (the answers; a leaf that must
// not know the database) and database (the keyset pages), and is used by
// every list: the tenant resources' (shared/resource) and the tenants' and
// licenses' own.
package paging

import (
	"context"
	"net/http"
	"strconv"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Page reads ?limit= (1..200, default 50) and ?cursor= (from a previous
// page's next_cursor).
func Page(r *http.Request) (database.Page, error) {
	q := r.URL.Query()
	p := database.Page{Limit: database.DefaultPageSize}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > database.MaxPageSize {
			return p, httpjson.Invalid("limit must be between 1 and %d", database.MaxPageSize)
		}
		p.Limit = n
	}
	c, err := database.DecodeCursor(q.Get("cursor"))
	if err != nil {
		return p, BadCursor()
	}
	p.After = c
	return p, nil
}

// BadCursor is the answer for a ?cursor= this API did not give out.
func BadCursor() *httpjson.Error { return httpjson.Invalid("cursor is not one this API gave out") }

// UUIDCursor checks the ?cursor= of a list whose rows are keyed by UUID. A
// cursor is opaque but not signed: one naming any other id was never given
// out by that list, and would reach SQL as a uuid parameter PostgreSQL
// refuses (a 500). It returns nil or a 400 invalid_request.
func UUIDCursor(p database.Page) error {
	if p.After != nil && !tokens.ValidUUID(p.After.ID) {
		return BadCursor()
	}
	return nil
}

// UUIDCursors wraps a tenant's list function with UUIDCursor.
func UUIDCursors[T any](list func(context.Context, string, database.Page) ([]T, string, error)) func(context.Context, string, database.Page) ([]T, string, error) {
	return func(ctx context.Context, tenantID string, p database.Page) ([]T, string, error) {
		if err := UUIDCursor(p); err != nil {
			return nil, "", err
		}
		return list(ctx, tenantID, p)
	}
}
