package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The phase scripts; wrk_common.lua goes in front of each.
//
//go:embed wrk_common.lua acquire.lua sessions.lua cycle.lua
var wrkScripts embed.FS

// wrkThreads is one wrk thread per core of the 2-core target machine.
const wrkThreads = 2

// loadGen drives the server with wrk, which costs less than half the CPU
// per request that a net/http client does: on a 2-core machine shared with
// the server and Redis, that CPU is the server's throughput.
type loadGen struct {
	bin   string // wrk
	dir   string // the scripts, the license keys and the granted sessions
	url   string
	conns int
}

// newLoadGen writes the scripts and the license keys to a new temporary
// directory; close removes it.
func newLoadGen(bin, url string, conns int, lics []license) (*loadGen, error) {
	dir, err := os.MkdirTemp("", "bench-wrk")
	if err != nil {
		return nil, err
	}
	g := &loadGen{bin: bin, dir: dir, url: url, conns: conns}
	common, err := wrkScripts.ReadFile("wrk_common.lua")
	if err != nil {
		g.close()
		return nil, err
	}
	for _, name := range []string{"acquire.lua", "sessions.lua", "cycle.lua"} {
		s, err := wrkScripts.ReadFile(name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), slices.Concat(common, []byte("\n"), s), 0o600)
		}
		if err != nil {
			g.close()
			return nil, err
		}
	}
	if err := writeKeys(g.keys(), lics); err != nil {
		g.close()
		return nil, err
	}
	return g, nil
}

func (g *loadGen) close()       { os.RemoveAll(g.dir) }
func (g *loadGen) keys() string { return filepath.Join(g.dir, "keys") }

// sessions is the file of the live session ids, for the heartbeat and
// release phases.
func (g *loadGen) sessions() string { return filepath.Join(g.dir, "sessions") }

func writeKeys(path string, lics []license) error {
	var keys strings.Builder
	for _, l := range lics {
		keys.WriteString(l.key + "\n")
	}
	return os.WriteFile(path, []byte(keys.String()), 0o600)
}

// wrkResult is the line wrk_common.lua's done() prints.
type wrkResult struct {
	Requests   uint64 `json:"requests"` // responses received
	DurationUS uint64 `json:"duration_us"`
	Errors     struct {
		Connect uint64 `json:"connect"`
		Read    uint64 `json:"read"`
		Write   uint64 `json:"write"`
		Timeout uint64 `json:"timeout"`
		Status  uint64 `json:"status"` // responses with a status above 399
	} `json:"errors"`
	// wrk corrects its latencies for coordinated omission before done()
	// sees them: it adds samples for responses slower than twice the mean
	// interval of a connection. Closed loop at 50 connections that is
	// about 2% more samples and under 1% on p50 to p99 (checked against
	// the uncorrected histogram); max is as measured.
	P50US       uint64            `json:"p50_us"`
	P95US       uint64            `json:"p95_us"`
	P99US       uint64            `json:"p99_us"`
	MaxUS       uint64            `json:"max_us"`
	Codes       map[string]uint64 `json:"codes"`
	NotReleased uint64            `json:"not_released"`
	Seq         uint64            `json:"seq"` // above every workstation number used; 0: none used
}

// run runs one phase of wrk with script and its key=value arguments; it
// returns wrk's result and the CPU time wrk used.
func (g *loadGen) run(ctx context.Context, script string, d time.Duration, args ...string) (wrkResult, time.Duration, error) {
	threads := min(wrkThreads, g.conns)
	// wrk counts whole seconds.
	secs := max(1, int(math.Ceil(d.Seconds())))
	argv := append([]string{"-t" + strconv.Itoa(threads), "-c" + strconv.Itoa(g.conns), fmt.Sprintf("-d%ds", secs),
		"--timeout", "10s", "-s", filepath.Join(g.dir, script), g.url, "--", "threads=" + strconv.Itoa(threads)}, args...)
	cmd := exec.CommandContext(ctx, g.bin, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return wrkResult{}, 0, err
	}
	if err := cmd.Start(); err != nil {
		return wrkResult{}, 0, fmt.Errorf("starting wrk: %w", err)
	}
	var line string
	var other strings.Builder // wrk's own report, for the error message
	stopped := 0
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		switch t := sc.Text(); {
		case t == "STOPPED":
			// Every thread has run out of work (the release phase). wrk's
			// main thread sleeps out -d whatever its threads do; SIGINT
			// cuts that short, and it reports as usual, the duration as
			// run, so the phase ends now.
			if stopped++; stopped == threads {
				_ = cmd.Process.Signal(os.Interrupt)
			}
		case strings.HasPrefix(t, "WRK "):
			line = t[len("WRK "):]
		default:
			other.WriteString(t + "\n")
		}
	}
	err = cmd.Wait()
	if err == nil && line == "" {
		err = errors.New("no result line")
	}
	var res wrkResult
	if err == nil {
		err = json.Unmarshal([]byte(line), &res)
	}
	if err != nil {
		return wrkResult{}, 0, fmt.Errorf("wrk %s: %w\n%s%s", script, err, other.String(), stderr.String())
	}
	return res, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// phase is wrk's result in the table's terms. Successes are the responses
// with a status below 400, less the releases that freed no seat (here a
// session released twice); errors are the rest, and the connections wrk
// saw fail.
func (r wrkResult) phase() phase {
	e := r.Errors
	p := phase{
		requests: r.Requests,
		p50:      time.Duration(r.P50US) * time.Microsecond,
		p95:      time.Duration(r.P95US) * time.Microsecond,
		p99:      time.Duration(r.P99US) * time.Microsecond,
		max:      time.Duration(r.MaxUS) * time.Microsecond,
		errors:   e.Connect + e.Read + e.Write + e.Timeout + e.Status + r.NotReleased,
		codes:    r.Codes,
	}
	ok := r.Requests - min(r.Requests, e.Status+r.NotReleased)
	p.ok = ok
	if r.DurationUS > 0 {
		p.okPerSec = float64(ok) / (float64(r.DurationUS) / 1e6)
	}
	for _, c := range []struct {
		what string
		n    uint64
	}{{"connect", e.Connect}, {"read", e.Read}, {"write", e.Write},
		{"timeout (slower than 10s)", e.Timeout}, {"release of a session already released", r.NotReleased}} {
		if c.n > 0 {
			p.errorDetail = append(p.errorDetail, fmt.Sprintf("%s: %d", c.what, c.n))
		}
	}
	return p
}
