// Package lua embeds the Redis Lua scripts that own every seat change.
//
// The scripts live in .lua files so they can be read and reviewed as Lua; this
// file only makes them available to Go (go:embed cannot reach ".."). Each
// script is the shared prelude (common.lua) followed by its own body, so the
// helpers that decide when a session is live exist once.
//
// Callers never use these strings directly: shared/seats wraps each script in
// a typed method so the KEYS/ARGV order is written down in one place.
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

//go:embed sessions.lua
var sessions string

//go:embed count.lua
var count string

//go:embed sweep.lua
var sweep string

//go:embed unlock.lua
var unlock string

//go:embed extend_lock.lua
var extendLock string

// Script names, for error messages and metrics.
const (
	NameAcquire     = "acquire"
	NameHeartbeat   = "heartbeat"
	NameRelease     = "release"
	NameSyncLicense = "sync_license"
	NameSessions    = "sessions"
	NameCount       = "count"
	NameSweep       = "sweep"
	NameUnlock      = "unlock"
	NameExtendLock  = "extend_lock"
)

// Source returns the complete source of every script by name.
func Source() map[string]string {
	return map[string]string{
		NameAcquire:     common + acquire,
		NameHeartbeat:   common + heartbeat,
		NameRelease:     common + release,
		NameSyncLicense: common + syncLicense,
		NameSessions:    common + sessions,
		NameCount:       common + count,
		NameSweep:       common + sweep,
		NameUnlock:      unlock,
		NameExtendLock:  extendLock,
	}
}
