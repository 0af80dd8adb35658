package database

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Page limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Cursor marks the last row of a page in the stable order every list uses:
// creation time, then id.
type Cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"i"`
}

// Page asks for at most Limit rows after After (nil: from the start).
type Page struct {
	Limit int
	After *Cursor
}

// ErrBadCursor is returned for a cursor this service did not make.
var ErrBadCursor = errors.New("bad cursor")

// Encode makes the opaque string clients send back as ?cursor=.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by Encode.
func DecodeCursor(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > 200 {
		return nil, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.At.IsZero() {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// after returns the cursor's fields as query arguments (nil for the start).
func (p Page) after() (any, any) {
	if p.After == nil {
		return nil, nil
	}
	return p.After.At, p.After.ID
}

// Args returns the page's arguments for the keyset condition
// "($1::timestamptz IS NULL OR (created_at, id) > ($1, $2::uuid))" and the
// LIMIT (one more row than asked, to know whether another page follows).
func (p Page) Args() (at, id any, limit int) {
	at, id = p.after()
	return at, id, p.Limit + 1
}

// Trim cuts the extra row fetched by Args and returns the cursor of the next
// page, or "" when this page is the last.
func Trim[T any](rows []T, p Page, key func(T) Cursor) ([]T, string) {
	if len(rows) <= p.Limit {
		return rows, ""
	}
	rows = rows[:p.Limit]
	return rows, key(rows[len(rows)-1]).Encode()
}
