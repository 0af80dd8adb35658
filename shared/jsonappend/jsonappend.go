// Package jsonappend writes JSON by appending to a byte slice, for the few
// hot-path encodings (the acquire and heartbeat answers, the lease payload)
// where encoding/json's reflection and escaping checks were a measurable
// share of an acquire whose answer holds a 2 KB lease (figures:
// BENCHMARKS.md, "Figures the code relies on").
package jsonappend

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Appender is a value that encodes itself. Each such type keeps its struct
// tags as the reference and a test that its output equals json.Marshal's.
type Appender interface {
	AppendJSON(b []byte) []byte
}

// Object appends the members of a JSON object. Names are the caller's
// constants and must need no escaping.
type Object struct{ b []byte }

// NewObject starts an object on b (usually empty with room to spare).
func NewObject(b []byte) *Object { return &Object{b: append(b, '{')} }

func (o *Object) name(n string) {
	if len(o.b) > 0 && o.b[len(o.b)-1] != '{' {
		o.b = append(o.b, ',')
	}
	o.b = append(o.b, '"')
	o.b = append(o.b, n...)
	o.b = append(o.b, '"', ':')
}

// String adds a string member.
func (o *Object) String(name, v string) *Object {
	o.name(name)
	o.b = String(o.b, v)
	return o
}

// Int adds a number member.
func (o *Object) Int(name string, v int) *Object { return o.Int64(name, int64(v)) }

// Int64 adds a number member.
func (o *Object) Int64(name string, v int64) *Object {
	o.name(name)
	o.b = strconv.AppendInt(o.b, v, 10)
	return o
}

// Bool adds a true/false member.
func (o *Object) Bool(name string, v bool) *Object {
	o.name(name)
	o.b = strconv.AppendBool(o.b, v)
	return o
}

// Bytes closes the object and returns it.
func (o *Object) Bytes() []byte { return append(o.b, '}') }

// String appends s as a JSON string exactly as json.Marshal writes
// it. Strings of plain printable ASCII (session ids, timestamps, leases)
// are copied as they are; anything else takes json.Marshal's path.
func String(b []byte, s string) []byte {
	if !isPlain(s) {
		q, err := json.Marshal(s)
		if err != nil {
			// Marshal of a string cannot fail; keep the output valid.
			return append(b, `""`...)
		}
		return append(b, q...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plain marks the bytes json.Marshal writes as they are: printable ASCII
// but for the quote, the backslash and the HTML characters it escapes. It
// is never written after initialisation.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = !strings.ContainsRune(`"\<>&`, rune(c))
	}
	return t
}()

// isPlain reports whether every byte of s is plain. Four table lookups per
// step: well under half the time of comparisons a byte at a time on a
// lease (figures: BENCHMARKS.md, "Figures the code relies on").
func isPlain(s string) bool {
	i := 0
	for ; i+4 <= len(s); i += 4 {
		if !plain[s[i]] || !plain[s[i+1]] || !plain[s[i+2]] || !plain[s[i+3]] {
			return false
		}
	}
	for ; i < len(s); i++ {
		if !plain[s[i]] {
			return false
		}
	}
	return true
}
