package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// LastRelease is the newest release tag (v<digit>…) reachable from HEAD
// of the repository at root, and its commit (HEAD itself when HEAD is the
// release); in a clone without tags, the release .ci/last-release records,
// if that commit is in the clone (note then says so, for the log). The
// mixed-version test builds that release; schema's tests hold the
// migrations added since it to expand-only.
func LastRelease(root string) (tag, commit, note string, err error) {
	describe := exec.Command("git", "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD")
	describe.Dir = root
	if out, err := describe.Output(); err == nil {
		tag = strings.TrimSpace(string(out))
		resolve := exec.Command("git", "rev-parse", tag+"^{commit}")
		resolve.Dir = root
		out, err := resolve.Output()
		if err != nil {
			return "", "", "", fmt.Errorf("resolving tag %s: %w", tag, err)
		}
		return tag, strings.TrimSpace(string(out)), "", nil
	}
	file := filepath.Join(root, ".ci", "last-release")
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %w: fetch the tags (git fetch --tags)", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || len(f[1]) != 40 {
			return "", "", "", fmt.Errorf("%s: want a line \"<tag> <40-hex commit>\", got %q", file, line)
		}
		tag, commit = f[0], f[1]
	}
	if commit == "" {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %s names no release", file)
	}
	check := exec.Command("git", "cat-file", "-e", commit+"^{commit}")
	check.Dir = root
	if err := check.Run(); err != nil {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %s's commit %s (%s) is not in this clone: "+
			"fetch the tags or the history (git fetch --tags, or git fetch --unshallow)", file, commit, tag)
	}
	return tag, commit, fmt.Sprintf("no v* tag is reachable from HEAD: using the release %s records, %s at %s", file, tag, commit), nil
}

// GitOutput runs git in dir and returns its output, trimmed; it fails the
// test, with git's error, when git does.
func GitOutput(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("git %s (in %s): %v %s; this test needs git and the repository's history", strings.Join(args, " "), dir, err, stderr)
	}
	return strings.TrimSpace(string(out))
}
