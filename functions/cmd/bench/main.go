// Command bench is `make bench`: it drives the local server (every function,
// real Redis and PostgreSQL on loopback, signed leases, a local root key)
// with wrk at a fixed number of connections, and in the same run measures
// the floor: the acquire Lua script called straight through go-redis at the
// same concurrency, with no HTTP. It prints a table per operation and one
// machine-readable RESULT line.
//
// wrk (a C program; its Lua scripts are embedded here) must be on PATH: on
// a 2-core machine that also runs the server and Redis, the load
// generator's CPU per request limits the throughput it can show, and wrk's
// is less than half a Go HTTP client's. make bench-scale still uses
// vegeta: it compares latencies, not throughput.
//
// It is its own module so the service does not carry the load generator's
// dependencies.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type options struct {
	server      string // the devserver binary
	redisURL    string
	databaseURL string // a server where this user may CREATE DATABASE
	duration    time.Duration
	conns       int
	licenses    int
	cpuProfile  string // write the server's CPU profile of the acquire phase here
	scale       bool   // make bench-scale instead
	serve       string // set up, write the license keys to this file, and serve until interrupted
	rateLimit   int    // acquires per second per license (the server's default)
	floodOnly   bool   // run only the random-license flood
	sustained   sustainedOptions
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "bin/devserver", "the devserver binary (make bench builds it)")
	flag.StringVar(&o.redisURL, "redis", envOr("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis to use (keys under a fresh prefix, removed after)")
	flag.StringVar(&o.databaseURL, "database", envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to create the bench database on (dropped after)")
	flag.DurationVar(&o.duration, "duration", 8*time.Second, "length of each measured phase")
	flag.IntVar(&o.conns, "connections", 50, "concurrent connections (and floor goroutines)")
	flag.IntVar(&o.licenses, "licenses", 1000, "licenses the load spreads over")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the server's CPU profile of the acquire phase to this file")
	flag.IntVar(&o.rateLimit, "license-rate", 100, "the server's acquire limit per license per second (burst twice that)")
	flag.StringVar(&o.serve, "serve", "", "set up the server and licenses, write the keys to this file, and keep serving until interrupted (for other load tools and profilers)")
	flag.BoolVar(&o.floodOnly, "flood-only", false, "run only the random-license flood scenario (no wrk needed)")
	flag.BoolVar(&o.scale, "scale", false, "measure the large state (make bench-scale) instead")
	var so scaleOptions
	flag.IntVar(&so.licenses, "scale-licenses", 100000, "licenses of the large state")
	flag.IntVar(&so.perLicense, "scale-sessions-per-license", 10, "live sessions per license")
	flag.IntVar(&so.small, "scale-small", 1000, "live sessions of the small state")
	flag.IntVar(&so.expire, "scale-expire", 100000, "sessions left to expire for each of the two sweeps (wide, and 1,000 per license)")
	flag.DurationVar(&o.sustained.duration, "sustained", 90*time.Second,
		"length of the sustained phase (acquire, heartbeat, release cycles with the cleanup running; 0: none); at least 60s to count")
	flag.DurationVar(&o.sustained.interval, "sustained-cleanup-interval", time.Minute, "the cleanup's interval during the sustained phase (production's schedule)")
	flag.IntVar(&o.sustained.licenses, "sustained-licenses", 20, "licenses the sustained phase's load spreads over")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.scale {
		err = runScale(ctx, o, so)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
