// Package audit reads the audit log. Writing it is not here: triggers in
// PostgreSQL (schema/002) record every admin change in the same transaction,
// so no code path can forget to.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// Entry is one admin change.
type Entry struct {
	ID         int64           `json:"id"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	At         timestamp.Time  `json:"at"`
}

// Store reads the audit log.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("audit: nil database")
	}
	return &Store{db: db}, nil
}

// List returns a page of a tenant's entries, newest first.
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]Entry, string, error) {
	var before int64
	if p.After != nil {
		n, err := strconv.ParseInt(p.After.ID, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", database.ErrBadCursor
		}
		before = n
	}
	limit := p.Limit
	var out []Entry
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, actor, action, target_type, target_id, before, after, at
			FROM audit_log WHERE tenant_id = $1 AND ($2 = 0 OR id < $2) ORDER BY id DESC LIMIT $3`,
			tenantID, before, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
			var e Entry
			err := r.Scan(&e.ID, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &e.Before, &e.After, &e.At)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing audit log: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[len(out)-1]
		next = database.Cursor{At: last.At.Time, ID: strconv.FormatInt(last.ID, 10)}.Encode()
	}
	return out, next, nil
}
