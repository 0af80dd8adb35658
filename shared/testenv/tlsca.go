package testenv

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
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// CA is a private certificate authority of a test's own, as Cloud SQL and
// Memorystore sign their servers' certificates with.
type CA struct {
	PEM  string // the CA's certificate, what a client is told to trust
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid for an hour.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), cert: cert, key: key}
}

// Issue signs a server certificate for the given DNS names and IP
// addresses and returns it and its key, both PEM.
func (ca *CA) Issue(t testing.TB, dnsNames []string, ips ...net.IP) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "server"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: dnsNames, IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// EnableTLS has the private server present certPEM (with keyPEM) to clients
// that ask for TLS, as Cloud SQL does; clients that do not ask still get in
// (the server's trust authentication is unchanged), so the tests can tell a
// refused certificate from a refused login.
func (p *PrivatePG) EnableTLS(t testing.TB, certPEM, keyPEM []byte) {
	t.Helper()
	// The server runs as the directory's owner and reads its key only if
	// that user owns it and no one else can.
	var uid, gid int = -1, -1
	if fi, err := os.Stat(p.Dir()); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	for name, data := range map[string][]byte{"server.crt": certPEM, "server.key": keyPEM} {
		path := filepath.Join(p.Dir(), name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil && os.Geteuid() == 0 {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"ALTER SYSTEM SET ssl_cert_file = '" + filepath.Join(p.Dir(), "server.crt") + "'",
		"ALTER SYSTEM SET ssl_key_file = '" + filepath.Join(p.Dir(), "server.key") + "'",
		"ALTER SYSTEM SET ssl = on",
		"SELECT pg_reload_conf()",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// The reload is asynchronous: wait until a new session sees it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := pgx.Connect(ctx, strings.Replace(p.URL(), "sslmode=disable", "sslmode=require", 1))
		if err == nil {
			c.Close(ctx)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not turn TLS on: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RequirePassword creates the role license_server (database licenses) with
// a password and has the server ask every TCP client for its password
// (scram-sha-256), as Cloud SQL does; the Unix socket keeps trust, for the
// test's own administration.
func (p *PrivatePG) RequirePassword(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"CREATE ROLE license_server LOGIN PASSWORD 'a-password-the-probe-never-sends'",
		"CREATE DATABASE licenses OWNER license_server",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	hba := filepath.Join(p.Dir(), "data", "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := pgx.Connect(ctx, p.URL())
		if err != nil {
			break // asked for a password it was not given: the reload took
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("PostgreSQL still lets TCP clients in without a password")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is what the private server has logged so far.
func (p *PrivatePG) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.Dir(), "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
