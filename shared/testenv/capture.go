package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// CaptureEnv names the directory where, when it is set (make test sets it),
// every LogBuffer also appends what it collects, and NoteSecret records the
// secrets tests hand to servers, so that after the whole suite one test can
// check that no secret reached a log (shared/testenv/logscan).
const CaptureEnv = "LICENSE_LOG_CAPTURE"

// SecretsFileSuffix ends the files NoteSecret writes; logs end in ".log".
const SecretsFileSuffix = ".secrets"

// NoteSecret records a secret the test gives a server (a bootstrap token, a
// private key), so the suite's log scan looks for it verbatim. Secrets with
// a recognisable form (license keys, API keys, PEM and JWK private keys) are
// found by their form and need no note.
func NoteSecret(t testing.TB, secret string) {
	t.Helper()
	dir := os.Getenv(CaptureEnv)
	if dir == "" || secret == "" {
		return
	}
	if err := appendTo(filepath.Join(dir, captureName()+SecretsFileSuffix), []byte(secret+"\n")); err != nil {
		t.Fatalf("recording a secret for the log scan: %v", err)
	}
}

// captureName is a name no other buffer or process picks.
func captureName() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func appendTo(path string, p []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(p); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LogFile is where a test should have a process it runs write its output:
// under make test a new file in the capture directory, so the suite's scan
// for secrets reads it too; otherwise name in the test's temporary
// directory.
func LogFile(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv(CaptureEnv); dir != "" {
		return filepath.Join(dir, captureName()+".log")
	}
	return filepath.Join(t.TempDir(), name)
}
