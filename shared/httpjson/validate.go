package httpjson

import (
	"unicode"
	"unicode/utf8"
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
