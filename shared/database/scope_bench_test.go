package database_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// BenchmarkScopedTx is what every store call pays for its scope: a
// transaction that enters a tenant's scope and reads one license by id, on
// the seats role's connection (as a cache-miss license load does).
func BenchmarkScopedTx(b *testing.B) {
	ctx := context.Background()
	admin := testenv.Postgres(b)
	tenant, _ := twoTenants(b, admin)
	var license string
	if err := admin.Pool.QueryRow(ctx, `SELECT id::text FROM licenses WHERE tenant_id = $1`, tenant).Scan(&license); err != nil {
		b.Fatal(err)
	}
	db := testenv.OpenAs(b, admin, database.RoleSeats)
	b.ResetTimer()
	for b.Loop() {
		err := db.Tx(ctx, database.Tenant(tenant), func(tx pgx.Tx) error {
			var seats int
			return tx.QueryRow(ctx, `SELECT seats FROM licenses WHERE id = $1 AND tenant_id = $2`, license, tenant).Scan(&seats)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
