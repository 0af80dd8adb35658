package testenv

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// Backend returns a backend on the shared test Redis (under a fresh key
// prefix, also returned) and a fresh migrated database, closed when the test
// ends.
func Backend(t testing.TB) (*backend.Backend, string) {
	t.Helper()
	rdb, prefix := Redis(t)
	b, err := backend.New(rdb, Postgres(t), prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	return b, prefix
}

// rootKey is made once per test binary: an RSA-4096 key takes a second or
// more to generate.
var rootKey = sync.OnceValues(rootkey.GenerateLocal)

// Root returns a local root signing key shared by the test binary.
func Root(t testing.TB) *rootkey.Local {
	t.Helper()
	r, err := rootKey()
	if err != nil {
		t.Fatal(err)
	}
	return r
}
