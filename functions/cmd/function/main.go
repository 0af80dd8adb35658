// Command function is the production entry point: the container image every
// Knative service runs. FUNCTION_TARGET names the one function a service
// serves (functions-framework then serves it at "/", so it sees the public
// path the Ingress forwards); without it, every function is served.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/catalog"
	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/secrets"
)

func main() {
	if err := run(context.Background()); err != nil {
		// Logged as JSON so Cloud Logging shows why the revision failed.
		logging.New(os.Stderr, slog.LevelInfo).Error("start-up failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := secrets.LoadConfig(ctx, config.Env, secrets.OpenManager)
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	target := os.Getenv("FUNCTION_TARGET")
	if target != "" && !slices.Contains(catalog.Names(), target) {
		return fmt.Errorf("FUNCTION_TARGET %q is not one of %v", target, catalog.Names())
	}
	needs := catalog.Needs(target)
	if err := cfg.RequireBackends(needs); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	logger := logging.New(os.Stdout, cfg.LogLevel)
	slog.SetDefault(logger)
	redis.SetLogger(logging.RedisLogger{Logger: logger})
	b, err := backend.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer b.Close()
	if target == "" || target == cleanup.Name {
		fn, err := catalog.Cleanup(b, logger)
		if err != nil {
			return err
		}
		functions.CloudEvent(cleanup.Name, fn.Handle)
	}
	if target != cleanup.Name {
		if err := registerHTTP(ctx, cfg, b, logger, target, needs); err != nil {
			return err
		}
	}
	logger.Info("serving", "port", cfg.Port, "function", target)
	return funcframework.Start(strconv.Itoa(cfg.Port))
}

// registerHTTP registers the HTTP functions (one, or all for ""). Only a
// function that signs opens the root key, so only those need KMS access.
func registerHTTP(ctx context.Context, cfg config.Config, b *backend.Backend, logger *slog.Logger, target string, needs config.Needs) error {
	var root rootkey.Root
	if needs.Signing {
		var err error
		if root, err = catalog.Root(ctx, cfg.Signing, logger); err != nil {
			return err
		}
	}
	fns, err := catalog.Build(ctx, b, cfg, root, logger, target)
	if err != nil {
		return err
	}
	opts := route.Options{Logger: logger, ProjectID: cfg.ProjectID}
	for _, f := range fns {
		functions.HTTP(f.Name, route.Handler(opts, f).ServeHTTP)
	}
	return nil
}
