// Package knative_test checks the deployment manifests against the deploy
// contract (deploy-contract.md): every document decodes strictly into the type
// its cluster would read it as, Knative Services pass Knative's own defaulting
// and validation, and the VirtualService sends each public path to the
// function that serves it.
package knative_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	namespace    = "license-server"
	image        = "ko://github.com/coditect-ai/license-server/functions/cmd/function"
	localGateway = "knative-local-gateway.istio-system.svc.cluster.local"
)

// function is one row of the contract's table.
type function struct {
	target string
	admin  bool // reads bootstrap-admin-token
	http   bool // answers /health/
	// role is the PostgreSQL role the function logs in as (its code names
	// it; schema/005 makes it): it reads that role's password alone.
	role string
	// console reads license-server-console: the sign-in settings the
	// admin web console's pages are told (/console/config.json).
	console bool
	// notify reads the notification keys: it seals or opens webhooks'
	// signing secrets and signs or checks the links in mails.
	notify bool
	// nudges publishes to the notify topic right after a commit that
	// appended outbox events (NOTIFY_TOPIC).
	nudges bool
	// mails sends the mails: it reads the SendGrid key and
	// license-server-notify (where links point, the sender).
	mails bool
	// stripe calls Stripe's API (the stripe-api-key secret and
	// license-server-billing); webhook also checks Stripe's webhook
	// signatures (stripe-webhook-secret).
	stripe, webhook bool
}

var functions = map[string]function{
	"health":          {target: "Health", http: true},
	"acquire":         {target: "Acquire", http: true, role: "seats"},
	"heartbeat":       {target: "Heartbeat", http: true, role: "seats"},
	"release":         {target: "Release", http: true, role: "seats"},
	"keys":            {target: "Keys", http: true},
	"openapi":         {target: "OpenAPI", http: true},
	"console":         {target: "Console", http: true, console: true},
	"tenants":         {target: "Tenants", admin: true, http: true, role: "admin"},
	"members":         {target: "Members", admin: true, http: true, role: "admin", nudges: true},
	"licenses":        {target: "Licenses", admin: true, http: true, role: "admin", nudges: true},
	"apikeys":         {target: "APIKeys", admin: true, http: true, role: "admin", nudges: true},
	"workstations":    {target: "Workstations", admin: true, http: true, role: "admin", nudges: true},
	"repositories":    {target: "Repositories", admin: true, http: true, role: "admin"},
	"audit":           {target: "Audit", admin: true, http: true, role: "reader"},
	"usage":           {target: "Usage", admin: true, http: true, role: "reader"},
	"notifications":   {target: "Notifications", admin: true, http: true, role: "admin", notify: true, nudges: true},
	"cleanup":         {target: "Cleanup", role: "cleanup"},
	"notify":          {target: "Notify", role: "cleanup", notify: true, mails: true},
	"billing":         {target: "Billing", admin: true, http: true, role: "admin", nudges: true, stripe: true, webhook: true},
	"billingschedule": {target: "BillingSchedule", role: "cleanup", stripe: true},
}

// notifyTopic is where the nudging functions publish (terraform/notify.tf
// creates it; PROJECT_ID is replaced at deploy, as in secret references).
const notifyTopic = "projects/PROJECT_ID/topics/license-notify"

// secretEnv maps each secret env var to its Secret Manager secret id.
var secretEnv = map[string]string{
	"REDIS_PASSWORD":        "redis-auth",
	"REDIS_CA_PEM":          "redis-ca",
	"DATABASE_PASSWORD":     "database-password",
	"DATABASE_CA_PEM":       "database-ca",
	"BOOTSTRAP_ADMIN_TOKEN": "bootstrap-admin-token",
	"NOTIFY_SECRETS_KEY":    "notify-secrets-key",
	"NOTIFY_LINK_KEY":       "notify-link-key",
	"SENDGRID_API_KEY":      "sendgrid-api-key",
	"STRIPE_API_KEY":        "stripe-api-key",
	"STRIPE_WEBHOOK_SECRET": "stripe-webhook-secret",
}

// Each service's secrets by what it uses (issue 16, finding 2): Redis with
// AUTH over verified TLS, PostgreSQL with a password over verify-full TLS,
// the admin token, the notification keys, the SendGrid key. Health probes
// both backends without credentials, so it gets their server CAs only;
// Keys, OpenAPI and Console use neither backend.
var (
	redisSecrets    = []string{"REDIS_PASSWORD", "REDIS_CA_PEM"}
	databaseSecrets = []string{"DATABASE_PASSWORD", "DATABASE_CA_PEM"}
	probeSecrets    = []string{"REDIS_CA_PEM", "DATABASE_CA_PEM"}
	adminSecrets    = []string{"BOOTSTRAP_ADMIN_TOKEN"}
	notifySecrets   = []string{"NOTIFY_SECRETS_KEY", "NOTIFY_LINK_KEY"}
	mailSecrets     = []string{"SENDGRID_API_KEY"}
	stripeSecrets   = []string{"STRIPE_API_KEY"}
	webhookSecrets  = []string{"STRIPE_WEBHOOK_SECRET"}
)

// serviceSecrets is exactly the secret env vars each service has.
var serviceSecrets = map[string][]string{
	"health":       probeSecrets,
	"keys":         nil,
	"openapi":      nil,
	"console":      nil,
	"acquire":      slices.Concat(redisSecrets, databaseSecrets),
	"heartbeat":    slices.Concat(redisSecrets, databaseSecrets),
	"release":      slices.Concat(redisSecrets, databaseSecrets),
	"cleanup":      slices.Concat(redisSecrets, databaseSecrets),
	"tenants":      slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"members":      slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"licenses":     slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"apikeys":      slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"workstations": slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"repositories": slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"audit":        slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	"usage":        slices.Concat(redisSecrets, databaseSecrets, adminSecrets),
	// Notifications seals webhook secrets and checks mail links; Notify
	// opens the one and signs the other, and alone sends mail.
	"notifications": slices.Concat(redisSecrets, databaseSecrets, adminSecrets, notifySecrets),
	"notify":        slices.Concat(redisSecrets, databaseSecrets, notifySecrets, mailSecrets),
	// Billing calls Stripe and checks its webhooks; BillingSchedule only
	// calls it.
	"billing":         slices.Concat(redisSecrets, databaseSecrets, adminSecrets, stripeSecrets, webhookSecrets),
	"billingschedule": slices.Concat(redisSecrets, databaseSecrets, stripeSecrets),
}

// Local mirrors of the CRDs we use that have no Go types here; strict
// decoding into them proves no field is misspelt.
type managedCertificate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Domains []string `json:"domains"`
	} `json:"spec"`
}

type backendConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		TimeoutSec     int `json:"timeoutSec"`
		SecurityPolicy *struct {
			Name string `json:"name"`
		} `json:"securityPolicy"`
		CDN *struct {
			Enabled *bool `json:"enabled"`
		} `json:"cdn"`
		HealthCheck struct {
			Type               string `json:"type"`
			Port               int    `json:"port"`
			RequestPath        string `json:"requestPath"`
			CheckIntervalSec   int    `json:"checkIntervalSec"`
			TimeoutSec         int    `json:"timeoutSec"`
			HealthyThreshold   int    `json:"healthyThreshold"`
			UnhealthyThreshold int    `json:"unhealthyThreshold"`
		} `json:"healthCheck"`
	} `json:"spec"`
}

type virtualService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Gateways []string    `json:"gateways"`
		Hosts    []string    `json:"hosts"`
		HTTP     []httpRoute `json:"http"`
	} `json:"spec"`
}

type httpRoute struct {
	Name  string `json:"name"`
	Match []struct {
		URI     *stringMatch           `json:"uri"`
		Headers map[string]stringMatch `json:"headers"`
	} `json:"match"`
	Redirect *struct {
		Scheme       string `json:"scheme"`
		RedirectCode int    `json:"redirectCode"`
	} `json:"redirect"`
	Rewrite *struct {
		Authority string `json:"authority"`
	} `json:"rewrite"`
	Route []struct {
		Destination struct {
			Host string `json:"host"`
			Port struct {
				Number int `json:"number"`
			} `json:"port"`
		} `json:"destination"`
		Headers *struct {
			Request struct {
				Set map[string]string `json:"set"`
			} `json:"request"`
			Response struct {
				Set map[string]string `json:"set"`
			} `json:"response"`
		} `json:"headers"`
	} `json:"route"`
}

type stringMatch struct {
	Exact  string `json:"exact"`
	Prefix string `json:"prefix"`
	Regex  string `json:"regex"`
}

type koConfig struct {
	DefaultBaseImage string   `json:"defaultBaseImage"`
	DefaultPlatforms []string `json:"defaultPlatforms"`
}

// manifests is every object under knative/, by kind.
type manifests struct {
	namespaces      []corev1.Namespace
	serviceAccounts map[string]corev1.ServiceAccount
	configMaps      []corev1.ConfigMap
	coreServices    []corev1.Service
	deployments     []appsv1.Deployment
	ksvcs           map[string]servingv1.Service
	ingresses       []networkingv1.Ingress
	certificates    []managedCertificate
	backendConfigs  []backendConfig
	virtualServices []virtualService
	networkPolicies []networkingv1.NetworkPolicy
	authzPolicies   []authorizationPolicy
	podMonitorings  []podMonitoring // monitoring_test.go
}

// authorizationPolicy mirrors Istio's security.istio.io/v1 AuthorizationPolicy
// as far as we use it.
type authorizationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Action string `json:"action"`
		Rules  []struct {
			From []struct {
				Source struct {
					Principals    []string `json:"principals"`
					NotPrincipals []string `json:"notPrincipals"`
					Namespaces    []string `json:"namespaces"`
				} `json:"source"`
			} `json:"from"`
			To []struct {
				Operation struct {
					Hosts []string `json:"hosts"`
					Paths []string `json:"paths"`
				} `json:"operation"`
			} `json:"to"`
		} `json:"rules"`
	} `json:"spec"`
}

var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{serviceAccounts: map[string]corev1.ServiceAccount{}, ksvcs: map[string]servingv1.Service{}}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if d.Name() == ".ko.yaml" {
			// ko's settings, not a manifest (make images resolves only services/).
			if err := strictDecode(b, &koConfig{}); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		for i, doc := range separator.Split(string(b), -1) {
			if err := m.add([]byte(doc)); err != nil {
				return fmt.Errorf("%s document %d: %w", path, i+1, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	if j, err := yaml.YAMLToJSON(doc); err == nil && string(j) == "null" {
		return nil // comments only
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "v1 Namespace":
		return decodeInto(doc, &m.namespaces)
	case "v1 ConfigMap":
		return decodeInto(doc, &m.configMaps)
	case "v1 Service":
		return decodeInto(doc, &m.coreServices)
	case "apps/v1 Deployment":
		return decodeInto(doc, &m.deployments)
	case "networking.k8s.io/v1 Ingress":
		return decodeInto(doc, &m.ingresses)
	case "networking.gke.io/v1 ManagedCertificate":
		return decodeInto(doc, &m.certificates)
	case "cloud.google.com/v1 BackendConfig":
		return decodeInto(doc, &m.backendConfigs)
	case "networking.istio.io/v1beta1 VirtualService":
		return decodeInto(doc, &m.virtualServices)
	case "networking.k8s.io/v1 NetworkPolicy":
		return decodeInto(doc, &m.networkPolicies)
	case "security.istio.io/v1 AuthorizationPolicy":
		return decodeInto(doc, &m.authzPolicies)
	case "monitoring.googleapis.com/v1 PodMonitoring":
		return decodeInto(doc, &m.podMonitorings)
	case "v1 ServiceAccount":
		var sa corev1.ServiceAccount
		if err := strictDecode(doc, &sa); err != nil {
			return err
		}
		if _, dup := m.serviceAccounts[sa.Name]; dup {
			return fmt.Errorf("service account %s declared twice", sa.Name)
		}
		m.serviceAccounts[sa.Name] = sa
	case "serving.knative.dev/v1 Service":
		var s servingv1.Service
		if err := strictDecode(doc, &s); err != nil {
			return err
		}
		if _, dup := m.ksvcs[s.Name]; dup {
			return fmt.Errorf("Knative service %s declared twice", s.Name)
		}
		m.ksvcs[s.Name] = s
	default:
		return fmt.Errorf("no test decodes %s %s: add it to manifests.add", tm.APIVersion, tm.Kind)
	}
	return nil
}

func decodeInto[T any](doc []byte, list *[]T) error {
	var v T
	if err := strictDecode(doc, &v); err != nil {
		return err
	}
	*list = append(*list, v)
	return nil
}

// strictDecode rejects duplicate keys, unknown fields and, through
// sigs.k8s.io/json, keys that only match a field case-insensitively (which
// encoding/json would accept and the API server would drop).
func strictDecode(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("strict decoding: %v", strictErrs)
	}
	return nil
}

func TestKnativeServicesPassKnativeValidation(t *testing.T) {
	m := load(t)
	// What the webhook does with empty config-defaults, config-features and
	// config-autoscaler ConfigMaps, for a create.
	ctx := config.ToContext(context.Background(), config.FromContextOrDefaults(context.Background()))
	ctx = apis.WithinCreate(ctx)
	for name, s := range m.ksvcs {
		t.Run(name, func(t *testing.T) {
			s := s.DeepCopy()
			s.SetDefaults(ctx)
			// Warnings too: Knative warns about insecure security contexts.
			if fe := s.Validate(ctx); fe != nil {
				t.Errorf("Knative validation: %v", fe)
			}
		})
	}
}

func TestKnativeServicesFollowContract(t *testing.T) {
	m := load(t)
	if got, want := slices.Sorted(maps.Keys(m.ksvcs)), slices.Sorted(maps.Keys(functions)); !slices.Equal(got, want) {
		t.Fatalf("Knative services = %v, want %v", got, want)
	}
	if len(m.namespaces) != 1 || m.namespaces[0].Name != namespace {
		t.Errorf("namespaces = %v, want just %s", m.namespaces, namespace)
	}
	// Five ConfigMaps: what every function reads, what only the admin
	// functions read (the identity provider, the console's origins), what
	// only the console reads (its pages' sign-in settings), what only
	// Notify reads (where mails' links point, their sender), and what only
	// the two billing functions read (the grace, the portal's return URL).
	wantKeys := map[string][]string{
		"license-server-config": {"DATABASE_SERVER_NAME", "DATABASE_URL", "GOOGLE_CLOUD_PROJECT", "LEASE_ISSUER", "LOG_LEVEL",
			"REDIS_URL", "SIGNING_KMS_KEY_VERSION"},
		"license-server-auth": {"AUTH_AUDIENCE", "AUTH_GOOGLE_AUDIENCE", "AUTH_ISSUER", "AUTH_JWKS_URL", "AUTH_PLATFORM_IDP_TENANT",
			"CORS_ALLOWED_ORIGINS"},
		"license-server-console": {"AUTH_AUDIENCE", "AUTH_PLATFORM_IDP_TENANT", "CONSOLE_AUTH_DOMAIN", "CONSOLE_FIREBASE_API_KEY",
			"CONSOLE_TOKEN_SIGN_IN"},
		"license-server-notify":  {"MAIL_FROM", "PUBLIC_URL"},
		"license-server-billing": {"BILLING_GRACE", "BILLING_PORTAL_RETURN_URL"},
	}
	if len(m.configMaps) != len(wantKeys) {
		t.Fatalf("%d ConfigMaps, want %v", len(m.configMaps), slices.Sorted(maps.Keys(wantKeys)))
	}
	data := map[string]map[string]string{}
	for _, cm := range m.configMaps {
		keys, ok := wantKeys[cm.Name]
		if !ok || cm.Namespace != namespace {
			t.Fatalf("ConfigMap %s/%s, want %v in %s", cm.Namespace, cm.Name, slices.Sorted(maps.Keys(wantKeys)), namespace)
		}
		if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, keys) {
			t.Errorf("ConfigMap %s keys = %v, want %v", cm.Name, got, keys)
		}
		data[cm.Name] = cm.Data
	}
	checkAuthConfig(t, data["license-server-auth"])
	checkConsoleConfig(t, data["license-server-console"], data["license-server-auth"])
	checkNotifyConfig(t, data["license-server-notify"], m)
	checkBillingConfig(t, data["license-server-billing"])
	if got := slices.Sorted(maps.Keys(m.serviceAccounts)); !slices.Equal(got, slices.Sorted(maps.Keys(functions))) {
		t.Errorf("service accounts = %v, want one per function", got)
	}

	for name, fn := range functions {
		t.Run(name, func(t *testing.T) {
			s := m.ksvcs[name]
			spec := s.Spec.Template.Spec
			if s.Namespace != namespace {
				t.Errorf("namespace = %q", s.Namespace)
			}
			// Every function, not only cleanup: a public Knative hostname would
			// reach a function without the path rules of routes.yaml.
			if v := s.Labels["networking.knative.dev/visibility"]; v != "cluster-local" {
				t.Errorf("visibility label = %q, want cluster-local", v)
			}

			sa, ok := m.serviceAccounts[spec.ServiceAccountName]
			if spec.ServiceAccountName != name || !ok {
				t.Errorf("serviceAccountName = %q, want %q declared in serviceaccounts.yaml", spec.ServiceAccountName, name)
			}
			if got, want := sa.Annotations["iam.gke.io/gcp-service-account"], "fn-"+name+"@PROJECT_ID.iam.gserviceaccount.com"; got != want {
				t.Errorf("service account annotation = %q, want %q", got, want)
			}
			if sa.Namespace != namespace {
				t.Errorf("service account namespace = %q", sa.Namespace)
			}

			if len(spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(spec.Containers))
			}
			c := spec.Containers[0]
			if c.Image != image {
				t.Errorf("image = %q, want %q", c.Image, image)
			}
			checkEnv(t, c, name, fn)
			checkProbes(t, c, fn)
			checkResources(t, c)
			checkSecurityContext(t, c.SecurityContext)
			checkScaling(t, name, s)
		})
	}
}

// checkAuthConfig: the placeholders are Identity Platform's (terraform's
// output knative_auth_config writes the real ones), and every listed
// origin is an https origin (no wildcard).
func checkAuthConfig(t *testing.T, data map[string]string) {
	t.Helper()
	for k, want := range map[string]string{
		"AUTH_JWKS_URL":        "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
		"AUTH_ISSUER":          "https://securetoken.google.com/PROJECT_ID",
		"AUTH_AUDIENCE":        "PROJECT_ID",
		"AUTH_GOOGLE_AUDIENCE": "https://api.coditect.ai",
		// The project's own users are the platform's people until an
		// operator names the platform's tenant (terraform's variable
		// platform_idp_tenant, which feeds the console's ConfigMap too).
		"AUTH_PLATFORM_IDP_TENANT": "",
	} {
		if data[k] != want {
			t.Errorf("license-server-auth %s = %q, want %q", k, data[k], want)
		}
	}
	for _, o := range strings.Split(data["CORS_ALLOWED_ORIGINS"], ",") {
		if u, err := url.Parse(o); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || strings.Contains(o, "*") {
			t.Errorf("CORS_ALLOWED_ORIGINS has %q, want https origins", o)
		}
	}
}

// checkConsoleConfig: the console's pages sign people in to the project
// and the platform's tenant whose tokens the admin functions accept, with
// Identity Platform's browser key (terraform's output
// knative_console_config writes the real one), and offer no pasting of
// credentials beside it.
func checkConsoleConfig(t *testing.T, console, auth map[string]string) {
	t.Helper()
	for _, k := range []string{"AUTH_AUDIENCE", "AUTH_PLATFORM_IDP_TENANT"} {
		if console[k] != auth[k] {
			t.Errorf("license-server-console %s = %q, license-server-auth's = %q: the console would sign people in where the API refuses them",
				k, console[k], auth[k])
		}
	}
	for k, want := range map[string]string{
		"CONSOLE_FIREBASE_API_KEY": "BROWSER_API_KEY",
		"CONSOLE_AUTH_DOMAIN":      "PROJECT_ID.firebaseapp.com",
		"CONSOLE_TOKEN_SIGN_IN":    "false",
	} {
		if console[k] != want {
			t.Errorf("license-server-console %s = %q, want %q", k, console[k], want)
		}
	}
}

// checkNotifyConfig: the links in mails point at the host routes.yaml
// serves (unsubscribe and invitations are routed there), over https, and
// the sender is one address.
func checkNotifyConfig(t *testing.T, data map[string]string, m *manifests) {
	t.Helper()
	var host string
	if len(m.virtualServices) == 1 && len(m.virtualServices[0].Spec.Hosts) == 1 {
		host = m.virtualServices[0].Spec.Hosts[0]
	}
	if want := "https://" + host; host == "" || data["PUBLIC_URL"] != want {
		t.Errorf("license-server-notify PUBLIC_URL = %q, want %q (the routed host)", data["PUBLIC_URL"], want)
	}
	if _, err := mail.ParseAddress(data["MAIL_FROM"]); err != nil {
		t.Errorf("license-server-notify MAIL_FROM = %q: %v", data["MAIL_FROM"], err)
	}
}

// checkBillingConfig: the values shared/config/billing.go accepts (a grace
// from 0 to 90 days, an https return URL), which Terraform's output
// knative_billing_config also writes by default.
func checkBillingConfig(t *testing.T, data map[string]string) {
	t.Helper()
	if grace, err := time.ParseDuration(data["BILLING_GRACE"]); err != nil || grace < 0 || grace > 90*24*time.Hour {
		t.Errorf("license-server-billing BILLING_GRACE = %q, want a duration from 0 to 2160h", data["BILLING_GRACE"])
	}
	if u, err := url.Parse(data["BILLING_PORTAL_RETURN_URL"]); err != nil || u.Scheme != "https" || u.Host == "" {
		t.Errorf("license-server-billing BILLING_PORTAL_RETURN_URL = %q, want an https URL", data["BILLING_PORTAL_RETURN_URL"])
	}
}

func checkEnv(t *testing.T, c corev1.Container, name string, fn function) {
	t.Helper()
	// Every function reads license-server-config; exactly the admin
	// functions (those given the bootstrap token, which
	// functions/cmd/internal/e2e ties to the specs' Needs.Admin) also read
	// license-server-auth: AUTH_* and CORS_ALLOWED_ORIGINS; the console
	// alone reads license-server-console, and Notify alone
	// license-server-notify.
	wantFrom := []string{"license-server-config"}
	if fn.admin {
		wantFrom = append(wantFrom, "license-server-auth")
	}
	if fn.console {
		wantFrom = append(wantFrom, "license-server-console")
	}
	if fn.mails {
		wantFrom = append(wantFrom, "license-server-notify")
	}
	if fn.stripe {
		wantFrom = append(wantFrom, "license-server-billing")
	}
	var from []string
	for _, e := range c.EnvFrom {
		if e.ConfigMapRef == nil || e.SecretRef != nil || e.Prefix != "" {
			t.Errorf("envFrom %+v: want ConfigMaps only, unprefixed", e)
			continue
		}
		from = append(from, e.ConfigMapRef.Name)
	}
	if !slices.Equal(from, wantFrom) {
		t.Errorf("envFrom = %v, want %v", from, wantFrom)
	}
	want := map[string]string{"FUNCTION_TARGET": fn.target}
	for _, env := range serviceSecrets[name] {
		secret := secretEnv[env]
		if env == "DATABASE_PASSWORD" {
			secret += "-" + fn.role
		}
		want[env] = "secret://projects/PROJECT_ID/secrets/" + secret + "/versions/latest"
	}
	if slices.Contains(serviceSecrets[name], "BOOTSTRAP_ADMIN_TOKEN") != fn.admin {
		t.Errorf("serviceSecrets and functions disagree on whether %s is an admin function", name)
	}
	if slices.Contains(serviceSecrets[name], "NOTIFY_SECRETS_KEY") != fn.notify ||
		slices.Contains(serviceSecrets[name], "NOTIFY_LINK_KEY") != fn.notify {
		t.Errorf("serviceSecrets and functions disagree on whether %s reads the notification keys", name)
	}
	if slices.Contains(serviceSecrets[name], "SENDGRID_API_KEY") != fn.mails {
		t.Errorf("serviceSecrets and functions disagree on whether %s sends mail", name)
	}
	if slices.Contains(serviceSecrets[name], "STRIPE_API_KEY") != fn.stripe ||
		slices.Contains(serviceSecrets[name], "STRIPE_WEBHOOK_SECRET") != fn.webhook {
		t.Errorf("serviceSecrets and functions disagree on whether %s calls Stripe or checks its webhooks", name)
	}
	// Publisher on the notify topic alone (terraform/notify.tf), so only
	// the functions that nudge are told its name.
	if fn.nudges {
		want["NOTIFY_TOPIC"] = notifyTopic
	}
	got := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Errorf("env %s uses valueFrom: secrets come from Secret Manager, not Kubernetes", e.Name)
		}
		if _, dup := got[e.Name]; dup {
			t.Errorf("env %s set twice", e.Name)
		}
		got[e.Name] = e.Value
	}
	// A function that logs in to the backends bounds its pools (the
	// connection budgets, terraform's TestConnectionBudgets, add them up);
	// one that does not is given no bound that would bound nothing.
	for _, k := range poolEnv {
		v, ok := got[k]
		switch {
		case !slices.Contains(serviceSecrets[name], "DATABASE_PASSWORD"):
			if ok {
				t.Errorf("env %s = %q on a function without backend credentials", k, v)
			}
		case !ok:
			t.Errorf("env %s is missing: every function that logs in to the backends bounds its pools", k)
		default:
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
				t.Errorf("env %s = %q, want a whole number from 1 to 100 (shared/config)", k, v)
			}
			want[k] = v
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("env = %v\nwant %v", got, want)
	}
}

// poolEnv are the pool bounds of shared/config.
var poolEnv = []string{"DATABASE_MAX_CONNS", "REDIS_POOL_SIZE"}

func checkProbes(t *testing.T, c corev1.Container, fn function) {
	t.Helper()
	for kind, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		switch {
		case p == nil:
			t.Errorf("no %s probe", kind)
		case fn.http && (p.HTTPGet == nil || p.HTTPGet.Path != "/health/"):
			// Not /ready: a PostgreSQL outage must not take the function out.
			t.Errorf("%s probe = %+v, want httpGet /health/", kind, p.ProbeHandler)
		case !fn.http && p.TCPSocket == nil:
			t.Errorf("%s probe = %+v, want tcpSocket (no /health/ on a CloudEvent function)", kind, p.ProbeHandler)
		}
	}
}

func checkResources(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim || req.IsZero() || lim.IsZero() {
			t.Errorf("%s: want both request and limit", r)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s request %s above limit %s", r, req.String(), lim.String())
		}
	}
}

func checkSecurityContext(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	if sc == nil {
		t.Fatal("no securityContext")
	}
	ok := sc.RunAsNonRoot != nil && *sc.RunAsNonRoot &&
		sc.RunAsUser != nil && *sc.RunAsUser == 65532 &&
		sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation &&
		sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem &&
		sc.Capabilities != nil && slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(sc.Capabilities.Add) == 0 &&
		sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	if !ok {
		t.Errorf("securityContext = %+v, want non-root 65532, no privilege escalation, read-only root, drop ALL, RuntimeDefault seccomp", sc)
	}
}

func checkScaling(t *testing.T, name string, s servingv1.Service) {
	t.Helper()
	a := s.Spec.Template.Annotations
	num := func(key string) int {
		v, err := strconv.Atoi(a["autoscaling.knative.dev/"+key])
		if err != nil {
			t.Errorf("annotation autoscaling.knative.dev/%s: %v", key, err)
		}
		return v
	}
	minScale, maxScale := num("min-scale"), num("max-scale")
	num("target")
	if a["autoscaling.knative.dev/metric"] != "concurrency" {
		t.Errorf("autoscaling metric = %q, want concurrency", a["autoscaling.knative.dev/metric"])
	}
	if minScale > maxScale {
		t.Errorf("min-scale %d above max-scale %d", minScale, maxScale)
	}
	spec := s.Spec.Template.Spec
	if spec.ContainerConcurrency == nil || *spec.ContainerConcurrency < 1 {
		t.Errorf("containerConcurrency must be set")
	}
	if spec.TimeoutSeconds == nil || *spec.TimeoutSeconds < 1 {
		t.Errorf("timeoutSeconds must be set")
	}
	switch {
	case name == "acquire" || name == "heartbeat":
		if minScale < 2 || *spec.ContainerConcurrency < 50 {
			t.Errorf("hot path: min-scale %d, containerConcurrency %d; want at least 2 and 50", minScale, *spec.ContainerConcurrency)
		}
	case name == "cleanup" || name == "billingschedule":
		// One sweep (one billing run) at a time.
		if minScale != 0 || maxScale != 1 || *spec.ContainerConcurrency != 1 {
			t.Errorf("%s: min %d max %d concurrency %d, want 0, 1, 1", name, minScale, maxScale, *spec.ContainerConcurrency)
		}
		// A billing run's answer may take two minutes (route.EventRunDeadline);
		// past that it could not answer, and its event comes again.
		if name == "billingschedule" && *spec.TimeoutSeconds > 120 {
			t.Errorf("billingschedule: timeout %d s, want at most 120", *spec.TimeoutSeconds)
		}
	case name == "billing":
		// Stripe gives up on a webhook's answer after about 20 s: a request
		// running longer is wasted, and Stripe delivers the event again.
		if minScale > 1 || *spec.TimeoutSeconds > 20 {
			t.Errorf("billing: min-scale %d timeout %d s, want 0 or 1 and at most 20 s", minScale, *spec.TimeoutSeconds)
		}
	case name == "notify":
		// Runs may overlap, but each makes several attempts at once: a few
		// per pod, a few pods. A run's answer may take two minutes
		// (route.EventRunDeadline), the lease on what it takes: no longer.
		if minScale != 0 || maxScale > 5 || *spec.ContainerConcurrency > 4 || *spec.TimeoutSeconds > 120 {
			t.Errorf("notify: min %d max %d concurrency %d timeout %d, want 0, at most 5, at most 4, at most 120 s",
				minScale, maxScale, *spec.ContainerConcurrency, *spec.TimeoutSeconds)
		}
	case functions[name].admin:
		if minScale > 1 {
			t.Errorf("admin function min-scale %d, want 0 or 1", minScale)
		}
	}
}

func TestIngressSendsEverythingToTheGateway(t *testing.T) {
	m := load(t)
	if len(m.ingresses) != 1 || len(m.certificates) != 1 || len(m.backendConfigs) != 1 {
		t.Fatalf("want one Ingress, ManagedCertificate and BackendConfig; have %d, %d, %d",
			len(m.ingresses), len(m.certificates), len(m.backendConfigs))
	}
	ing, cert, bc := m.ingresses[0], m.certificates[0], m.backendConfigs[0]
	wantAnn := map[string]string{
		"kubernetes.io/ingress.class":                 "gce",
		"kubernetes.io/ingress.global-static-ip-name": "license-api-ip",
		"networking.gke.io/managed-certificates":      "license-api-cert",
	}
	for k, v := range wantAnn {
		if ing.Annotations[k] != v {
			t.Errorf("Ingress annotation %s = %q, want %q", k, ing.Annotations[k], v)
		}
	}
	b := ing.Spec.DefaultBackend
	if ing.Namespace != "istio-system" || b == nil || b.Service == nil || b.Service.Name != "istio-ingressgateway" || len(ing.Spec.Rules) != 0 {
		t.Errorf("Ingress must live in istio-system and send everything to istio-ingressgateway; got %+v", ing.Spec)
	}
	if cert.Name != "license-api-cert" || cert.Namespace != ing.Namespace || !slices.Equal(cert.Spec.Domains, []string{"api.coditect.ai"}) {
		t.Errorf("ManagedCertificate = %s/%s %v", cert.Namespace, cert.Name, cert.Spec.Domains)
	}
	hc := bc.Spec.HealthCheck
	if bc.Namespace != ing.Namespace || hc.Port != 15021 || hc.RequestPath != "/healthz/ready" || hc.Type != "HTTP" {
		t.Errorf("BackendConfig health check = %+v, want HTTP :15021/healthz/ready", hc)
	}
	// Nothing between the browser and the functions caches: Cloud CDN can
	// ignore Cache-Control (FORCE_CACHE_ALL), and the console's pages and
	// config.json must reach the next page load after a deploy.
	if cdn := bc.Spec.CDN; cdn == nil || cdn.Enabled == nil || *cdn.Enabled {
		t.Error("BackendConfig must disable Cloud CDN outright (cdn: {enabled: false})")
	}

	// The gateway patches: the Service names the BackendConfig, and the
	// Deployment trusts the load balancer's X-Forwarded-Proto.
	if len(m.coreServices) != 1 || len(m.deployments) != 1 {
		t.Fatalf("want one Service and one Deployment patch for istio-ingressgateway")
	}
	want := fmt.Sprintf(`{"default": %q}`, bc.Name)
	if got := m.coreServices[0].Annotations["cloud.google.com/backend-config"]; got != want {
		t.Errorf("gateway Service backend-config annotation = %q, want %q", got, want)
	}
	if got := m.deployments[0].Spec.Template.Annotations["proxy.istio.io/config"]; !strings.Contains(got, `"numTrustedProxies"`) {
		t.Errorf("gateway pod proxy.istio.io/config = %q, want gatewayTopology.numTrustedProxies", got)
	}
}

// What route returns for a request no function gets.
const (
	redirected = "(redirect to https)"
	notFound   = "(404)"
)

func TestRoutesSendEachPathToItsFunction(t *testing.T) {
	m := load(t)
	if len(m.virtualServices) != 1 {
		t.Fatalf("want one VirtualService, have %d", len(m.virtualServices))
	}
	vs := m.virtualServices[0]
	if !slices.Equal(vs.Spec.Gateways, []string{"knative-serving/knative-ingress-gateway"}) || !slices.Equal(vs.Spec.Hosts, []string{"api.coditect.ai"}) {
		t.Errorf("gateways %v hosts %v", vs.Spec.Gateways, vs.Spec.Hosts)
	}
	for _, r := range vs.Spec.HTTP {
		if r.Redirect != nil {
			if r.Redirect.Scheme != "https" {
				t.Errorf("route %s redirects to scheme %q", r.Name, r.Redirect.Scheme)
			}
			continue
		}
		target, err := destination(r)
		if err != nil {
			t.Errorf("route %s: %v", r.Name, err)
		} else if fn, ok := functions[target]; !ok || !fn.http {
			t.Errorf("route %s goes to %q, which is not a public function", r.Name, target)
		}
	}

	tests := []struct {
		path, proto, want string
	}{
		{"/health/", "http", "health"},
		{"/health/", "https", "health"},
		{"/ready", "http", "health"},
		{"/v1/acquire", "https", "acquire"},
		{"/v1/acquire", "http", redirected},
		{"/v1/heartbeat", "https", "heartbeat"},
		{"/v1/borrow", "https", "heartbeat"},
		{"/v1/return", "https", "heartbeat"},
		{"/v1/licenses/revocations", "https", "heartbeat"},
		{"/v1/licenses/revocations/x", "https", notFound},
		{"/v1/licenses", "https", notFound},
		{"/v1/release", "https", "release"},
		{"/v1/keys", "https", "keys"},
		{"/v1/openapi.json", "https", "openapi"},
		{"/v1/tenants", "https", "tenants"},
		{"/v1/tenants?page_token=x", "https", "tenants"},
		{"/v1/tenants/abc", "https", "tenants"},
		{"/v1/tenants/abc/licenses", "https", "licenses"},
		{"/v1/tenants/abc/licenses/x", "https", "licenses"},
		{"/v1/tenants/abc/licenses/x/sessions", "https", "licenses"},
		{"/v1/tenants/abc/licenses/x/certificate", "https", "licenses"},
		{"/v1/tenants/abc/licenses/x", "http", redirected},
		{"/v1/tenants/abc/api-keys", "https", "apikeys"},
		{"/v1/tenants/abc/api-keys/k", "https", "apikeys"},
		{"/v1/tenants/abc/workstations", "https", "workstations"},
		{"/v1/tenants/abc/workstations/w", "https", "workstations"},
		{"/v1/tenants/abc/repositories", "https", "repositories"},
		{"/v1/tenants/abc/repositories/r", "https", "repositories"},
		{"/v1/tenants/abc/audit", "https", "audit"},
		{"/v1/tenants/abc/usage", "https", "usage"},
		{"/v1/tenants/abc/members", "https", "members"},
		{"/v1/tenants/abc/members/m", "https", "members"},
		{"/v1/platform/members", "https", "members"},
		{"/v1/platform/members/m", "https", "members"},
		{"/v1/me", "https", "members"},
		{"/v1/me/x", "https", notFound},
		{"/v1/platform/other", "https", notFound},
		{"/", "https", notFound},
		{"/cleanup", "https", notFound},
		{"/v1/acquire/x", "https", notFound},
		{"/v1/tenantsx", "https", notFound},
		{"/v1/tenants/", "https", notFound},
		{"/v1/tenants//licenses", "https", notFound},
		{"/v1/tenants/abc/licensesx", "https", notFound},
		{"/v1/tenants/abc/audit/x", "https", notFound},
		{"/v1/tenants/abc/other", "https", notFound},
		// The admin web console and the API reference (functions/console).
		{"/console/", "https", "console"},
		{"/console/assets/x.js", "https", "console"},
		{"/console/config.json", "https", "console"},
		{"/console/tenants/abc/licenses", "https", "console"},
		{"/console/?idp_tenant=t", "https", "console"},
		{"/console", "https", "console"},
		{"/console?idp_tenant=t", "https", "console"},
		{"/docs/", "https", "console"},
		{"/docs", "https", "console"},
		{"/console/", "http", redirected},
		{"/docs/", "http", redirected},
		{"/consolex", "https", notFound},
		{"/docsx", "https", notFound},
		{"/docs/x", "https", notFound},
		{"/v1/console", "https", notFound},
		{"/v1/docs", "https", notFound},
		// Webhooks and notification settings (admin).
		{"/v1/tenants/abc/webhooks", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w/rotate-secret", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w/test", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w/deliveries", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w/deliveries/d/redeliver", "https", "notifications"},
		{"/v1/tenants/abc/notification-settings", "https", "notifications"},
		{"/v1/tenants/abc/webhooks/w", "http", redirected},
		{"/v1/tenants/abc/webhooksx", "https", notFound},
		{"/v1/tenants//webhooks", "https", notFound},
		{"/v1/tenants/abc/notification-settings/x", "https", notFound},
		// The links mails carry, opened without signing in.
		{"/v1/notifications/unsubscribe", "https", "notifications"},
		{"/v1/notifications/unsubscribe?token=t", "https", "notifications"},
		{"/v1/invitations/t", "https", "notifications"},
		{"/v1/notifications/unsubscribe", "http", redirected},
		{"/v1/notifications", "https", notFound},
		{"/v1/notifications/other", "https", notFound},
		{"/v1/invitations", "https", notFound},
		{"/v1/invitations/", "https", notFound},
		{"/v1/invitations/t/x", "https", notFound},
		{"/notify", "https", notFound},
		// Stripe's webhook, and a tenant's billing and portal.
		{"/v1/billing/stripe/webhook", "https", "billing"},
		{"/v1/billing/stripe/webhook?x=1", "https", "billing"},
		{"/v1/billing/stripe/webhook", "http", redirected},
		{"/v1/billing", "https", notFound},
		{"/v1/billing/stripe", "https", notFound},
		{"/v1/billing/stripe/webhook/", "https", notFound},
		{"/v1/billing/stripe/webhook/x", "https", notFound},
		{"/v1/tenants/abc/billing", "https", "billing"},
		{"/v1/tenants/abc/billing?x=1", "https", "billing"},
		{"/v1/tenants/abc/billing/portal", "https", "billing"},
		{"/v1/tenants/abc/billing", "http", redirected},
		{"/v1/tenants/abc/billing/", "https", notFound},
		{"/v1/tenants/abc/billing/other", "https", notFound},
		{"/v1/tenants/abc/billing/portal/x", "https", notFound},
		{"/v1/tenants/abc/billingx", "https", notFound},
		{"/v1/tenants//billing", "https", notFound},
		{"/v1/tenants/abc/x/billing", "https", notFound},
		{"/billingschedule", "https", notFound},
		{"/v1/billingschedule", "https", notFound},
	}
	reached := map[string]bool{}
	for _, tt := range tests {
		got, err := route(vs, tt.path, tt.proto)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s over %s goes to %s, want %s", tt.path, tt.proto, got, tt.want)
		}
		reached[got] = true
		// Order must not matter: a routed path is accepted by one route
		// alone, so no route shadows another (say, a /v1/tenants/ regex
		// catching a later function's path).
		if tt.proto == "https" && tt.want != notFound && tt.want != redirected {
			if names := routesAccepting(t, vs, tt.path); len(names) != 1 {
				t.Errorf("%s is accepted by routes %v, want exactly one", tt.path, names)
			}
		}
	}
	for name, fn := range functions {
		if !reached[name] && fn.http {
			t.Errorf("no sample path reaches %s", name)
		}
	}
}

// routesAccepting names every route (redirects aside) one of whose matches
// accepts the path, over https.
func routesAccepting(t *testing.T, vs virtualService, target string) []string {
	t.Helper()
	path, _, _ := strings.Cut(target, "?")
	var names []string
	for _, r := range vs.Spec.HTTP {
		if r.Redirect != nil {
			continue
		}
		for _, mt := range r.Match {
			ok, err := uriMatches(mt.URI, path, target)
			if err != nil {
				t.Fatalf("route %s: %v", r.Name, err)
			}
			for h, want := range mt.Headers {
				ok = ok && h == "x-forwarded-proto" && want.Exact == "https"
			}
			if ok {
				names = append(names, r.Name)
				break
			}
		}
	}
	return names
}

// TestStripeWebhookIsUncachedAndBillingScheduleUnrouted: the one route to
// Stripe's webhook is its exact path, and its answers say no-store at the
// gateway whatever the function sends; the admin billing routes are two
// whole-path regexes; no route names billingschedule, which Eventarc alone
// calls (authorizationpolicy.yaml).
func TestStripeWebhookIsUncachedAndBillingScheduleUnrouted(t *testing.T) {
	m := load(t)
	if len(m.virtualServices) != 1 {
		t.Fatalf("want one VirtualService, have %d", len(m.virtualServices))
	}
	var webhook, admin []string
	for _, r := range m.virtualServices[0].Spec.HTTP {
		if r.Redirect != nil {
			continue
		}
		target, err := destination(r)
		if err != nil {
			t.Errorf("route %s: %v", r.Name, err)
			continue
		}
		if target == "billingschedule" {
			t.Errorf("route %s sends requests to billingschedule", r.Name)
		}
		if target != "billing" {
			continue
		}
		for _, mt := range r.Match {
			switch {
			case mt.URI != nil && mt.URI.Exact == "/v1/billing/stripe/webhook" && len(mt.Headers) == 0:
				webhook = append(webhook, r.Name)
				if h := r.Route[0].Headers; h == nil || h.Response.Set["cache-control"] != "no-store" {
					t.Errorf("route %s: the webhook's answers must be set Cache-Control: no-store", r.Name)
				}
			case mt.URI != nil && mt.URI.Regex != "" && len(mt.Headers) == 0:
				admin = append(admin, mt.URI.Regex)
			default:
				t.Errorf("route %s: match %+v, want the webhook's exact path or an admin regex", r.Name, mt)
			}
		}
	}
	if len(webhook) != 1 {
		t.Errorf("routes to Stripe's webhook: %v, want exactly one", webhook)
	}
	slices.Sort(admin)
	if want := []string{`^/v1/tenants/[^/]+/billing$`, `^/v1/tenants/[^/]+/billing/portal$`}; !slices.Equal(admin, want) {
		t.Errorf("billing's admin routes = %q, want %q", admin, want)
	}
}

// route picks the first route whose matches accept the request, as Envoy does:
// matches are ORed, the conditions inside one are ANDed, and paths are
// compared without their query string (regexes must match all of it).
func route(vs virtualService, target, proto string) (string, error) {
	path, _, _ := strings.Cut(target, "?")
	for _, r := range vs.Spec.HTTP {
		for _, mt := range r.Match {
			ok, err := uriMatches(mt.URI, path, target)
			if err != nil {
				return "", fmt.Errorf("route %s: %w", r.Name, err)
			}
			for h, want := range mt.Headers {
				if h != "x-forwarded-proto" || want.Exact == "" {
					return "", fmt.Errorf("route %s: the test only knows exact x-forwarded-proto matches", r.Name)
				}
				ok = ok && proto == want.Exact
			}
			if !ok {
				continue
			}
			if r.Redirect != nil {
				return redirected, nil
			}
			return destination(r)
		}
	}
	return notFound, nil
}

func uriMatches(m *stringMatch, path, target string) (bool, error) {
	switch {
	case m == nil:
		return true, nil
	case m.Exact != "":
		return path == m.Exact, nil
	case m.Prefix != "":
		return strings.HasPrefix(target, m.Prefix), nil
	case m.Regex != "":
		// Envoy's regex engine is RE2, as Go's is; it must match the whole path.
		re, err := regexp.Compile(`^(?:` + m.Regex + `)$`)
		if err != nil {
			return false, err
		}
		return re.MatchString(path), nil
	}
	return false, fmt.Errorf("empty uri match")
}

// destination returns the function a route sends to: through Knative's
// local gateway, with the authority of <name>.license-server.svc.cluster.local.
func destination(r httpRoute) (string, error) {
	if len(r.Route) != 1 {
		return "", fmt.Errorf("%d destinations, want 1", len(r.Route))
	}
	d := r.Route[0]
	if d.Destination.Host != localGateway || d.Destination.Port.Number != 80 {
		return "", fmt.Errorf("destination %s:%d, want %s:80", d.Destination.Host, d.Destination.Port.Number, localGateway)
	}
	authority := ""
	if r.Rewrite != nil {
		authority = r.Rewrite.Authority
	}
	if d.Headers != nil && d.Headers.Request.Set["host"] != "" {
		authority = d.Headers.Request.Set["host"]
	}
	name, ok := strings.CutSuffix(authority, "."+namespace+".svc.cluster.local")
	if !ok || strings.Contains(name, ".") {
		return "", fmt.Errorf("authority %q is not <name>.%s.svc.cluster.local", authority, namespace)
	}
	return name, nil
}

// TestEachServiceReadsOnlyTheSecretsItUses (issue 16, finding 2): the
// secret:// references of each service, whatever variable carries them,
// are exactly the secrets its function uses; Keys, OpenAPI and Console read none,
// Health only the two server CAs, only the admin functions the
// bootstrap token, only Notifications and Notify the notification keys, and
// only Notify the SendGrid key. And the database is reached with
// sslmode=verify-full.
func TestEachServiceReadsOnlyTheSecretsItUses(t *testing.T) {
	m := load(t)
	ref := regexp.MustCompile(`^secret://projects/PROJECT_ID/secrets/([a-z0-9-]+)/versions/latest$`)
	want := map[string][]string{
		"health":  {"database-ca", "redis-ca"},
		"keys":    nil,
		"openapi": nil,
		"console": nil,
	}
	for name := range functions {
		if _, ok := want[name]; ok {
			continue
		}
		w := []string{"database-ca", "database-password-" + functions[name].role, "redis-auth", "redis-ca"}
		if functions[name].admin {
			w = append(w, "bootstrap-admin-token")
		}
		if functions[name].notify {
			w = append(w, "notify-secrets-key", "notify-link-key")
		}
		if functions[name].mails {
			w = append(w, "sendgrid-api-key")
		}
		if functions[name].stripe {
			w = append(w, "stripe-api-key")
		}
		if functions[name].webhook {
			w = append(w, "stripe-webhook-secret")
		}
		want[name] = w
	}
	for name, s := range m.ksvcs {
		var got []string
		for _, c := range s.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if strings.Contains(e.Value, "secret://") {
					id := ref.FindStringSubmatch(e.Value)
					if id == nil {
						t.Errorf("%s: env %s = %q is not a secret:// reference of this project", name, e.Name, e.Value)
						continue
					}
					got = append(got, id[1])
				}
			}
		}
		slices.Sort(got)
		w := slices.Sorted(slices.Values(want[name]))
		if !slices.Equal(got, w) {
			t.Errorf("%s reads secrets %v, want %v", name, got, w)
		}
	}
	for _, cm := range m.configMaps {
		for k, v := range cm.Data {
			if strings.Contains(v, "secret://") {
				t.Errorf("ConfigMap %s: %s is a secret reference; every service would get it", cm.Name, k)
			}
		}
		if cm.Name != "license-server-config" {
			continue
		}
		if u := cm.Data["DATABASE_URL"]; !strings.HasSuffix(u, "sslmode=verify-full") {
			t.Errorf("DATABASE_URL = %q, want sslmode=verify-full", u)
		}
		// No user: every function logs in as its own role, which its code
		// names; one user here would be every function's.
		if u, err := url.Parse(cm.Data["DATABASE_URL"]); err != nil || u.User != nil {
			t.Errorf("DATABASE_URL = %q names a user; each function logs in as its own role", cm.Data["DATABASE_URL"])
		}
	}
}

// peer names one allowed source of a NetworkPolicy rule: a namespace and
// the labels of its pods.
type peer struct{ namespace, pods string }

func peers(t *testing.T, rule networkingv1.NetworkPolicyIngressRule) []peer {
	t.Helper()
	var out []peer
	for _, f := range rule.From {
		if f.NamespaceSelector == nil || f.PodSelector == nil || f.IPBlock != nil ||
			len(f.NamespaceSelector.MatchExpressions) > 0 || len(f.PodSelector.MatchExpressions) > 0 {
			t.Errorf("rule source %+v: want exactly one namespace and pod labels", f)
			continue
		}
		var labels []string
		for k, v := range f.PodSelector.MatchLabels {
			labels = append(labels, k+"="+v)
		}
		slices.Sort(labels)
		out = append(out, peer{f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"], strings.Join(labels, ",")})
	}
	return out
}

// TestNetworkPoliciesLetOnlyTheGatewayKnativeAndTheCollectorIn (issue 16,
// finding 9): the namespace denies all ingress by default, and each allow
// rule names exactly its sources and ports: requests only from the mesh
// gateway and Knative's activator to the queue-proxy, the queue-proxy's
// metrics only to Knative's autoscaler, the function's own port (where
// /metrics is) only to the Managed Prometheus collector.
func TestNetworkPoliciesLetOnlyTheGatewayKnativeAndTheCollectorIn(t *testing.T) {
	m := load(t)
	type allow struct {
		peers []peer
		ports []int
	}
	want := map[string]allow{
		"requests-from-the-gateway-and-activator": {[]peer{{"istio-system", "istio=ingressgateway"},
			{"knative-serving", "app=activator"}}, []int{8012, 8013}},
		"autoscaler-reads-the-queue-proxy": {[]peer{{"knative-serving", "app=autoscaler"}}, []int{9090}},
		"metrics-from-the-collector":       {[]peer{{"gmp-system", "app.kubernetes.io/name=collector"}}, []int{8080}},
	}
	denyAll := false
	for _, np := range m.networkPolicies {
		if np.Namespace != namespace {
			t.Errorf("NetworkPolicy %s in namespace %q", np.Name, np.Namespace)
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			t.Errorf("%s: policyTypes = %v, want [Ingress]", np.Name, np.Spec.PolicyTypes)
		}
		sel := np.Spec.PodSelector
		if np.Name == "default-deny" {
			denyAll = len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 && len(np.Spec.Ingress) == 0
			continue
		}
		w, ok := want[np.Name]
		if !ok {
			t.Errorf("NetworkPolicy %s: no test says what it may allow", np.Name)
			continue
		}
		delete(want, np.Name)
		// Every pod of a Knative service, and only those.
		if len(sel.MatchLabels) != 0 || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != "serving.knative.dev/service" ||
			sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpExists {
			t.Errorf("%s: podSelector = %+v, want every Knative service's pods", np.Name, sel)
		}
		if len(np.Spec.Ingress) != 1 {
			t.Errorf("%s: %d ingress rules, want 1", np.Name, len(np.Spec.Ingress))
			continue
		}
		rule := np.Spec.Ingress[0]
		if got := peers(t, rule); !slices.Equal(got, w.peers) {
			t.Errorf("%s: sources = %v, want %v", np.Name, got, w.peers)
		}
		var ports []int
		for _, p := range rule.Ports {
			if p.Port == nil || p.EndPort != nil {
				t.Errorf("%s: port %+v, want single ports", np.Name, p)
				continue
			}
			ports = append(ports, p.Port.IntValue())
		}
		if !slices.Equal(ports, w.ports) {
			t.Errorf("%s: ports = %v, want %v", np.Name, ports, w.ports)
		}
	}
	if !denyAll {
		t.Error("no NetworkPolicy default-deny selecting every pod with no ingress rule")
	}
	for name := range want {
		t.Errorf("no NetworkPolicy %s", name)
	}
}

// TestAuthorizationPoliciesGuardMetricsAndTheEventFunctions (issue 16,
// finding 9): the mesh gateway never serves /metrics, and serves the hosts
// of the CloudEvent functions (cleanup, notify) only to Eventarc's
// forwarder (namespace events-system).
func TestAuthorizationPoliciesGuardMetricsAndTheEventFunctions(t *testing.T) {
	m := load(t)
	found := map[string]bool{}
	for _, p := range m.authzPolicies {
		if p.Namespace != "istio-system" || !maps.Equal(p.Spec.Selector.MatchLabels, map[string]string{"istio": "ingressgateway"}) ||
			p.Spec.Action != "DENY" || len(p.Spec.Rules) != 1 {
			t.Errorf("%s: want one DENY rule on the gateway pods (istio-system, istio=ingressgateway), got %+v", p.Name, p)
			continue
		}
		r := p.Spec.Rules[0]
		if len(r.To) != 1 {
			t.Errorf("%s: %d operations, want 1", p.Name, len(r.To))
			continue
		}
		op := r.To[0].Operation
		if slices.Contains(op.Paths, "/metrics") {
			// Denied to everyone through the gateway: no source condition.
			if len(r.From) != 0 || len(op.Hosts) != 0 || !slices.Contains(op.Paths, "/metrics/*") {
				t.Errorf("%s: /metrics must be denied for every source and host: %+v", p.Name, r)
			}
			found["metrics"] = true
			continue
		}
		guarded := ""
		for name, fn := range functions {
			if !fn.http && slices.Contains(op.Hosts, name+"."+namespace+".svc.cluster.local") {
				guarded = name
			}
		}
		if guarded == "" {
			t.Errorf("AuthorizationPolicy %s: no test says what it guards", p.Name)
			continue
		}
		if len(r.From) != 1 || !slices.Equal(r.From[0].Source.NotPrincipals, []string{"cluster.local/ns/events-system/sa/*"}) ||
			len(r.From[0].Source.Principals) != 0 || len(r.From[0].Source.Namespaces) != 0 || len(op.Paths) != 0 {
			t.Errorf("%s: %s must be denied to all but Eventarc's forwarder: %+v", p.Name, guarded, r)
		}
		// Every name a cluster-local caller may use for the service, and
		// no other service's.
		want := []string{}
		for _, h := range []string{guarded + "." + namespace, guarded + "." + namespace + ".svc", guarded + "." + namespace + ".svc.cluster.local"} {
			want = append(want, h, h+":*")
		}
		if got := slices.Sorted(slices.Values(op.Hosts)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
			t.Errorf("%s: hosts %v, want %v (with and without a port)", p.Name, op.Hosts, want)
		}
		found[guarded] = true
	}
	want := []string{"metrics"}
	for name, fn := range functions {
		if !fn.http {
			want = append(want, name)
		}
	}
	for _, what := range want {
		if !found[what] {
			t.Errorf("no AuthorizationPolicy guards %s", what)
		}
	}
}

// gceName is a Compute Engine resource name, as a security policy's must be.
var gceName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// TestCloudArmorGuardsTheIngressBackend: the Ingress's one backend, the
// gateway Service it names, carries the BackendConfig that names the Cloud
// Armor policy (terraform/armor.tf; terraform's TestCloudArmorPolicy holds
// the name to the policy's), for the very port the Ingress uses; and the
// paths the uptime checks ask, which that policy lets through first, reach
// Health over plain HTTP and HTTPS alike.
func TestCloudArmorGuardsTheIngressBackend(t *testing.T) {
	m := load(t)
	if len(m.ingresses) != 1 || len(m.backendConfigs) != 1 || len(m.virtualServices) != 1 {
		t.Fatalf("want one Ingress, BackendConfig and VirtualService; have %d, %d, %d",
			len(m.ingresses), len(m.backendConfigs), len(m.virtualServices))
	}
	ing, bc := m.ingresses[0], m.backendConfigs[0]
	if sp := bc.Spec.SecurityPolicy; sp == nil || !gceName.MatchString(sp.Name) {
		t.Errorf("BackendConfig %s: securityPolicy = %+v, want the name of terraform/armor.tf's policy", bc.Name, sp)
	}
	b := ing.Spec.DefaultBackend
	if b == nil || b.Service == nil {
		t.Fatal("the Ingress has no default backend Service")
	}
	var svc *corev1.Service
	for i, s := range m.coreServices {
		if s.Name == b.Service.Name && s.Namespace == ing.Namespace {
			svc = &m.coreServices[i]
		}
	}
	if svc == nil {
		t.Fatalf("no Service %s/%s, the Ingress's backend, carries a backend-config annotation", ing.Namespace, b.Service.Name)
	}
	if bc.Namespace != svc.Namespace {
		t.Errorf("BackendConfig in %s, Service in %s: a BackendConfig applies only in its own namespace", bc.Namespace, svc.Namespace)
	}
	// The annotation names a BackendConfig for every port ("default") or per
	// port; either way the Ingress's port must get this one.
	var ann struct {
		Default string            `json:"default"`
		Ports   map[string]string `json:"ports"`
	}
	raw := svc.Annotations["cloud.google.com/backend-config"]
	if err := json.Unmarshal([]byte(raw), &ann); err != nil {
		t.Fatalf("Service %s: cloud.google.com/backend-config = %q: %v", svc.Name, raw, err)
	}
	got := ann.Default
	if p, ok := ann.Ports[strconv.Itoa(int(b.Service.Port.Number))]; ok {
		got = p
	}
	if got != bc.Name {
		t.Errorf("Service %s port %d gets BackendConfig %q, want %q (the one naming the security policy)", svc.Name, b.Service.Port.Number, got, bc.Name)
	}
	// Uptime checks may speak plain HTTP; a redirect or a 404 would make
	// them fail as surely as a refusal by the policy.
	for _, path := range []string{"/health/", "/ready"} {
		for _, proto := range []string{"http", "https"} {
			if got, err := route(m.virtualServices[0], path, proto); err != nil || got != "health" {
				t.Errorf("%s over %s routes to %q (%v), want health", path, proto, got, err)
			}
		}
	}
}
