package logscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/testenv"
)

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestScanFindsEachKindOfSecret plants one secret of each kind in a log
// record and checks the scan names each, and only those lines.
func TestScanFindsEachKindOfSecret(t *testing.T) {
	dir := t.TempDir()
	const token = "bootstrap-token-0123456789abcdefghijklmnop"
	sessionID := strings.Repeat("0f", 16) + "." + strings.Repeat("Qx-_", 5) + "ab"
	licenseKey := "lk_" + strings.Repeat("ab", 16) + "_" + strings.Repeat("Z", 43)
	lines := []string{
		`{"severity":"INFO","message":"request","function":"Acquire","key":"` + licenseKey + `"}`,
		`{"severity":"ERROR","message":"auth","error":"bad key ak_` + strings.Repeat("x", 43) + `"}`,
		`{"severity":"INFO","message":"x","pem":"-----BEGIN PRIVATE KEY-----"}`,
		`{"severity":"INFO","message":"x","jwk":"{\"kty\":\"RSA\",\"d\":\"` + strings.Repeat("q", 40) + `\"}"}`,
		`{"severity":"WARNING","message":"token ` + token + ` seen"}`,
		// Public forms: a license key's display prefix, an API key's.
		`{"severity":"INFO","message":"request","function":"Licenses","prefix":"lk_` + strings.Repeat("ab", 16) + `_abcd","ak":"ak_abcdefgh"}`,
		`{"severity":"ERROR","message":"heartbeat","error":"session ` + sessionID + ` corrupt"}`,
		// Public: a session's digest, and a lease (its segments are
		// base64url, never a hex run and a dot).
		`{"severity":"INFO","message":"request","function":"Heartbeat","session":"` + strings.Repeat("c", 32) + `","lease":"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.` + strings.Repeat("A", 86) + `"}`,
	}
	write(t, dir, "a.log", strings.Join(lines, "\n")+"\n")
	// Not log records: the banner make run prints and broken JSON.
	write(t, dir, "b.log", "export TOKEN="+token+"\n{not json "+licenseKey+"\n")
	write(t, dir, "c"+testenv.SecretsFileSuffix, token+"\n")

	r, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 2 || r.Lines != 8 || r.Secrets != 1 || r.Requests["Acquire"] != 1 || r.Requests["Licenses"] != 1 {
		t.Fatalf("report = %+v", r)
	}
	want := []Finding{{"a.log", 1, "license key"}, {"a.log", 2, "API key"}, {"a.log", 3, "PEM private key"},
		{"a.log", 4, "JWK private member"}, {"a.log", 5, "noted secret"}, {"a.log", 7, "session id"}}
	if len(r.Findings) != len(want) {
		t.Fatalf("findings = %v, want %v", r.Findings, want)
	}
	for i := range want {
		if r.Findings[i] != want[i] {
			t.Errorf("finding %d = %v, want %v", i, r.Findings[i], want[i])
		}
	}
}

// TestCaptureReachesTheScan runs log lines written
// through testenv.LogBuffer, past the scan: the capture path itself.
func TestCaptureReachesTheScan(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(testenv.CaptureEnv, dir)
	var logs testenv.LogBuffer
	secret := "noted-secret-" + strings.Repeat("s", 30)
	testenv.NoteSecret(t, secret)
	logs.Write([]byte(`{"severity":"INFO","message":"request","function":"Heartbeat"}` + "\n"))
	logs.Write([]byte(`{"severity":"ERROR","message":"oops ` + secret + `"}` + "\n"))
	r, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lines != 2 || r.Secrets != 1 || len(r.Findings) != 1 || r.Findings[0].Kind != "noted secret" || r.Findings[0].Line != 2 {
		t.Fatalf("report = %+v", r)
	}
	if !strings.Contains(logs.String(), secret) {
		t.Fatal("the buffer itself lost what was written")
	}
}
