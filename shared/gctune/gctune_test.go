package gctune

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/coditect-ai/license-server/shared/config"
)

// Not parallel: Apply changes the process's collector, and the test puts
// it back.
func TestApply(t *testing.T) {
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	beforeLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(before)
		debug.SetMemoryLimit(beforeLimit)
	})
	dir := t.TempDir()
	limited := filepath.Join(dir, "limited")
	unlimited := filepath.Join(dir, "unlimited")
	if err := os.WriteFile(limited, []byte("268435456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(unlimited, []byte("max\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	got := Apply(config.MapLookup(map[string]string{}), limited)
	if want := (Settings{Percent: Percent, MemoryLimit: 201326592}); got != want {
		t.Errorf("Apply = %+v, want %+v", got, want)
	}
	if p := debug.SetGCPercent(before); p != Percent {
		t.Errorf("GC percent = %d, want %d", p, Percent)
	}
	if l := debug.SetMemoryLimit(-1); l != 201326592 {
		t.Errorf("memory limit = %d, want 192 MiB", l)
	}

	// Set by the environment: the runtime has applied it; Apply keeps out.
	debug.SetMemoryLimit(math.MaxInt64)
	got = Apply(config.MapLookup(map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}), limited)
	if got != (Settings{}) {
		t.Errorf("Apply with GOGC and GOMEMLIMIT set = %+v, want nothing changed", got)
	}
	if p := debug.SetGCPercent(before); p != before {
		t.Errorf("GC percent = %d, want it left at %d", p, before)
	}

	// No container limit ("max", or no cgroup file): no memory limit.
	for _, path := range []string{unlimited, filepath.Join(dir, "absent")} {
		if got := Apply(config.MapLookup(map[string]string{"GOGC": "100"}), path); got != (Settings{}) {
			t.Errorf("Apply(%s) = %+v, want no memory limit", filepath.Base(path), got)
		}
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Errorf("memory limit = %d, want none", l)
	}
}
