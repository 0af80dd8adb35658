package httpjson

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Field is a PATCH field: it tells "absent" (Set false), "null" (Set and
// Null) and a value apart, which a pointer cannot.
type Field[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Field[T]) UnmarshalJSON(b []byte) error {
	f.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		f.Null = true
		return nil
	}
	return json.Unmarshal(b, &f.Value)
}

// FieldError is a field-level validation failure.
type FieldError struct {
	Field, Problem string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q %s", e.Field, e.Problem) }
