package e2e_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
)

// TestRootFromConfig: the local root key comes from PEM text or a PEM file.
func TestRootFromConfig(t *testing.T) {
	t.Parallel()
	key := kmsfake.Key(t, 0)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	text := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	file := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	for name, value := range map[string]string{"text": text, "file": file} {
		root, err := compose.Root(context.Background(), config.Signing{LocalKeyPEM: value}, logger, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		keys, _ := root.PublicKeys(context.Background())
		if keys[0].KID != rootkey.Thumbprint(&key.PublicKey) {
			t.Fatalf("%s: wrong key", name)
		}
	}
	if _, err := compose.Root(context.Background(), config.Signing{LocalKeyPEM: "/nonexistent.pem"}, logger, nil); err == nil ||
		!strings.Contains(err.Error(), "SIGNING_LOCAL_KEY_PEM") {
		t.Fatalf("missing file: %v", err)
	}
}
