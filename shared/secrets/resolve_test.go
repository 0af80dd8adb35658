package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	dbName    = "projects/lic-prod/secrets/database-url/versions/3"
	tokenName = "projects/lic-prod/secrets/bootstrap-token/versions/1"
	keyName   = "projects/lic-prod/secrets/signing-key/versions/latest"

	dbURL   = "postgres://app:s3cr3t-db-password@10.0.0.5/licenses"
	token   = "tok-4f1c9a7e2b8d6035e1a9c7b2f4d8e6a0"
	keyPEM  = "-----BEGIN PRIVATE KEY-----\nMIIJQgIBADANBgkqhkiG9w0BAQEFAASCCSwwggkoAgEAAoICAQC7\n-----END PRIVATE KEY-----\n"
	missing = "projects/lic-prod/secrets/no-such-secret/versions/1"
)

// keys are the settings the tests' service reads.
var keys = []string{"PORT", "DATABASE_URL", "REDIS_URL", "BOOTSTRAP_ADMIN_TOKEN", "SIGNING_LOCAL_KEY_PEM", "LOG_LEVEL"}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		versions map[string]fakeVersion
		env      map[string]string
		want     map[string]string // settings after Resolve; a key absent here must be unset
		calls    map[string]int    // Access calls per version name
		wantErr  []string          // each must appear in the error
		problems int               // errors joined in it; 0 means 1
	}{
		{
			name:     "a reference is replaced by the payload",
			versions: map[string]fakeVersion{dbName: {data: dbURL}},
			env:      map[string]string{"DATABASE_URL": "secret://" + dbName},
			want:     map[string]string{"DATABASE_URL": dbURL},
			calls:    map[string]int{dbName: 1},
		},
		{
			name:     "plain values pass through, unset stays unset",
			versions: map[string]fakeVersion{dbName: {data: dbURL}},
			env:      map[string]string{"PORT": "9090", "REDIS_URL": "redis://localhost:6379", "LOG_LEVEL": ""},
			want:     map[string]string{"PORT": "9090", "REDIS_URL": "redis://localhost:6379", "LOG_LEVEL": ""},
			calls:    map[string]int{dbName: 0},
		},
		{
			name:     "two variables naming one secret fetch it once",
			versions: map[string]fakeVersion{dbName: {data: dbURL}},
			env:      map[string]string{"DATABASE_URL": "secret://" + dbName, "REDIS_URL": "secret://" + dbName, "PORT": "8080"},
			want:     map[string]string{"DATABASE_URL": dbURL, "REDIS_URL": dbURL, "PORT": "8080"},
			calls:    map[string]int{dbName: 1},
		},
		{
			name:     "latest resolves to the numbered version",
			versions: map[string]fakeVersion{keyName: {data: keyPEM, answer: "projects/lic-prod/secrets/signing-key/versions/7"}},
			env:      map[string]string{"SIGNING_LOCAL_KEY_PEM": "secret://" + keyName},
			want:     map[string]string{"SIGNING_LOCAL_KEY_PEM": keyPEM},
			calls:    map[string]int{keyName: 1},
		},
		{
			name:     "a response naming the project by number is accepted",
			versions: map[string]fakeVersion{tokenName: {data: token, answer: "projects/123456789012/secrets/bootstrap-token/versions/1"}},
			env:      map[string]string{"BOOTSTRAP_ADMIN_TOKEN": "secret://" + tokenName},
			want:     map[string]string{"BOOTSTRAP_ADMIN_TOKEN": token},
			calls:    map[string]int{tokenName: 1},
		},
		{
			name:     "a missing secret names the variable and the reference",
			versions: map[string]fakeVersion{dbName: {data: dbURL}},
			env:      map[string]string{"DATABASE_URL": "secret://" + dbName, "BOOTSTRAP_ADMIN_TOKEN": "secret://" + missing},
			wantErr:  []string{"BOOTSTRAP_ADMIN_TOKEN", "secret://" + missing, "NotFound"},
		},
		{
			name:     "a corrupted payload is refused",
			versions: map[string]fakeVersion{tokenName: {data: token, crc: crcWrong}},
			env:      map[string]string{"BOOTSTRAP_ADMIN_TOKEN": "secret://" + tokenName},
			wantErr:  []string{"BOOTSTRAP_ADMIN_TOKEN", "secret://" + tokenName, "CRC32C"},
		},
		{
			name:     "a payload without a checksum is refused",
			versions: map[string]fakeVersion{tokenName: {data: token, crc: crcMissing}},
			env:      map[string]string{"BOOTSTRAP_ADMIN_TOKEN": "secret://" + tokenName},
			wantErr:  []string{"BOOTSTRAP_ADMIN_TOKEN", "secret://" + tokenName, "no CRC32C"},
		},
		{
			name:     "a response naming another secret is refused",
			versions: map[string]fakeVersion{tokenName: {data: token, answer: "projects/lic-prod/secrets/other-token/versions/1"}},
			env:      map[string]string{"BOOTSTRAP_ADMIN_TOKEN": "secret://" + tokenName},
			wantErr:  []string{"BOOTSTRAP_ADMIN_TOKEN", "secret://" + tokenName, "other-token"},
		},
		{
			name:     "a response naming another version is refused",
			versions: map[string]fakeVersion{dbName: {data: dbURL, answer: "projects/lic-prod/secrets/database-url/versions/4"}},
			env:      map[string]string{"DATABASE_URL": "secret://" + dbName},
			wantErr:  []string{"DATABASE_URL", "secret://" + dbName, "versions/4"},
		},
		{
			name:     "a malformed reference names the variable and asks no one",
			versions: map[string]fakeVersion{dbName: {data: dbURL}},
			env:      map[string]string{"REDIS_URL": "secret://projects/lic-prod/secret/redis/versions/1"},
			wantErr:  []string{"REDIS_URL", "malformed secret reference", "secret://projects/lic-prod/secret/redis/versions/1"},
			calls:    map[string]int{"projects/lic-prod/secret/redis/versions/1": 0},
		},
		{
			name: "every failure is named at once",
			versions: map[string]fakeVersion{
				dbName:    {data: dbURL},
				tokenName: {data: token, crc: crcWrong},
				keyName:   {data: keyPEM, crc: crcMissing},
			},
			env: map[string]string{
				"PORT":                  "8080",
				"DATABASE_URL":          "secret://" + dbName,
				"REDIS_URL":             "secret://" + missing,
				"BOOTSTRAP_ADMIN_TOKEN": "secret://" + tokenName,
				"SIGNING_LOCAL_KEY_PEM": "secret://" + keyName,
				"LOG_LEVEL":             "secret://latest",
			},
			wantErr: []string{
				"REDIS_URL: reading secret://" + missing,
				"BOOTSTRAP_ADMIN_TOKEN: reading secret://" + tokenName,
				"SIGNING_LOCAL_KEY_PEM: reading secret://" + keyName,
				"LOG_LEVEL: malformed secret reference",
			},
			problems: 4,
			calls:    map[string]int{dbName: 1, missing: 1, tokenName: 1, keyName: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake, client := startFake(t, tc.versions)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			get, err := Resolve(ctx, NewManager(client), lookup(tc.env), keys)

			for name, n := range tc.calls {
				if got := fake.callCount(name); got != n {
					t.Errorf("Access(%s) called %d times, want %d", name, got, n)
				}
			}
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("Resolve succeeded, want an error naming %q", tc.wantErr)
				}
				if get != nil {
					t.Error("Resolve returned a lookup along with its error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not name %q", err, s)
					}
				}
				if got, want := len(unjoin(err)), max(tc.problems, 1); got != want {
					t.Errorf("error holds %d problems, want %d: %v", got, want, err)
				}
				assertNoPayload(t, err, tc.versions)
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			for _, k := range keys {
				want, wantOK := tc.want[k]
				got, ok := get(k)
				if got != want || ok != wantOK {
					t.Errorf("lookup(%s) = %q, %v; want %q, %v", k, got, ok, want, wantOK)
				}
			}
		})
	}
}

// TestErrorsOmitPayloads checks that no failure puts a secret's value in an
// error, even when the payload arrived and was refused.
func TestErrorsOmitPayloads(t *testing.T) {
	t.Parallel()
	const payload = "hunter2-must-never-be-printed"
	versions := map[string]fakeVersion{
		"projects/p/secrets/bad-crc/versions/1":    {data: payload, crc: crcWrong},
		"projects/p/secrets/no-crc/versions/1":     {data: payload, crc: crcMissing},
		"projects/p/secrets/wrong-name/versions/1": {data: payload, answer: "projects/p/secrets/elsewhere/versions/1"},
		"projects/p/secrets/wrong-ver/versions/1":  {data: payload, answer: "projects/p/secrets/wrong-ver/versions/2"},
	}
	_, client := startFake(t, versions)
	env := map[string]string{}
	var ks []string
	for name := range versions {
		k := "K_" + strings.ToUpper(strings.NewReplacer("/", "_", "-", "_").Replace(name))
		env[k] = "secret://" + name
		ks = append(ks, k)
	}
	ks = append(ks, "K_MISSING")
	env["K_MISSING"] = "secret://projects/p/secrets/absent/versions/1"

	m := NewManager(client)
	for name := range versions {
		data, err := m.Access(t.Context(), name)
		if err == nil {
			t.Fatalf("Access(%s) = %q, want an error", name, data)
		}
		if data != nil {
			t.Errorf("Access(%s) returned data along with error %v", name, err)
		}
		assertNoPayload(t, err, versions)
	}
	_, err := Resolve(t.Context(), m, lookup(env), ks)
	if err == nil {
		t.Fatal("Resolve succeeded, want an error")
	}
	if got := len(unjoin(err)); got != len(ks) {
		t.Errorf("error holds %d problems, want %d: %v", got, len(ks), err)
	}
	assertNoPayload(t, err, versions)
}

func assertNoPayload(t *testing.T, err error, versions map[string]fakeVersion) {
	t.Helper()
	for _, v := range versions {
		if strings.Contains(err.Error(), v.data) {
			t.Errorf("error %q holds a secret's payload", err)
		}
	}
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestResolveWithoutReferencesAsksNothing(t *testing.T) {
	t.Parallel()
	fake, client := startFake(t, map[string]fakeVersion{dbName: {data: dbURL}})
	env := map[string]string{"PORT": "8080", "DATABASE_URL": "postgres://localhost/dev"}
	get, err := Resolve(t.Context(), NewManager(client), lookup(env), keys)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if v, _ := get("DATABASE_URL"); v != "postgres://localhost/dev" {
		t.Errorf("DATABASE_URL = %q", v)
	}
	if n := fake.totalCalls(); n != 0 {
		t.Errorf("Secret Manager called %d times, want 0", n)
	}
}

// TestResolveFetchesAtResolveTime checks that looking settings up later asks
// Secret Manager nothing more.
func TestResolveFetchesAtResolveTime(t *testing.T) {
	t.Parallel()
	fake, client := startFake(t, map[string]fakeVersion{dbName: {data: dbURL}})
	get, err := Resolve(t.Context(), NewManager(client), lookup(map[string]string{"DATABASE_URL": "secret://" + dbName}), keys)
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	for range 3 {
		if v, ok := get("DATABASE_URL"); v != dbURL || !ok {
			t.Fatalf("DATABASE_URL = %q, %v", v, ok)
		}
	}
	if n := fake.callCount(dbName); n != 1 {
		t.Errorf("Access called %d times, want 1", n)
	}
}

func TestResolvePanicsOnUnlistedReference(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PORT": "8080", "EXTRA_PLAIN": "x", "EXTRA_SECRET": "secret://" + dbName}
	get, err := Resolve(t.Context(), failingAccessor{}, lookup(env), []string{"PORT"})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if v, ok := get("EXTRA_PLAIN"); v != "x" || !ok {
		t.Errorf("EXTRA_PLAIN = %q, %v; want it passed through", v, ok)
	}
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("looking up an unlisted reference did not panic")
		}
		if s, _ := r.(string); !strings.Contains(s, "EXTRA_SECRET") {
			t.Errorf("panic %v does not name EXTRA_SECRET", r)
		}
	}()
	v, _ := get("EXTRA_SECRET")
	t.Errorf("lookup(EXTRA_SECRET) = %q", v)
}

// failingAccessor fails every read; Resolve must not call it when nothing
// listed is a reference.
type failingAccessor struct{}

func (failingAccessor) Access(context.Context, string) ([]byte, error) {
	return nil, errors.New("no Secret Manager here")
}

func TestReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		keys []string
		want bool
	}{
		{"empty environment", map[string]string{}, keys, false},
		{"plain values only", map[string]string{"PORT": "8080", "DATABASE_URL": "postgres://localhost/dev"}, keys, false},
		{"one reference", map[string]string{"PORT": "8080", "DATABASE_URL": "secret://" + dbName}, keys, true},
		{"a malformed reference still needs a look", map[string]string{"REDIS_URL": "secret://nope"}, keys, true},
		{"a reference under a key not read", map[string]string{"OTHER": "secret://" + dbName}, keys, false},
		{"no keys", map[string]string{"DATABASE_URL": "secret://" + dbName}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := References(lookup(tc.env), tc.keys); got != tc.want {
				t.Errorf("References = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string // want "": an error
	}{
		{"secret://projects/lic-prod/secrets/db/versions/1", "projects/lic-prod/secrets/db/versions/1"},
		{"secret://projects/lic-prod/secrets/db/versions/latest", "projects/lic-prod/secrets/db/versions/latest"},
		{"secret://projects/123456789012/secrets/DB_url-2/versions/42", "projects/123456789012/secrets/DB_url-2/versions/42"},
		{"secret://projects/example.com:lic/secrets/db/versions/1", "projects/example.com:lic/secrets/db/versions/1"},
		{"secret://", ""},
		{"secret://projects/p/secrets/db", ""},
		{"secret://projects/p/secrets/db/versions/", ""},
		{"secret://projects/p/secrets/db/versions/0", ""},
		{"secret://projects/p/secrets/db/versions/01", ""},
		{"secret://projects/p/secrets/db/versions/Latest", ""},
		{"secret://projects/p/secrets/db/versions/1/extra", ""},
		{"secret://projects/p/secret/db/versions/1", ""},
		{"secret://projects/p/secrets/d.b/versions/1", ""},
		{"secret://projects//secrets/db/versions/1", ""},
		{"secret://projects/P/secrets/db/versions/1", ""},
		{"secret:///projects/p/secrets/db/versions/1", ""},
		{" secret://projects/p/secrets/db/versions/1", ""},
		{"projects/p/secrets/db/versions/1", ""},
		{"secret://projects/p/locations/us/secrets/db/versions/1", ""},
	}
	for _, tc := range tests {
		got, err := ParseReference(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseReference(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestIsReference(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"secret://projects/p/secrets/s/versions/1": true,
		"secret://": true,
		"Secret://projects/p/secrets/s/versions/1": false,
		"":                        false,
		"postgres://localhost/db": false,
		" secret://projects/p/secrets/s/versions/1": false,
	} {
		if got := IsReference(in); got != want {
			t.Errorf("IsReference(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		asked, got string
		want       bool
	}{
		{"projects/p1/secrets/s/versions/3", "projects/p1/secrets/s/versions/3", true},
		{"projects/p1/secrets/s/versions/latest", "projects/p1/secrets/s/versions/9", true},
		{"projects/p1/secrets/s/versions/latest", "projects/42/secrets/s/versions/9", true},
		{"projects/p1/secrets/s/versions/3", "projects/42/secrets/s/versions/3", true},
		{"projects/41/secrets/s/versions/3", "projects/42/secrets/s/versions/3", false},
		{"projects/p1/secrets/s/versions/3", "projects/p2/secrets/s/versions/3", false},
		{"projects/p1/secrets/s/versions/3", "projects/p1/secrets/t/versions/3", false},
		{"projects/p1/secrets/s/versions/3", "projects/p1/secrets/s/versions/4", false},
		{"projects/p1/secrets/s/versions/3", "projects/p1/secrets/s/versions/latest", false},
		{"projects/p1/secrets/s/versions/latest", "projects/p1/secrets/t/versions/9", false},
		{"projects/p1/secrets/s/versions/latest", "", false},
		{"projects/p1/secrets/s/versions/3", "", false},
	}
	for _, tc := range tests {
		if got := answers(tc.asked, tc.got); got != tc.want {
			t.Errorf("answers(%q, %q) = %v, want %v", tc.asked, tc.got, got, tc.want)
		}
	}
}
