// Package server is the one HTTP server both entry points run: production
// (cmd/function, one function per Knative service) and make run
// (cmd/devserver, every function). It owns what functions-framework-go's
// Start does not offer: timeouts that slow or hostile clients cannot
// outlast, and a graceful shutdown that loses no request.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Config bounds the server.
type Config struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds the wait for requests in flight once
	// shutdown has begun.
	ShutdownTimeout time.Duration
	// On shutdown, kept-alive connections stay open until no request has
	// arrived for DrainQuiet (at most DrainLimit), each answer saying
	// Connection: close, so that no client is writing a request onto a
	// connection as the server closes it.
	DrainQuiet time.Duration
	DrainLimit time.Duration
}

// Defaults are the production bounds. ShutdownTimeout is under every
// Knative service's timeout (60 s and up), which Knative also gives as the
// grace period between SIGTERM and SIGKILL. Notify's (120 s) is longer: a
// run still going at shutdown is cut, and the deliveries it had leased
// are attempted again once their leases end, so nothing is lost.
func Defaults() Config {
	return Config{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ShutdownTimeout:   55 * time.Second,
		DrainQuiet:        500 * time.Millisecond,
		DrainLimit:        5 * time.Second,
	}
}

// Serve serves h on ln until ctx ends (SIGTERM, in both entry points),
// then shuts down: it stops accepting (new connections are refused from
// then on), answers what still arrives on open connections with
// Connection: close until they fall quiet, and returns once the requests
// in flight have been answered. http.Server.Shutdown alone would close
// idle kept-alive connections at once, resetting a request a client is
// writing onto one at that moment. A nil error means every request that
// arrived was answered.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, c Config) error {
	drain := &drainer{next: h}
	srv := &http.Server{
		Handler:           drain,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	drain.begin()
	ln.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	drain.waitQuiet(c.DrainQuiet, c.DrainLimit)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down with requests still in flight: %w", err)
	}
	return nil
}

// drainer notes when requests arrive and, once shutdown has begun, makes
// every answer close its connection.
type drainer struct {
	next     http.Handler
	draining atomic.Bool
	last     atomic.Int64 // arrival of the latest request, Unix ns
}

func (d *drainer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.last.Store(time.Now().UnixNano())
	if d.draining.Load() {
		w.Header().Set("Connection", "close")
	}
	d.next.ServeHTTP(w, r)
}

func (d *drainer) begin() { d.draining.Store(true) }

// waitQuiet returns once no request has arrived for quiet, or after limit.
func (d *drainer) waitQuiet(quiet, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); {
		idle := time.Since(time.Unix(0, d.last.Load()))
		if idle >= quiet {
			return
		}
		time.Sleep(quiet - idle)
	}
}
