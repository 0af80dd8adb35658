package seats

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// TenantOf returns the tenant of a license as Redis holds it, "" when Redis
// holds no metadata of it yet. Acquire uses it to pick, for a person with
// memberships in several tenants, the membership the require_user check
// compares with the license's tenant.
func (e *Engine) TenantOf(ctx context.Context, licenseID string) (string, error) {
	t, err := e.rdb.HGet(ctx, e.keys(licenseID).meta, "tenant").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the tenant of license %s: %w", licenseID, err)
	}
	return t, nil
}
