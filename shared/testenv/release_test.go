package testenv_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/testenv"
)

func TestLastRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	record := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, ".ci"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".ci", "last-release"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	record("# comment\n")
	git("add", ".")
	git("commit", "-qm", "first")
	first := git("rev-parse", "HEAD")

	// No tag and nothing recorded: a failure that says what to do.
	if _, _, _, err := testenv.LastRelease(dir); err == nil || !strings.Contains(err.Error(), "names no release") {
		t.Errorf("with no tag and no release recorded: %v, want an error saying so", err)
	}
	// A recorded commit the clone lacks.
	record("v0.9.0 " + strings.Repeat("ab", 20) + "\n")
	if _, _, _, err := testenv.LastRelease(dir); err == nil || !strings.Contains(err.Error(), "git fetch --tags") {
		t.Errorf("with the recorded commit missing: %v, want an error saying how to fetch it", err)
	}
	// A malformed line.
	record("v0.9.0 abc\n")
	if _, _, _, err := testenv.LastRelease(dir); err == nil || !strings.Contains(err.Error(), "40-hex") {
		t.Errorf("with a malformed line: %v, want an error naming the format", err)
	}
	// The recorded release, in a clone without tags.
	record("# the last release\nv0.9.0 " + first + "\n")
	if tag, commit, note, err := testenv.LastRelease(dir); err != nil || tag != "v0.9.0" || commit != first || note == "" {
		t.Errorf("with a release recorded: %q %q %q %v, want v0.9.0 %s and a note", tag, commit, note, err, first)
	}
	// A tag wins, HEAD itself included; the newest reachable one, and
	// only v<digit> tags.
	git("tag", "-a", "v1.0.0", "-m", "one")
	if tag, commit, note, err := testenv.LastRelease(dir); err != nil || tag != "v1.0.0" || commit != first || note != "" {
		t.Errorf("at the tag: %q %q %q %v, want v1.0.0 %s and no note", tag, commit, note, err, first)
	}
	git("commit", "-q", "--allow-empty", "-m", "second")
	git("tag", "vnext")
	git("tag", "v1.1.0")
	second := git("rev-parse", "HEAD")
	git("commit", "-q", "--allow-empty", "-m", "third")
	if tag, commit, _, err := testenv.LastRelease(dir); err != nil || tag != "v1.1.0" || commit != second {
		t.Errorf("after v1.1.0: %q %q %v, want v1.1.0 %s", tag, commit, err, second)
	}
}
