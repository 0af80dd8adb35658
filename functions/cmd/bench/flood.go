package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// floodIDs and floodRepeats shape the random-license flood: each of
// floodIDs made-up license ids is acquired floodRepeats times.
const (
	floodIDs     = 500
	floodRepeats = 10
)

// randomLicenseFlood acquires with well-formed keys of random license ids,
// as a flood of made-up keys would: one request per id first, then the
// rest. The server must read PostgreSQL for the first request of each id
// and never again while the id's unknown mark lives
// (seats.DefaultUnknownLicenseTTL); it returns an error, which fails the
// bench, when it did. The server runs with no per-address limit, so every
// request reaches the seat engine.
func (b *bench) randomLicenseFlood() error {
	if b.srv.calls().pgHot < 0 {
		return fmt.Errorf("random-license flood: the server exports no license_postgres_queries_total")
	}
	keys := make([]string, floodIDs)
	for i := range keys {
		id, err := tokens.NewUUID()
		if err == nil {
			keys[i], _, err = tokens.NewLicenseKey(id)
		}
		if err != nil {
			return err
		}
	}
	start := time.Now()
	before := b.srv.calls()
	if err := b.acquireAll(keys, 1); err != nil {
		return err
	}
	first := b.srv.calls().since(before)
	if err := b.acquireAll(keys, floodRepeats-1); err != nil {
		return err
	}
	took := time.Since(start)
	again := b.srv.calls().since(before).since(first)
	repeats := float64(floodIDs * (floodRepeats - 1))
	fmt.Printf("\nRandom-license flood: %d made-up license ids, %d acquires each, in %s: PostgreSQL queries "+
		"%.0f for the first acquire of each id (%.2f per id), %.0f for the %.0f after (%.3f per request)\n",
		floodIDs, floodRepeats, took.Round(time.Millisecond), first.pgHot, first.pgHot/floodIDs, again.pgHot, repeats, again.pgHot/repeats)
	if took >= seats.DefaultUnknownLicenseTTL {
		return fmt.Errorf("random-license flood took %s, longer than the unknown-license mark lives (%s): it proves nothing",
			took, seats.DefaultUnknownLicenseTTL)
	}
	if again.pgHot > 0 || first.pgHot <= 0 {
		return fmt.Errorf("random-license flood: %.0f PostgreSQL queries after the first acquire of each id (want 0; %.0f for the first ones)",
			again.pgHot, first.pgHot)
	}
	return nil
}

// acquireAll sends each key times acquires, b.o.conns at once, and checks
// every answer is 404 license_not_found.
func (b *bench) acquireAll(keys []string, times int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, b.o.conns)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: b.o.conns}}
	for range b.o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1)) - 1
				if n >= len(keys)*times {
					return
				}
				body := fmt.Sprintf(`{"license_key":%q,"fingerprint":"flood-%d"}`, keys[n%len(keys)], n)
				resp, err := client.Post(b.srv.url+"/v1/acquire", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(got), "license_not_found") {
					errs <- fmt.Errorf("random-license flood: acquire answered %d %s", resp.StatusCode, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
