package secrets

import (
	"context"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/config"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	const token = "token-from-secret-manager-0123456789abcdef"
	_, client := startFake(t, map[string]fakeVersion{
		"projects/p/secrets/admin-token/versions/3": {data: token},
		"projects/p/secrets/db-password/versions/1": {data: "s3cret"},
	})
	opened := 0
	open := func(context.Context) (Accessor, func(), error) {
		opened++
		return NewManager(client), func() {}, nil
	}
	env := map[string]string{
		"BOOTSTRAP_ADMIN_TOKEN": "secret://projects/p/secrets/admin-token/versions/3",
		"DATABASE_PASSWORD":     "secret://projects/p/secrets/db-password/versions/1",
		"REDIS_URL":             "redis://127.0.0.1:6379",
	}
	cfg, err := LoadConfig(context.Background(), config.MapLookup(env), open)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Admin.BootstrapToken != token || cfg.Database.Password != "s3cret" || cfg.Redis.URL != "redis://127.0.0.1:6379" {
		t.Fatalf("config = %+v", cfg)
	}

	// Nothing referenced: Secret Manager is never opened.
	if _, err := LoadConfig(context.Background(), config.MapLookup(map[string]string{"PORT": "9000"}), open); err != nil || opened != 1 {
		t.Fatalf("opened %d times, err %v", opened, err)
	}

	// A missing secret stops start-up, naming the variable.
	env["SIGNING_LOCAL_KEY_PEM"] = "secret://projects/p/secrets/root-key/versions/1"
	_, err = LoadConfig(context.Background(), config.MapLookup(env), open)
	if err == nil || !strings.Contains(err.Error(), "SIGNING_LOCAL_KEY_PEM") || strings.Contains(err.Error(), token) {
		t.Fatalf("missing secret: %v", err)
	}
}
