// Package kmsfake is test support code: an in-process fake of the Cloud KMS
// KeyManagementService (GetPublicKey and AsymmetricSign only), served over
// gRPC on loopback so tests drive the real client library. Its keys are
// RSA-4096 keys generated once per test binary and shared by every fake in
// it. Import it only from _test.go files.
package kmsfake

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"hash/crc32"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	kms "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// CryptoKey is the crypto key every fake's versions belong to.
const CryptoKey = "projects/test-project/locations/global/keyRings/license-server/cryptoKeys/root"

// SignFault is a way to damage an AsymmetricSign response.
type SignFault int

const (
	// SignBadCRC makes SignatureCrc32C disagree with the signature.
	SignBadCRC SignFault = iota + 1
	// SignUnverifiedDigest reports VerifiedDigestCrc32C false, as if the
	// request's DigestCrc32C never reached KMS.
	SignUnverifiedDigest
	// SignWrongName names another key version as the signer.
	SignWrongName
	// SignBadSignature flips a bit of the signature and recomputes its
	// CRC32C, so only verifying the signature catches it.
	SignBadSignature
)

// PublicKeyFault is a way to damage a GetPublicKey response.
type PublicKeyFault int

const (
	// PublicKeyBadCRC makes PemCrc32C disagree with the PEM.
	PublicKeyBadCRC PublicKeyFault = iota + 1
	// PublicKeyWrongAlgorithm reports RSA_SIGN_PSS_4096_SHA256.
	PublicKeyWrongAlgorithm
	// PublicKeyWrongName names another key version.
	PublicKeyWrongName
)

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	addr    string
	first   string
	signs   atomic.Int64
	pubGets atomic.Int64
	// viewerOnly: callers hold publicKeyViewer but not signer.
	viewerOnly atomic.Bool

	mu         sync.Mutex
	versions   map[string]*rsa.PrivateKey
	next       int // number of the next version AddVersion creates
	signFaults []SignFault
	pubFaults  map[string]PublicKeyFault
	lastSign   *kmspb.AsymmetricSignRequest
}

// Start serves a fake with one enabled version, VersionName, on a loopback
// port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		versions:  make(map[string]*rsa.PrivateKey),
		pubFaults: make(map[string]PublicKeyFault),
		next:      1,
	}
	s.first = s.AddVersion(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kmsfake: listening: %v", err)
	}
	s.addr = lis.Addr().String()
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, &service{s: s})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // returns once Stop is called
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return s
}

// Addr is the host:port the fake listens on.
func (s *Server) Addr() string { return s.addr }

// Client returns a real KeyManagementClient connected to the fake without
// credentials, closed when the test ends.
func (s *Server) Client(t testing.TB) *kms.KeyManagementClient {
	t.Helper()
	c, err := kms.NewKeyManagementClient(context.Background(),
		option.WithEndpoint(s.addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	)
	if err != nil {
		t.Fatalf("kmsfake: creating client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// VersionName is the full resource name of the version Start created.
func (s *Server) VersionName() string { return s.first }

// PublicKey is the public key of VersionName.
func (s *Server) PublicKey() *rsa.PublicKey { return s.VersionPublicKey(s.first) }

// VersionPublicKey is the public key of the named version, or nil.
func (s *Server) VersionPublicKey(name string) *rsa.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.versions[name]; k != nil {
		return &k.PublicKey
	}
	return nil
}

// AddVersion adds another RSA_SIGN_PKCS1_4096_SHA256 version with a key of
// its own and returns its name.
func (s *Server) AddVersion(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	n := s.next
	s.next++
	s.mu.Unlock()
	key := Key(t, n-1)
	name := fmt.Sprintf("%s/cryptoKeyVersions/%d", CryptoKey, n)
	s.mu.Lock()
	s.versions[name] = key
	s.mu.Unlock()
	return name
}

// ViewerOnly makes every later AsymmetricSign fail with PermissionDenied,
// as Cloud KMS answers a caller holding roles/cloudkms.publicKeyViewer on
// the key but not roles/cloudkms.signer; GetPublicKey still answers. The
// refused calls are still counted by Signs.
func (s *Server) ViewerOnly() { s.viewerOnly.Store(true) }

// Signs counts the AsymmetricSign calls the fake has received.
func (s *Server) Signs() int64 { return s.signs.Load() }

// PublicKeyGets counts the GetPublicKey calls the fake has received.
func (s *Server) PublicKeyGets() int64 { return s.pubGets.Load() }

// LastSignRequest is a copy of the last AsymmetricSign request received, or
// nil if there was none.
func (s *Server) LastSignRequest() *kmspb.AsymmetricSignRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastSign == nil {
		return nil
	}
	return proto.Clone(s.lastSign).(*kmspb.AsymmetricSignRequest)
}

// FailNextSigns damages the next n AsymmetricSign responses with f (after any
// faults already queued).
func (s *Server) FailNextSigns(f SignFault, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.signFaults = append(s.signFaults, f)
	}
}

// CorruptNextSignatureCRC damages the next AsymmetricSign response's
// SignatureCrc32C.
func (s *Server) CorruptNextSignatureCRC() { s.FailNextSigns(SignBadCRC, 1) }

// SetPublicKeyFault damages every GetPublicKey response for the named version
// with f from now on; 0 repairs them.
func (s *Server) SetPublicKeyFault(name string, f PublicKeyFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == 0 {
		delete(s.pubFaults, name)
		return
	}
	s.pubFaults[name] = f
}

var keys struct {
	mu   sync.Mutex
	list []*rsa.PrivateKey
}

// Key returns the i-th (from 0) RSA-4096 key shared by this test binary,
// generating keys up to it on first use (about a second each). Version n of
// every fake uses key n-1.
func Key(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	keys.mu.Lock()
	defer keys.mu.Unlock()
	for len(keys.list) <= i {
		k, err := rsa.GenerateKey(rand.Reader, 4096)
		if err != nil {
			t.Fatalf("kmsfake: generating RSA-4096 key: %v", err)
		}
		k.Precompute()
		keys.list = append(keys.list, k)
	}
	return keys.list[i]
}

// service is the gRPC face of a Server, kept apart so the generated
// service's other methods do not join Server's API.
type service struct {
	kmspb.UnimplementedKeyManagementServiceServer
	s *Server
}

func (v *service) GetPublicKey(_ context.Context, req *kmspb.GetPublicKeyRequest) (*kmspb.PublicKey, error) {
	s := v.s
	s.pubGets.Add(1)
	s.mu.Lock()
	key, fault := s.versions[req.GetName()], s.pubFaults[req.GetName()]
	s.mu.Unlock()
	if key == nil {
		return nil, status.Errorf(codes.NotFound, "kmsfake: no crypto key version %q", req.GetName())
	}
	if f := req.GetPublicKeyFormat(); f != kmspb.PublicKey_PUBLIC_KEY_FORMAT_UNSPECIFIED && f != kmspb.PublicKey_PEM {
		return nil, status.Errorf(codes.InvalidArgument, "kmsfake: public key format %s not supported", f)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "kmsfake: marshaling public key: %v", err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	resp := &kmspb.PublicKey{
		Pem:             pemText,
		Algorithm:       kmspb.CryptoKeyVersion_RSA_SIGN_PKCS1_4096_SHA256,
		PemCrc32C:       wrapperspb.Int64(crc32c([]byte(pemText))),
		Name:            req.GetName(),
		ProtectionLevel: kmspb.ProtectionLevel_HSM,
		PublicKeyFormat: kmspb.PublicKey_PEM,
	}
	switch fault {
	case PublicKeyBadCRC:
		resp.PemCrc32C = wrapperspb.Int64(resp.PemCrc32C.Value ^ 1)
	case PublicKeyWrongAlgorithm:
		resp.Algorithm = kmspb.CryptoKeyVersion_RSA_SIGN_PSS_4096_SHA256
	case PublicKeyWrongName:
		resp.Name = CryptoKey + "/cryptoKeyVersions/999"
	}
	return resp, nil
}

func (v *service) AsymmetricSign(_ context.Context, req *kmspb.AsymmetricSignRequest) (*kmspb.AsymmetricSignResponse, error) {
	s := v.s
	s.signs.Add(1)
	if s.viewerOnly.Load() {
		return nil, status.Errorf(codes.PermissionDenied, "kmsfake: permission 'cloudkms.cryptoKeyVersions.useToSign' denied on %q", req.GetName())
	}
	s.mu.Lock()
	s.lastSign = proto.Clone(req).(*kmspb.AsymmetricSignRequest)
	key := s.versions[req.GetName()]
	var fault SignFault
	if len(s.signFaults) > 0 {
		fault = s.signFaults[0]
		s.signFaults = s.signFaults[1:]
	}
	s.mu.Unlock()

	if key == nil {
		return nil, status.Errorf(codes.NotFound, "kmsfake: no crypto key version %q", req.GetName())
	}
	if len(req.GetData()) > 0 {
		return nil, status.Error(codes.InvalidArgument, "kmsfake: only digest signing is supported")
	}
	digest := req.GetDigest().GetSha256()
	if len(digest) != 32 {
		return nil, status.Errorf(codes.InvalidArgument, "kmsfake: want a 32-byte SHA-256 digest, got %d bytes", len(digest))
	}
	verified := false
	if c := req.GetDigestCrc32C(); c != nil {
		// As KMS does: a digest that does not match its checksum is refused.
		if c.GetValue() != crc32c(digest) {
			return nil, status.Error(codes.InvalidArgument, "kmsfake: digest CRC32C mismatch")
		}
		verified = true
	}
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "kmsfake: signing: %v", err)
	}
	resp := &kmspb.AsymmetricSignResponse{
		Signature:            sig,
		SignatureCrc32C:      wrapperspb.Int64(crc32c(sig)),
		VerifiedDigestCrc32C: verified,
		Name:                 req.GetName(),
		ProtectionLevel:      kmspb.ProtectionLevel_HSM,
	}
	switch fault {
	case SignBadCRC:
		resp.SignatureCrc32C = wrapperspb.Int64(resp.SignatureCrc32C.Value ^ 1)
	case SignUnverifiedDigest:
		resp.VerifiedDigestCrc32C = false
	case SignWrongName:
		resp.Name = CryptoKey + "/cryptoKeyVersions/999"
	case SignBadSignature:
		resp.Signature[len(resp.Signature)-1] ^= 1
		resp.SignatureCrc32C = wrapperspb.Int64(crc32c(resp.Signature))
	}
	return resp, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }
