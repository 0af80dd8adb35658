// Package resource holds what the tenant-scoped resource functions (API
// keys, workstations, repositories, audit) answer alike.
package resource

import (
	"context"
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
)

// Lister reads one page of a tenant's resources.
type Lister[T any] func(ctx context.Context, tenantID string, p database.Page) ([]T, string, error)

// List answers a list request: the caller must be an admin of the tenant,
// the tenant must exist (else 404, not an empty list), and the page is
// written as {"<name>": [...], "next_cursor": ...}.
func List[T any](lic *licensing.Service, name string, list Lister[T]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenantID, _, err := auth.Tenant(r, auth.Admin)
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		page, err := paging.Page(r)
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		if err := lic.LiveTenant(r.Context(), tenantID); err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		items, next, err := list(r.Context(), tenantID, page)
		if errors.Is(err, database.ErrBadCursor) {
			err = paging.BadCursor()
		}
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		httpjson.List(w, name, items, next)
	}
}
