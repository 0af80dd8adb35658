package backend_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestPostgresVerifyFull connects as production does to Cloud SQL: TLS with
// sslmode=verify-full, the server CA in DATABASE_CA_PEM, and the name its
// certificate carries (the instance's DNS name) in DATABASE_SERVER_NAME
// while the URL dials the address. A server that cannot show a certificate
// of that CA for that name is refused, before any password is sent.
func TestPostgresVerifyFull(t *testing.T) {
	t.Parallel()
	pg := testenv.EmptyPrivatePostgres(t)
	ca := testenv.NewCA(t, "test Cloud SQL server CA")
	const name = "0123abcd.us-central1.sql.goog"
	cert, key := ca.Issue(t, []string{name})
	pg.EnableTLS(t, cert, key)
	other := testenv.NewCA(t, "another CA")
	ctx := context.Background()
	url := "postgres://postgres@127.0.0.1:" + strconv.Itoa(pg.Port()) + "/postgres?sslmode=verify-full"

	db, err := backend.OpenDatabase(ctx, config.Database{URL: url, CAPEM: ca.PEM, ServerName: name}, nil)
	if err != nil {
		t.Fatalf("right CA, right name: %v", err)
	}
	var ssl bool
	if err := db.Pool.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("connection not over TLS: %v %v", ssl, err)
	}
	db.Close()

	for what, c := range map[string]struct {
		cfg  config.Database
		want string
	}{
		"wrong CA":              {config.Database{URL: url, CAPEM: other.PEM, ServerName: name}, "certificate signed by unknown authority"},
		"right CA, wrong name":  {config.Database{URL: url, CAPEM: ca.PEM, ServerName: "someone-else.sql.goog"}, "not someone-else.sql.goog"},
		"right CA, the address": {config.Database{URL: url, CAPEM: ca.PEM}, "127.0.0.1"},
		"no CA (system roots)":  {config.Database{URL: url, ServerName: name}, "certificate"},
		"CA, sslmode=require":   {config.Database{URL: strings.Replace(url, "verify-full", "require", 1), CAPEM: ca.PEM, ServerName: name}, "not verify-full"},
		"CA, sslmode=verify-ca": {config.Database{URL: strings.Replace(url, "verify-full", "verify-ca", 1), CAPEM: ca.PEM}, "not verify-full"},
		"CA, sslmode=disable":   {config.Database{URL: strings.Replace(url, "verify-full", "disable", 1), CAPEM: ca.PEM}, "not verify-full"},
		"CA, not a certificate": {config.Database{URL: url, CAPEM: "not PEM", ServerName: name}, "no PEM certificate"},
	} {
		db, err := backend.OpenDatabase(ctx, c.cfg, nil)
		if err == nil {
			db.Close()
			t.Errorf("%s: connected", what)
		} else if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", what, err, c.want)
		}
	}
}
