package kmsroot

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
)

// newKMS starts a fake and a KMS root signing with its first version.
func newKMS(t *testing.T) (*kmsfake.Server, *KMS) {
	t.Helper()
	fake := kmsfake.Start(t)
	k, err := New(t.Context(), fake.Client(t), Config{SigningVersion: fake.VersionName()})
	if err != nil {
		t.Fatalf("NewKMS: %v", err)
	}
	return fake, k
}

func TestKMSSign(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fake, k := newKMS(t)

	input := []byte("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")
	kid, sig, err := k.Sign(ctx, input)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	digest := sha256.Sum256(input)
	if err := rsa.VerifyPKCS1v15(fake.PublicKey(), crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("signature does not verify under the version's key: %v", err)
	}
	if want := rootkey.Thumbprint(fake.PublicKey()); kid != want {
		t.Errorf("kid = %q, want %q", kid, want)
	}
	if got := fake.Signs(); got != 1 {
		t.Errorf("fake saw %d AsymmetricSign calls, want 1", got)
	}

	req := fake.LastSignRequest()
	if req.GetName() != fake.VersionName() {
		t.Errorf("request names %q, want %q", req.GetName(), fake.VersionName())
	}
	if got := req.GetDigest().GetSha256(); string(got) != string(digest[:]) {
		t.Errorf("request digest = %x, want SHA-256 of the input %x", got, digest)
	}
	if req.GetDigestCrc32C() == nil || req.GetDigestCrc32C().GetValue() != crc32c(digest[:]) {
		t.Errorf("request DigestCrc32C = %v, want %d", req.GetDigestCrc32C(), crc32c(digest[:]))
	}
	if len(req.GetData()) != 0 {
		t.Error("request carries the data itself, want only its digest")
	}

	pubs, err := k.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 || pubs[0].KID != kid || !pubs[0].Key.Equal(fake.PublicKey()) {
		t.Errorf("PublicKeys = %+v, want the signing version's key", pubs)
	}
	if got := fake.PublicKeyGets(); got != 1 {
		t.Errorf("fake saw %d GetPublicKey calls, want 1 (cached)", got)
	}
}

func TestKMSSignFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     kmsfake.SignFault
		n         int   // responses damaged
		wantCalls int64 // AsymmetricSign calls made
		wantErr   string
		integrity bool // error wraps ErrIntegrity
	}{
		{"signature CRC once is retried", kmsfake.SignBadCRC, 1, 2, "", false},
		{"signature CRC always", kmsfake.SignBadCRC, 3, 3, "signature CRC32C mismatch", true},
		{"unverified digest once is retried", kmsfake.SignUnverifiedDigest, 2, 3, "", false},
		{"unverified digest always", kmsfake.SignUnverifiedDigest, 3, 3, "did not verify the digest", true},
		{"wrong version", kmsfake.SignWrongName, 1, 1, "cryptoKeyVersions/999", false},
		{"bad signature with matching CRC", kmsfake.SignBadSignature, 1, 1, "does not verify", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			fake, k := newKMS(t)
			fake.FailNextSigns(tc.fault, tc.n)

			input := []byte("header.payload")
			kid, sig, err := k.Sign(ctx, input)
			if got := fake.Signs(); got != tc.wantCalls {
				t.Errorf("fake saw %d AsymmetricSign calls, want %d", got, tc.wantCalls)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				digest := sha256.Sum256(input)
				if rsa.VerifyPKCS1v15(fake.PublicKey(), crypto.SHA256, digest[:], sig) != nil || kid != rootkey.Thumbprint(fake.PublicKey()) {
					t.Error("signature after a retry does not verify")
				}
				return
			}
			if err == nil {
				t.Fatalf("Sign succeeded, want an error mentioning %q", tc.wantErr)
			}
			if kid != "" || sig != nil {
				t.Errorf("Sign returned kid %q and a %d-byte signature with its error", kid, len(sig))
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Sign error = %q, want it to mention %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrIntegrity); got != tc.integrity {
				t.Errorf("errors.Is(err, ErrIntegrity) = %v, want %v", got, tc.integrity)
			}
		})
	}
}

func TestKMSCorruptNextSignatureCRC(t *testing.T) {
	t.Parallel()
	fake, k := newKMS(t)
	fake.CorruptNextSignatureCRC()
	if _, _, err := k.Sign(t.Context(), []byte("x")); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got := fake.Signs(); got != 2 {
		t.Errorf("fake saw %d AsymmetricSign calls, want 2 (one discarded)", got)
	}
}

func TestKMSSignCanceled(t *testing.T) {
	t.Parallel()
	fake, k := newKMS(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := k.Sign(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign with a canceled context: err = %v, want context.Canceled", err)
	}
	if got := fake.Signs(); got != 0 {
		t.Errorf("fake saw %d AsymmetricSign calls, want 0", got)
	}
}

func TestNewKMSPublicKeyFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     kmsfake.PublicKeyFault
		wantErr   string
		integrity bool
	}{
		{"PEM CRC", kmsfake.PublicKeyBadCRC, "PEM CRC32C mismatch", true},
		{"algorithm", kmsfake.PublicKeyWrongAlgorithm, "RSA_SIGN_PSS_4096_SHA256", false},
		{"name", kmsfake.PublicKeyWrongName, "cryptoKeyVersions/999", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := kmsfake.Start(t)
			fake.SetPublicKeyFault(fake.VersionName(), tc.fault)
			k, err := New(t.Context(), fake.Client(t), Config{SigningVersion: fake.VersionName()})
			if err == nil {
				t.Fatalf("NewKMS succeeded (%v), want an error mentioning %q", k, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewKMS error = %q, want it to mention %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrIntegrity); got != tc.integrity {
				t.Errorf("errors.Is(err, ErrIntegrity) = %v, want %v", got, tc.integrity)
			}
		})
	}
}

func TestNewKMSConfig(t *testing.T) {
	t.Parallel()
	fake := kmsfake.Start(t)
	client := fake.Client(t)
	v1 := fake.VersionName()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"empty", Config{}, "not a crypto key version name"},
		{"key not version", Config{SigningVersion: kmsfake.CryptoKey}, "not a crypto key version name"},
		{"bad trusted", Config{SigningVersion: v1, TrustedVersions: []string{"projects/p"}}, "not a crypto key version name"},
		{"duplicate", Config{SigningVersion: v1, TrustedVersions: []string{v1}}, "configured twice"},
		{"unknown version", Config{SigningVersion: kmsfake.CryptoKey + "/cryptoKeyVersions/77"}, "NotFound"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := New(t.Context(), client, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewKMS error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
	if _, err := New(t.Context(), nil, Config{SigningVersion: v1}); err == nil {
		t.Error("NewKMS with a nil client succeeded")
	}
}

func TestKMSTrustedVersions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fake := kmsfake.Start(t)
	v1 := fake.VersionName()
	v2 := fake.AddVersion(t)
	v3 := fake.AddVersion(t)

	// v2 signs after a rotation; v3 and v1 stay trusted, listed in config order.
	k, err := New(ctx, fake.Client(t), Config{SigningVersion: v2, TrustedVersions: []string{v3, v1}})
	if err != nil {
		t.Fatalf("NewKMS: %v", err)
	}
	pubs, err := k.PublicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{v2, v3, v1}
	if len(pubs) != len(want) {
		t.Fatalf("PublicKeys has %d keys, want %d", len(pubs), len(want))
	}
	for i, name := range want {
		pub := fake.VersionPublicKey(name)
		if !pubs[i].Key.Equal(pub) || pubs[i].KID != rootkey.Thumbprint(pub) {
			t.Errorf("PublicKeys[%d] is not %s's key", i, name)
		}
	}

	input := []byte("rotated")
	kid, sig, err := k.Sign(ctx, input)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	digest := sha256.Sum256(input)
	if kid != pubs[0].KID || rsa.VerifyPKCS1v15(fake.VersionPublicKey(v2), crypto.SHA256, digest[:], sig) != nil {
		t.Error("Sign did not sign with the signing version")
	}
	if got := fake.LastSignRequest().GetName(); got != v2 {
		t.Errorf("AsymmetricSign went to %q, want %q", got, v2)
	}

	// Returned slices are copies.
	pubs[0] = rootkey.PublicKey{}
	again, _ := k.PublicKeys(ctx)
	if again[0].KID != kid {
		t.Error("PublicKeys returned the KMS's own slice")
	}
}

// The KMS backend is a rootkey.Root.
var _ rootkey.Root = (*KMS)(nil)
