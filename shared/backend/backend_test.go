package backend_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// tlsFiles writes a CA and a server certificate for 127.0.0.1 signed by it,
// as Memorystore's in-transit encryption presents: a private CA.
func tlsFiles(t *testing.T) (dir string, caPEM string) {
	t.Helper()
	dir = t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test redis CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	for name, data := range map[string][]byte{
		"ca.pem":     []byte(caPEM),
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, caPEM
}

// TestRedisOverTLSWithAPrivateCA connects as production does to Memorystore
// with AUTH and in-transit encryption: rediss://, REDIS_PASSWORD and the
// server CA in REDIS_CA_PEM.
func TestRedisOverTLSWithAPrivateCA(t *testing.T) {
	t.Parallel()
	dir, caPEM := tlsFiles(t)
	port := testenv.PrivateRedis(t, true,
		"--tls-cert-file", filepath.Join(dir, "server.pem"), "--tls-key-file", filepath.Join(dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(dir, "ca.pem"), "--tls-auth-clients", "no", "--requirepass", "memorystore-auth")
	ctx := context.Background()
	url := "rediss://127.0.0.1:" + strconv.Itoa(port)
	good := config.Redis{URL: url, Password: "memorystore-auth", CAPEM: caPEM, Timeout: 2 * time.Second}
	rdb, err := backend.OpenRedis(ctx, good)
	if err != nil {
		t.Fatalf("TLS with the server's CA: %v", err)
	}
	if err := rdb.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	rdb.Close()

	for name, c := range map[string]struct {
		cfg  config.Redis
		want string
	}{
		"no CA":       {config.Redis{URL: url, Password: "memorystore-auth", Timeout: 2 * time.Second}, "certificate"},
		"wrong AUTH":  {config.Redis{URL: url, Password: "nope", CAPEM: caPEM, Timeout: 2 * time.Second}, "WRONGPASS"},
		"CA, no TLS":  {config.Redis{URL: "redis://127.0.0.1:" + strconv.Itoa(port), CAPEM: caPEM, Timeout: time.Second}, "not rediss://"},
		"CA, not PEM": {config.Redis{URL: url, CAPEM: "not a certificate", Timeout: time.Second}, "no PEM certificate"},
	} {
		if _, err := backend.OpenRedis(ctx, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		}
	}
}
