// Command example holds a seat of a Coditect license until interrupted,
// printing each change of its state: a runnable demonstration of the
// sdk/license package.
//
//	go run ./sdk/license/example -url http://127.0.0.1:8080 -key lk_… -keys keys.json -issuer https://api.coditect.ai
//
// keys.json is a saved GET /v1/keys document (the root keys to pin). Every
// flag can also be set in the environment: CODITECT_LICENSE_URL,
// CODITECT_LICENSE_KEY, CODITECT_LICENSE_KEYS, CODITECT_LICENSE_ISSUER,
// CODITECT_CREDENTIAL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coditect-ai/license-server/sdk/license"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := realMain(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "example:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	baseURL := flag.String("url", env("CODITECT_LICENSE_URL", "http://127.0.0.1:8080"), "base URL of the license service")
	key := flag.String("key", env("CODITECT_LICENSE_KEY", ""), "license key (lk_…)")
	keysFile := flag.String("keys", env("CODITECT_LICENSE_KEYS", ""), "saved GET /v1/keys document: the root keys to pin")
	issuer := flag.String("issuer", env("CODITECT_LICENSE_ISSUER", license.DefaultIssuer), "expected lease issuer")
	user := flag.String("user", env("USER", ""), "user name sent with the acquire")
	wait := flag.Bool("wait", false, "wait for a seat when all are taken")
	verbose := flag.Bool("v", false, "log the SDK's retries")
	flag.Parse()
	if *key == "" || *keysFile == "" {
		flag.Usage()
		return errors.New("-key and -keys are required")
	}

	doc, err := os.ReadFile(*keysFile)
	if err != nil {
		return fmt.Errorf("reading the root keys: %w", err)
	}
	roots, err := license.ParseRootKeys(doc)
	if err != nil {
		return fmt.Errorf("reading the root keys: %w", err)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	cfg := license.Config{
		BaseURL: *baseURL, LicenseKey: *key, RootKeys: roots, Issuer: *issuer, User: *user,
		Credential: os.Getenv("CODITECT_CREDENTIAL"), WaitForSeat: *wait,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}

	fmt.Println("acquiring a seat…")
	seat, err := license.Acquire(ctx, cfg)
	if err != nil {
		return fmt.Errorf("acquiring a seat: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		lost := seat.Err() != nil // a lost seat has nothing left to release
		if err := seat.Close(closeCtx); err != nil {
			fmt.Fprintln(os.Stderr, "example: releasing the seat:", err)
			return
		}
		if !lost {
			fmt.Println("seat released")
		}
	}()

	var last license.Status
	for {
		changed := seat.Changed()
		if st := seat.Status(); !same(st, last) {
			printStatus(st)
			last = st
		}
		select {
		case <-changed:
		case <-seat.Done():
			return fmt.Errorf("seat lost: %w", seat.Err())
		case <-ctx.Done():
			fmt.Println("interrupted; releasing the seat")
			return nil
		}
	}
}

// same reports whether two states would print the same. (Status holds an
// error, which == may not compare.)
func same(a, b license.Status) bool {
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	return a.Valid == b.Valid && a.Over == b.Over && a.SessionID == b.SessionID &&
		a.ExpiresAt.Equal(b.ExpiresAt) && errText(a.LastError) == errText(b.LastError)
}

func printStatus(st license.Status) {
	if st.Over {
		return // Done says why
	}
	state := "VALID"
	if !st.Valid {
		state = "NOT VALID"
	}
	line := fmt.Sprintf("%s %s: lease until %s", time.Now().Format(time.TimeOnly), state, st.ExpiresAt.Local().Format(time.TimeOnly))
	if st.LastError != nil {
		line += fmt.Sprintf(" (retrying: %v)", st.LastError)
	}
	fmt.Println(line)
}
