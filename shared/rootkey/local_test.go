package rootkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
)

func pkcs1PEM(t *testing.T, key *rsa.PrivateKey) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestNewLocalSignVerify(t *testing.T) {
	t.Parallel()
	key := kmsfake.Key(t, 0)
	for name, pemBytes := range map[string][]byte{
		"PKCS#1": pkcs1PEM(t, key),
		"PKCS#8": pkcs8PEM(t, key),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			l, err := NewLocal(pemBytes)
			if err != nil {
				t.Fatalf("NewLocal: %v", err)
			}
			input := []byte("header.payload")
			kid, sig, err := l.Sign(ctx, input)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			digest := sha256.Sum256(input)
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
			if want := Thumbprint(&key.PublicKey); kid != want {
				t.Errorf("kid = %q, want thumbprint %q", kid, want)
			}
			pubs, err := l.PublicKeys(ctx)
			if err != nil {
				t.Fatalf("PublicKeys: %v", err)
			}
			if len(pubs) != 1 || pubs[0].KID != kid || !pubs[0].Key.Equal(&key.PublicKey) {
				t.Errorf("PublicKeys = %+v, want the one signing key with KID %q", pubs, kid)
			}
		})
	}
}

func TestNewLocalRejects(t *testing.T) {
	t.Parallel()
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := kmsfake.Key(t, 0)
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"empty", nil, "no PEM block"},
		{"garbage", []byte("not a key at all"), "no PEM block"},
		{"garbage in PEM", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")}), "PKCS#1"},
		{"RSA-2048 PKCS#1", pkcs1PEM(t, rsa2048), "2048 bits, want 4096"},
		{"RSA-2048 PKCS#8", pkcs8PEM(t, rsa2048), "2048 bits, want 4096"},
		{"EC PKCS#8", pkcs8PEM(t, ec), "want an RSA key"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), `"PUBLIC KEY"`},
		{"two keys", append(pkcs1PEM(t, key), pkcs1PEM(t, key)...), "after the PEM block"},
		{"encrypted", pem.EncodeToMemory(&pem.Block{
			Type:    "RSA PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"},
			Bytes:   x509.MarshalPKCS1PrivateKey(key),
		}), "encrypted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := NewLocal(tc.pem)
			if err == nil {
				t.Fatalf("NewLocal succeeded (%v), want an error", l)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewLocal error = %q, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestLocalTrust(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, err := NewLocal(pkcs1PEM(t, kmsfake.Key(t, 0)))
	if err != nil {
		t.Fatal(err)
	}
	old := &kmsfake.Key(t, 1).PublicKey
	if err := l.Trust(old); err != nil {
		t.Fatalf("Trust: %v", err)
	}
	if err := l.Trust(old); err == nil {
		t.Error("trusting the same key twice succeeded")
	}
	if err := l.Trust(&kmsfake.Key(t, 0).PublicKey); err == nil {
		t.Error("trusting the signing key again succeeded")
	}
	small, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Trust(&small.PublicKey); err == nil {
		t.Error("trusting an RSA-2048 key succeeded")
	}

	pubs, err := l.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kid, _, err := l.Sign(ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 2 || pubs[0].KID != kid || pubs[1].KID != Thumbprint(old) || !pubs[1].Key.Equal(old) {
		t.Errorf("PublicKeys = %+v, want the signing key %s then the trusted one %s", pubs, kid, Thumbprint(old))
	}
}

func TestGenerateLocal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, err := GenerateLocal()
	if err != nil {
		t.Fatalf("GenerateLocal: %v", err)
	}
	pubs, err := l.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 || pubs[0].Key.N.BitLen() != 4096 || pubs[0].KID != Thumbprint(pubs[0].Key) {
		t.Fatalf("PublicKeys = %+v, want one RSA-4096 key with its thumbprint as KID", pubs)
	}
	input := []byte("payload")
	kid, sig, err := l.Sign(ctx, input)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(input)
	if kid != pubs[0].KID || rsa.VerifyPKCS1v15(pubs[0].Key, crypto.SHA256, digest[:], sig) != nil {
		t.Error("GenerateLocal's signature does not verify under its public key")
	}
}
