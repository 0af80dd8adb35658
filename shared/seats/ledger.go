package seats

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Seat event kinds, as the scripts record them in each license's ledger
// stream.
const (
	EventAcquired = "acquired"
	EventReleased = "released"
	EventExpired  = "expired"
	EventDenied   = "denied"
	EventRevoked  = "revoked"
	// EventLingerEnded: a session released into its license's linger was
	// not taken back; the seat stopped counting at At.
	EventLingerEnded = "linger_ended"
	// EventReattached: the holder of a lingering session took it back.
	EventReattached = "reattached"
	// EventRevived: a heartbeat took an expired session back within the
	// license's revive window (its expired event precedes this one).
	EventRevived = "revived"
	// EventReclassified: an overage session became entitled at At (an
	// entitled seat freed, or the seats were raised).
	EventReclassified = "reclassified"
	// EventOverageEntered and EventOverageExited name no session: the
	// license's first overage session was granted, or its last one ended
	// or became entitled.
	EventOverageEntered = "overage_entered"
	EventOverageExited  = "overage_exited"
	// EventBorrowed: the live session was borrowed until BorrowedUntil; it
	// holds its seat until then (ended by an expired event at that end) or
	// until a returned event.
	EventBorrowed = "borrowed"
	// EventBorrowExtended: the borrow's end moved on to BorrowedUntil.
	EventBorrowExtended = "borrow_extended"
	// EventReturned: the borrowed session was returned early; its seat
	// freed at At.
	EventReturned = "returned"
)

// Event is one entry of a license's usage ledger. ID is the Redis stream
// entry id: unique within the license and increasing, so it is the key that
// makes moving the entry to PostgreSQL idempotent.
type Event struct {
	LicenseID string
	ID        string
	Kind      string
	// SessionRef names the session without being its (secret) token.
	SessionRef  string
	At          time.Time
	Fingerprint string
	User        string
	Hostname    string
	Repository  string
	// Reason is why: for denied the refusal (e.g. no_seats), for revoked
	// and released what ended the session when it was not its holder's
	// release or the lease running out (Reason* constants); else "".
	Reason string
	// Actor is who ended a revoked session ("" the service itself).
	Actor string
	// Overage: an acquired event granted the session as overage (its
	// class until a reclassified event or its end).
	Overage bool
	// BorrowedUntil: the borrow's end a borrowed or borrow_extended event
	// sets.
	BorrowedUntil time.Time
}

// Events reads up to count of the oldest ledger entries of a license.
func (e *Engine) Events(ctx context.Context, licenseID string, count int64) ([]Event, error) {
	all, err := e.EventsOf(ctx, []string{licenseID}, count)
	return all[licenseID], err
}

func decodeEvent(licenseID string, m redis.XMessage) Event {
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	ev := Event{LicenseID: licenseID, ID: m.ID, Kind: str("t"), SessionRef: str("s"),
		Fingerprint: str("fp"), User: str("u"), Hostname: str("h"), Repository: str("repo"), Reason: str("r"), Actor: str("a"),
		Overage: str("c") == "o", BorrowedUntil: borrowedUntil(str("bu"))}
	if ms, err := strconv.ParseInt(str("at"), 10, 64); err == nil {
		ev.At = time.UnixMilli(ms).UTC()
	}
	return ev
}

// Valid reports whether the entry is one the scripts write; anything else
// cannot be stored and is dropped by the drain (with a log line).
func (ev Event) Valid() bool {
	switch ev.Kind {
	case EventAcquired, EventReleased, EventExpired, EventRevoked, EventLingerEnded, EventReattached, EventRevived,
		EventReclassified, EventReturned:
		return ev.SessionRef != "" && !ev.At.IsZero()
	case EventBorrowed, EventBorrowExtended:
		return ev.SessionRef != "" && !ev.At.IsZero() && !ev.BorrowedUntil.IsZero()
	case EventDenied, EventOverageEntered, EventOverageExited:
		return !ev.At.IsZero()
	}
	return false
}

// EventsOf reads up to count of the oldest ledger entries of each license,
// in one pipeline.
func (e *Engine) EventsOf(ctx context.Context, licenseIDs []string, count int64) (map[string][]Event, error) {
	cmds := make([]*redis.XMessageSliceCmd, len(licenseIDs))
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range licenseIDs {
			cmds[i] = p.XRangeN(ctx, e.keys(id).events, "-", "+", count)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read ledgers: %w", err)
	}
	out := make(map[string][]Event, len(licenseIDs))
	for i, id := range licenseIDs {
		for _, m := range cmds[i].Val() {
			out[id] = append(out[id], decodeEvent(id, m))
		}
	}
	return out, nil
}

// TrimEventsOf removes each license's ledger entries up to and including
// the id given for it, once they are safely in PostgreSQL, in one pipeline.
// Entries appended since have larger ids and stay; the emptied stream keeps
// its last id, so no later entry reuses one the ledger already holds.
func (e *Engine) TrimEventsOf(ctx context.Context, through map[string]string) error {
	if len(through) == 0 {
		return nil
	}
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id, last := range through {
			next, err := nextStreamID(last)
			if err != nil {
				return err
			}
			p.XTrimMinID(ctx, e.keys(id).events, next)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("trim ledgers: %w", err)
	}
	return nil
}

// nextStreamID is the smallest stream id after id ("ms-seq").
func nextStreamID(id string) (string, error) {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return "", fmt.Errorf("bad stream id %q", id)
	}
	return ms + "-" + strconv.FormatUint(n+1, 10), nil
}

// SweepResult is what one sweep call did to one license.
type SweepResult struct {
	LicenseID string
	Expired   int   // sessions dropped and recorded as expired
	More      bool  // expired sessions remain: sweep the license again
	Pending   int64 // ledger entries waiting to be drained
}

// Sweep drops up to limit expired sessions of each license, recording each
// as expired at the moment its lease ran out. The calls are pipelined; each
// is one short script, so no single Redis command runs long however many
// sessions are dead.
func (e *Engine) Sweep(ctx context.Context, licenseIDs []string, limit int) ([]SweepResult, error) {
	script := e.scripts.sweep
	if err := script.Load(ctx, e.rdb).Err(); err != nil {
		return nil, fmt.Errorf("load sweep script: %w", err)
	}
	cmds := make([]*redis.Cmd, len(licenseIDs))
	_, err := e.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range licenseIDs {
			k := e.keys(id)
			cmds[i] = script.EvalSha(ctx, p, []string{k.live, k.info, k.users, k.events, k.ended, k.meta, k.ov}, limit)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sweep script: %w", err)
	}
	out := make([]SweepResult, len(licenseIDs))
	for i, id := range licenseIDs {
		vals, err := cmds[i].Int64Slice()
		if err != nil || len(vals) != 3 {
			return nil, fmt.Errorf("sweep script on %s: unexpected reply %v: %w", id, vals, err)
		}
		out[i] = SweepResult{LicenseID: id, Expired: int(vals[0]), More: vals[1] == 1, Pending: vals[2]}
	}
	return out, nil
}

// ScanLicenses pages through every license Redis has known, without KEYS:
// pass cursor 0 to start; a returned cursor of 0 means the pass is complete.
// A license may be returned more than once in a pass (SSCAN's guarantee);
// sweeping twice is harmless.
func (e *Engine) ScanLicenses(ctx context.Context, cursor uint64, count int64) ([]string, uint64, error) {
	ids, next, err := e.rdb.SScan(ctx, e.registry(), cursor, "", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("scan license registry: %w", err)
	}
	return ids, next, nil
}
