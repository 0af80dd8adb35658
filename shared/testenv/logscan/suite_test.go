//go:build logscan

package logscan

import (
	"os"
	"testing"

	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestSuiteLogsHoldNoSecrets scans what every test server logged during the
// whole suite (make test runs it last, with the build tag logscan). It
// fails on any secret, and on a capture too small to mean anything.
func TestSuiteLogsHoldNoSecrets(t *testing.T) {
	dir := os.Getenv(testenv.CaptureEnv)
	if dir == "" {
		t.Fatalf("%s is not set: run this through make test, after the suite", testenv.CaptureEnv)
	}
	r, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scanned %d log records in %d files; %d noted secrets; requests by function: %v", r.Lines, r.Files, r.Secrets, r.Requests)
	// The suite logs tens of thousands of records; a few thousand, with the
	// functions that receive license keys, API keys and the bootstrap token
	// among them, is the least that shows the capture worked.
	if r.Lines < 2000 || r.Secrets == 0 {
		t.Fatalf("only %d log records and %d noted secrets were captured: the capture is broken", r.Lines, r.Secrets)
	}
	for _, fn := range []string{"Acquire", "Heartbeat", "Release", "Tenants", "Licenses", "APIKeys"} {
		if r.Requests[fn] == 0 {
			t.Errorf("no request of %s was logged: the scan would prove nothing about it", fn)
		}
	}
	for _, f := range r.Findings {
		t.Errorf("secret in a log: %s", f)
	}
}
