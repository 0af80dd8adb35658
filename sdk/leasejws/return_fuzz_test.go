package leasejws

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyReturnProof mutates real proofs and hostile variants of them:
// VerifyReturnProof never panics, refuses with ErrProofInvalid, and takes a
// proof only when it is byte for byte one the device key signed, giving it
// its one id.
func FuzzVerifyReturnProof(f *testing.F) {
	key, device, err := NewDeviceKey()
	if err != nil {
		f.Fatal(err)
	}
	other, _, err := NewDeviceKey()
	if err != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{}
	for _, iat := range []time.Time{now, now.Add(-ReturnProofWindow), now.Add(ReturnProofSkew), now.Add(-time.Hour)} {
		proof, err := SignReturnProof(key, sid, iat)
		if err != nil {
			f.Fatal(err)
		}
		signed[proof] = true
		parts := strings.Split(proof, ".")
		f.Add(proof)
		f.Add(proof[:len(proof)-1] + "B")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:20] + "\r\n" + parts[2][20:])
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")
		f.Add(parts[0] + ".." + parts[2])
		f.Add(b64.EncodeToString([]byte(`{"alg":"none","typ":"return+jwt"}`)) + "." + parts[1] + ".")
		f.Add(strings.Replace(proof, parts[1], b64.EncodeToString([]byte(`{"session_id":"`+sid+`","iat":`+
			strconv.FormatInt(now.Unix(), 10)+`,"x":1}`)), 1))
		forged, err := SignReturnProof(other, sid, iat)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(forged)
		f.Add(parts[0] + "." + parts[1] + "." + strings.Split(forged, ".")[2])
	}
	f.Add("")
	f.Add("..")
	f.Add("\x00.\xff.")
	f.Fuzz(func(t *testing.T, proof string) {
		id, err := VerifyReturnProof(proof, device, sid, now)
		if err != nil {
			if !errors.Is(err, ErrProofInvalid) || id != "" {
				t.Fatalf("VerifyReturnProof(%.80q) = %q, %v; want ErrProofInvalid", proof, id, err)
			}
			return
		}
		if !signed[proof] {
			t.Fatalf("VerifyReturnProof took %q, which the device never signed", proof)
		}
		if id != returnProofID(proof) {
			t.Fatalf("VerifyReturnProof(%q) = %q, not its id", proof, id)
		}
	})
}

// FuzzReturnProofClaims signs any header and payload with the device key:
// VerifyReturnProof takes one only when a generic JSON reading of it says
// what the format demands (alg EdDSA, typ return+jwt, a kid at most beside
// them; exactly session_id, the borrowed one, and an integer iat within the
// window), so no spelling gets a proof past the rules.
func FuzzReturnProofClaims(f *testing.F) {
	key, device, err := NewDeviceKey()
	if err != nil {
		f.Fatal(err)
	}
	n := strconv.FormatInt(now.Unix(), 10)
	header := `{"alg":"EdDSA","typ":"return+jwt"}`
	payload := `{"session_id":"` + sid + `","iat":` + n + `}`
	f.Add(header, payload)
	for _, h := range []string{`{"alg":"EdDSA","typ":"return+jwt","kid":"k"}`, `{"typ":"return+jwt","alg":"EdDSA"}`,
		`{"alg":"EdDSA","typ":"return+jwt","alg":"none"}`, `{"alg":"EdDSA","Typ":"JWT","typ":"return+jwt"}`,
		`{"alg":"EdDSA","typ":"return+jwt","crit":["b64"],"b64":false}`, `{"alg":"EdDSA","typ":"return\u002bjwt"}`,
		` {"alg":"EdDSA","typ":"return+jwt"} `, `{"alg":"EdDSA","typ":"return+jwt"}x`} {
		f.Add(h, payload)
	}
	for _, p := range []string{`{"iat":` + n + `,"session_id":"` + sid + `"}`, `{"session_id":"` + sid + `","iat":` + n + `.0}`,
		`{"session_id":"` + sid + `","iat":` + n + `e0}`, `{"session_id":"` + sid + `","iat":"` + n + `"}`,
		`{"session_id":"` + sid + `","iat":` + n + `,"iat":` + n + `}`, `{"Session_ID":"` + sid + `","iat":` + n + `}`,
		`{"session_id":"` + sid + `\u0000","iat":` + n + `}`, `{"session_id":"s_0123456789abcdefghijklmnopqrstu\u0076","iat":` + n + `}`,
		`{"session_id":"` + sid + `","iat":-` + n + `}`, `{"session_id":"` + sid + `","iat":99999999999999999999}`,
		`{"session_id":"` + sid + `","iat":` + n + `,"nbf":0}`, `{"session_id":["` + sid + `"],"iat":` + n + `}`} {
		f.Add(header, p)
	}
	f.Fuzz(func(t *testing.T, header, payload string) {
		proof := signProof(t, key, []byte(header), []byte(payload))
		_, err := VerifyReturnProof(proof, device, sid, now)
		if err != nil {
			if !errors.Is(err, ErrProofInvalid) {
				t.Fatalf("VerifyReturnProof = %v, not ErrProofInvalid", err)
			}
			return
		}
		var h, p map[string]any
		if json.Unmarshal([]byte(header), &h) != nil || json.Unmarshal([]byte(payload), &p) != nil {
			t.Fatalf("took a proof whose header %q or payload %q is not a JSON object", header, payload)
		}
		delete(h, "kid")
		iat, ok := p["iat"].(float64)
		if len(h) != 2 || h["alg"] != "EdDSA" || h["typ"] != "return+jwt" || len(p) != 2 || p["session_id"] != sid || !ok ||
			iat != float64(int64(iat)) || iat < float64(now.Add(-ReturnProofWindow).Unix()) || iat > float64(now.Add(ReturnProofSkew).Unix()) {
			t.Fatalf("took header %q, payload %q", header, payload)
		}
	})
}
