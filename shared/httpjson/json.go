package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/shared/jsonappend"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// MaxBody is the largest request body accepted.
const MaxBody = 64 << 10

// Write sends v as JSON with the status.
func Write(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if a, ok := v.(jsonappend.Appender); ok {
		// The appender sizes the buffer: it knows how long a lease is.
		b = a.AppendJSON(nil)
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		// Only a programming error gets here (an unencodable type).
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	// With the length known the server sends one response, not chunks (a
	// lease alone is over the server's 2 KiB buffer).
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n')) //nolint:errcheck // the client went away; nothing to do
}

// Decode reads one JSON object from the request into v, strictly: the body
// must be application/json, at most MaxBody bytes, valid UTF-8, one value,
// with no field v does not have. Its errors are *Error (400, 413 or 415).
func Decode(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
	}
	// What every SDK sends needs no parsing (ParseMediaType builds a map
	// of parameters on every call).
	if ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return Errorf(http.StatusRequestEntityTooLarge, "payload_too_large", "request body is larger than %d bytes", MaxBody)
	}
	if err != nil {
		return Invalid("reading request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Invalid("request body is empty")
	}
	if !utf8.Valid(body) {
		return Invalid("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Invalid("%s", describe(err, body, v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return Invalid("request body must hold a single JSON object")
	}
	if name, dup := duplicateKey(body); dup {
		// encoding/json keeps the last of two equal (or case-folded equal)
		// names; a proxy, log pipeline or SDK reading the first would see
		// another request than the one we act on.
		return Invalid("field %q appears more than once", name)
	}
	return nil
}

// duplicateKey reports the first object member name that appears twice in
// one object of body, names compared as encoding/json matches them to struct
// fields (case-insensitively, with Unicode simple folding). body must be
// valid JSON (Decode has read it): this is a scanner, not a parser, so that
// the check costs the hot path about one allocation per object and name.
func duplicateKey(body []byte) (string, bool) {
	type frame struct {
		names   map[string]bool // nil for an array
		wantKey bool            // an object's next string is a member name
	}
	var stack []frame
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{':
			stack = append(stack, frame{names: map[string]bool{}, wantKey: true})
		case '[':
			stack = append(stack, frame{})
		case '}', ']':
			stack = stack[:len(stack)-1]
		case ',':
			if top := len(stack) - 1; stack[top].names != nil {
				stack[top].wantKey = true
			}
		case '"':
			end := i + 1
			escaped := false
			for ; body[end] != '"'; end++ {
				if body[end] == '\\' {
					escaped = true
					end++
				}
			}
			if top := len(stack) - 1; top >= 0 && stack[top].wantKey {
				name := string(body[i+1 : end])
				if escaped {
					json.Unmarshal(body[i:end+1], &name) //nolint:errcheck // valid JSON
				}
				k := strings.Map(foldRune, name)
				if stack[top].names[k] {
					return name, true
				}
				stack[top].names[k] = true
				stack[top].wantKey = false
			}
			i = end
		}
	}
	return "", false
}

// foldRune maps every rune of a simple case folding orbit to one of them
// (an ASCII letter's lower case when the orbit has one, so the KELVIN SIGN
// folds to "k" as encoding/json matches it), so two names equal under
// strings.EqualFold map to one string.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	if least < utf8.RuneSelf {
		return foldRune(least)
	}
	return least
}

func describe(err error, body []byte, v any) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			typ.Field = failingMember(body, v)
		}
		if typ.Field == "" {
			return "request body must be a JSON object"
		}
		return fmt.Sprintf("field %q must be %s", typ.Field, kind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "malformed JSON: unexpected end of input"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Error()
	}
	return "malformed JSON"
}

// failingMember names the top-level member of body that cannot be decoded
// into its field of v (a pointer to a struct), or "". Since Go 1.27,
// encoding/json no longer names the field when the error comes from a
// field's own UnmarshalJSON (Field[T], timestamp.Time), so on that error
// path each member is tried alone.
func failingMember(body []byte, v any) string {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return ""
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return ""
	}
	st := rv.Elem().Type()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		for k, raw := range members {
			if !strings.EqualFold(k, name) {
				continue
			}
			var typ *json.UnmarshalTypeError
			if err := json.Unmarshal(raw, reflect.New(f.Type).Interface()); errors.As(err, &typ) {
				return name
			}
		}
	}
	return ""
}

func kind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a " + k
}

// Time formats t as the API writes times: RFC 3339 in UTC with
// milliseconds, because seat expiries are kept to the millisecond.
func Time(t time.Time) string { return t.UTC().Format(timestamp.Format) }
