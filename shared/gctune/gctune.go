// Package gctune sets the garbage collector of a serving process. Go's
// default (collect whenever the heap doubles) suits a large heap; these
// functions keep a few megabytes live and allocate a little on every
// request, so under load the default collects many times a second. A
// growth of 400% cut the server's CPU per acquire in make bench (figures:
// BENCHMARKS.md, "Figures the code relies on"). The heap it allows is
// bounded by a soft memory limit taken from the container's own limit, so a
// larger live heap makes the collector work harder instead of the
// container run out.
package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/coditect-ai/license-server/shared/config"
)

const (
	// Percent is GOGC's value unless the environment sets GOGC.
	Percent = 400
	// limitShare is the part of the container's memory limit the heap may
	// use before the collector runs regardless of Percent; the rest is for
	// stacks, buffers and the runtime itself.
	limitShare = 0.75
	// CgroupMemoryMax is cgroup v2's memory limit of this container.
	CgroupMemoryMax = "/sys/fs/cgroup/memory.max"
)

// Settings is what Apply set; zero where it left the runtime's own.
type Settings struct {
	Percent     int
	MemoryLimit int64 // bytes
}

// Apply sets GOGC to Percent and the soft memory limit to a share of the
// limit in memoryMax (a cgroup v2 memory.max file), each unless env sets
// GOGC or GOMEMLIMIT, which the runtime has then already applied. It
// changes the whole process: call it from main, not from a test.
func Apply(env config.Lookup, memoryMax string) Settings {
	var s Settings
	if _, set := env("GOGC"); !set {
		debug.SetGCPercent(Percent)
		s.Percent = Percent
	}
	if _, set := env("GOMEMLIMIT"); !set {
		if limit, ok := readLimit(memoryMax); ok {
			s.MemoryLimit = int64(float64(limit) * limitShare)
			debug.SetMemoryLimit(s.MemoryLimit)
		}
	}
	return s
}

// readLimit reads a memory.max file: a byte count, or "max" (none).
func readLimit(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
