package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/console"
)

// TestDeploymentMatchesTheSpecs ties the code to the deployment: every
// function FUNCTION_TARGET accepts has a Knative Service selecting it, is
// given the bootstrap token and the identity provider's settings exactly
// when it serves admin calls, is
// granted the signing key in Terraform exactly when it signs, and the key's
// public half alone exactly when it only reads the root public keys, and is
// given the backends' credentials exactly when it connects to them, and
// the console's sign-in settings only if it is the Console. (knative/ and
// terraform/ check their own files in depth, in their own modules; this is
// the link they cannot see.)
func TestDeploymentMatchesTheSpecs(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "..", "..")
	targetRe := regexp.MustCompile(`name: FUNCTION_TARGET\s+value: (\w+)`)
	consoleConfigRe := regexp.MustCompile(`(?m)name: license-server-console\s*$`)
	services := map[string]string{} // FUNCTION_TARGET -> manifest
	files, err := filepath.Glob(filepath.Join(root, "knative", "services", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Knative services found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := targetRe.FindSubmatch(b)
		if m == nil {
			t.Errorf("%s selects no FUNCTION_TARGET", f)
			continue
		}
		services[string(m[1])] = string(b)
	}
	tf, err := os.ReadFile(filepath.Join(root, "terraform", "iam.tf"))
	if err != nil {
		t.Fatal(err)
	}
	rowRe := regexp.MustCompile(`(?m)^\s+(\w+)\s+= \{ signs = (true|false), admin = (true|false), backends = "(\w+)", role = "(\w*)" \}`)
	rows := map[string][2]bool{}
	backends := map[string]string{}
	dbRoles := map[string]string{}
	for _, m := range rowRe.FindAllStringSubmatch(string(tf), -1) {
		rows[m[1]] = [2]bool{m[2] == "true", m[3] == "true"}
		backends[m[1]] = m[4]
		dbRoles[m[1]] = m[5]
	}
	readersRe := regexp.MustCompile(`(?m)^\s+public_key_readers\s+= \[([^\]]*)\]`)
	readers := map[string]bool{}
	if m := readersRe.FindSubmatch(tf); m == nil {
		t.Error("terraform/iam.tf has no public_key_readers list")
	} else {
		for _, name := range regexp.MustCompile(`"(\w+)"`).FindAllSubmatch(m[1], -1) {
			readers[string(name[1])] = true
		}
	}

	for _, name := range compose.Names() {
		manifest, ok := services[name]
		if !ok {
			t.Errorf("function %s has no Knative Service", name)
			continue
		}
		delete(services, name)
		needs := compose.Needs(name)
		if got := strings.Contains(manifest, "BOOTSTRAP_ADMIN_TOKEN"); got != needs.Admin {
			t.Errorf("%s: given the bootstrap token = %v, needs it = %v", name, got, needs.Admin)
		}
		// The identity provider's settings (AUTH_*) and the console's
		// origins reach every admin function, and no other (issue 17).
		if got := strings.Contains(manifest, "name: license-server-auth"); got != needs.Admin {
			t.Errorf("%s: reads the ConfigMap license-server-auth (AUTH_*, CORS_ALLOWED_ORIGINS) = %v, serves admin calls = %v",
				name, got, needs.Admin)
		}
		// CONSOLE_* and the browser key are what the Console's pages are
		// told, and no other function's business.
		if got, want := consoleConfigRe.MatchString(manifest), name == console.Name; got != want {
			t.Errorf("%s: reads the ConfigMap license-server-console (CONSOLE_*) = %v, is the Console = %v", name, got, want)
		}
		row, ok := rows[strings.ToLower(name)]
		if !ok {
			t.Errorf("function %s has no row in terraform/iam.tf", name)
			continue
		}
		if row[0] != needs.Signing() || row[1] != needs.Admin {
			t.Errorf("%s: terraform grants signs=%v admin=%v, the code needs signing=%v admin=%v",
				name, row[0], row[1], needs.Signing(), needs.Admin)
		}
		if reads := needs.RootPublicKeys && !needs.Signing(); readers[strings.ToLower(name)] != reads {
			t.Errorf("%s: terraform lists it as a public-key reader = %v, the code reads the public keys alone = %v",
				name, readers[strings.ToLower(name)], reads)
		}
		// The backends' credentials go exactly where the code connects
		// with them (issue 16, finding 2); a function that only probes
		// them gets their server CAs alone.
		want := "none"
		switch {
		case needs.Backends():
			want = "data"
		case needs.Probes:
			want = "probe"
		}
		if backends[strings.ToLower(name)] != want {
			t.Errorf("%s: terraform grants backends = %q, the code needs %q", name, backends[strings.ToLower(name)], want)
		}
		for _, env := range []string{"REDIS_PASSWORD", "DATABASE_PASSWORD"} {
			if got := strings.Contains(manifest, "name: "+env); got != needs.Backends() {
				t.Errorf("%s: given %s = %v, connects with it = %v", name, env, got, needs.Backends())
			}
		}
		// The PostgreSQL role the code logs in as is the one whose password
		// the deployment gives, and nothing else's.
		if got, want := dbRoles[strings.ToLower(name)], needs.Database.Class(); got != want {
			t.Errorf("%s: terraform gives the password of role %q, the code logs in as %q", name, got, want)
		}
		if role := needs.Database.Class(); role != "" && !strings.Contains(manifest, "secrets/database-password-"+role+"/") {
			t.Errorf("%s: its Knative Service does not give the password of its role, database-password-%s", name, role)
		}
		for _, env := range []string{"REDIS_CA_PEM", "DATABASE_CA_PEM"} {
			if got, use := strings.Contains(manifest, "name: "+env), needs.Backends() || needs.Probes; got != use {
				t.Errorf("%s: given %s = %v, reaches that backend = %v", name, env, got, use)
			}
		}
	}
	for target := range services {
		t.Errorf("a Knative Service selects %s, which is no function", target)
	}
	if len(rows) != len(compose.Names()) {
		t.Errorf("terraform/iam.tf lists %d functions, the composition root %d", len(rows), len(compose.Names()))
	}
}
