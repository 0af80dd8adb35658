// Package lua embeds every Redis Lua script the service runs: the seat
// scripts, the cleanup's lock scripts and the idempotency store's.
//
// The scripts live in .lua files so they can be read and reviewed as Lua; this
// file only makes them available to Go (go:embed cannot reach ".."). Each
// seat script is the shared prelude (common.lua) followed by its own body, so
// the helpers that decide when a session is live exist once.
//
// Callers never use these strings directly: each package that runs a script
// wraps it once in a typed method (shared/seats, shared/cleanup,
// shared/idempotency), so the KEYS/ARGV order is written down in one place.
package lua

import _ "embed"

//go:embed common.lua
var common string

//go:embed acquire.lua
var acquire string

//go:embed heartbeat.lua
var heartbeat string

//go:embed release.lua
var release string

//go:embed sync_license.lua
var syncLicense string

//go:embed revoke.lua
var revoke string

//go:embed sessions.lua
var sessions string

//go:embed count.lua
var count string

//go:embed sweep.lua
var sweep string

//go:embed borrow.lua
var borrow string

//go:embed return.lua
var returnBorrow string

//go:embed borrowed_by.lua
var borrowedBy string

//go:embed revoked_borrows.lua
var revokedBorrows string

//go:embed unlock.lua
var unlock string

//go:embed extend_lock.lua
var extendLock string

//go:embed idempotency_finish.lua
var idempotencyFinish string

// Script is one script: the name metrics and error messages call it by, and
// its complete source (what Redis hashes for EVALSHA).
type Script struct {
	Name   string
	Source string
}

// Scripts holds every script, one field each, so that naming a script that
// does not exist is a compile error rather than a nil script at run time.
type Scripts struct {
	// The seat scripts (shared/seats).
	Acquire, Heartbeat, Release, SyncLicense, Sessions, Count, Sweep Script
	// Revoke ends sessions on an operator's word (shared/seats).
	Revoke Script
	// Borrow, Return, BorrowedBy and RevokedBorrows are the offline
	// checkout's (shared/seats, see Borrow in common.lua).
	Borrow, Return, BorrowedBy, RevokedBorrows Script
	// The cleanup's run lock (shared/cleanup).
	Unlock, ExtendLock Script
	// IdempotencyFinish ends a keyed request's hold on its record
	// (shared/idempotency).
	IdempotencyFinish Script
}

// Load returns every script. It builds the sources on each call (a few
// string concatenations), so it keeps no state; callers load once, when
// they are constructed.
func Load() Scripts {
	seat := func(name, body string) Script { return Script{Name: name, Source: common + body} }
	return Scripts{
		Acquire:           seat("acquire", acquire),
		Heartbeat:         seat("heartbeat", heartbeat),
		Release:           seat("release", release),
		SyncLicense:       seat("sync_license", syncLicense),
		Sessions:          seat("sessions", sessions),
		Count:             seat("count", count),
		Sweep:             seat("sweep", sweep),
		Revoke:            seat("revoke", revoke),
		Borrow:            seat("borrow", borrow),
		Return:            seat("return", returnBorrow),
		BorrowedBy:        seat("borrowed_by", borrowedBy),
		RevokedBorrows:    seat("revoked_borrows", revokedBorrows),
		Unlock:            Script{Name: "unlock", Source: unlock},
		ExtendLock:        Script{Name: "extend_lock", Source: extendLock},
		IdempotencyFinish: Script{Name: "idempotency_finish", Source: idempotencyFinish},
	}
}

// All lists every script, for what must see each of them: the metrics
// that name a script by its digest, and the scripts' contract tests (a test
// checks that no field is missing here).
func (s Scripts) All() []Script {
	return []Script{s.Acquire, s.Heartbeat, s.Release, s.SyncLicense, s.Sessions, s.Count, s.Sweep, s.Revoke,
		s.Borrow, s.Return, s.BorrowedBy, s.RevokedBorrows, s.Unlock, s.ExtendLock, s.IdempotencyFinish}
}
