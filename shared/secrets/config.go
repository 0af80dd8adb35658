package secrets

import (
	"context"
	"fmt"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"

	"github.com/coditect-ai/license-server/shared/config"
)

// Opener connects to Secret Manager; the returned func closes it.
type Opener func(ctx context.Context) (Accessor, func(), error)

// OpenManager connects with the default Google credentials.
func OpenManager(ctx context.Context) (Accessor, func(), error) {
	client, err := secretmanager.NewClient(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to Secret Manager: %w", err)
	}
	return NewManager(client), func() { client.Close() }, nil
}

// LoadConfig reads the service's configuration from base, first resolving
// every secret:// reference among its variables. Secret Manager is opened
// only when something references a secret, so local development needs no
// Google credentials. Any secret that cannot be read stops start-up, naming
// each variable.
func LoadConfig(ctx context.Context, base config.Lookup, open Opener) (config.Config, error) {
	lookup := base
	if References(base, config.Keys()) {
		a, closeFn, err := open(ctx)
		if err != nil {
			return config.Config{}, err
		}
		defer closeFn()
		if lookup, err = Resolve(ctx, a, base, config.Keys()); err != nil {
			return config.Config{}, fmt.Errorf("resolving secrets: %w", err)
		}
	}
	return config.Load(lookup)
}
