package leasejws

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Return proofs: a borrowed seat is given back early only by the device
// that borrowed it, which signs a short-lived proof with its device key
// (the one the borrow lease names in "cnf"):
//
//	header  {"alg":"EdDSA","typ":"return+jwt"}
//	payload {"session_id":<the borrowed session's id>,"iat":<unix seconds>}
//
// The proof carries the session id, the seat's bearer credential: send it
// only to the server, over TLS, and never log it (its id, which
// VerifyReturnProof returns, is safe to log).

// ReturnProofType is a return proof's JWS "typ".
const ReturnProofType = "return+jwt"

// ReturnProofWindow is how long after its "iat" a return proof is taken:
// long enough for a slow network and a retry, short enough that a proof
// seen in transit is soon worthless.
const ReturnProofWindow = 5 * time.Minute

// ReturnProofSkew is how far ahead of the verifier's clock a proof's "iat"
// may be. A device that was offline for the whole borrow may have a clock
// that drifted; a minute ahead is taken, so a slightly fast device can
// still give its seat back, while a proof dated far ahead (made to outlive
// the window) is not.
const ReturnProofSkew = time.Minute

// ReturnProofReplayTTL is how long a verifier must remember a proof's id
// to take each proof once: a proof is taken from ReturnProofSkew before
// its iat until ReturnProofWindow after it.
const ReturnProofReplayTTL = ReturnProofWindow + ReturnProofSkew

// MaxReturnProofSize bounds the proof a verifier reads, in bytes: a real
// one is about 250, so anything near the bound is not a proof.
const MaxReturnProofSize = 2 << 10

// Return proof errors. Every refusal matches ErrProofInvalid (answer 403);
// one whose only fault is its time also matches ErrProofExpired, so a
// caller can log a late retry apart from a forgery.
var (
	ErrProofInvalid = errors.New("invalid return proof")
	ErrProofExpired = errors.New("return proof outside its time window")
)

// returnProofHeader is the header SignReturnProof writes, encoded once.
const returnProofHeader = `{"alg":"EdDSA","typ":"` + ReturnProofType + `"}`

// returnProofPayload is a return proof's payload.
type returnProofPayload struct {
	SessionID string `json:"session_id"`
	IssuedAt  int64  `json:"iat"`
}

// SignReturnProof signs the proof that the holder of key gives back the
// borrowed session sessionID, dated now.
func SignReturnProof(key ed25519.PrivateKey, sessionID string, now time.Time) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", errors.New("return proof: device key is not an Ed25519 private key")
	}
	if sessionID == "" {
		return "", errors.New("return proof: no session id")
	}
	payload, err := json.Marshal(returnProofPayload{SessionID: sessionID, IssuedAt: now.Unix()})
	if err != nil {
		return "", fmt.Errorf("return proof: encoding payload: %w", err)
	}
	out := b64.AppendEncode(nil, []byte(returnProofHeader))
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	sig := ed25519.Sign(key, out)
	out = append(out, '.')
	return string(b64.AppendEncode(out, sig)), nil
}

// VerifyReturnProof checks at now that proof gives back sessionID and is
// signed by device: alg EdDSA and typ return+jwt (a kid may be named, and
// is ignored), exactly the payload members session_id and iat, session_id
// equal to sessionID, iat no more than ReturnProofWindow before now nor
// ReturnProofSkew after it, and a valid signature under device. Names are
// matched exactly and none may repeat, so a proof reads one way in every
// JSON library.
//
// It returns the proof's id, the base64url SHA-256 of the whole proof:
// take each proof once by remembering its id for ReturnProofReplayTTL. Every refusal matches
// ErrProofInvalid.
func VerifyReturnProof(proof string, device OKPKey, sessionID string, now time.Time) (proofID string, err error) {
	fail := func(format string, args ...any) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrProofInvalid, fmt.Sprintf(format, args...))
	}
	if len(proof) > MaxReturnProofSize {
		return fail("%d bytes, more than %d", len(proof), MaxReturnProofSize)
	}
	if sessionID == "" {
		return fail("no session id to check against")
	}
	pub, err := device.Ed25519()
	if err != nil {
		return fail("device key: %v", err)
	}
	rawHeader, rawPayload, sig, signed, err := split(proof)
	if err != nil {
		return fail("%v", err)
	}
	header, err := members(rawHeader)
	if err != nil {
		return fail("header: %v", err)
	}
	for name, v := range header {
		switch name {
		case "alg":
			if !isString(v, "EdDSA") {
				return fail("alg is not EdDSA")
			}
		case "typ":
			if !isString(v, ReturnProofType) {
				return fail("typ is not %s", ReturnProofType)
			}
		case "kid":
			var kid string
			if err := strictString(v, &kid); err != nil {
				return fail("kid: %v", err)
			}
		default:
			// "crit" above all: an extension we do not know must not be
			// ignored (RFC 7515 section 4.1.11).
			return fail("header member %q", name)
		}
	}
	if header["alg"] == nil || header["typ"] == nil {
		return fail("header names no alg or no typ")
	}
	// The signature before the claims: a stale or misdirected proof is
	// reported as such only when the device really signed it.
	if !ed25519.Verify(pub, []byte(signed), sig) {
		return fail("signature is invalid")
	}
	payload, err := members(rawPayload)
	if err != nil {
		return fail("payload: %v", err)
	}
	if len(payload) != 2 || payload["session_id"] == nil || payload["iat"] == nil {
		return fail("payload members are not exactly session_id and iat")
	}
	var p returnProofPayload
	if err := strictString(payload["session_id"], &p.SessionID); err != nil {
		return fail("session_id: %v", err)
	}
	// An integer of seconds: no fraction, exponent, string or null.
	if err := json.Unmarshal(payload["iat"], &p.IssuedAt); err != nil || string(payload["iat"]) == "null" {
		return fail("iat is not an integer")
	}
	if subtle.ConstantTimeCompare([]byte(p.SessionID), []byte(sessionID)) != 1 {
		return fail("proof is for another session")
	}
	iat := time.Unix(p.IssuedAt, 0)
	if age := now.Sub(iat); age > ReturnProofWindow || age < -ReturnProofSkew {
		return "", fmt.Errorf("%w: %w: issued at %s, %s from now (%s before to %s after)", ErrProofInvalid, ErrProofExpired,
			iat.UTC().Format(time.RFC3339), -age, ReturnProofWindow, ReturnProofSkew)
	}
	return returnProofID(proof), nil
}

// returnProofID names a proof for replay protection: the base64url SHA-256
// of the whole compact proof. Each proof has one spelling (segments are
// strict base64url and Ed25519 signatures are not malleable), so a proof
// sent twice has one id, and another proof can be made only with the
// device key.
func returnProofID(proof string) string {
	sum := sha256.Sum256([]byte(proof))
	return b64.EncodeToString(sum[:])
}

// members decodes a JSON object's members, refusing a repeated name (which
// JSON libraries resolve differently) and anything after the object.
func members(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	m := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // an object's keys are strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if _, ok := m[name]; ok {
			return nil, fmt.Errorf("member %q repeated", name)
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// strictString decodes a JSON string into s, refusing null.
func strictString(raw json.RawMessage, s *string) error {
	if string(raw) == "null" || json.Unmarshal(raw, s) != nil {
		return errors.New("not a string")
	}
	return nil
}

// isString reports whether raw is the JSON string want.
func isString(raw json.RawMessage, want string) bool {
	var s string
	return strictString(raw, &s) == nil && s == want
}
