// Package kmsroot is the production root key: an RSA-4096 asymmetric signing
// key in Cloud KMS. It is apart from package rootkey so that what clients
// import to verify leases does not pull in the Cloud KMS client.
package kmsroot

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/coditect-ai/license-server/shared/rootkey"
)

// ErrIntegrity reports a Cloud KMS response that failed an integrity check
// (a CRC32C mismatch, or a digest KMS did not confirm it verified) on every
// attempt. Such a response is discarded, never used.
var ErrIntegrity = errors.New("cloud KMS response failed its integrity check")

// integrityAttempts bounds the calls made when responses keep failing their
// CRC32C checks: Google's data-integrity guidance is to discard such a
// response and retry a limited number of times, since a persistent mismatch
// points at a bug rather than a corrupted transfer. Transport errors are
// retried by the client library itself.
const integrityAttempts = 3

// Config names the Cloud KMS key versions of the root key.
type Config struct {
	// SigningVersion signs: the full resource name
	// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V
	// of an RSA_SIGN_PKCS1_4096_SHA256 key version.
	SigningVersion string
	// TrustedVersions are further versions clients should still trust
	// (verify-only), e.g. the previous signing version after a rotation.
	TrustedVersions []string
}

// KMS is a Root whose private key never leaves Cloud KMS. Public keys are
// fetched once by New: a key version's public key never changes.
type KMS struct {
	client     *kms.KeyManagementClient
	signing    string
	signingKey *rsa.PublicKey
	keys       []rootkey.PublicKey // signing version first, then TrustedVersions in order
}

var _ rootkey.Root = (*KMS)(nil)

// New fetches and checks the public key of every configured version: each
// must be an RSA_SIGN_PKCS1_4096_SHA256 version whose PEM arrives intact.
// The client stays owned by the caller, who closes it after the KMS is done.
func New(ctx context.Context, client *kms.KeyManagementClient, cfg Config) (*KMS, error) {
	if client == nil {
		return nil, errors.New("kms root key: nil KeyManagementClient")
	}
	names := append([]string{cfg.SigningVersion}, cfg.TrustedVersions...)
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		if !isVersionName(name) {
			return nil, fmt.Errorf("kms root key: %q is not a crypto key version name (projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V)", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("kms root key: version %q is configured twice", name)
		}
		seen[name] = true
	}

	k := &KMS{client: client, signing: cfg.SigningVersion}
	kids := make(map[string]string, len(names))
	for _, name := range names {
		pub, err := fetchPublicKey(ctx, client, name)
		if err != nil {
			return nil, fmt.Errorf("kms root key: %w", err)
		}
		kid := rootkey.Thumbprint(pub)
		if other, ok := kids[kid]; ok {
			return nil, fmt.Errorf("kms root key: versions %q and %q have the same public key", other, name)
		}
		kids[kid] = name
		k.keys = append(k.keys, rootkey.PublicKey{KID: kid, Key: pub})
	}
	k.signingKey = k.keys[0].Key
	return k, nil
}

// fetchPublicKey gets and checks the public key of one version.
func fetchPublicKey(ctx context.Context, client *kms.KeyManagementClient, name string) (*rsa.PublicKey, error) {
	var resp *kmspb.PublicKey
	for attempt := 1; ; attempt++ {
		r, err := client.GetPublicKey(ctx, &kmspb.GetPublicKeyRequest{Name: name})
		if err != nil {
			return nil, fmt.Errorf("getting public key of %s: %w", name, callErr(ctx, err))
		}
		if r.GetPemCrc32C() != nil && r.GetPemCrc32C().GetValue() == crc32c([]byte(r.GetPem())) {
			resp = r
			break
		}
		if attempt == integrityAttempts {
			return nil, fmt.Errorf("getting public key of %s: PEM CRC32C mismatch on %d attempts: %w", name, attempt, ErrIntegrity)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("getting public key of %s: %w", name, err)
		}
	}

	if resp.GetName() != name {
		return nil, fmt.Errorf("getting public key of %s: response is for %q", name, resp.GetName())
	}
	if alg := resp.GetAlgorithm(); alg != kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256 {
		return nil, fmt.Errorf("public key of %s: algorithm is %s, want %s", name, alg, kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256)
	}
	block, rest := pem.Decode([]byte(resp.GetPem()))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("public key of %s: want exactly one PEM \"PUBLIC KEY\" block", name)
	}
	parsed, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing public key of %s: %w", name, err)
	}
	pub, ok := parsed.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key of %s is %T, want an RSA key", name, parsed)
	}
	if err := rootkey.CheckBits(pub); err != nil {
		return nil, fmt.Errorf("public key of %s: %w", name, err)
	}
	return pub, nil
}

// Sign has Cloud KMS sign the SHA-256 digest of signingInput with the signing
// version. The digest travels with its CRC32C; the response must confirm KMS
// checked it, come from the signing version and carry a matching signature
// CRC32C, and the signature must verify under the cached public key, so a
// KMS or transport fault yields an error, never a bad signature.
func (k *KMS) Sign(ctx context.Context, signingInput []byte) (string, []byte, error) {
	digest := sha256.Sum256(signingInput)
	req := &kmspb.AsymmetricSignRequest{
		Name:         k.signing,
		Digest:       &kmspb.Digest{Digest: &kmspb.Digest_Sha256{Sha256: digest[:]}},
		DigestCrc32C: wrapperspb.Int64(crc32c(digest[:])),
	}

	var sig []byte
	for attempt := 1; ; attempt++ {
		resp, err := k.client.AsymmetricSign(ctx, req)
		if err != nil {
			return "", nil, fmt.Errorf("signing with %s: %w", k.signing, callErr(ctx, err))
		}
		// A response naming another version is not a corrupted transfer:
		// retrying would not help.
		if resp.GetName() != k.signing {
			return "", nil, fmt.Errorf("signing with %s: response is from %q", k.signing, resp.GetName())
		}
		var problem string
		switch {
		case !resp.GetVerifiedDigestCrc32C():
			problem = "KMS did not verify the digest CRC32C"
		case resp.GetSignatureCrc32C() == nil || resp.GetSignatureCrc32C().GetValue() != crc32c(resp.GetSignature()):
			problem = "signature CRC32C mismatch"
		}
		if problem == "" {
			sig = resp.GetSignature()
			break
		}
		if attempt == integrityAttempts {
			return "", nil, fmt.Errorf("signing with %s: %s on %d attempts: %w", k.signing, problem, attempt, ErrIntegrity)
		}
		if err := ctx.Err(); err != nil {
			return "", nil, fmt.Errorf("signing with %s: %w", k.signing, err)
		}
	}

	// The CRC32Cs guard the transfer; this guards everything else (a fault in
	// KMS, a key that is not the one we fetched). It is not retried: a
	// signature that arrived intact yet does not verify needs a person.
	if err := rsa.VerifyPKCS1v15(k.signingKey, crypto.SHA256, digest[:], sig); err != nil {
		return "", nil, fmt.Errorf("signing with %s: signature does not verify under the version's public key: %w", k.signing, err)
	}
	return k.keys[0].KID, sig, nil
}

// PublicKeys lists the signing version's key, then TrustedVersions' in order.
func (k *KMS) PublicKeys(context.Context) ([]rootkey.PublicKey, error) {
	return append([]rootkey.PublicKey(nil), k.keys...), nil
}

// callErr is the error to report for a failed KMS call: the context's own
// error when it ended (gRPC reports that as a status that does not match
// context.Canceled or context.DeadlineExceeded), else err.
func callErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the checksum Cloud KMS uses, widened to the int64 of its
// wrapperspb.Int64Value fields.
func crc32c(b []byte) int64 {
	return int64(crc32.Checksum(b, castagnoli))
}

// isVersionName reports whether name has the shape
// projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/V.
func isVersionName(name string) bool {
	parts := strings.Split(name, "/")
	if len(parts) != 10 {
		return false
	}
	for i, want := range []string{"projects", "locations", "keyRings", "cryptoKeys", "cryptoKeyVersions"} {
		if parts[2*i] != want || parts[2*i+1] == "" {
			return false
		}
	}
	return true
}
