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
	return BuildMainAt(t, name, ".")
}

// BuildMainAt is BuildMain for the main package in dir (relative to the
// test's working directory), for a test that runs another entry point.
func BuildMainAt(t testing.TB, name, dir string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}
