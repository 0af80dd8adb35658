package httpjson

import "net/http"

// List writes one page of a list: {"<name>": [...], "next_cursor": "..."}
// (next_cursor is null on the last page). Reading ?limit= and ?cursor= is
// shared/paging's: it needs the database's page type, which this package,
// a leaf, does not import.
func List(w http.ResponseWriter, name string, items any, next string) {
	var cursor *string
	if next != "" {
		cursor = &next
	}
	Write(w, http.StatusOK, map[string]any{name: items, "next_cursor": cursor})
}
