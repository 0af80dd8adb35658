package httpjson

import (
	"context"
	"unicode"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Text checks a string field: present when required, at most max bytes, no
// control characters (they have no place in names and ids, and would let a
// client forge log lines). It returns nil or a 400 invalid_request.
func Text(field, v string, required bool, max int) *Error {
	if v == "" {
		if required {
			return Invalid("field %q is required", field)
		}
		return nil
	}
	if len(v) > max {
		return Invalid("field %q must be at most %d bytes", field, max)
	}
	if !utf8.ValidString(v) {
		return Invalid("field %q is not valid UTF-8", field)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return Invalid("field %q must not contain control characters", field)
		}
	}
	return nil
}

// First returns the first non-nil error, so handlers can validate a list of
// fields in one expression.
func First(errs ...*Error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// UUIDCursor checks the ?cursor= of a list whose rows are keyed by UUID. A
// cursor is opaque but not signed: one naming any other id was never given
// out by that list, and would reach SQL as a uuid parameter PostgreSQL
// refuses (a 500). It returns nil or a 400 invalid_request.
func UUIDCursor(p database.Page) error {
	if p.After != nil && !tokens.ValidUUID(p.After.ID) {
		return Invalid("cursor is not one this API gave out")
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
