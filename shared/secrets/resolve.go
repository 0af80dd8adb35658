// Package secrets resolves configuration values written
// secret://projects/P/secrets/S/versions/V through Google Secret Manager,
// once, at start, before the configuration is read:
//
//	get := config.Lookup(config.Env)
//	if secrets.References(get, keys) {
//		client, err := secretmanager.NewClient(ctx)
//		if err != nil {
//			return fmt.Errorf("connecting to Secret Manager: %w", err)
//		}
//		defer client.Close()
//		if get, err = secrets.Resolve(ctx, secrets.NewManager(client), get, keys); err != nil {
//			return fmt.Errorf("resolving secrets: %w", err)
//		}
//	}
//	cfg, err := config.Load(get)
//
// Errors name the variable and the secret, never a secret's value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Prefix starts every secret reference.
const Prefix = "secret://"

// Accessor reads one secret version's payload; name is a version's resource
// name, projects/P/secrets/S/versions/V. NewManager is the Secret Manager
// one; tests may use another.
type Accessor interface {
	Access(ctx context.Context, name string) ([]byte, error)
}

// versionName is a secret version's resource name. Project IDs are 6 to 30
// characters (domain-scoped ones have a "domain:" in front), project numbers
// are digits; secret IDs are letters, digits, '-' and '_', at most 255; a
// version is a number or "latest".
var versionName = regexp.MustCompile(`^projects/([a-z0-9][a-z0-9.:-]{0,62})/secrets/([A-Za-z0-9_-]{1,255})/versions/([1-9][0-9]*|latest)$`)

// IsReference reports whether v is a secret reference (it may still be
// malformed: ParseReference checks that).
func IsReference(v string) bool { return strings.HasPrefix(v, Prefix) }

// ParseReference checks that v is secret://projects/P/secrets/S/versions/V,
// V a number or "latest", and returns the version's resource name
// (projects/P/secrets/S/versions/V).
func ParseReference(v string) (string, error) {
	if !IsReference(v) {
		return "", fmt.Errorf("%q is not a secret reference: want %sprojects/P/secrets/S/versions/V", v, Prefix)
	}
	name := strings.TrimPrefix(v, Prefix)
	if !versionName.MatchString(name) {
		return "", fmt.Errorf("malformed secret reference %q: want %sprojects/P/secrets/S/versions/V, V a number or latest", v, Prefix)
	}
	return name, nil
}

// References reports whether any of keys holds a secret reference, so a
// caller creates a Secret Manager client only when one is needed (local
// development has no credentials).
func References(base func(string) (string, bool), keys []string) bool {
	for _, k := range keys {
		if v, ok := base(k); ok && IsReference(v) {
			return true
		}
	}
	return false
}

// Resolve reads every one of keys through base, fetches each distinct secret
// they reference once, now, and returns a lookup that answers with the
// secrets' payloads in place of the references; other values pass through.
// keys must list every setting the service reads: looking up a key that is
// not listed and holds a reference panics, rather than hand the reference
// itself to the service as if it were the value.
//
// The error names every variable whose reference is malformed or whose
// secret could not be read, and the secret, never a payload; on error the
// lookup is nil, so a half-configured service cannot start.
func Resolve(ctx context.Context, a Accessor, base func(string) (string, bool), keys []string) (func(string) (string, bool), error) {
	type setting struct {
		value string
		ok    bool
	}
	got := make(map[string]setting, len(keys))
	users := map[string][]string{} // resource name -> keys referencing it
	var names []string             // distinct resource names, in order of first use
	var errs []error
	for _, k := range keys {
		if _, seen := got[k]; seen {
			continue
		}
		v, ok := base(k)
		got[k] = setting{v, ok}
		if !ok || !IsReference(v) {
			continue
		}
		name, err := ParseReference(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		if users[name] == nil {
			names = append(names, name)
		}
		users[name] = append(users[name], k)
	}
	for _, name := range names {
		data, err := a.Access(ctx, name)
		for _, k := range users[name] {
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: reading %s%s: %w", k, Prefix, name, err))
				continue
			}
			got[k] = setting{string(data), true}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return func(k string) (string, bool) {
		if s, ok := got[k]; ok {
			return s.value, s.ok
		}
		v, ok := base(k)
		if ok && IsReference(v) {
			panic(fmt.Sprintf("secrets: %s holds a secret reference but was not among the keys given to Resolve", k))
		}
		return v, ok
	}, nil
}
