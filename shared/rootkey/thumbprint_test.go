package rootkey

import (
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"testing"
)

// The RSA key of RFC 7638 section 3.1 and the thumbprint the RFC gives for it.
const (
	rfc7638N          = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638Thumbprint = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func rfc7638Key(t *testing.T) *rsa.PublicKey {
	t.Helper()
	n, err := base64.RawURLEncoding.DecodeString(rfc7638N)
	if err != nil {
		t.Fatal(err)
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
}

func TestThumbprintRFC7638(t *testing.T) {
	t.Parallel()
	if got := Thumbprint(rfc7638Key(t)); got != rfc7638Thumbprint {
		t.Errorf("Thumbprint = %q, want %q", got, rfc7638Thumbprint)
	}
}

func TestJWK(t *testing.T) {
	t.Parallel()
	got := JWK(rfc7638Key(t))
	want := map[string]string{
		"kty": "RSA",
		"kid": rfc7638Thumbprint,
		"alg": "RS256",
		"use": "sig",
		"n":   rfc7638N,
		"e":   "AQAB",
	}
	if len(got) != len(want) {
		t.Errorf("JWK has %d members, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("JWK[%q] = %q, want %q", k, got[k], v)
		}
	}
}

func TestThumbprintMinimalExponent(t *testing.T) {
	t.Parallel()
	// e = 3 is one byte, "Aw"; a fixed-width encoding would give "AAAAAw".
	pub := rfc7638Key(t)
	pub.E = 3
	if got := JWK(pub)["e"]; got != "Aw" {
		t.Errorf(`JWK e for 3 = %q, want "Aw"`, got)
	}
	if Thumbprint(pub) == rfc7638Thumbprint {
		t.Error("thumbprint does not depend on the exponent")
	}
}
