// Package timestamp is the one time type resources carry to clients: read
// from PostgreSQL as it is, written to JSON the way the whole API writes
// times (RFC 3339, UTC, milliseconds).
package timestamp

import (
	"fmt"
	"time"
)

// Format is the API's time format.
const Format = "2006-01-02T15:04:05.000Z07:00"

// Time is a time.Time that PostgreSQL scans into and JSON writes in Format.
type Time struct{ time.Time }

// Of wraps t.
func Of(t time.Time) Time { return Time{t.UTC()} }

// MarshalJSON writes the API's format.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(Format) + `"`), nil
}

// UnmarshalJSON reads RFC 3339.
func (t *Time) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("timestamp: not a string: %s", b)
	}
	v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}

// Scan implements sql.Scanner, which pgx uses for a timestamptz column.
func (t *Time) Scan(src any) error {
	v, ok := src.(time.Time)
	if !ok {
		return fmt.Errorf("timestamp: cannot scan %T", src)
	}
	t.Time = v.UTC()
	return nil
}
