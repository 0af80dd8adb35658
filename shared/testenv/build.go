package testenv

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildMain compiles the main package in the test's working directory into
// the test's temporary directory, without the race detector (the binary is
// what the test runs, not what it checks for races), and returns its path.
func BuildMain(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
