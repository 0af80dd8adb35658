package leasejws

import (
	"crypto/ed25519"
	"strings"
	"testing"
)

// TestThumbprint checks against RFC 8037 appendix A.3, and that a device
// key's thumbprint is the kid NewOKPKey gives the same key.
func TestThumbprint(t *testing.T) {
	t.Parallel()
	k := OKPKey{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
	got, err := Thumbprint(k)
	if err != nil || got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("Thumbprint = %q, %v", got, err)
	}
	// A kid does not enter the thumbprint.
	k.Kid = "anything"
	if again, err := Thumbprint(k); err != nil || again != got {
		t.Fatalf("Thumbprint with a kid = %q, %v", again, err)
	}
	priv, jwk, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	if jwk != DeviceJWK(pub) || jwk.Kid != "" {
		t.Fatalf("NewDeviceKey's JWK %+v is not DeviceJWK of its key", jwk)
	}
	if tp, err := Thumbprint(jwk); err != nil || tp != NewOKPKey(pub).Kid {
		t.Fatalf("Thumbprint = %q, %v; NewOKPKey's kid %q", tp, err, NewOKPKey(pub).Kid)
	}
	if _, err := Thumbprint(OKPKey{Kty: "OKP", Crv: "X25519", X: k.X}); err == nil {
		t.Fatal("a thumbprint for an X25519 key")
	}
}

// TestEd25519: one JWK form per key, everything else refused.
func TestEd25519(t *testing.T) {
	t.Parallel()
	priv, jwk, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Ed25519()
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("Ed25519 = %x, %v", pub, err)
	}
	x := jwk.X
	// The last character of x carries 2 spare bits: the next character of
	// the alphabet sets one.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	spare := x[:42] + string(alphabet[strings.IndexByte(alphabet, x[42])+1])
	for name, k := range map[string]OKPKey{
		"empty":             {},
		"kty EC":            {Kty: "EC", Crv: "Ed25519", X: x},
		"kty lower-case":    {Kty: "okp", Crv: "Ed25519", X: x},
		"crv X25519":        {Kty: "OKP", Crv: "X25519", X: x},
		"crv Ed448":         {Kty: "OKP", Crv: "Ed448", X: x},
		"x empty":           {Kty: "OKP", Crv: "Ed25519"},
		"x padded":          {Kty: "OKP", Crv: "Ed25519", X: x + "="},
		"x short":           {Kty: "OKP", Crv: "Ed25519", X: x[:42]},
		"x of 33 bytes":     {Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(make([]byte, 33))},
		"x of 31 bytes":     {Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(make([]byte, 31))},
		"x standard base64": {Kty: "OKP", Crv: "Ed25519", X: "+/" + x[2:]},
		"x with a newline":  {Kty: "OKP", Crv: "Ed25519", X: x[:20] + "\n" + x[21:]},
		"x with a dot":      {Kty: "OKP", Crv: "Ed25519", X: x[:20] + "." + x[21:]},
		"x spare bits set":  {Kty: "OKP", Crv: "Ed25519", X: spare},
	} {
		if pub, err := k.Ed25519(); err == nil {
			t.Errorf("%s: Ed25519 = %x, want an error", name, pub)
		}
	}
}
