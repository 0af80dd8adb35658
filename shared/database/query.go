package database

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// One runs a statement that returns one row, under scope, and scans it.
// A missing row is ErrNotFound.
func One[T any](ctx context.Context, db *DB, scope Scope, scan func(pgx.Row) (T, error), sql string, args ...any) (T, error) {
	var out T
	err := db.Tx(ctx, scope, func(tx pgx.Tx) error {
		var err error
		out, err = scan(tx.QueryRow(ctx, sql, args...))
		return NotFound(err)
	})
	return out, err
}

// All runs a query under scope and scans every row.
func All[T any](ctx context.Context, db *DB, scope Scope, scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, error) {
	var out []T
	err := db.Tx(ctx, scope, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
		return err
	})
	return out, err
}

// List reads one page of a keyset-paginated query. sql must take its
// arguments first, then ($n::timestamptz, $n+1::uuid) for the cursor and
// $n+2 for the LIMIT, in that order (see Page.Args). key gives a row's
// cursor. It returns the page and the next page's cursor ("" at the end).
func List[T any](ctx context.Context, db *DB, scope Scope, p Page, key func(T) Cursor,
	scan func(pgx.Row) (T, error), sql string, args ...any) ([]T, string, error) {
	at, id, limit := p.Args()
	rows, err := All(ctx, db, scope, scan, sql, append(args, at, id, limit)...)
	if err != nil {
		return nil, "", err
	}
	rows, next := Trim(rows, p, key)
	return rows, next, nil
}
