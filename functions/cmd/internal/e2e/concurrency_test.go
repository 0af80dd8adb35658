package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// post is a goroutine-safe acquire over HTTP (api.call may call t.Fatal,
// which only the test goroutine may do).
func post(client *http.Client, url string, body map[string]any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	resp, err := client.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, out, nil
}

// TestConcurrentAcquireOverHTTP: 200 clients race for a 10-seat license
// through the real handlers, 50 times with fresh licenses. Exactly 10 win,
// every time.
func TestConcurrentAcquireOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	for rep := range 50 {
		_, key := a.license(tenant, map[string]any{"seats": 10})
		var granted, denied atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for i := range 200 {
			wg.Go(func() {
				status, body, err := post(client, a.srv.URL+"/v1/acquire",
					map[string]any{"license_key": key, "fingerprint": fmt.Sprintf("ws-%d", i)})
				switch {
				case err != nil:
					errs <- err
				case status == 200:
					granted.Add(1)
				case status == 409:
					denied.Add(1)
				default:
					errs <- fmt.Errorf("status %d: %v", status, body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("rep %d: %v", rep, err)
		}
		if granted.Load() != 10 || denied.Load() != 190 {
			t.Fatalf("rep %d: granted %d, denied %d; want exactly 10 and 190", rep, granted.Load(), denied.Load())
		}
	}
}

// TestConcurrentAcquireWithExpiry: clients keep acquiring a 10-seat license
// whose sessions expire after a second, so seats free up and are re-taken
// mid-run. Every grant's lifetime is [expiry - ttl, expiry) on Redis's
// clock; at no instant may more than 10 overlap.
func TestConcurrentAcquireWithExpiry(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	_, key := a.license(tenant, map[string]any{"seats": 10, "lease_ttl_seconds": 1})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}

	var mu sync.Mutex
	var expiries []time.Time
	var failures []error
	stop := time.Now().Add(3500 * time.Millisecond)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				status, body, err := post(client, a.srv.URL+"/v1/acquire",
					map[string]any{"license_key": key, "fingerprint": fmt.Sprintf("ws-%d-%d", i, n)})
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err)
				case status == 200:
					exp, perr := time.Parse(time.RFC3339, body["expires_at"].(string))
					if perr != nil {
						failures = append(failures, perr)
					}
					expiries = append(expiries, exp)
				case status != 409:
					failures = append(failures, fmt.Errorf("status %d: %v", status, body))
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failures, first: %v", len(failures), failures[0])
	}
	// Sessions expired and were re-acquired: at least three generations.
	if len(expiries) < 30 {
		t.Fatalf("only %d grants in 3.5s of 1s sessions", len(expiries))
	}
	type event struct {
		at    time.Time
		delta int
	}
	var events []event
	for _, e := range expiries {
		events = append(events, event{e.Add(-time.Second), +1}, event{e, -1})
	}
	// At one instant an ending session is gone before a starting one counts:
	// a session is live while expiry > now.
	sort.Slice(events, func(i, j int) bool {
		if !events[i].at.Equal(events[j].at) {
			return events[i].at.Before(events[j].at)
		}
		return events[i].delta < events[j].delta
	})
	live, peak := 0, 0
	for _, e := range events {
		live += e.delta
		peak = max(peak, live)
	}
	if peak > 10 {
		t.Fatalf("%d sessions were live at once on 10 seats", peak)
	}
	if peak != 10 {
		t.Fatalf("peak %d: the license was never full, so the test proved nothing", peak)
	}
}
