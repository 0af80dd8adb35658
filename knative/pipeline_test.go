package knative_test

// The deployment pipeline, checked offline: `make images` resolves only the
// named function's service, .ci/changed-functions marks the functions a
// change reaches (on this repository's history and on synthetic commits),
// .ci/rollout splits traffic, judges the canary and rolls back (against fake
// kubectl, gcloud and curl), and .github/workflows/deploy.yml passes
// actionlint with shellcheck.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// yqModule is the yq v4 (mikefarah) the rollout test runs .ci/rollout with:
// GitHub's Ubuntu runners have yq v4 on PATH, Debian's yq package is another
// program, so the test builds it from the Go module proxy.
const yqModule = "github.com/mikefarah/yq/v4@v4.54.3"

// repoRoot is the repository's top level (this module is knative/).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("finding the repository root: %v", err)
	}
	return root
}

// functionNames are the functions the pipeline can roll out: one per
// manifest in knative/services.
func functionNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("services/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing knative/services: %v (%d files)", err, len(files))
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// requireTool fails the test, never skips it, when a program it needs is
// missing.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by this test and is not on PATH: %s", name, install)
	}
	return path
}

// run runs a command in dir and returns its standard output, standard error
// and error.
func run(dir string, env []string, name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// A parent make (make test) passes its flags down through MAKEFLAGS; the
	// test's own make -n must not inherit them.
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=") || strings.HasPrefix(kv, "MFLAGS=")
	}), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestImagesResolvesOnlyTheNamedFunction(t *testing.T) {
	root := repoRoot(t)
	names := functionNames(t)
	for _, fn := range names {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			out, stderr, err := run(root, nil, "make", "-n", "images", "FUNCTION="+fn, "KO_DOCKER_REPO=registry.example/license-server")
			if err != nil {
				t.Fatalf("make -n images FUNCTION=%s: %v\n%s", fn, err, stderr)
			}
			want := fmt.Sprintf("-f knative/services/%s.yaml > bin/knative-%s.yaml.tmp", fn, fn)
			if !strings.Contains(out, " resolve ") || !strings.Contains(out, want) {
				t.Errorf("make -n images FUNCTION=%s does not run ko resolve %s:\n%s", fn, want, out)
			}
			if n := strings.Count(out, "knative/services/"); n != 1 {
				t.Errorf("make -n images FUNCTION=%s names knative/services/ %d times, want only %s.yaml:\n%s", fn, n, fn, out)
			}
		})
	}
	t.Run("all", func(t *testing.T) {
		t.Parallel()
		out, stderr, err := run(root, nil, "make", "-n", "images", "KO_DOCKER_REPO=registry.example/license-server")
		if err != nil {
			t.Fatalf("make -n images: %v\n%s", err, stderr)
		}
		if !strings.Contains(out, "-f knative/services/ > bin/knative-services.yaml.tmp") {
			t.Errorf("make -n images does not resolve every service into bin/knative-services.yaml:\n%s", out)
		}
	})
	for _, bad := range []string{"nope", "acquire release", "acquire.yaml", "acq%"} {
		t.Run("refuses "+bad, func(t *testing.T) {
			t.Parallel()
			out, stderr, err := run(root, nil, "make", "-n", "images", "FUNCTION="+bad, "KO_DOCKER_REPO=registry.example/license-server")
			if err == nil {
				t.Fatalf("make -n images FUNCTION=%q succeeded:\n%s", bad, out)
			}
			if want := "known: " + strings.Join(names, " "); !strings.Contains(stderr, want) {
				t.Errorf("make images FUNCTION=%q fails without the list of functions (%q):\n%s", bad, want, stderr)
			}
			if strings.Contains(out, "npm") || strings.Contains(out, "resolve") {
				t.Errorf("make images FUNCTION=%q would still build before failing:\n%s", bad, out)
			}
		})
	}
}

// changedFunctions runs .ci/changed-functions in dir (a git repository).
func changedFunctions(t *testing.T, dir string, args ...string) ([]string, error) {
	t.Helper()
	script := filepath.Join(repoRoot(t), ".ci", "changed-functions")
	out, stderr, err := run(dir, nil, script, args...)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, stderr)
	}
	return lines(out), nil
}

func TestChangedFunctionsOnThisHistory(t *testing.T) {
	root := repoRoot(t)
	// Commits of this repository whose effect is known; the test needs the
	// whole history (CI checks out with fetch-depth: 0).
	cases := []struct {
		commit, what string
		want         []string // nil: every function of the commit
	}{
		{"2e06194042821d523edd21e9f75ca4fbdd137b2e", "shared/billing only: the two functions importing it", []string{"billing", "billingschedule"}},
		{"fb4d64c30594e5c816f85b24f4285c45222fa66d", "functions/billing before it had a Knative service", []string{}},
		{"ee439f609c5db8831175dafdbcdce4e75c3d1e23", "the devserver, testenv and README: nothing deployed", []string{}},
		{"23963974c755cf6b80df0fdda6dfa0f4dac959d3", "shared/seats: every function, through the entry point's shared/backend", nil},
	}
	for _, c := range cases {
		t.Run(c.commit[:7], func(t *testing.T) {
			t.Parallel()
			if _, stderr, err := run(root, nil, "git", "cat-file", "-e", c.commit+"^{commit}"); err != nil {
				t.Fatalf("commit %s is not in this clone (%s): the test needs the repository's whole history (git fetch --unshallow)", c.commit, stderr)
			}
			got, err := changedFunctions(t, root, c.commit+"^", c.commit)
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == nil {
				out, stderr, err := run(root, nil, "git", "ls-tree", "--name-only", c.commit+":knative/services")
				if err != nil {
					t.Fatalf("listing the services of %s: %v: %s", c.commit, err, stderr)
				}
				for _, f := range lines(out) {
					want = append(want, strings.TrimSuffix(f, ".yaml"))
				}
				for _, fn := range []string{"acquire", "heartbeat", "release", "cleanup"} {
					if !slices.Contains(want, fn) {
						t.Fatalf("%s has no service %s", c.commit, fn)
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s (%s): changed functions %v, want %v", c.commit[:7], c.what, got, want)
			}
		})
	}
}

// syntheticRepo is a git repository holding a copy of this working tree (its
// tracked and unignored files) as one commit, "base".
func syntheticRepo(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	out, stderr, err := run(root, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		t.Fatalf("git ls-files: %v: %s", err, stderr)
	}
	dir := t.TempDir()
	for _, f := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatalf("copying %s: %v", f, err)
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "init", "-q")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "base")
	git(t, dir, "tag", "base")
	return dir
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	env := []string{"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com"}
	if _, stderr, err := run(dir, env, "git", args...); err != nil {
		t.Fatalf("git %v: %v: %s", args, err, stderr)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestChangedFunctionsMarksWhatAChangeReaches(t *testing.T) {
	requireTool(t, "git", "apt-get install -y git")
	dir := syntheticRepo(t)
	all := functionNames(t)
	cases := []struct {
		name  string
		files []string // a line is appended to each (created if missing)
		want  []string
	}{
		{"a function's own package", []string{"functions/billing/handler.go"}, []string{"billing"}},
		{"a test file alone", []string{"functions/billing/handler_test.go", "shared/seats/engine_test.go"}, []string{}},
		{"the seat engine", []string{"shared/seats/engine.go"}, all},
		{"Stripe billing", []string{"shared/billing/billing.go"}, []string{"billing", "billingschedule"}},
		{"metering", []string{"shared/metering/metering.go"}, []string{"billingschedule", "usage"}},
		{"one manifest", []string{"knative/services/acquire.yaml"}, []string{"acquire"}},
		{"two manifests and a function", []string{"knative/services/heartbeat.yaml", "knative/services/release.yaml", "functions/keys/handler.go"}, []string{"heartbeat", "keys", "release"}},
		{"the console's web sources", []string{"functions/console/web/src/App.tsx"}, []string{"console"}},
		{"the composition root", []string{"functions/cmd/internal/compose/compose.go"}, all},
		{"a migration", []string{"schema/999_test.sql"}, all},
		{"a Lua script", []string{"lua/acquire.lua"}, all},
		{"go.mod", []string{"go.mod"}, all},
		{"ko's base image", []string{"knative/.ko.yaml"}, all},
		{"nothing deployed", []string{"README.md", "terraform/main.tf", "knative/routes.yaml", "functions/cmd/devserver/main.go", "functions/cmd/migrate/main.go"}, []string{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			git(t, dir, "checkout", "-q", "--detach", "base")
			for _, f := range c.files {
				line := "\n// changed by TestChangedFunctionsMarksWhatAChangeReaches\n"
				switch filepath.Ext(f) {
				case ".yaml", ".tf", ".md", ".mod":
					line = "\n# changed by the test\n"
					if filepath.Ext(f) == ".tf" || f == "go.mod" {
						line = "\n// changed by the test\n"
					}
				case ".sql", ".lua":
					line = "\n-- changed by the test\n"
				}
				appendTo(t, filepath.Join(dir, f), line)
			}
			git(t, dir, "add", "-A")
			git(t, dir, "commit", "-q", "-m", c.name)
			got, err := changedFunctions(t, dir, "base", "HEAD")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("changing %v marks %v, want %v", c.files, got, c.want)
			}
		})
	}
	t.Run("a new branch", func(t *testing.T) {
		// GitHub's push event has before = 0000... for a new branch.
		got, err := changedFunctions(t, dir, strings.Repeat("0", 40), "HEAD")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, all) {
			t.Errorf("with no base: %v, want every function", got)
		}
	})
}

func TestEveryFunctionCanBeNamed(t *testing.T) {
	root := repoRoot(t)
	all := functionNames(t)
	for _, fn := range all {
		got, err := changedFunctions(t, root, "--named", fn)
		if err != nil || !slices.Equal(got, []string{fn}) {
			t.Errorf("--named %s: %v, %v", fn, got, err)
		}
	}
	if got, err := changedFunctions(t, root, "--named", "all"); err != nil || !slices.Equal(got, all) {
		t.Errorf("--named all: %v, %v; want %v", got, err, all)
	}
	if got, err := changedFunctions(t, root, "--named", "release, acquire billing"); err != nil || !slices.Equal(got, []string{"acquire", "billing", "release"}) {
		t.Errorf("--named 'release, acquire billing': %v, %v", got, err)
	}
	_, err := changedFunctions(t, root, "--named", "acquire nope")
	if err == nil || !strings.Contains(err.Error(), "unknown function(s): nope; known: "+strings.Join(all, " ")) {
		t.Errorf("--named 'acquire nope': %v, want a refusal naming nope and the known functions", err)
	}
}

func TestPipelineScriptsPassShellcheck(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", "apt-get install -y shellcheck (.ci/run installs it)")
	root := repoRoot(t)
	for _, script := range []string{".ci/rollout", ".ci/changed-functions"} {
		path := filepath.Join(root, script)
		if _, stderr, err := run(root, nil, "bash", "-n", path); err != nil {
			t.Errorf("bash -n %s: %v\n%s", script, err, stderr)
		}
		if out, stderr, err := run(root, nil, shellcheck, path); err != nil {
			t.Errorf("shellcheck %s: %v\n%s%s", script, err, out, stderr)
		}
		body, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "set -euo pipefail") {
			t.Errorf("%s does not set -euo pipefail", script)
		}
	}
}

func TestDeployWorkflowPassesActionlint(t *testing.T) {
	shellcheck := requireTool(t, "shellcheck", "apt-get install -y shellcheck (.ci/run installs it)")
	root := repoRoot(t)
	path := filepath.Join(root, ".github", "workflows", "deploy.yml")
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{Shellcheck: shellcheck, WorkingDir: root})
	if err != nil {
		t.Fatalf("creating the linter: %v", err)
	}
	findings, err := linter.LintFile(path, nil)
	if err != nil {
		t.Fatalf("linting %s: %v", path, err)
	}
	if len(findings) > 0 {
		t.Errorf("actionlint found %d problems in deploy.yml:\n%s", len(findings), out.String())
	}

	// The stages run in order: nothing is built before the tests pass,
	// nothing rolled out before the migrations ran.
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	wf, errs := actionlint.Parse(src)
	if len(errs) > 0 {
		t.Fatalf("parsing deploy.yml: %v", errs[0])
	}
	needs := map[string][]string{}
	for id, job := range wf.Jobs {
		for _, n := range job.Needs {
			needs[id] = append(needs[id], n.Value)
		}
	}
	for job, want := range map[string][]string{"build": {"test", "plan"}, "migrate": {"build"}, "rollout": {"build", "migrate", "plan"}} {
		for _, w := range want {
			if !slices.Contains(needs[job], w) {
				t.Errorf("job %s does not need %s (needs %v)", job, w, needs[job])
			}
		}
	}
	for _, want := range []string{".ci/changed-functions", ".ci/rollout", "make images FUNCTION=", "make migrate", "make test", "google-github-actions/auth@"} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("deploy.yml does not use %s", want)
		}
	}
}

// rolloutCase is one run of .ci/rollout against fakes.
type rolloutCase struct {
	ksvc       string // kubectl get ksvc's JSON; "" when the service does not exist
	errors     string // the 5xx count the fake Managed Prometheus answers
	total      string // the request count it answers
	curlFails  bool   // the query fails (as curl -f on an HTTP error)
	notReady   bool   // kubectl wait on the new revision fails
	wantFail   bool
	wantApply  [][]servingv1.TrafficTarget // the traffic of each apply, in order
	wantQuerys int                         // PromQL queries sent
}

const (
	previous = "acquire-00000aa-1"
	revision = "acquire-abc1234-1"
	steady   = `{"status":{"traffic":[{"revisionName":"` + previous + `","percent":100,"latestRevision":false}]}}`
)

func traffic(pairs ...any) []servingv1.TrafficTarget {
	var out []servingv1.TrafficTarget
	for i := 0; i < len(pairs); i += 2 {
		p := int64(pairs[i+1].(int))
		out = append(out, servingv1.TrafficTarget{RevisionName: pairs[i].(string), Percent: &p})
	}
	return out
}

func TestRolloutSplitsJudgesAndRollsBack(t *testing.T) {
	requireTool(t, "jq", "apt-get install -y jq (.ci/run installs it)")
	bin := t.TempDir()
	if _, stderr, err := run(t.TempDir(), []string{"GOBIN=" + bin}, "go", "install", yqModule); err != nil {
		t.Fatalf("building yq v4 (go install %s): %v\n%s", yqModule, err, stderr)
	}
	fakes := map[string]string{
		"kubectl": `#!/usr/bin/env bash
set -euo pipefail
echo "$*" >> "$FAKE/kubectl"
case "$1 $2" in
  "get ksvc") if [ -f "$FAKE/ksvc.json" ]; then cat "$FAKE/ksvc.json"; fi ;;
  "get revision/"*) ;;
  "apply -n") n=$(cat "$FAKE/applies" 2>/dev/null || echo 0); cat > "$FAKE/apply-$n.yaml"; echo $((n + 1)) > "$FAKE/applies" ;;
  "wait revision/"*) if [ -f "$FAKE/not-ready" ]; then exit 1; fi ;;
  "wait ksvc/"*) ;;
  *) echo "fake kubectl: unexpected: $*" >&2; exit 1 ;;
esac
`,
		"gcloud": `#!/usr/bin/env bash
[ "$*" = "auth print-access-token" ] || { echo "fake gcloud: unexpected: $*" >&2; exit 1; }
echo fake-token
`,
		"curl": `#!/usr/bin/env bash
set -euo pipefail
printf '%s\n' "$*" >> "$FAKE/curl"
if [ -f "$FAKE/curl-fails" ]; then exit 22; fi
query=
while [ $# -gt 0 ]; do
  if [ "$1" = --data-urlencode ]; then query=${2#query=}; fi
  shift
done
printf '%s\n' "$query" >> "$FAKE/queries"
case "$query" in
  *'code=~"5.."'*) v=$(cat "$FAKE/errors") ;;
  *) v=$(cat "$FAKE/total") ;;
esac
printf '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"%s"]}]}}\n' "$v"
`,
	}
	for name, body := range fakes {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The manifest as make images FUNCTION=acquire writes it: the image
	// pinned by digest, PROJECT_ID still a placeholder.
	source, err := os.ReadFile("services/acquire.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(t.TempDir(), "knative-acquire.yaml")
	resolved := strings.Replace(string(source), image, "registry.example/license-server/function@sha256:"+strings.Repeat("ab", 32), 1)
	if err := os.WriteFile(manifest, []byte(resolved), 0o644); err != nil {
		t.Fatal(err)
	}

	cases := map[string]rolloutCase{
		"healthy canary is promoted": {ksvc: steady, errors: "1", total: "1000",
			wantApply: [][]servingv1.TrafficTarget{traffic(previous, 90, revision, 10), traffic(revision, 100)}, wantQuerys: 4},
		"5xx above 1 % rolls back at once": {ksvc: steady, errors: "50", total: "1000", wantFail: true,
			wantApply: [][]servingv1.TrafficTarget{traffic(previous, 90, revision, 10), traffic(previous, 100)}, wantQuerys: 2},
		"no requests to judge is promoted": {ksvc: steady, errors: "0", total: "0",
			wantApply: [][]servingv1.TrafficTarget{traffic(previous, 90, revision, 10), traffic(revision, 100)}, wantQuerys: 4},
		"an unreadable error rate rolls back": {ksvc: steady, curlFails: true, wantFail: true,
			wantApply: [][]servingv1.TrafficTarget{traffic(previous, 90, revision, 10), traffic(previous, 100)}},
		"a revision that is never Ready rolls back": {ksvc: steady, notReady: true, wantFail: true,
			wantApply: [][]servingv1.TrafficTarget{traffic(previous, 90, revision, 10), traffic(previous, 100)}},
		"the first deployment takes all traffic": {
			wantApply: [][]servingv1.TrafficTarget{traffic(revision, 100)}},
		"a split left by an earlier rollout is refused": {wantFail: true,
			ksvc: `{"status":{"traffic":[{"revisionName":"acquire-a","percent":90},{"revisionName":"acquire-b","percent":10}]}}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			state := t.TempDir()
			write := func(file, content string) {
				if err := os.WriteFile(filepath.Join(state, file), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if c.ksvc != "" {
				write("ksvc.json", c.ksvc)
			}
			write("errors", c.errors)
			write("total", c.total)
			if c.curlFails {
				write("curl-fails", "")
			}
			if c.notReady {
				write("not-ready", "")
			}
			env := []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "FAKE=" + state,
				"PROJECT_ID=test-project", "CANARY_SECONDS=2", "POLL_SECONDS=1"}
			_, stderr, err := run(repoRoot(t), env, filepath.Join(repoRoot(t), ".ci", "rollout"), "acquire", manifest, revision)
			if failed := err != nil; failed != c.wantFail {
				t.Fatalf("rollout failed=%v (%v), want failed=%v\n%s", failed, err, c.wantFail, stderr)
			}
			var applied [][]servingv1.TrafficTarget
			for i := 0; ; i++ {
				doc, err := os.ReadFile(filepath.Join(state, fmt.Sprintf("apply-%d.yaml", i)))
				if errors.Is(err, fs.ErrNotExist) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(doc, []byte("PROJECT_ID")) || !bytes.Contains(doc, []byte("secret://projects/test-project/secrets/")) {
					t.Errorf("apply %d does not fill in PROJECT_ID", i)
				}
				var svc servingv1.Service
				if err := yaml.UnmarshalStrict(doc, &svc); err != nil {
					t.Fatalf("apply %d is no Knative Service: %v\n%s", i, err, doc)
				}
				if svc.Name != "acquire" || svc.Spec.Template.Name != revision {
					t.Errorf("apply %d: service %q, template name %q; want acquire, %q", i, svc.Name, svc.Spec.Template.Name, revision)
				}
				applied = append(applied, svc.Spec.Traffic)
			}
			if !slices.EqualFunc(applied, c.wantApply, func(a, b []servingv1.TrafficTarget) bool {
				return slices.EqualFunc(a, b, func(x, y servingv1.TrafficTarget) bool {
					return x.RevisionName == y.RevisionName && x.Percent != nil && y.Percent != nil && *x.Percent == *y.Percent &&
						(x.LatestRevision == nil || !*x.LatestRevision)
				})
			}) {
				t.Errorf("traffic applied: %s, want %s\n%s", show(applied), show(c.wantApply), stderr)
			}
			queries, _ := os.ReadFile(filepath.Join(state, "queries"))
			if n := len(lines(string(queries))); n != c.wantQuerys {
				t.Errorf("%d PromQL queries, want %d:\n%s", n, c.wantQuerys, queries)
			}
			for _, q := range lines(string(queries)) {
				if !strings.Contains(q, `license_http_server_requests_total{namespace="license-server",pod=~"`+revision+`-deployment-.+"`) {
					t.Errorf("query does not select the new revision's pods: %s", q)
				}
			}
			if calls, _ := os.ReadFile(filepath.Join(state, "curl")); len(calls) > 0 &&
				!bytes.Contains(calls, []byte("https://monitoring.googleapis.com/v1/projects/test-project/location/global/prometheus/api/v1/query")) {
				t.Errorf("queries do not go to the project's Managed Prometheus:\n%s", calls)
			}
		})
	}
}

func show(applies [][]servingv1.TrafficTarget) string {
	var parts []string
	for _, a := range applies {
		var ts []string
		for _, tt := range a {
			p := int64(-1)
			if tt.Percent != nil {
				p = *tt.Percent
			}
			ts = append(ts, fmt.Sprintf("%s=%d", tt.RevisionName, p))
		}
		parts = append(parts, "["+strings.Join(ts, " ")+"]")
	}
	return strings.Join(parts, " then ")
}
