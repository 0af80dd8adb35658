// Package schema holds the numbered PostgreSQL migrations. They are plain SQL
// files, applied in order by shared/database.Migrate from `make migrate` (and
// by `make run`), never at a function's cold start.
package schema

import "embed"

// Files holds the migrations, named NNN_description.sql.
//
//go:embed *.sql
var Files embed.FS
