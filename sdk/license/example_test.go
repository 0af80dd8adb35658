package license_test

import (
	"context"
	"errors"
	"log"
	"os"
	"time"

	"github.com/coditect-ai/license-server/sdk/license"
)

// The application ships the service's root keys (a saved GET /v1/keys
// document), acquires a seat at start, checks it before licensed work, and
// gives it back on exit.
func ExampleAcquire() {
	doc, err := os.ReadFile("coditect-root-keys.json") // shipped with the product
	if err != nil {
		log.Fatal(err)
	}
	roots, err := license.ParseRootKeys(doc)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seat, err := license.Acquire(ctx, license.Config{
		BaseURL:     "https://api.coditect.ai",
		LicenseKey:  os.Getenv("CODITECT_LICENSE_KEY"),
		RootKeys:    roots,
		WaitForSeat: true, // queue for a seat rather than fail at once
	})
	switch {
	case errors.Is(err, license.ErrNoSeats):
		log.Fatal("every seat is taken; try again later")
	case err != nil:
		log.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := seat.Close(ctx); err != nil {
			log.Printf("releasing the seat: %v", err)
		}
	}()

	// Stop when the seat is lost for good (license suspended, workstation
	// blocked, …).
	go func() {
		<-seat.Done()
		if err := seat.Err(); err != nil {
			log.Printf("license lost: %v", err)
		}
	}()

	// Before licensed work: the seat rides out outages until its lease
	// expires.
	if !seat.Valid() {
		log.Fatal("no valid license right now")
	}
	_, claims := seat.Lease()
	log.Printf("licensed until %s", claims.ExpiresAt)
}
