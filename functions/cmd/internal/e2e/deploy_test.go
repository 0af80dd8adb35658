package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/console"
	"github.com/coditect-ai/license-server/functions/notify"
)

// TestDeploymentMatchesTheSpecs ties the code to the deployment: every
// function FUNCTION_TARGET accepts has a Knative Service selecting it, is
// given the bootstrap token and the identity provider's settings exactly
// when it serves admin calls, is
// granted the signing key in Terraform exactly when it signs, and the key's
// public half alone exactly when it only reads the root public keys, and is
// given the backends' credentials exactly when it connects to them, and
// the console's sign-in settings only if it is the Console; it is told the
// notify topic, and may publish there, exactly when it nudges Notify, is
// given the notification keys exactly when it uses them, and the SendGrid
// key and the mails' settings only if it is Notify, and given Stripe's key,
// its webhook secret and the billing settings exactly when it uses them. (knative/ and
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
	readers := tfList(t, tf, "public_key_readers")
	// Who reads the notification keys, who the SendGrid key, who may
	// publish to the notify topic (terraform/notify.tf grants it to each
	// of that list).
	keyReaders := tfList(t, tf, "notify_key_readers")
	mailSenders := tfList(t, tf, "mail_senders")
	publishers := tfList(t, tf, "notify_publishers")
	// Who reads Stripe's API key, and who its webhook secret.
	stripeCallers := tfList(t, tf, "stripe_callers")
	webhookReceivers := tfList(t, tf, "stripe_webhook_receivers")
	billingConfigRe := regexp.MustCompile(`(?m)name: license-server-billing\s*$`)
	notifyTF, err := os.ReadFile(filepath.Join(root, "terraform", "notify.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?s)resource "google_pubsub_topic_iam_member" "\w+" \{\s+for_each = toset\(local\.notify_publishers\)[^}]*role\s+= "roles/pubsub\.publisher"`).Match(notifyTF) {
		t.Error("terraform/notify.tf grants no roles/pubsub.publisher for each of local.notify_publishers")
	}
	topicName := regexp.MustCompile(`(?s)resource "google_pubsub_topic" "notify" \{\s+name\s+= "([\w-]+)"`).FindSubmatch(notifyTF)
	if topicName == nil {
		t.Fatal(`terraform/notify.tf has no google_pubsub_topic "notify" with a literal name`)
	}
	topicEnvRe := regexp.MustCompile(`name: NOTIFY_TOPIC\s+value: (\S+)`)
	notifyConfigRe := regexp.MustCompile(`(?m)name: license-server-notify\s*$`)

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
		// The notification keys reach exactly the functions that seal or
		// open webhook secrets and sign or check mail links.
		for _, env := range []string{"NOTIFY_SECRETS_KEY", "NOTIFY_LINK_KEY"} {
			if got := strings.Contains(manifest, "name: "+env); got != needs.Notify {
				t.Errorf("%s: given %s = %v, uses the notification keys = %v", name, env, got, needs.Notify)
			}
		}
		if got := keyReaders[strings.ToLower(name)]; got != needs.Notify {
			t.Errorf("%s: terraform grants the notification keys = %v, uses them = %v", name, got, needs.Notify)
		}
		// Notify alone sends mail: the SendGrid key, and where links point
		// and who sends (license-server-notify).
		isNotify := name == notify.Name
		if got := strings.Contains(manifest, "name: SENDGRID_API_KEY"); got != isNotify {
			t.Errorf("%s: given SENDGRID_API_KEY = %v, is Notify = %v", name, got, isNotify)
		}
		if got := mailSenders[strings.ToLower(name)]; got != isNotify {
			t.Errorf("%s: terraform grants the SendGrid key = %v, is Notify = %v", name, got, isNotify)
		}
		if got := notifyConfigRe.MatchString(manifest); got != isNotify {
			t.Errorf("%s: reads the ConfigMap license-server-notify (PUBLIC_URL, MAIL_FROM) = %v, is Notify = %v", name, got, isNotify)
		}
		// Stripe's API key reaches exactly the functions that call Stripe,
		// its webhook secret exactly the one that checks its webhooks, and
		// the billing settings both.
		if got := strings.Contains(manifest, "name: STRIPE_API_KEY"); got != needs.Stripe {
			t.Errorf("%s: given STRIPE_API_KEY = %v, calls Stripe = %v", name, got, needs.Stripe)
		}
		if got := strings.Contains(manifest, "name: STRIPE_WEBHOOK_SECRET"); got != needs.StripeWebhook {
			t.Errorf("%s: given STRIPE_WEBHOOK_SECRET = %v, checks Stripe's webhooks = %v", name, got, needs.StripeWebhook)
		}
		if got := stripeCallers[strings.ToLower(name)]; got != needs.Stripe {
			t.Errorf("%s: terraform grants stripe-api-key = %v, calls Stripe = %v", name, got, needs.Stripe)
		}
		if got := webhookReceivers[strings.ToLower(name)]; got != needs.StripeWebhook {
			t.Errorf("%s: terraform grants stripe-webhook-secret = %v, checks Stripe's webhooks = %v", name, got, needs.StripeWebhook)
		}
		if got, want := billingConfigRe.MatchString(manifest), needs.Stripe || needs.StripeWebhook; got != want {
			t.Errorf("%s: reads the ConfigMap license-server-billing = %v, uses Stripe = %v", name, got, want)
		}
		// A function that nudges Notify after its commits is told the
		// topic Terraform makes, and may publish there; no other is.
		topic := topicEnvRe.FindStringSubmatch(manifest)
		if got := topic != nil; got != needs.Nudges {
			t.Errorf("%s: given NOTIFY_TOPIC = %v, nudges = %v", name, got, needs.Nudges)
		} else if got && topic[1] != "projects/PROJECT_ID/topics/"+string(topicName[1]) {
			t.Errorf("%s: NOTIFY_TOPIC = %s, terraform's topic is projects/PROJECT_ID/topics/%s", name, topic[1], topicName[1])
		}
		if got := publishers[strings.ToLower(name)]; got != needs.Nudges {
			t.Errorf("%s: terraform lets it publish to the notify topic = %v, nudges = %v", name, got, needs.Nudges)
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

// tfList reads the literal list local.<name> of terraform/iam.tf: the
// function names it holds.
func tfList(t *testing.T, tf []byte, name string) map[string]bool {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + name + `\s+= \[([^\]]*)\]`).FindSubmatch(tf)
	if m == nil {
		t.Errorf("terraform/iam.tf has no %s list", name)
		return nil
	}
	out := map[string]bool{}
	for _, n := range regexp.MustCompile(`"(\w+)"`).FindAllSubmatch(m[1], -1) {
		out[string(n[1])] = true
	}
	return out
}
