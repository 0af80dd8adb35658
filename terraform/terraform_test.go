package terraform

// Tests of the deployment's Terraform against the deploy contract
// (/work/deploy-contract.md at the time of writing; the table below is its
// copy): formatting, documentation, and the security-relevant settings and
// grants, evaluated from the configuration as written (eval_test.go).

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// contractFunction is one row of the contract's function table.
type contractFunction struct {
	name     string
	signs    bool   // roles/cloudkms.signer and publicKeyViewer on lease-root (publicKeyReaders: the viewer alone)
	admin    bool   // also reads bootstrap-admin-token
	backends string // "data": Redis and PostgreSQL credentials; "probe": their CAs only; "none"
	role     string // the PostgreSQL role a "data" function logs in as: reads database-password-<role> alone
}

var contractFunctions = []contractFunction{
	{"health", false, false, "probe", ""},
	{"acquire", true, false, "data", "seats"},
	{"heartbeat", true, false, "data", "seats"},
	{"release", false, false, "data", "seats"},
	{"keys", false, false, "none", ""},
	{"openapi", false, false, "none", ""},
	{"console", false, false, "none", ""},
	{"tenants", false, true, "data", "admin"},
	{"members", false, true, "data", "admin"},
	{"licenses", true, true, "data", "admin"},
	{"apikeys", false, true, "data", "admin"},
	{"workstations", false, true, "data", "admin"},
	{"repositories", false, true, "data", "admin"},
	{"audit", false, true, "data", "reader"},
	{"usage", false, true, "data", "reader"},
	{"notifications", false, true, "data", "admin"},
	{"cleanup", false, false, "data", "cleanup"},
	{"notify", false, false, "data", "cleanup"},
	{"billing", false, true, "data", "admin"},
	{"billingschedule", false, false, "data", "cleanup"},
}

// notifyKeyReaders read the notification keys: Notifications seals
// webhooks' signing secrets and checks mail links, Notify opens the one
// and signs the other. mailSenders alone read the SendGrid key.
var (
	notifyKeyReaders = []string{"notifications", "notify"}
	mailSenders      = []string{"notify"}
	// stripeCallers read Stripe's API key; stripeWebhookReceivers alone
	// its webhook signing secret.
	stripeCallers          = []string{"billing", "billingschedule"}
	stripeWebhookReceivers = []string{"billing"}
)

var (
	// The secrets each kind of backend use reads (issue 16, finding 2).
	backendSecrets = map[string][]string{
		"data":  {"redis-auth", "redis-ca", "database-ca"},
		"probe": {"redis-ca", "database-ca"},
		"none":  nil,
	}
	allSecrets = []string{"bootstrap-admin-token", "database-ca", "database-password-admin", "database-password-cleanup",
		"database-password-migrate", "database-password-reader", "database-password-seats", "notify-link-key",
		"notify-secrets-key", "redis-auth", "redis-ca", "sendgrid-api-key", "stripe-api-key", "stripe-webhook-secret"}
)

func functionEmail(name string) string {
	return "fn-" + name + "@" + testProject + ".iam.gserviceaccount.com"
}

const leaseRootID = "projects/" + testProject + "/locations/us-central1/keyRings/license-server/cryptoKeys/lease-root"

func TestFilesAreFormatted(t *testing.T) {
	m := loadModule(t)
	for _, f := range m.files {
		if got := hclwrite.Format(f.src); !bytes.Equal(got, f.src) {
			t.Errorf("%s is not formatted: run terraform fmt", f.path)
		}
	}
}

func TestEveryVariableAndOutputIsDescribed(t *testing.T) {
	m := loadModule(t)
	for _, kind := range []string{"variable", "output"} {
		blocks := m.blocks(kind)
		if len(blocks) == 0 {
			t.Errorf("no %s blocks found", kind)
		}
		for _, b := range blocks {
			a, ok := b.Body.Attributes["description"]
			if !ok {
				t.Errorf("%s %q has no description", kind, b.Labels[0])
				continue
			}
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String || len(strings.TrimSpace(v.AsString())) < 10 {
				t.Errorf("%s %q: description must be a literal sentence, got %s", kind, b.Labels[0], a.Expr.Range())
			}
		}
	}
}

func TestRequiredAPIsAreEnabled(t *testing.T) {
	m := loadModule(t)
	r := m.resource(t, "google_project_service", "enabled")
	have := map[string]bool{}
	for _, in := range m.instances[r.addr()] {
		have[str(t, r.addr(), in.attrs, "service")] = true
	}
	for _, api := range []string{"container", "sqladmin", "redis", "cloudkms", "secretmanager", "pubsub",
		"cloudscheduler", "eventarc", "dns", "servicenetworking", "compute", "iam", "artifactregistry", "identitytoolkit",
		"securetoken", "apikeys"} {
		if !have[api+".googleapis.com"] {
			t.Errorf("API %s.googleapis.com is not enabled by google_project_service.enabled", api)
		}
	}
}

func TestSigningKeyIsAnHSMBackedRSAKeyThatCannotBeDestroyed(t *testing.T) {
	m := loadModule(t)
	ring := m.resource(t, "google_kms_key_ring", "license_server")
	wantAttr(t, ring.addr(), m.only(t, ring), "name", cty.StringVal("license-server"))

	key := m.resource(t, "google_kms_crypto_key", "lease_root")
	attrs := m.only(t, key)
	wantAttr(t, key.addr(), attrs, "name", cty.StringVal("lease-root"))
	wantAttr(t, key.addr(), attrs, "id", cty.StringVal(leaseRootID))
	wantAttr(t, key.addr(), attrs, "purpose", cty.StringVal("ASYMMETRIC_SIGN"))
	tmpl := nested(t, key.addr(), attrs, "version_template")
	wantAttr(t, key.addr()+".version_template", tmpl, "algorithm", cty.StringVal("RSA_SIGN_PKCS1_4096_SHA256"))
	wantAttr(t, key.addr()+".version_template", tmpl, "protection_level", cty.StringVal("HSM"))
	if v, ok := attrs["skip_initial_version_creation"]; ok && v.True() {
		t.Errorf("%s: skip_initial_version_creation is set, but SIGNING_KMS_KEY_VERSION names version 1", key.addr())
	}
	if !preventDestroy(key.block) {
		t.Errorf("%s: lifecycle { prevent_destroy = true } is missing: destroying the root key orphans every issued license", key.addr())
	}
}

func TestCloudSQLIsHAPrivateEncryptedAndBackedUp(t *testing.T) {
	m := loadModule(t)
	db := m.resource(t, "google_sql_database_instance", "main")
	attrs := m.only(t, db)
	wantAttr(t, db.addr(), attrs, "database_version", cty.StringVal("POSTGRES_16"))
	wantAttr(t, db.addr(), attrs, "deletion_protection", cty.True)

	settings := nested(t, db.addr(), attrs, "settings")
	wantAttr(t, db.addr()+".settings", settings, "availability_type", cty.StringVal("REGIONAL"))
	wantAttr(t, db.addr()+".settings", settings, "deletion_protection_enabled", cty.True)

	ip := nested(t, db.addr()+".settings", settings, "ip_configuration")
	wantAttr(t, db.addr()+".settings.ip_configuration", ip, "ipv4_enabled", cty.False)
	wantAttr(t, db.addr()+".settings.ip_configuration", ip, "private_network",
		cty.StringVal("projects/"+testProject+"/global/networks/license-server"))
	if ssl, ok := ip["ssl_mode"]; !ok || (ssl.AsString() != "ENCRYPTED_ONLY" && ssl.AsString() != "TRUSTED_CLIENT_CERTIFICATE_REQUIRED") {
		got := "unset"
		if ok {
			got = show(ssl)
		}
		t.Errorf("%s: ssl_mode must refuse unencrypted connections (ENCRYPTED_ONLY), got %s", db.addr(), got)
	}

	backup := nested(t, db.addr()+".settings", settings, "backup_configuration")
	wantAttr(t, db.addr()+".settings.backup_configuration", backup, "enabled", cty.True)
	wantAttr(t, db.addr()+".settings.backup_configuration", backup, "point_in_time_recovery_enabled", cty.True)

	wantAttr(t, "google_sql_database.licenses", m.only(t, m.resource(t, "google_sql_database", "licenses")), "name", cty.StringVal("licenses"))
	// The API makes one login, the migrating one; the functions' roles
	// are made by schema/005 without CREATEROLE, their passwords set by
	// make migrate from the secrets.
	users := m.resourcesOf("google_sql_user")
	if len(users) != 1 {
		t.Fatalf("google_sql_user: %d resources, want only license_migrate", len(users))
	}
	user := m.only(t, m.resource(t, "google_sql_user", "license_migrate"))
	wantAttr(t, "google_sql_user.license_migrate", user, "name", cty.StringVal("license_migrate"))
	wantAttr(t, "google_sql_user.license_migrate", user, "password", cty.StringVal("mock-random-database[migrate]"))
	data := secretData(t, m)
	for _, login := range []string{"migrate", "seats", "admin", "reader", "cleanup"} {
		if got, want := data["database-password-"+login], "mock-random-database["+login+"]"; got != want {
			t.Errorf("secret database-password-%s holds %q, want %q", login, got, want)
		}
	}
}

func TestRedisRequiresAuthAndTLS(t *testing.T) {
	m := loadModule(t)
	r := m.resource(t, "google_redis_instance", "main")
	attrs := m.only(t, r)
	wantAttr(t, r.addr(), attrs, "auth_enabled", cty.True)
	wantAttr(t, r.addr(), attrs, "transit_encryption_mode", cty.StringVal("SERVER_AUTHENTICATION"))
	wantAttr(t, r.addr(), attrs, "tier", cty.StringVal("STANDARD_HA"))
	wantAttr(t, r.addr(), attrs, "connect_mode", cty.StringVal("PRIVATE_SERVICE_ACCESS"))
	wantAttr(t, r.addr(), attrs, "redis_version", cty.StringVal("REDIS_7_2"))

	data := secretData(t, m)
	if got := data["redis-auth"]; got != mockRedisAuth {
		t.Errorf("secret redis-auth holds %q, want the instance's auth_string", got)
	}
	if got, want := data["redis-ca"], strings.Join(mockRedisCAs, ""); got != want {
		t.Errorf("secret redis-ca holds %q, want every server CA certificate as PEM (%q)", got, want)
	}
}

func TestSecretsAreTheContracts(t *testing.T) {
	m := loadModule(t)
	var ids []string
	for _, r := range m.resourcesOf("google_secret_manager_secret") {
		for _, in := range m.instances[r.addr()] {
			ids = append(ids, str(t, r.addr(), in.attrs, "secret_id"))
			repl := nested(t, r.addr(), in.attrs, "replication")
			if _, ok := repl["auto"]; !ok {
				t.Errorf("%s[%q]: replication must be auto", r.addr(), in.key)
			}
		}
	}
	sort.Strings(ids)
	if !reflect.DeepEqual(ids, allSecrets) {
		t.Errorf("secrets: have %q, want %q", ids, allSecrets)
	}

	token := m.resource(t, "random_password", "bootstrap_admin_token")
	length := m.only(t, token)["length"]
	if n, _ := length.AsBigFloat().Int64(); n < 48 {
		t.Errorf("%s: length %d, want at least 48", token.addr(), n)
	}
	data := secretData(t, m)
	if got := data["bootstrap-admin-token"]; got != "mock-random-bootstrap_admin_token" {
		t.Errorf("secret bootstrap-admin-token holds %q, want random_password.bootstrap_admin_token's result", got)
	}

	// The notification keys: base64 of 32 random bytes each (what
	// NOTIFY_SECRETS_KEY and NOTIFY_LINK_KEY take), each its own.
	keysRes := m.resource(t, "random_bytes", "notify_key")
	insts := m.instances[keysRes.addr()]
	if len(insts) != 2 {
		t.Errorf("%s: %d instances, want one per notification key", keysRes.addr(), len(insts))
	}
	for _, in := range insts {
		if n, _ := in.attrs["length"].AsBigFloat().Int64(); n != 32 {
			t.Errorf("%s[%q]: length %d, want 32 (the keys are 32 bytes)", keysRes.addr(), in.key, n)
		}
	}
	for _, id := range []string{"notify-secrets-key", "notify-link-key"} {
		if got, want := data[id], mockRandomBytes("notify_key", id); got != want {
			t.Errorf("secret %s holds %q, want random_bytes.notify_key[%q].base64", id, got, id)
		}
	}
	// SendGrid issues its key: an operator adds it, and it never enters
	// the state.
	if _, ok := data["sendgrid-api-key"]; ok {
		t.Error("secret sendgrid-api-key gets a version from Terraform; an operator adds SendGrid's key")
	}
}

func TestFunctionsMapMatchesContract(t *testing.T) {
	m := loadModule(t)
	fns, ok := m.locals["functions"]
	if !ok {
		t.Fatal("local.functions is missing or not a literal map")
	}
	have := map[string]contractFunction{}
	for it := fns.ElementIterator(); it.Next(); {
		k, v := it.Element()
		have[k.AsString()] = contractFunction{name: k.AsString(), signs: v.GetAttr("signs").True(), admin: v.GetAttr("admin").True(),
			backends: v.GetAttr("backends").AsString(), role: v.GetAttr("role").AsString()}
	}
	want := map[string]contractFunction{}
	for _, f := range contractFunctions {
		want[f.name] = f
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("local.functions does not match the contract's table:\nhave %v\nwant %v", have, want)
	}

	// One service account fn-<name> per function.
	sa := m.resource(t, "google_service_account", "function")
	var emails []string
	for _, in := range m.instances[sa.addr()] {
		emails = append(emails, str(t, sa.addr(), in.attrs, "email"))
	}
	var wantEmails []string
	for _, f := range contractFunctions {
		wantEmails = append(wantEmails, functionEmail(f.name))
	}
	sort.Strings(emails)
	sort.Strings(wantEmails)
	if !reflect.DeepEqual(emails, wantEmails) {
		t.Errorf("function service accounts: have %q, want %q", emails, wantEmails)
	}
}

func TestWorkloadIdentityBindsEachKSAToItsOwnAccount(t *testing.T) {
	m := loadModule(t)
	want := map[string]bool{}
	for _, f := range contractFunctions {
		want[fmt.Sprintf("%s|serviceAccount:%s.svc.id.goog[license-server/%s]",
			"projects/"+testProject+"/serviceAccounts/"+functionEmail(f.name), testProject, f.name)] = true
	}
	have := map[string]bool{}
	for _, g := range m.grants(t) {
		if g.role != "roles/iam.workloadIdentityUser" {
			continue
		}
		if g.res.typ != "google_service_account_iam_member" {
			t.Errorf("%s: workloadIdentityUser must be granted on the service account itself", g)
			continue
		}
		have[str(t, g.res.addr(), g.attrs, "service_account_id")+"|"+g.member] = true
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("Workload Identity bindings:\nhave %v\nwant %v", keys(have), keys(want))
	}
}

func TestSigningRolesOnlyOnTheKeyAndOnlyForSigningFunctions(t *testing.T) {
	want := map[string]bool{}
	for _, f := range contractFunctions {
		if f.signs {
			want["serviceAccount:"+functionEmail(f.name)] = true
		}
	}
	checkKeyRole(t, loadModule(t), "roles/cloudkms.signer", want)
}

// publicKeyReaders read the lease-root public keys and never sign: Keys
// publishes them at GET /v1/keys.
var publicKeyReaders = []string{"keys"}

// TestPublicKeyViewerForSignersAndReaders: the public half of the key is
// readable by the functions that sign and by those that only publish it,
// which hold no signer role (TestSigningRolesOnlyOnTheKeyAndOnlyForSigningFunctions).
func TestPublicKeyViewerForSignersAndReaders(t *testing.T) {
	want := map[string]bool{}
	for _, f := range contractFunctions {
		if f.signs {
			want["serviceAccount:"+functionEmail(f.name)] = true
		}
	}
	for _, name := range publicKeyReaders {
		want["serviceAccount:"+functionEmail(name)] = true
	}
	checkKeyRole(t, loadModule(t), "roles/cloudkms.publicKeyViewer", want)
}

// checkKeyRole checks that role is granted on lease-root alone, through
// google_kms_crypto_key_iam_member, to exactly the members of want.
func checkKeyRole(t *testing.T, m *module, role string, want map[string]bool) {
	t.Helper()
	have := map[string]bool{}
	for _, g := range m.grants(t) {
		if g.role != role {
			continue
		}
		if g.res.typ != "google_kms_crypto_key_iam_member" {
			t.Errorf("%s: %s only through google_kms_crypto_key_iam_member on lease-root, never project- or key-ring-wide", g, role)
			continue
		}
		if key := str(t, g.res.addr(), g.attrs, "crypto_key_id"); key != leaseRootID {
			t.Errorf("%s: on key %s, want lease-root", g, key)
		}
		have[g.member] = true
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("%s holders: have %v, want %v", role, keys(have), keys(want))
	}
}

func TestSecretAccessIsPerSecretAndPerFunction(t *testing.T) {
	m := loadModule(t)
	want := map[string]bool{}
	for _, f := range contractFunctions {
		secrets := backendSecrets[f.backends]
		if f.role != "" {
			secrets = append(append([]string{}, secrets...), "database-password-"+f.role)
		}
		if f.admin {
			secrets = append(append([]string{}, secrets...), "bootstrap-admin-token")
		}
		if slices.Contains(notifyKeyReaders, f.name) {
			secrets = append(append([]string{}, secrets...), "notify-secrets-key", "notify-link-key")
		}
		if slices.Contains(mailSenders, f.name) {
			secrets = append(append([]string{}, secrets...), "sendgrid-api-key")
		}
		if slices.Contains(stripeCallers, f.name) {
			secrets = append(append([]string{}, secrets...), "stripe-api-key")
		}
		if slices.Contains(stripeWebhookReceivers, f.name) {
			secrets = append(append([]string{}, secrets...), "stripe-webhook-secret")
		}
		for _, s := range secrets {
			want[functionEmail(f.name)+" -> "+s] = true
		}
	}
	have := map[string]bool{}
	for _, g := range m.grants(t) {
		if g.role != "roles/secretmanager.secretAccessor" {
			continue
		}
		if g.res.typ != "google_secret_manager_secret_iam_member" {
			t.Errorf("%s: secretAccessor only through google_secret_manager_secret_iam_member on one secret", g)
			continue
		}
		secret := strings.TrimPrefix(str(t, g.res.addr(), g.attrs, "secret_id"), "projects/"+testProject+"/secrets/")
		have[strings.TrimPrefix(g.member, "serviceAccount:")+" -> "+secret] = true
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("secret access:\nhave %v\nwant %v", keys(have), keys(want))
	}
}

var broadRole = regexp.MustCompile(`^roles/(owner|editor|viewer|[A-Za-z0-9_.]+\.admin|cloudsql\.client)$`)

func TestNoBroadRoles(t *testing.T) {
	m := loadModule(t)
	// No such role written anywhere, granted or not.
	for _, f := range m.files {
		hclsyntax.VisitAll(f.body, func(n hclsyntax.Node) hcl.Diagnostics {
			if lit, ok := n.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && broadRole.MatchString(lit.Val.AsString()) {
				t.Errorf("%s: role %s is too broad (owner/editor/viewer, *.admin) or unneeded (cloudsql.client: the functions connect to the private IP directly)",
					lit.SrcRange, lit.Val.AsString())
			}
			return nil
		})
	}

	// Function accounts hold nothing but their key and secret grants, and
	// publishing on one topic (TestNotifyScheduleTriggerAndPublishers).
	allowed := map[string]string{
		"roles/cloudkms.signer":              "google_kms_crypto_key_iam_member",
		"roles/cloudkms.publicKeyViewer":     "google_kms_crypto_key_iam_member",
		"roles/secretmanager.secretAccessor": "google_secret_manager_secret_iam_member",
		"roles/pubsub.publisher":             "google_pubsub_topic_iam_member",
	}
	// Project-wide grants: the node account's logs and metrics, and the
	// Eventarc forwarders' metrics; nothing else, and nothing to a function.
	projectWide := map[string]bool{
		"roles/logging.logWriter|serviceAccount:license-server-nodes@test-project.iam.gserviceaccount.com":                   true,
		"roles/monitoring.metricWriter|serviceAccount:license-server-nodes@test-project.iam.gserviceaccount.com":             true,
		"roles/monitoring.viewer|serviceAccount:license-server-nodes@test-project.iam.gserviceaccount.com":                   true,
		"roles/stackdriver.resourceMetadata.writer|serviceAccount:license-server-nodes@test-project.iam.gserviceaccount.com": true,
		"roles/monitoring.metricWriter|serviceAccount:eventarc-cleanup@test-project.iam.gserviceaccount.com":                 true,
		"roles/monitoring.metricWriter|serviceAccount:eventarc-notify@test-project.iam.gserviceaccount.com":                  true,
		"roles/monitoring.metricWriter|serviceAccount:eventarc-billing@test-project.iam.gserviceaccount.com":                 true,
	}
	grants := m.grants(t)
	if len(grants) == 0 {
		t.Fatal("no IAM grants found")
	}
	for _, g := range grants {
		if broadRole.MatchString(g.role) {
			t.Errorf("%s: role is too broad or unneeded", g)
		}
		if strings.HasPrefix(g.member, "serviceAccount:fn-") {
			if typ, ok := allowed[g.role]; !ok || typ != g.res.typ {
				t.Errorf("%s: a function account may only hold signer/publicKeyViewer on the key, secretAccessor on a secret and publisher on a topic", g)
			}
		}
		if strings.HasPrefix(g.res.typ, "google_project_iam_") {
			if g.res.typ != "google_project_iam_member" {
				t.Errorf("%s: authoritative project bindings replace other members; use google_project_iam_member", g)
			}
			if !projectWide[g.role+"|"+g.member] {
				t.Errorf("%s: unexpected project-wide grant", g)
			}
		}
		if strings.HasPrefix(g.res.typ, "google_folder_iam_") || strings.HasPrefix(g.res.typ, "google_organization_iam_") {
			t.Errorf("%s: no folder or organization grants", g)
		}
	}
}

func TestGKEIsPrivateWithWorkloadIdentityAndALeastPrivilegeNodeAccount(t *testing.T) {
	m := loadModule(t)
	c := m.resource(t, "google_container_cluster", "main")
	attrs := m.only(t, c)
	wi := nested(t, c.addr(), attrs, "workload_identity_config")
	wantAttr(t, c.addr()+".workload_identity_config", wi, "workload_pool", cty.StringVal(testProject+".svc.id.goog"))
	pcc := nested(t, c.addr(), attrs, "private_cluster_config")
	wantAttr(t, c.addr()+".private_cluster_config", pcc, "enable_private_nodes", cty.True)
	wantAttr(t, c.addr()+".private_cluster_config", pcc, "enable_private_endpoint", cty.False) // Eventarc's GKE destination needs it
	wantAttr(t, c.addr(), attrs, "enable_shielded_nodes", cty.True)
	// The alerts, SLOs and dashboard read what Managed Prometheus collects.
	mc := nested(t, c.addr(), attrs, "monitoring_config")
	wantAttr(t, c.addr()+".monitoring_config.managed_prometheus", nested(t, c.addr()+".monitoring_config", mc, "managed_prometheus"), "enabled", cty.True)

	nodeSA := "license-server-nodes@" + testProject + ".iam.gserviceaccount.com"
	pools := m.resourcesOf("google_container_node_pool")
	if len(pools) == 0 {
		t.Fatal("no google_container_node_pool")
	}
	for _, p := range pools {
		cfg := nested(t, p.addr(), m.only(t, p), "node_config")
		wantAttr(t, p.addr()+".node_config", cfg, "service_account", cty.StringVal(nodeSA))
		wantAttr(t, p.addr()+".node_config.workload_metadata_config", nested(t, p.addr(), cfg, "workload_metadata_config"), "mode", cty.StringVal("GKE_METADATA"))
		shielded := nested(t, p.addr(), cfg, "shielded_instance_config")
		wantAttr(t, p.addr()+".node_config.shielded_instance_config", shielded, "enable_secure_boot", cty.True)
		wantAttr(t, p.addr()+".node_config.shielded_instance_config", shielded, "enable_integrity_monitoring", cty.True)
	}

	// The node account's roles: exactly the documented minimum.
	have := map[string]bool{}
	for _, g := range m.grants(t) {
		if g.member == "serviceAccount:"+nodeSA {
			have[g.role] = true
		}
	}
	want := map[string]bool{
		"roles/logging.logWriter": true, "roles/monitoring.metricWriter": true, "roles/monitoring.viewer": true,
		"roles/stackdriver.resourceMetadata.writer": true, "roles/artifactregistry.reader": true,
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("node service account roles: have %v, want %v", keys(have), keys(want))
	}
}

// TestControlPlaneOnlyForAuthorizedNetworks (issue 16, finding 9): the
// public control-plane endpoint, which Eventarc's GKE destination needs,
// always has authorized networks, and by default they are Google Cloud's
// own addresses only: no CIDR of anyone else unless the operator lists it.
func TestControlPlaneOnlyForAuthorizedNetworks(t *testing.T) {
	m := loadModule(t)
	c := m.resource(t, "google_container_cluster", "main")
	blockIndex(t, c, "master_authorized_networks_config")
	for _, b := range c.block.Body.Blocks {
		if b.Type == "dynamic" && len(b.Labels) == 1 && b.Labels[0] == "master_authorized_networks_config" {
			t.Error("master_authorized_networks_config is dynamic: it must always be set")
		}
	}
	attrs := m.only(t, c)
	man := nested(t, c.addr(), attrs, "master_authorized_networks_config")
	wantAttr(t, c.addr()+".master_authorized_networks_config", man, "gcp_public_cidrs_access_enabled", cty.True)
	if cidrs, ok := man["cidr_blocks"]; ok && !cidrs.IsNull() && cidrs.LengthInt() != 0 {
		t.Errorf("default authorized networks = %s, want none", show(cidrs))
	}
	for _, v := range m.blocks("variable") {
		if v.Labels[0] != "master_authorized_networks" {
			continue
		}
		def, diags := v.Body.Attributes["default"].Expr.Value(nil)
		if diags.HasErrors() || def.LengthInt() != 0 {
			t.Errorf("var.master_authorized_networks default = %s, want []", show(def))
		}
	}
}

// TestDatabaseIsVerifiedByItsCAAndName (issue 16, finding 9): Cloud SQL's
// server certificate comes from a CAS CA, so it names the instance's DNS
// name; that CA goes into the secret database-ca and the name into the
// ConfigMap (TestOutputs), for sslmode=verify-full.
func TestDatabaseIsVerifiedByItsCAAndName(t *testing.T) {
	m := loadModule(t)
	sql := m.resource(t, "google_sql_database_instance", "main")
	ip := nested(t, sql.addr(), nested(t, sql.addr(), m.only(t, sql), "settings"), "ip_configuration")
	wantAttr(t, sql.addr()+".settings.ip_configuration", ip, "server_ca_mode", cty.StringVal("GOOGLE_MANAGED_CAS_CA"))
	wantAttr(t, sql.addr()+".settings.ip_configuration", ip, "ssl_mode", cty.StringVal("ENCRYPTED_ONLY"))
	if got := secretData(t, m)["database-ca"]; got != mockSQLCA {
		t.Errorf("secret database-ca holds %q, want the instance's server CA", got)
	}
}

func TestCleanupScheduleAndTrigger(t *testing.T) {
	checkScheduledPipeline(t, loadModule(t), "cleanup", "cleanup", "* * * * *", nil)
}

// TestBillingScheduleAndTrigger: license-billing ticks every hour (at
// minute 7) into BillingSchedule, on a trigger of its own; nobody else
// publishes there. Stripe's secrets get no version from Terraform.
func TestBillingScheduleAndTrigger(t *testing.T) {
	m := loadModule(t)
	checkScheduledPipeline(t, m, "billing", "billingschedule", "7 * * * *", nil)
	data := secretData(t, m)
	for _, id := range []string{"stripe-api-key", "stripe-webhook-secret"} {
		if _, ok := data[id]; ok {
			t.Errorf("secret %s gets a version from Terraform; an operator adds Stripe's", id)
		}
	}
}

// notifyPublishers publish to license-notify right after a commit that
// appended outbox events (the functions whose specs say Nudges;
// functions/cmd/internal/e2e ties the list to the code).
var notifyPublishers = []string{"apikeys", "billing", "licenses", "members", "notifications", "workstations"}

// TestNotifyScheduleTriggerAndPublishers: license-notify gets a sweep
// every minute from Cloud Scheduler and a nudge from each function that
// appends outbox events, which may publish there and nowhere else; a
// trigger of its own delivers to the notify service.
func TestNotifyScheduleTriggerAndPublishers(t *testing.T) {
	m := loadModule(t)
	checkScheduledPipeline(t, m, "notify", "notify", "* * * * *", notifyPublishers)
	wantAttr(t, "google_pubsub_topic.notify", m.only(t, m.resource(t, "google_pubsub_topic", "notify")),
		"name", cty.StringVal("license-notify"))
	// Publishing is granted on license-notify alone, to nobody else.
	for _, g := range m.grants(t) {
		if g.role != "roles/pubsub.publisher" || !strings.HasPrefix(g.member, "serviceAccount:fn-") {
			continue
		}
		if g.res.typ != "google_pubsub_topic_iam_member" || str(t, g.res.addr(), g.attrs, "topic") != "license-notify" {
			t.Errorf("%s: a function may publish to license-notify only", g)
		}
	}
	// Each trigger its own account: one subscribes to its own topic only.
	accounts := map[string]string{}
	for _, r := range m.resourcesOf("google_eventarc_trigger") {
		sa := str(t, r.addr(), m.only(t, r), "service_account")
		if other, ok := accounts[sa]; ok {
			t.Errorf("the %s and %s triggers share the account %s", other, r.name, sa)
		}
		accounts[sa] = r.name
	}
}

// checkScheduledPipeline checks Cloud Scheduler → topic license-<name> →
// Eventarc trigger license-<name> → the Knative service <name>: a job
// publishing a JSON body every minute, a trigger on its own account
// delivering the topic's messages to the service, and every grant on the
// topic and the trigger's subscription, and the trigger account's others,
// being exactly the pipeline's own plus publishing by the functions named.
func checkScheduledPipeline(t *testing.T, m *module, name, service, schedule string, publishers []string) {
	t.Helper()
	topicName := "license-" + name
	topic := m.only(t, m.resource(t, "google_pubsub_topic", name))
	wantAttr(t, "google_pubsub_topic."+name, topic, "name", cty.StringVal(topicName))
	topicID := topic["id"]

	job := m.resource(t, "google_cloud_scheduler_job", name)
	ja := m.only(t, job)
	wantAttr(t, job.addr(), ja, "schedule", cty.StringVal(schedule))
	target := nested(t, job.addr(), ja, "pubsub_target")
	wantAttr(t, job.addr()+".pubsub_target", target, "topic_name", topicID)
	raw, err := base64.StdEncoding.DecodeString(str(t, job.addr(), target, "data"))
	if err != nil || !json.Valid(raw) {
		t.Errorf("%s: data must be base64 of a JSON body, got %q (%v)", job.addr(), raw, err)
	}

	tr := m.resource(t, "google_eventarc_trigger", name)
	ta := m.only(t, tr)
	wantAttr(t, tr.addr(), ta, "name", cty.StringVal(topicName))
	crit := nested(t, tr.addr(), ta, "matching_criteria")
	wantAttr(t, tr.addr()+".matching_criteria", crit, "attribute", cty.StringVal("type"))
	wantAttr(t, tr.addr()+".matching_criteria", crit, "value", cty.StringVal("google.cloud.pubsub.topic.v1.messagePublished"))
	if src, want := m.source(tr, tr.block.Body.Blocks[blockIndex(t, tr, "transport")].Body.Blocks[0].Body.Attributes["topic"].Expr),
		"google_pubsub_topic."+name+".id"; src != want {
		t.Errorf("%s: transport.pubsub.topic = %s, want %s", tr.addr(), src, want)
	}
	gke := nested(t, tr.addr()+".destination", nested(t, tr.addr(), ta, "destination"), "gke")
	wantAttr(t, tr.addr()+".destination.gke", gke, "cluster", cty.StringVal("license-server"))
	wantAttr(t, tr.addr()+".destination.gke", gke, "location", cty.StringVal("us-central1"))
	wantAttr(t, tr.addr()+".destination.gke", gke, "namespace", cty.StringVal("license-server"))
	wantAttr(t, tr.addr()+".destination.gke", gke, "service", cty.StringVal(service))
	wantAttr(t, tr.addr()+".destination.gke", gke, "path", cty.StringVal("/"))
	triggerSA := "serviceAccount:" + str(t, tr.addr(), ta, "service_account")
	if triggerSA == "serviceAccount:"+functionEmail(service) {
		t.Errorf("%s: the trigger needs its own service account, not the function's", tr.addr())
	}

	// Every trigger's subscription: a grant on any other is a mistake.
	subscriptions := map[string]bool{}
	for _, r := range m.resourcesOf("google_eventarc_trigger") {
		for _, in := range m.instances[r.addr()] {
			subscriptions[mockSubscription(str(t, r.addr(), in.attrs, "name"))] = true
		}
	}
	// Who may do what with the topic and the trigger's subscription.
	have := map[string]bool{}
	for _, g := range m.grants(t) {
		switch g.res.typ {
		case "google_pubsub_topic_iam_member":
			if str(t, g.res.addr(), g.attrs, "topic") == topicName {
				have[g.role+" on topic to "+g.member] = true
			}
		case "google_pubsub_subscription_iam_member":
			sub := str(t, g.res.addr(), g.attrs, "subscription")
			if !subscriptions[sub] {
				t.Errorf("%s: on subscription %s, which is no trigger's", g, sub)
			}
			if sub == mockSubscription(topicName) {
				have[g.role+" on subscription to "+g.member] = true
			}
		default:
			if g.member == triggerSA {
				have[g.role+" on "+g.res.typ+" to "+g.member] = true
			}
		}
	}
	want := map[string]bool{
		"roles/pubsub.publisher on topic to serviceAccount:service-" + mockProjectNumber + "@gcp-sa-cloudscheduler.iam.gserviceaccount.com": true,
		"roles/pubsub.subscriber on topic to " + triggerSA:                           true,
		"roles/pubsub.subscriber on subscription to " + triggerSA:                    true,
		"roles/monitoring.metricWriter on google_project_iam_member to " + triggerSA: true,
	}
	for _, fn := range publishers {
		want["roles/pubsub.publisher on topic to serviceAccount:"+functionEmail(fn)] = true
	}
	if !reflect.DeepEqual(have, want) {
		t.Errorf("%s pipeline grants:\nhave %v\nwant %v", name, keys(have), keys(want))
	}
}

func TestStaticIPAndDNSRecord(t *testing.T) {
	m := loadModule(t)
	ip := m.only(t, m.resource(t, "google_compute_global_address", "api"))
	wantAttr(t, "google_compute_global_address.api", ip, "name", cty.StringVal("license-api-ip"))
	rec := m.resource(t, "google_dns_record_set", "api")
	ra := m.only(t, rec)
	wantAttr(t, rec.addr(), ra, "name", cty.StringVal("api.coditect.ai."))
	wantAttr(t, rec.addr(), ra, "type", cty.StringVal("A"))
	wantAttr(t, rec.addr(), ra, "managed_zone", cty.StringVal(testDNSZone))
	wantAttr(t, rec.addr(), ra, "project", cty.StringVal(testProject))
	wantAttr(t, rec.addr(), ra, "rrdatas", cty.TupleVal([]cty.Value{cty.StringVal(mockAPIAddress)}))
}

func TestOutputs(t *testing.T) {
	m := loadModule(t)
	ctx := m.context()
	out := map[string]cty.Value{}
	for _, b := range m.blocks("output") {
		v, diags := b.Body.Attributes["value"].Expr.Value(ctx)
		if diags.HasErrors() {
			t.Errorf("output %q cannot be evaluated: %s", b.Labels[0], diags.Error())
			continue
		}
		out[b.Labels[0]] = v
	}
	for name, want := range map[string]string{
		"cluster_name":        "license-server",
		"cluster_location":    "us-central1",
		"ko_docker_repo":      "us-central1-docker.pkg.dev/" + testProject + "/license-server",
		"api_ip_address":      mockAPIAddress,
		"signing_key_version": leaseRootID + "/cryptoKeyVersions/1",
		"sql_server_name":     strings.TrimSuffix(mockSQLDNSName, "."),
	} {
		v, ok := out[name]
		if !ok {
			t.Errorf("output %q is missing", name)
			continue
		}
		if v.AsString() != want {
			t.Errorf("output %q = %q, want %q", name, v.AsString(), want)
		}
	}

	notify, sensitive := outputDoc(t, m, ctx, "knative_notify_config")
	if sensitive {
		t.Error("output knative_notify_config holds nothing secret; sensitive would only hide it")
	}
	if want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "license-server-notify", "namespace": "license-server"},
		"data": map[string]any{
			"PUBLIC_URL": "https://api.coditect.ai",
			"MAIL_FROM":  "Coditect Licenses <notifications@coditect.ai>",
		},
	}; !reflect.DeepEqual(notify, want) {
		t.Errorf("knative_notify_config:\nhave %v\nwant %v", notify, want)
	}

	// Billing's ConfigMap: the variables' defaults, which are
	// shared/config's own, and the operator's values when set.
	billing, sensitive := outputDoc(t, m, ctx, "knative_billing_config")
	if sensitive {
		t.Error("output knative_billing_config holds nothing secret; sensitive would only hide it")
	}
	wantBilling := func(grace, returnURL string) map[string]any {
		return map[string]any{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata":   map[string]any{"name": "license-server-billing", "namespace": "license-server"},
			"data":       map[string]any{"BILLING_GRACE": grace, "BILLING_PORTAL_RETURN_URL": returnURL},
		}
	}
	if want := wantBilling("72h", "https://api.coditect.ai/console/"); !reflect.DeepEqual(billing, want) {
		t.Errorf("knative_billing_config:\nhave %v\nwant %v", billing, want)
	}
	set := loadModule(t)
	set.vars["billing_grace"] = cty.StringVal("120h")
	set.vars["billing_portal_return_url"] = cty.StringVal("https://licenses.example.com/console/")
	if got, want := first(outputDoc(t, set, set.context(), "knative_billing_config")), wantBilling("120h", "https://licenses.example.com/console/"); !reflect.DeepEqual(got, want) {
		t.Errorf("knative_billing_config with the variables set:\nhave %v\nwant %v", got, want)
	}

	// Mid-rotation (README, Runbooks: signing key rotation): version 2
	// signs, 1 and 3 are published and verified.
	rot := loadModule(t).with(t, map[string]cty.Value{
		"signing_key_version":          cty.NumberIntVal(2),
		"signing_trusted_key_versions": cty.ListVal([]cty.Value{cty.NumberIntVal(1), cty.NumberIntVal(3)}),
	})
	if data, _ := first(outputDoc(t, rot, rot.context(), "knative_config"))["data"].(map[string]any); data["SIGNING_KMS_KEY_VERSION"] != leaseRootID+"/cryptoKeyVersions/2" ||
		data["SIGNING_KMS_TRUSTED_VERSIONS"] != leaseRootID+"/cryptoKeyVersions/1,"+leaseRootID+"/cryptoKeyVersions/3" {
		t.Errorf("knative_config mid-rotation: SIGNING_KMS_KEY_VERSION %v, SIGNING_KMS_TRUSTED_VERSIONS %v", data["SIGNING_KMS_KEY_VERSION"], data["SIGNING_KMS_TRUSTED_VERSIONS"])
	}

	cfg, ok := out["knative_config"]
	if !ok {
		t.Fatal("output knative_config is missing")
	}
	for _, b := range m.blocks("output") {
		if b.Labels[0] == "knative_config" {
			if fc, ok := b.Body.Attributes["value"].Expr.(*hclsyntax.FunctionCallExpr); !ok || fc.Name != "yamlencode" {
				t.Error("output knative_config must be built with yamlencode")
			}
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(cfg.AsString()), &doc); err != nil {
		t.Fatalf("knative_config: %v", err)
	}
	want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "license-server-config", "namespace": "license-server"},
		"data": map[string]any{
			"GOOGLE_CLOUD_PROJECT":         testProject,
			"REDIS_URL":                    fmt.Sprintf("rediss://%s:%d", mockRedisHost, mockRedisTLSPort),
			"DATABASE_URL":                 "postgres://" + mockSQLIP + ":5432/licenses?sslmode=verify-full",
			"DATABASE_SERVER_NAME":         strings.TrimSuffix(mockSQLDNSName, "."),
			"SIGNING_KMS_KEY_VERSION":      leaseRootID + "/cryptoKeyVersions/1",
			"SIGNING_KMS_TRUSTED_VERSIONS": "",
			"LEASE_ISSUER":                 "https://api.coditect.ai",
			"LOG_LEVEL":                    "info",
		},
	}
	if !reflect.DeepEqual(doc, want) {
		got, _ := json.MarshalIndent(doc, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("knative_config:\nhave %s\nwant %s", got, exp)
	}
}

// TestIdentityPlatformSignsPeopleIn (issue 17): Identity Platform is
// enabled with e-mail link sign-in (no password), its authorized domains
// include the service's host, Google sign-in exists only with an OAuth
// client, and the admin functions' ConfigMap names its keys, issuer and
// audience, and the console's https origins for CORS.
func TestIdentityPlatformSignsPeopleIn(t *testing.T) {
	m := loadModule(t)
	r := m.resource(t, "google_identity_platform_config", "default")
	a := m.only(t, r)
	wantAttr(t, r.addr(), a, "project", cty.StringVal(testProject))
	email := nested(t, r.addr(), nested(t, r.addr(), a, "sign_in"), "email")
	wantAttr(t, r.addr()+".sign_in.email", email, "enabled", cty.True)
	wantAttr(t, r.addr()+".sign_in.email", email, "password_required", cty.False)
	domains, ok := a["authorized_domains"]
	if !ok || !domains.CanIterateElements() {
		t.Fatalf("%s: authorized_domains cannot be evaluated", r.addr())
	}
	var hosts []string
	for it := domains.ElementIterator(); it.Next(); {
		_, v := it.Element()
		hosts = append(hosts, v.AsString())
	}
	if !reflect.DeepEqual(hosts, []string{"api.coditect.ai"}) {
		t.Errorf("authorized_domains = %q, want the API's host (and the console's, none by default)", hosts)
	}
	if !strings.Contains(m.source(r, r.block.Body.Attributes["depends_on"].Expr), "google_project_service.enabled") {
		t.Error("Identity Platform must wait for its API (depends_on google_project_service.enabled)")
	}
	// No OAuth client by default: no Google provider, e-mail link only.
	idp := m.resource(t, "google_identity_platform_default_supported_idp_config", "google")
	if n := len(m.instances[idp.addr()]); n != 0 {
		t.Errorf("%s: %d instances without an OAuth client, want none", idp.addr(), n)
	}

	var out cty.Value
	for _, b := range m.blocks("output") {
		if b.Labels[0] == "knative_auth_config" {
			v, diags := b.Body.Attributes["value"].Expr.Value(m.context())
			if diags.HasErrors() {
				t.Fatalf("knative_auth_config: %s", diags.Error())
			}
			out = v
		}
	}
	if out == cty.NilVal {
		t.Fatal("output knative_auth_config is missing")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out.AsString()), &doc); err != nil {
		t.Fatalf("knative_auth_config: %v", err)
	}
	want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "license-server-auth", "namespace": "license-server"},
		"data": map[string]any{
			"AUTH_JWKS_URL":            "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
			"AUTH_ISSUER":              "https://securetoken.google.com/" + testProject,
			"AUTH_AUDIENCE":            testProject,
			"AUTH_PLATFORM_IDP_TENANT": "",
			"AUTH_GOOGLE_AUDIENCE":     "https://api.coditect.ai",
			"CORS_ALLOWED_ORIGINS":     "",
		},
	}
	if !reflect.DeepEqual(doc, want) {
		got, _ := json.MarshalIndent(doc, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("knative_auth_config:\nhave %s\nwant %s", got, exp)
	}

	// With a console and an OAuth client: the console's host is an
	// authorized domain and its https origin the CORS origin, and Google
	// sign-in is on.
	m.vars["console_domains"] = cty.TupleVal([]cty.Value{cty.StringVal("console.coditect.ai")})
	m.vars["google_oauth_client_id"] = cty.StringVal("client.apps.googleusercontent.com")
	m.vars["google_oauth_client_secret"] = cty.StringVal("shh")
	ctx := m.context()
	a = evalBody(ctx, r.block.Body)
	if got := a["authorized_domains"]; !got.Equals(cty.TupleVal([]cty.Value{cty.StringVal("api.coditect.ai"),
		cty.StringVal("console.coditect.ai")})).True() {
		t.Errorf("authorized_domains with a console = %s", show(got))
	}
	insts, ok := m.evalResource(ctx, idp)
	if !ok || len(insts) != 1 || insts[0].key != "google.com" {
		t.Fatalf("%s with an OAuth client: %+v", idp.addr(), insts)
	}
	wantAttr(t, idp.addr(), insts[0].attrs, "client_id", cty.StringVal("client.apps.googleusercontent.com"))
	wantAttr(t, idp.addr(), insts[0].attrs, "enabled", cty.True)
	for _, b := range m.blocks("output") {
		if b.Labels[0] == "knative_auth_config" {
			v, diags := b.Body.Attributes["value"].Expr.Value(ctx)
			if diags.HasErrors() || !strings.Contains(v.AsString(), `"CORS_ALLOWED_ORIGINS":"https://console.coditect.ai"`) {
				t.Errorf("knative_auth_config with a console = %s %s", v.GoString(), diags.Error())
			}
		}
	}
}

// TestConsoleSignsInWithARestrictedBrowserKey: the admin web console's
// Identity Platform key may call only Identity Toolkit and Secure Token,
// only from the console's pages and the sign-in handler (https, no
// wildcard host), and reaches the Console function through its own
// ConfigMap, with the project and the platform's tenant the admin
// functions accept; the console's account is granted nothing.
func TestConsoleSignsInWithARestrictedBrowserKey(t *testing.T) {
	m := loadModule(t)
	key := m.resource(t, "google_apikeys_key", "console")
	attrs := m.only(t, key)
	wantAttr(t, key.addr(), attrs, "project", cty.StringVal(testProject))
	if !strings.Contains(m.source(key, key.block.Body.Attributes["depends_on"].Expr), "google_project_service.enabled") {
		t.Errorf("%s must wait for the API Keys API (depends_on google_project_service.enabled)", key.addr())
	}
	restrictions := nested(t, key.addr(), attrs, "restrictions")
	var services []string
	if targets, ok := restrictions["api_targets"]; ok {
		for it := targets.ElementIterator(); it.Next(); {
			_, target := it.Element()
			tm := target.AsValueMap()
			if methods, ok := tm["methods"]; ok && !methods.IsNull() {
				t.Errorf("%s: api_targets narrow to methods %s; the SDK calls several", key.addr(), show(methods))
			}
			services = append(services, tm["service"].AsString())
		}
	}
	sort.Strings(services)
	if want := []string{"identitytoolkit.googleapis.com", "securetoken.googleapis.com"}; !reflect.DeepEqual(services, want) {
		t.Errorf("%s: api_targets = %q, want exactly %q", key.addr(), services, want)
	}
	for _, other := range []string{"server_key_restrictions", "android_key_restrictions", "ios_key_restrictions"} {
		if _, ok := restrictions[other]; ok {
			t.Errorf("%s: %s on a browser key", key.addr(), other)
		}
	}
	referrers := func(attrs map[string]cty.Value) []string {
		t.Helper()
		browser := nested(t, key.addr()+".restrictions", nested(t, key.addr(), attrs, "restrictions"), "browser_key_restrictions")
		var out []string
		if v, ok := browser["allowed_referrers"]; ok {
			for it := v.ElementIterator(); it.Next(); {
				_, r := it.Element()
				out = append(out, r.AsString())
			}
		}
		return out
	}
	if got, want := referrers(attrs), []string{"https://api.coditect.ai/*", "https://" + testProject + ".firebaseapp.com/*"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s: allowed_referrers = %q, want %q (the API's host, where the console is, and the sign-in handler's)", key.addr(), got, want)
	}

	// The console's ConfigMap.
	console, sensitive := outputDoc(t, m, m.context(), "knative_console_config")
	if !sensitive {
		t.Error("output knative_console_config must be sensitive = true: the provider marks key_string sensitive, and Terraform refuses to show it otherwise")
	}
	want := map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata":   map[string]any{"name": "license-server-console", "namespace": "license-server"},
		"data": map[string]any{
			"CONSOLE_FIREBASE_API_KEY": mockBrowserKey,
			"CONSOLE_AUTH_DOMAIN":      testProject + ".firebaseapp.com",
			"CONSOLE_TOKEN_SIGN_IN":    "false",
			"AUTH_AUDIENCE":            testProject,
			"AUTH_PLATFORM_IDP_TENANT": "",
		},
	}
	if !reflect.DeepEqual(console, want) {
		got, _ := json.MarshalIndent(console, "", "  ")
		exp, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("knative_console_config:\nhave %s\nwant %s", got, exp)
	}

	// No grant names the console's account (Workload Identity names the
	// Kubernetes account): no secret, no key, nothing project-wide.
	for _, g := range m.grants(t) {
		if g.member == "serviceAccount:"+functionEmail("console") {
			t.Errorf("%s: the console uses no secret and no key", g)
		}
	}

	// With the console on hosts of its own, a platform tenant and token
	// sign-in: the hosts are referrers, and the console and the admin
	// functions name the same tenant.
	m.vars["console_domains"] = cty.TupleVal([]cty.Value{cty.StringVal("console.coditect.ai")})
	m.vars["platform_idp_tenant"] = cty.StringVal("platform-abc12")
	m.vars["console_token_sign_in"] = cty.True
	ctx := m.context()
	if got, want := referrers(evalBody(ctx, key.block.Body)), []string{"https://api.coditect.ai/*",
		"https://" + testProject + ".firebaseapp.com/*", "https://console.coditect.ai/*"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s with a console host: allowed_referrers = %q, want %q", key.addr(), got, want)
	}
	console, _ = outputDoc(t, m, ctx, "knative_console_config")
	auth, _ := outputDoc(t, m, ctx, "knative_auth_config")
	cd, ad := console["data"].(map[string]any), auth["data"].(map[string]any)
	if cd["AUTH_PLATFORM_IDP_TENANT"] != "platform-abc12" || ad["AUTH_PLATFORM_IDP_TENANT"] != "platform-abc12" || cd["CONSOLE_TOKEN_SIGN_IN"] != "true" {
		t.Errorf("with platform_idp_tenant and console_token_sign_in: console %v, admin functions %v", cd, ad)
	}
}

// outputDoc evaluates an output holding one JSON (YAML) document, and
// says whether it is declared sensitive.
func outputDoc(t *testing.T, m *module, ctx *hcl.EvalContext, name string) (map[string]any, bool) {
	t.Helper()
	for _, b := range m.blocks("output") {
		if b.Labels[0] != name {
			continue
		}
		v, diags := b.Body.Attributes["value"].Expr.Value(ctx)
		if diags.HasErrors() {
			t.Fatalf("output %s: %s", name, diags.Error())
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(v.AsString()), &doc); err != nil {
			t.Fatalf("output %s: %v", name, err)
		}
		sensitive := false
		if a, ok := b.Body.Attributes["sensitive"]; ok {
			s, diags := a.Expr.Value(nil)
			sensitive = !diags.HasErrors() && s.True()
		}
		return doc, sensitive
	}
	t.Fatalf("output %s is missing", name)
	return nil, false
}

// first is the first of two results.
func first[A, B any](a A, _ B) A { return a }

// secretData maps each secret id to the data of the versions written to it.
func secretData(t *testing.T, m *module) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range m.resourcesOf("google_secret_manager_secret_version") {
		for _, in := range m.instances[r.addr()] {
			id := strings.TrimPrefix(str(t, r.addr(), in.attrs, "secret"), "projects/"+testProject+"/secrets/")
			if _, dup := out[id]; dup {
				t.Errorf("secret %s gets more than one version", id)
			}
			out[id] = str(t, r.addr(), in.attrs, "secret_data")
		}
	}
	return out
}

// wantAttr checks an evaluated attribute.
func wantAttr(t *testing.T, where string, attrs map[string]cty.Value, name string, want cty.Value) {
	t.Helper()
	got, ok := attrs[name]
	if !ok {
		t.Errorf("%s: %s is not set (or cannot be evaluated), want %s", where, name, show(want))
		return
	}
	if !got.Equals(want).True() {
		t.Errorf("%s: %s = %s, want %s", where, name, show(got), show(want))
	}
}

// str returns an evaluated string attribute, failing without it.
func str(t *testing.T, where string, attrs map[string]cty.Value, name string) string {
	t.Helper()
	v, ok := attrs[name]
	if !ok || v.IsNull() || v.Type() != cty.String {
		t.Fatalf("%s: %s is not set to a string that can be evaluated", where, name)
	}
	return v.AsString()
}

// nested returns the one nested block of a type, failing without exactly one.
func nested(t *testing.T, where string, attrs map[string]cty.Value, typ string) map[string]cty.Value {
	t.Helper()
	v, ok := attrs[typ]
	if !ok || !v.Type().IsTupleType() || v.LengthInt() != 1 {
		t.Fatalf("%s: want exactly one %s block", where, typ)
	}
	return v.Index(cty.NumberIntVal(0)).AsValueMap()
}

func blockIndex(t *testing.T, r *resource, typ string) int {
	t.Helper()
	for i, b := range r.block.Body.Blocks {
		if b.Type == typ {
			return i
		}
	}
	t.Fatalf("%s: no %s block", r.addr(), typ)
	return -1
}

func preventDestroy(b *hclsyntax.Block) bool {
	for _, lb := range b.Body.Blocks {
		if lb.Type != "lifecycle" {
			continue
		}
		if a, ok := lb.Body.Attributes["prevent_destroy"]; ok {
			v, diags := a.Expr.Value(nil)
			return !diags.HasErrors() && v.True()
		}
	}
	return false
}

func show(v cty.Value) string {
	if v.Type() == cty.String {
		return fmt.Sprintf("%q", v.AsString())
	}
	if v.Type() == cty.Bool {
		return fmt.Sprint(v.True())
	}
	return v.GoString()
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
