// Package audit reads the audit log. Writing it is not here: triggers in
// PostgreSQL (schema/002) record every admin change in the same transaction,
// so no code path can forget to.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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

// TargetTypes are what the log records changes of: the audited tables
// (schema/002, 007) and the sessions an admin ends (schema/008's
// app_audit).
var TargetTypes = []string{"tenant", "license", "api_key", "workstation", "repository", "member", "session"}

// verbs are the second half of an action, "<target_type>.<verb>": the
// triggers' create, update, delete and revoke, license.rotate_key, and the
// session controls' session.revoke and license.revoke_sessions.
var verbs = []string{"create", "update", "delete", "revoke", "rotate_key", "revoke_sessions"}

// KnownTargetType reports whether s is one of TargetTypes.
func KnownTargetType(s string) bool { return slices.Contains(TargetTypes, s) }

// KnownAction reports whether s has the form of an action the log records:
// a known target type, a dot and a known verb.
func KnownAction(s string) bool {
	typ, verb, ok := strings.Cut(s, ".")
	return ok && KnownTargetType(typ) && slices.Contains(verbs, verb)
}

// Filter narrows a listing to the entries whose fields equal each non-empty
// field of the filter.
type Filter struct {
	Actor      string
	Action     string
	TargetType string
	TargetID   string
}

// digest names the filter in its pages' cursors ("" for no filter), so a
// cursor is taken back only by the list it came from: one page of a
// filtered listing cannot continue another listing's.
func (f Filter) digest() string {
	if f == (Filter{}) {
		return ""
	}
	h := sha256.New()
	for _, v := range []string{f.Actor, f.Action, f.TargetType, f.TargetID} {
		fmt.Fprintf(h, "%d:%s", len(v), v)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// cursorSep separates an entry's id from the filter digest in a cursor.
const cursorSep = "~"

// cursorID is the cursor id of the last entry of a page of f.
func (f Filter) cursorID(id int64) string {
	s := strconv.FormatInt(id, 10)
	if d := f.digest(); d != "" {
		s += cursorSep + d
	}
	return s
}

// before reads a cursor id made by cursorID for the same filter: the id the
// next page's entries are older than.
func (f Filter) before(cursorID string) (int64, error) {
	want := f.digest()
	s, digest, found := strings.Cut(cursorID, cursorSep)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || found != (want != "") || digest != want {
		return 0, database.ErrBadCursor
	}
	return n, nil
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

// List returns a page of a tenant's entries that match f, newest first. A
// cursor is accepted only with the filter of the page that gave it out.
func (s *Store) List(ctx context.Context, tenantID string, f Filter, p database.Page) ([]Entry, string, error) {
	var before int64
	if p.After != nil {
		n, err := f.before(p.After.ID)
		if err != nil {
			return nil, "", err
		}
		before = n
	}
	// The conditions are fixed text; every value is a parameter.
	query := `SELECT id, actor, action, target_type, target_id, before, after, at FROM audit_log WHERE tenant_id = $1`
	args := []any{tenantID}
	where := func(cond string, v any) {
		args = append(args, v)
		query += fmt.Sprintf(" AND %s $%d", cond, len(args))
	}
	if before > 0 {
		where("id <", before)
	}
	for _, c := range []struct{ column, value string }{
		{"actor", f.Actor}, {"action", f.Action}, {"target_type", f.TargetType}, {"target_id", f.TargetID},
	} {
		if c.value != "" {
			where(c.column+" =", c.value)
		}
	}
	args = append(args, p.Limit+1)
	query += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))

	var out []Entry
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, args...)
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
	if len(out) > p.Limit {
		out = out[:p.Limit]
		last := out[len(out)-1]
		next = database.Cursor{At: last.At.Time, ID: f.cursorID(last.ID)}.Encode()
	}
	return out, next, nil
}
