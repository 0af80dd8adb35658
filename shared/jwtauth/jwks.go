package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"time"
)

// We fetch the JWKS ourselves rather than through keyfunc/jwkset because
// jwkset's unknown-kid refresh reports a failing endpoint only to a callback
// (the caller just sees "key not found"), and its rate limiter makes callers
// wait for the next slot under a deadline that also bounds the fetch itself.
// The subset we need (RSA and P-256 public keys) is small.

const (
	// maxJWKSBytes bounds what a misbehaving endpoint can make us buffer.
	// Google's set of a few RSA keys is about 2 KiB.
	maxJWKSBytes = 1 << 20

	minRSABits = 2048
	// maxRSABits bounds the cost of a verification an attacker can trigger.
	maxRSABits = 8192
)

// publicKey is one usable signing key from the JWKS.
type publicKey struct {
	alg string           // the JWK's "alg", empty if it had none
	key crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
}

// keySet maps kid to key.
type keySet map[string]publicKey

// jsonWebKey holds the JWK members we read (RFC 7517, RFC 7518 section 6).
type jsonWebKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// lookup returns the key for kid, refetching the JWKS once if kid is unknown
// and no unknown kid caused a fetch within minRefreshInterval. The limit is
// what keeps a flood of made-up kids from turning into a flood of fetches.
func (v *Verifier) lookup(ctx context.Context, kid string) (publicKey, error) {
	cur := v.keys.Load()
	if cur == nil {
		// The background loop is fetching with backoff; a request must not
		// wait on (or add to) an endpoint that is already failing.
		if p := v.lastErr.Load(); p != nil {
			return publicKey{}, fmt.Errorf("%w: no keys fetched yet: %w", ErrKeysUnavailable, *p)
		}
		return publicKey{}, fmt.Errorf("%w: no keys fetched yet", ErrKeysUnavailable)
	}
	if k, ok := (*cur)[kid]; ok {
		return k, nil
	}
	select {
	case v.fetchLock <- struct{}{}:
	case <-ctx.Done():
		return publicKey{}, fmt.Errorf("waiting for JWKS refresh: %w", ctx.Err())
	}
	defer func() { <-v.fetchLock }()

	// The fetch we waited for may have brought the key.
	if k, ok := (*v.keys.Load())[kid]; ok {
		return k, nil
	}
	if since := time.Since(v.lastKIDFetch); since < v.minRefreshInterval {
		return publicKey{}, fmt.Errorf("unknown key ID %.64q (JWKS refetched %s ago)", kid, since.Round(time.Millisecond))
	}
	v.lastKIDFetch = time.Now()
	// Detached from the request: a client hanging up must not waste the
	// rate-limited fetch that every request for this kid depends on.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	keys, err := v.fetch(fetchCtx)
	if err != nil {
		return publicKey{}, fmt.Errorf("%w: refetching JWKS for unknown key ID %.64q: %w", ErrKeysUnavailable, kid, err)
	}
	v.keys.Store(&keys)
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return publicKey{}, fmt.Errorf("unknown key ID %.64q (not in refetched JWKS)", kid)
}

// refresh fetches the JWKS and replaces the current keys. On failure the
// current keys stay: a flaky endpoint should not lock everyone out, and
// Google publishes a key well before it signs with it.
func (v *Verifier) refresh(ctx context.Context) error {
	select {
	case v.fetchLock <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for JWKS fetch: %w", ctx.Err())
	}
	defer func() { <-v.fetchLock }()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	keys, err := v.fetch(ctx)
	if err != nil {
		return err
	}
	v.keys.Store(&keys)
	return nil
}

// refreshLoop fetches the JWKS until it has keys, backing off from
// cfg.RetryMin to cfg.RetryMax with jitter (so instances started together do
// not retry together), then refreshes it every cfg.RefreshInterval until ctx
// ends.
func (v *Verifier) refreshLoop(ctx context.Context, cfg Config) {
	defer close(v.done)
	for delay := cfg.RetryMin; ; delay = min(2*delay, cfg.RetryMax) {
		err := v.refresh(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		v.lastErr.Store(&err)
		wait := delay/2 + rand.N(delay/2+1)
		slog.Default().WarnContext(ctx, "jwtauth: cannot fetch the identity provider's keys; ID tokens are refused until it succeeds",
			slog.String("component", "jwtauth"), slog.String("error", err.Error()), slog.Duration("retry_in", wait))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	close(v.ready)
	t := time.NewTicker(cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := v.refresh(ctx); err != nil && ctx.Err() == nil {
				// The old keys stay in use; the log says they may be stale.
				slog.Default().WarnContext(ctx, "jwtauth: background JWKS refresh failed, keeping previous keys",
					slog.String("component", "jwtauth"), slog.String("error", err.Error()))
			}
		}
	}
}

// fetch gets and parses the JWKS. Callers hold fetchLock.
func (v *Verifier) fetch(ctx context.Context) (keySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, fmt.Errorf("building JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching JWKS from %s: unexpected status %s", v.jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading JWKS from %s: %w", v.jwksURL, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS from %s is larger than %d bytes", v.jwksURL, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("parsing JWKS from %s: %w", v.jwksURL, err)
	}
	return keys, nil
}

// parseJWKS returns the usable signing keys in a JWK Set. Keys we cannot use
// (encryption keys, other algorithms, malformed entries) are skipped so one
// odd entry does not block rotation; a set with no usable key is an error,
// because replacing good keys with nothing would reject every token.
func parseJWKS(data []byte) (keySet, error) {
	var set struct {
		Keys []jsonWebKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("decoding JSON: %w", err)
	}
	keys := make(keySet, len(set.Keys))
	var skipped []error
	for i, jwk := range set.Keys {
		if jwk.Kid == "" {
			// Tokens must name their key, so a key without a kid can never
			// be selected.
			skipped = append(skipped, fmt.Errorf("key %d: no kid", i))
			continue
		}
		if _, dup := keys[jwk.Kid]; dup {
			// Which of the two signed a token cannot be told.
			return nil, fmt.Errorf("duplicate kid %.64q", jwk.Kid)
		}
		k, err := parseJWK(jwk)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %.64q: %w", jwk.Kid, err))
			continue
		}
		keys[jwk.Kid] = k
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no usable signing keys: %w", errors.Join(skipped...))
	}
	return keys, nil
}

func parseJWK(jwk jsonWebKey) (publicKey, error) {
	if jwk.Use != "" && jwk.Use != "sig" {
		return publicKey{}, fmt.Errorf("use %q is not sig", jwk.Use)
	}
	switch jwk.Kty {
	case "RSA":
		if jwk.Alg != "" && jwk.Alg != "RS256" {
			return publicKey{}, fmt.Errorf("unsupported alg %q for RSA key", jwk.Alg)
		}
		key, err := parseRSA(jwk)
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{alg: jwk.Alg, key: key}, nil
	case "EC":
		if jwk.Alg != "" && jwk.Alg != "ES256" {
			return publicKey{}, fmt.Errorf("unsupported alg %q for EC key", jwk.Alg)
		}
		key, err := parseP256(jwk)
		if err != nil {
			return publicKey{}, err
		}
		return publicKey{alg: jwk.Alg, key: key}, nil
	default:
		return publicKey{}, fmt.Errorf("unsupported kty %q", jwk.Kty)
	}
}

func parseRSA(jwk jsonWebKey) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(jwk.N)
	if err != nil {
		return nil, fmt.Errorf("decoding n: %w", err)
	}
	eb, err := base64.RawURLEncoding.DecodeString(jwk.E)
	if err != nil {
		return nil, fmt.Errorf("decoding e: %w", err)
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, fmt.Errorf("modulus of %d bits is outside [%d, %d]", bits, minRSABits, maxRSABits)
	}
	// e is small in practice (65537); more than four bytes would overflow
	// the int crypto/rsa wants.
	if len(eb) == 0 || len(eb) > 4 {
		return nil, fmt.Errorf("exponent of %d bytes is not supported", len(eb))
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 {
		return nil, fmt.Errorf("exponent %d is not an odd number of at least 3", e)
	}
	return &rsa.PublicKey{N: n, E: e}, nil
}

func parseP256(jwk jsonWebKey) (*ecdsa.PublicKey, error) {
	if jwk.Crv != "P-256" {
		return nil, fmt.Errorf("unsupported curve %q", jwk.Crv)
	}
	x, err := base64.RawURLEncoding.DecodeString(jwk.X)
	if err != nil {
		return nil, fmt.Errorf("decoding x: %w", err)
	}
	y, err := base64.RawURLEncoding.DecodeString(jwk.Y)
	if err != nil {
		return nil, fmt.Errorf("decoding y: %w", err)
	}
	// RFC 7518 section 6.2.1.2: coordinates are the full field size.
	if len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("coordinates are %d and %d bytes, want 32", len(x), len(y))
	}
	// Rejects points not on the curve (invalid-curve attacks).
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, fmt.Errorf("invalid P-256 point: %w", err)
	}
	return key, nil
}
