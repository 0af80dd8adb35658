// Package idempotency makes a POST safe to retry: a request sent with an
// Idempotency-Key header runs once, and a retry with the same key gets the
// first answer back instead of doing the work again.
//
// Records live in Redis, one key per record (single-key commands and a
// single-key script only, so it works on Redis Cluster). A record's key is
// a hash of the request's method, path, Authorization header, the caller a
// body names (Caller) and the Idempotency-Key, so one caller can never
// replay, block or even detect another caller's request. The record holds
// a keyed hash of the body, so a retry that changed the body is refused
// (422), and the answer sealed with AES-GCM under a key derived from the
// request's own secrets: the answers include secrets shown once (license
// keys, API keys, session ids), and a Redis dump must not reveal them.
//
// A request without the header runs as before, with no Redis call: acquire
// is the hot path.
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/logging"
)

// Header is the request header that names a request for its retries.
const Header = "Idempotency-Key"

// ReplayedHeader is set to "true" on an answer replayed from a record.
const ReplayedHeader = "Idempotent-Replayed"

// MaxKeyLen is the longest key accepted.
const MaxKeyLen = 255

// Defaults of Config.
const (
	DefaultPendingTTL = time.Minute
	DefaultTTL        = 24 * time.Hour
)

// replayedHeaders are the answer headers a replay repeats. The rest (Date,
// trace or connection headers) belong to the transport, not to the answer.
var replayedHeaders = []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Location",
	"Retry-After", "ETag", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}

// Caller names the caller of a request whose credential travels in the body
// rather than in the Authorization header (acquire's license key), so that
// two such callers who pick the same Idempotency-Key never meet. It gets
// the request body; "" names no one.
type Caller func(body []byte) string

// Config are a Store's dependencies.
type Config struct {
	Redis redis.UniversalClient
	// Prefix starts every key (REDIS_KEY_PREFIX); records are under
	// Prefix + "idem:".
	Prefix string
	// PendingTTL is how long a request holds its key while it runs
	// (default DefaultPendingTTL): if the instance dies mid-request, a
	// retry may run again after it. The handler's context is bounded to
	// half of it, so a live request always finishes before its hold ends.
	PendingTTL time.Duration
	// TTL is how long an answer is kept for replay (default DefaultTTL).
	TTL time.Duration
	// Authorize, when set, is asked before an answer is replayed, so that
	// a credential revoked since the first request cannot read it again
	// and replays count against the caller's rate limit like other calls.
	// It returns false when it has answered the request itself.
	Authorize func(w http.ResponseWriter, r *http.Request) bool
}

// Store runs requests once per key and replays their answers.
type Store struct {
	rdb        redis.UniversalClient
	prefix     string
	pendingTTL time.Duration
	ttl        time.Duration
	authorize  func(http.ResponseWriter, *http.Request) bool
	// finish ends a request's hold on its record only if the record is
	// still the pending one this request wrote (lua/idempotency_finish.lua).
	finish *redis.Script
}

// New returns a store.
func New(c Config) (*Store, error) {
	if c.Redis == nil {
		return nil, errors.New("idempotency: nil redis client")
	}
	if c.PendingTTL == 0 {
		c.PendingTTL = DefaultPendingTTL
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.PendingTTL < 2*time.Millisecond || c.TTL < c.PendingTTL {
		return nil, fmt.Errorf("idempotency: pending TTL %s and TTL %s must be positive, the TTL at least the pending TTL", c.PendingTTL, c.TTL)
	}
	return &Store{rdb: c.Redis, prefix: c.Prefix, pendingTTL: c.PendingTTL, ttl: c.TTL,
		authorize: c.Authorize, finish: redis.NewScript(lua.Load().IdempotencyFinish.Source)}, nil
}

// record is what Redis holds for a key: pending while the first request
// runs, then its answer.
type record struct {
	// Pending is a random token of the request running; "" once done.
	Pending string `json:"p,omitempty"`
	// Request is the keyed hash of the request body.
	Request []byte `json:"r"`
	// Answer is the sealed answer, once done.
	Answer []byte `json:"a,omitempty"`
}

// answer is a stored response.
type answer struct {
	Status int         `json:"s"`
	Header http.Header `json:"h,omitempty"`
	Body   []byte      `json:"b,omitempty"`
}

// Wrap runs h once per Idempotency-Key. caller (nil: none) names callers
// the Authorization header does not.
//
// With the header: a first request holds the key while h runs, and h's
// answer is kept for TTL unless it is one a retry must be free to change:
// a 5xx (nothing done, or the client must retry anyway), a 401 (the
// credential was not accepted; h did nothing) or a 429 (refused before h
// did anything). A retry with the same body gets the kept answer with
// Idempotent-Replayed: true; one with another body 422
// idempotency_key_reused; one while the first runs 409
// idempotency_key_in_progress with Retry-After. A key that is not 1-255
// visible ASCII characters is 400 invalid_idempotency_key; Redis failing
// is 503 unavailable and h does not run (it could run twice).
func (s *Store) Wrap(h http.Handler, caller Caller) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		values, ok := r.Header[textproto.CanonicalMIMEHeaderKey(Header)]
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		if len(values) != 1 || !validKey(values[0]) {
			httpjson.WriteError(w, r, InvalidKey())
			return
		}
		s.serve(w, r, h, caller, values[0])
	})
}

// validKey: 1 to MaxKeyLen visible ASCII characters (no space).
func validKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func (s *Store) serve(w http.ResponseWriter, r *http.Request, h http.Handler, caller Caller, key string) {
	// Read once, bounded as the handlers bound it, and hand h a copy.
	if r.Body == nil {
		r.Body = http.NoBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpjson.MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
			"request body is larger than %d bytes", httpjson.MaxBody))
		return
	}
	if err != nil {
		httpjson.WriteError(w, r, httpjson.Invalid("reading request body: %v", err))
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	who := ""
	if caller != nil {
		who = caller(body)
	}
	sc := newScope(r.Method, r.URL.Path, r.Header.Get("Authorization"), who, key)
	c := call{scope: sc, name: s.prefix + "idem:" + sc.id(), body: body, fingerprint: sc.fingerprint(body)}

	token := make([]byte, 16)
	rand.Read(token) //nolint:errcheck // crypto/rand.Read never fails
	pending, err := json.Marshal(record{Pending: hex.EncodeToString(token), Request: c.fingerprint})
	if err != nil {
		httpjson.WriteError(w, r, fmt.Errorf("idempotency: encoding a record: %w", err))
		return
	}
	c.pending = string(pending)
	// One round trip: hold the key, or read who holds it.
	prev, err := s.rdb.SetArgs(r.Context(), c.name, c.pending, redis.SetArgs{Mode: "NX", Get: true, TTL: s.pendingTTL}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		s.run(w, r, h, c)
	case err != nil:
		httpjson.WriteError(w, r, Unavailable(fmt.Errorf("idempotency: holding the key: %w", err)))
	default:
		s.replay(w, r, c, prev)
	}
}

// call is one request with a key.
type call struct {
	scope       scope
	name        string // the record's Redis key
	body        []byte
	fingerprint []byte
	pending     string // the pending record this request wrote
}

// run serves a first request and keeps its answer.
func (s *Store) run(w http.ResponseWriter, r *http.Request, h http.Handler, c call) {
	// Finishing must happen even when the client has gone (its retry is
	// what the record is for), so it does not use the request's context.
	done := context.WithoutCancel(r.Context())
	rec := &recorder{ResponseWriter: w}
	finished := false
	defer func() {
		if finished {
			return
		}
		// h panicked: let a retry run again, and let the panic go on to
		// the router's recovery.
		if err := s.end(done, c, ""); err != nil {
			logging.Annotate(r.Context(), slog.String("idempotency_error", err.Error()))
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), s.pendingTTL/2)
	defer cancel()
	h.ServeHTTP(rec, r.WithContext(ctx))
	finished = true

	final := ""
	if keep(rec.status()) {
		var err error
		if final, err = c.finished(rec); err != nil {
			// The client has its answer; a retry will run again.
			logging.Annotate(r.Context(), slog.String("idempotency_error", err.Error()))
		}
	}
	if err := s.end(done, c, final); err != nil {
		logging.Annotate(r.Context(), slog.String("idempotency_error", err.Error()))
	}
}

// finished is the record of a kept answer.
func (c call) finished(rec *recorder) (string, error) {
	a, err := json.Marshal(answer{Status: rec.status(), Header: rec.kept, Body: rec.body.Bytes()})
	if err != nil {
		return "", fmt.Errorf("encoding the answer: %w", err)
	}
	sealed, err := c.scope.seal(c.body, c.name, a)
	if err != nil {
		return "", fmt.Errorf("sealing the answer: %w", err)
	}
	b, err := json.Marshal(record{Request: c.fingerprint, Answer: sealed})
	if err != nil {
		return "", fmt.Errorf("encoding the record: %w", err)
	}
	return string(b), nil
}

// keep reports whether an answer with this status is kept for replay.
func keep(status int) bool {
	return status < http.StatusInternalServerError && status != http.StatusUnauthorized &&
		status != http.StatusTooManyRequests
}

// end replaces this request's pending record with final ("" deletes it).
func (s *Store) end(ctx context.Context, c call, final string) error {
	ttl := s.ttl
	if final == "" {
		ttl = 0
	}
	ok, err := s.finish.Run(ctx, s.rdb, []string{c.name}, c.pending, final, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("finishing the record: %w", err)
	}
	if ok == 0 {
		return errors.New("the record was no longer this request's: it ran past its hold")
	}
	return nil
}

// replay answers a request whose key has a record already.
func (s *Store) replay(w http.ResponseWriter, r *http.Request, c call, raw string) {
	var rec record
	if err := json.Unmarshal([]byte(raw), &rec); err != nil {
		httpjson.WriteError(w, r, fmt.Errorf("idempotency: decoding a record: %w", err))
		return
	}
	if !bytes.Equal(rec.Request, c.fingerprint) {
		httpjson.WriteError(w, r, Reused())
		return
	}
	if rec.Pending != "" {
		httpjson.WriteError(w, r, InProgress())
		return
	}
	if s.authorize != nil && !s.authorize(w, r) {
		return
	}
	plain, err := c.scope.open(c.body, c.name, rec.Answer)
	if err != nil {
		httpjson.WriteError(w, r, fmt.Errorf("idempotency: opening a kept answer: %w", err))
		return
	}
	var a answer
	if err := json.Unmarshal(plain, &a); err != nil {
		httpjson.WriteError(w, r, fmt.Errorf("idempotency: decoding a kept answer: %w", err))
		return
	}
	h := w.Header()
	for k, v := range a.Header {
		// What Authorize set is about this call (its rate-limit headers)
		// and newer than what was kept.
		if _, set := h[k]; !set {
			h[k] = v
		}
	}
	h.Set(ReplayedHeader, "true")
	h.Set("Content-Length", strconv.Itoa(len(a.Body)))
	w.WriteHeader(a.Status)
	w.Write(a.Body) //nolint:errcheck // the client went away; nothing to do
}

// recorder passes an answer through to the client and keeps a copy.
type recorder struct {
	http.ResponseWriter
	code int
	kept http.Header // the replayed headers, as they were when the status was sent
	body bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 && code >= 200 {
		r.code = code
		r.kept = http.Header{}
		for _, k := range replayedHeaders {
			if v := r.Header().Values(k); len(v) > 0 {
				r.kept[k] = append([]string(nil), v...)
			}
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// status is the answer's status; a handler that wrote nothing answered 200.
func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
