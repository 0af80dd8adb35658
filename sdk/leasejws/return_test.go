package leasejws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// sid is the borrowed session the proofs give back.
const sid = "s_0123456789abcdefghijklmnopqrstuv"

// proofHeader is the header SignReturnProof writes, as a map to edit.
func proofHeader() map[string]any { return map[string]any{"alg": "EdDSA", "typ": ReturnProofType} }

// proofPayload is a proof's payload for sid, issued at iat.
func proofPayload(iat time.Time) map[string]any {
	return map[string]any{"session_id": sid, "iat": iat.Unix()}
}

// signProof signs header and payload (maps or raw JSON) with key.
func signProof(t testing.TB, key ed25519.PrivateKey, header, payload any) string {
	t.Helper()
	return compact(t, header, payload, func(in []byte) []byte { return ed25519.Sign(key, in) })
}

func TestReturnProof(t *testing.T) {
	t.Parallel()
	key, device, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := SignReturnProof(key, sid, now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := VerifyReturnProof(proof, device, sid, now)
	if err != nil {
		t.Fatalf("VerifyReturnProof: %v", err)
	}
	sum := sha256.Sum256([]byte(proof))
	if id != b64.EncodeToString(sum[:]) {
		t.Fatalf("id = %q, not the base64url SHA-256 of the proof", id)
	}
	if again, err := VerifyReturnProof(proof, device, sid, now.Add(time.Minute)); err != nil || again != id {
		t.Fatalf("the same proof a minute later: %q, %v; want the same id", again, err)
	}
	// The exact format, as any JOSE library is told it.
	parts := strings.Split(proof, ".")
	h, _ := b64.DecodeString(parts[0])
	p, _ := b64.DecodeString(parts[1])
	if string(h) != `{"alg":"EdDSA","typ":"return+jwt"}` || string(p) != `{"session_id":"`+sid+`","iat":`+
		strconv.FormatInt(now.Unix(), 10)+`}` {
		t.Fatalf("header %s, payload %s", h, p)
	}
	// Each signature is new only with the key: another proof for the same
	// session a second later has another id.
	later, err := SignReturnProof(key, sid, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if id2, err := VerifyReturnProof(later, device, sid, now); err != nil || id2 == id {
		t.Fatalf("a second proof: %q, %v", id2, err)
	}

	// The window: ReturnProofWindow back, ReturnProofSkew ahead, inclusive.
	for _, c := range []struct {
		name    string
		iat     time.Time
		expired bool
	}{
		{"issued a window ago", now.Add(-ReturnProofWindow), false},
		{"issued a window and a second ago", now.Add(-ReturnProofWindow - time.Second), true},
		{"issued an hour ago", now.Add(-time.Hour), true},
		{"issued a skew ahead", now.Add(ReturnProofSkew), false},
		{"issued a skew and a second ahead", now.Add(ReturnProofSkew + time.Second), true},
		{"issued a day ahead", now.Add(24 * time.Hour), true},
		{"issued at 0", time.Unix(0, 0), true},
	} {
		proof, err := SignReturnProof(key, sid, c.iat)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyReturnProof(proof, device, sid, now)
		if !c.expired && err != nil {
			t.Errorf("%s: %v, want success", c.name, err)
		}
		if c.expired && (!errors.Is(err, ErrProofExpired) || !errors.Is(err, ErrProofInvalid)) {
			t.Errorf("%s: %v, want ErrProofExpired and ErrProofInvalid", c.name, err)
		}
	}
	if _, err := SignReturnProof(key, "", now); err == nil {
		t.Error("SignReturnProof signed for no session")
	}
	if _, err := SignReturnProof(key[:32], sid, now); err == nil {
		t.Error("SignReturnProof signed with a seed as the key")
	}
}

// TestReturnProofRejects: every way a proof can be wrong is ErrProofInvalid
// (and none of them ErrProofExpired: the proofs are issued now).
func TestReturnProofRejects(t *testing.T) {
	t.Parallel()
	key, device, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := testRoots(t)
	good := signProof(t, key, proofHeader(), proofPayload(now))
	parts := strings.Split(good, ".")
	withHeader := func(change func(h map[string]any)) string {
		h := proofHeader()
		change(h)
		return signProof(t, key, h, proofPayload(now))
	}
	withPayload := func(change func(p map[string]any)) string {
		p := proofPayload(now)
		change(p)
		return signProof(t, key, proofHeader(), p)
	}
	alg := func(alg string, sign func([]byte) []byte) string {
		return compact(t, map[string]any{"alg": alg, "typ": ReturnProofType}, proofPayload(now), sign)
	}
	pub := must(device.Ed25519())
	cases := map[string]string{
		"signed by another key": signProof(t, other, proofHeader(), proofPayload(now)),
		"payload altered": parts[0] + "." + b64.EncodeToString([]byte(`{"session_id":"`+sid+`x","iat":`+
			strconv.FormatInt(now.Unix(), 10)+`}`)) + "." + parts[2],
		"signature of zeros":          parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)),
		"spare bits in the signature": good[:len(good)-1] + string(good[len(good)-1]+1),
		"signature padded":            good + "=",
		"no signature":                parts[0] + "." + parts[1] + ".",
		"a line break":                parts[0] + "." + parts[1] + "." + parts[2][:9] + "\n" + parts[2][9:],
		"alg none":                    alg("none", func([]byte) []byte { return nil }),
		"HS256 keyed with the device key": alg("HS256", func(in []byte) []byte {
			m := hmac.New(sha256.New, pub)
			m.Write(in)
			return m.Sum(nil)
		}),
		"RS256": alg("RS256", func(in []byte) []byte {
			d := sha256.Sum256(in)
			return must(rsa.SignPKCS1v15(rand.Reader, root.key, crypto.SHA256, d[:]))
		}),
		"alg Ed25519":       withHeader(func(h map[string]any) { h["alg"] = "Ed25519" }),
		"no alg":            withHeader(func(h map[string]any) { delete(h, "alg") }),
		"typ JWT":           withHeader(func(h map[string]any) { h["typ"] = "JWT" }),
		"typ of a lease":    withHeader(func(h map[string]any) { h["typ"] = Type }),
		"typ upper-case":    withHeader(func(h map[string]any) { h["typ"] = "RETURN+JWT" }),
		"no typ":            withHeader(func(h map[string]any) { delete(h, "typ") }),
		"typ an array":      withHeader(func(h map[string]any) { h["typ"] = []string{ReturnProofType} }),
		"crit":              withHeader(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }),
		"a jwk in the head": withHeader(func(h map[string]any) { h["jwk"] = device }),
		"kid a number":      withHeader(func(h map[string]any) { h["kid"] = 7 }),
		"header repeats alg": signProof(t, key, []byte(`{"alg":"none","alg":"EdDSA","typ":"return+jwt"}`),
			proofPayload(now)),
		"header null":            signProof(t, key, []byte(`null`), proofPayload(now)),
		"another session":        withPayload(func(p map[string]any) { p["session_id"] = sid[:len(sid)-1] }),
		"a session's prefix":     withPayload(func(p map[string]any) { p["session_id"] = sid + "x" }),
		"an extra member":        withPayload(func(p map[string]any) { p["exp"] = now.Add(time.Minute).Unix() }),
		"a member upper-case":    withPayload(func(p map[string]any) { p["SESSION_ID"] = p["session_id"]; delete(p, "session_id") }),
		"no iat":                 withPayload(func(p map[string]any) { delete(p, "iat") }),
		"no session":             withPayload(func(p map[string]any) { delete(p, "session_id") }),
		"iat a string":           withPayload(func(p map[string]any) { p["iat"] = strconv.FormatInt(now.Unix(), 10) }),
		"iat a fraction":         withPayload(func(p map[string]any) { p["iat"] = float64(now.Unix()) + 0.5 }),
		"iat null":               withPayload(func(p map[string]any) { p["iat"] = nil }),
		"session_id null":        withPayload(func(p map[string]any) { p["session_id"] = nil }),
		"session_id a number":    withPayload(func(p map[string]any) { p["session_id"] = 7 }),
		"session_id an array":    withPayload(func(p map[string]any) { p["session_id"] = []string{sid} }),
		"payload an array":       signProof(t, key, proofHeader(), []any{sid, now.Unix()}),
		"payload repeats a name": signProof(t, key, proofHeader(), []byte(`{"session_id":"x","session_id":"`+sid+`","iat":`+strconv.FormatInt(now.Unix(), 10)+`}`)),
		"payload then more":      signProof(t, key, proofHeader(), []byte(`{"session_id":"`+sid+`","iat":`+strconv.FormatInt(now.Unix(), 10)+`}{}`)),
		"oversize":               withPayload(func(p map[string]any) { p["session_id"] = strings.Repeat("s", MaxReturnProofSize) }),
		"two parts":              parts[0] + "." + parts[1],
		"four parts":             good + ".",
		"one part":               parts[0],
		"empty":                  "",
		"the lease format":       signProof(t, key, map[string]any{"alg": "EdDSA", "typ": Type}, proofPayload(now)),
	}
	for name, proof := range cases {
		if id, err := VerifyReturnProof(proof, device, sid, now); !errors.Is(err, ErrProofInvalid) || errors.Is(err, ErrProofExpired) || id != "" {
			t.Errorf("%s: VerifyReturnProof = %q, %v; want ErrProofInvalid alone", name, id, err)
		}
	}
	// The oversize proof is refused for its size, not for what it says.
	big := signProof(t, key, proofHeader(), map[string]any{"session_id": strings.Repeat("s", MaxReturnProofSize), "iat": now.Unix()})
	if _, err := VerifyReturnProof(big, device, strings.Repeat("s", MaxReturnProofSize), now); !errors.Is(err, ErrProofInvalid) ||
		!strings.Contains(err.Error(), "bytes") {
		t.Errorf("oversize: %v", err)
	}
	// A kid is named by some libraries, and ignored.
	if _, err := VerifyReturnProof(withHeader(func(h map[string]any) { h["kid"] = "k" }), device, sid, now); err != nil {
		t.Errorf("a kid: %v", err)
	}
	// The device key is checked as strictly as anywhere.
	for name, k := range map[string]OKPKey{"none": {}, "X25519": {Kty: "OKP", Crv: "X25519", X: device.X}} {
		if _, err := VerifyReturnProof(good, k, sid, now); !errors.Is(err, ErrProofInvalid) {
			t.Errorf("device key %s: %v", name, err)
		}
	}
	if _, err := VerifyReturnProof(good, device, "", now); !errors.Is(err, ErrProofInvalid) {
		t.Errorf("no session to check against: %v", err)
	}
}

// TestReturnProofGolangJWT: a proof another JOSE library (golang-jwt)
// signs is taken, and golang-jwt verifies ours: the format is standard.
func TestReturnProofGolangJWT(t *testing.T) {
	t.Parallel()
	key, device, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"session_id": sid, "iat": now.Unix()})
	tok.Header["typ"] = ReturnProofType
	proof, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyReturnProof(proof, device, sid, now); err != nil {
		t.Fatalf("a proof golang-jwt signed: %v", err)
	}

	ours, err := SignReturnProof(key, sid, now)
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(ours, &c, func(*jwt.Token) (any, error) { return must(device.Ed25519()), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuedAt(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil || parsed.Header["typ"] != ReturnProofType || c["session_id"] != sid || c["iat"] != float64(now.Unix()) {
		t.Fatalf("golang-jwt reads our proof as %v %v: %v", parsed.Header, c, err)
	}
}
