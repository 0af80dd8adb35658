package httpjson

import (
	"net/http"
	"strconv"

	"github.com/coditect-ai/license-server/shared/database"
)

// Page reads ?limit= (1..200, default 50) and ?cursor= (from a previous
// page's next_cursor).
func Page(r *http.Request) (database.Page, error) {
	q := r.URL.Query()
	p := database.Page{Limit: database.DefaultPageSize}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > database.MaxPageSize {
			return p, Invalid("limit must be between 1 and %d", database.MaxPageSize)
		}
		p.Limit = n
	}
	c, err := database.DecodeCursor(q.Get("cursor"))
	if err != nil {
		return p, Invalid("cursor is not one this API gave out")
	}
	p.After = c
	return p, nil
}

// List writes one page of a list: {"<name>": [...], "next_cursor": "..."}
// (next_cursor is null on the last page).
func List(w http.ResponseWriter, name string, items any, next string) {
	var cursor *string
	if next != "" {
		cursor = &next
	}
	Write(w, http.StatusOK, map[string]any{name: items, "next_cursor": cursor})
}
