package floors_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/coditect-ai/license-server"

// sharedFloors places every package under shared/ on a floor. A shared
// package imports only shared packages on its own floor or below (and lua,
// schema and the lease format sdk/leasejws): an import of a higher floor is
// an arrow back up. A new shared package must be placed here.
var sharedFloors = [][]string{
	// 1. Leaves: formats, encodings, configuration; no I/O, no business
	// logic (and none of the clients that do I/O: see leafForbidden).
	{"jsonappend", "timestamp", "tokens", "logging", "config", "gctune", "httpjson", "clientaddr", "links"},
	// 2. Plumbing: connections, keys, HTTP routing, instrumentation.
	{"database", "rootkey", "rootkey/kmsroot", "rootkey/kmsfake", "jwtauth", "secrets", "lease", "pgserver",
		"metrics", "route", "ratelimit", "idempotency", "paging", "probe", "outbound", "outbound/dnstest", "webhook", "mail", "nudge", "stripeclient"},
	// 3. The domain: stores, the seat engine, the ledger, credentials,
	// the licensing service, and the mapping of their errors to answers.
	{"seats", "tenants", "licenses", "apikeys", "members", "audit", "repositories", "workstations", "usage", "cleanup",
		"auth", "apierror", "licensing", "resource", "outbox", "notifications", "notify", "billing", "metering"},
	// 4. Assembly: the backend that builds all of the above, the
	// description of a deployable function, and the test environment.
	{"backend", "function", "testenv", "testenv/logscan", "httpjson/httpjsontest", "billing/billingtest"},
}

// leafForbidden are module prefixes that no floor-1 package may import:
// clients that do I/O.
var leafForbidden = []string{"github.com/jackc/pgx", "github.com/redis/go-redis", "cloud.google.com/go",
	"google.golang.org/grpc"}

// serverMayImportFromSDK is the one SDK package the server uses: the
// published lease format, which imports only the standard library.
const serverMayImportFromSDK = module + "/sdk/leasejws"

type pkg struct {
	path    string
	imports []string
}

// listPackages reads the module's packages and their (non-test) imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		pkgs = append(pkgs, pkg{path: f[0], imports: f[1:]})
	}
	if len(pkgs) < 30 {
		t.Fatalf("go list found only %d packages under %s", len(pkgs), root)
	}
	return pkgs
}

// kind is where a package stands in the module.
type kind int

const (
	kindOther kind = iota
	kindLeaf       // lua, schema
	kindShared
	kindFunction // functions/<name>
	kindMain     // functions/cmd/...: entry points and the composition root
	kindSDK
)

func classify(path string) (kind, string) {
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return kindOther, ""
	}
	switch {
	case rel == "lua" || rel == "schema":
		return kindLeaf, rel
	case strings.HasPrefix(rel, "shared/"):
		return kindShared, strings.TrimPrefix(rel, "shared/")
	case strings.HasPrefix(rel, "functions/cmd/"):
		return kindMain, rel
	case strings.HasPrefix(rel, "functions/"):
		return kindFunction, strings.SplitN(strings.TrimPrefix(rel, "functions/"), "/", 2)[0]
	case strings.HasPrefix(rel, "sdk/"):
		return kindSDK, rel
	}
	return kindOther, rel
}

func floorOf(name string) int {
	for i, floor := range sharedFloors {
		if slices.Contains(floor, name) {
			return i + 1
		}
	}
	return 0
}

// arrows returns every import that goes against the floors.
func arrows(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, fromName := classify(p.path)
		if from == kindShared && floorOf(fromName) == 0 {
			bad = append(bad, fmt.Sprintf("shared/%s is on no floor: place it in sharedFloors", fromName))
		}
		for _, imp := range p.imports {
			to, toName := classify(imp)
			if from == kindShared && floorOf(fromName) == 1 {
				for _, f := range leafForbidden {
					if strings.HasPrefix(imp, f) {
						bad = append(bad, fmt.Sprintf("%s (a leaf) imports %s, a client that does I/O", p.path, imp))
					}
				}
			}
			if to == kindOther {
				continue // the standard library and other modules
			}
			if why := arrow(from, fromName, to, toName, imp); why != "" {
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", p.path, imp, why))
			}
		}
	}
	return bad
}

// arrow says why an import from one package to another of the module is
// not allowed, or "" when it is.
func arrow(from kind, fromName string, to kind, toName, imp string) string {
	if to == kindSDK && from != kindSDK && imp != serverMayImportFromSDK {
		return "the server may use only the lease format (sdk/leasejws) of the SDK"
	}
	switch from {
	case kindLeaf:
		return "lua and schema import nothing of the module"
	case kindSDK:
		if to != kindSDK {
			return "the SDK imports nothing of the server: a vendor must be able to vendor it alone"
		}
		if imp != serverMayImportFromSDK && strings.HasPrefix(fromName, "sdk/leasejws") {
			return "the lease format imports nothing else of the module"
		}
	case kindShared:
		switch to {
		case kindFunction, kindMain:
			return "a shared package never imports a function or an entry point"
		case kindShared:
			if floorOf(toName) > floorOf(fromName) {
				return fmt.Sprintf("an arrow back up, from floor %d to floor %d (see sharedFloors)",
					floorOf(fromName), floorOf(toName))
			}
		}
	case kindFunction:
		switch to {
		case kindMain:
			return "a function never imports an entry point or the composition root"
		case kindFunction:
			if toName != fromName {
				return "a function never imports another function: the composition root wires them"
			}
		}
	}
	return ""
}

// TestImportDirections holds the module to its floors: entry points →
// functions → shared (floor by floor) → lua and schema, the SDK apart.
func TestImportDirections(t *testing.T) {
	if bad := arrows(listPackages(t)); len(bad) > 0 {
		t.Fatalf("%d imports go against the floors (README, Architecture):\n%s", len(bad), strings.Join(bad, "\n"))
	}
}

// TestArrowsAreCaught checks the rules themselves on imports that must be
// refused, so a rule that stopped matching would not pass silently.
func TestArrowsAreCaught(t *testing.T) {
	m := func(rel string) string { return module + "/" + rel }
	for _, c := range []struct {
		from, to string
	}{
		{m("shared/config"), m("shared/auth")},
		{m("shared/metrics"), m("shared/cleanup")},
		{m("shared/httpjson"), m("shared/database")},
		{m("shared/seats"), m("functions/acquire")},
		{m("functions/licenses"), m("functions/tenants")},
		{m("functions/acquire"), m("functions/cmd/internal/compose")},
		{m("sdk/license"), m("shared/lease")},
		{m("lua"), m("shared/tokens")},
		{m("shared/lease"), m("sdk/license")},
	} {
		if bad := arrows([]pkg{{path: c.from, imports: []string{c.to}}}); len(bad) == 0 {
			t.Errorf("%s → %s was not refused", c.from, c.to)
		}
	}
	if bad := arrows([]pkg{{path: m("shared/httpjson"), imports: []string{"github.com/jackc/pgx/v5/pgconn"}}}); len(bad) == 0 {
		t.Error("a leaf importing pgx was not refused")
	}
	if bad := arrows([]pkg{{path: m("shared/newthing")}}); len(bad) == 0 {
		t.Error("a shared package on no floor was not refused")
	}
	for _, ok := range []struct{ from, to string }{
		{m("functions/cmd/function"), m("functions/cmd/internal/compose")},
		{m("functions/cmd/internal/compose"), m("functions/acquire")},
		{m("functions/acquire"), m("shared/seats")},
		{m("shared/seats"), m("lua")},
		{m("shared/lease"), m("sdk/leasejws")},
		{m("shared/backend"), m("shared/seats")},
	} {
		if bad := arrows([]pkg{{path: ok.from, imports: []string{ok.to}}}); len(bad) > 0 {
			t.Errorf("an allowed import was refused: %v", bad)
		}
	}
	if _, err := os.Stat(filepath.Join("..", "..", "..", "..", "go.mod")); err != nil {
		t.Fatalf("the module root is not where the test expects it: %v", err)
	}
}
