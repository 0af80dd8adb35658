package lua

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var (
	keyAliases   = regexp.MustCompile(`local ([\w, ]+) = (KEYS\[\d+\](?:, KEYS\[\d+\])*)\n`)
	redisCall    = regexp.MustCompile(`redis\.call\('(\w+)'(?:,\s*([^,)]+))?`)
	keyTables    = regexp.MustCompile(`local (\w+) = \{((?:\w+ = KEYS\[\d+\](?:, )?)+)\}\n`)
	keyHelpers   = regexp.MustCompile(`(?:drop_session|drop_read|revoke_session|keep_holders|record|promote|overage_leave)\((\w+),`)
	keylessCalls = map[string]bool{"TIME": true}
)

// TestEveryKeyComesFromKEYS is the static half of the cluster contract: a
// single Redis node runs a script that builds a key name itself, but a
// cluster may not (the key can live in another slot). Every command's key
// must be KEYS[n] or a local bound to it, and the prelude's helper must only
// be handed such keys.
func TestEveryKeyComesFromKEYS(t *testing.T) {
	t.Parallel()
	for _, script := range Load().All() {
		name, body := script.Name, strings.TrimPrefix(script.Source, common)
		allowed := map[string]bool{}
		for _, m := range keyAliases.FindAllStringSubmatch(body, -1) {
			for _, n := range strings.Split(m[1], ",") {
				allowed[strings.TrimSpace(n)] = true
			}
		}
		check := func(where, src string, allowed map[string]bool) {
			for _, m := range redisCall.FindAllStringSubmatch(src, -1) {
				cmd, key := m[1], strings.TrimSpace(m[2])
				if keylessCalls[cmd] {
					continue
				}
				if !allowed[key] && !regexp.MustCompile(`^KEYS\[\d+\]$`).MatchString(key) {
					t.Errorf("%s: redis.call('%s', %s): key is not from KEYS", where, cmd, key)
				}
			}
		}
		tables := map[string]bool{}
		for _, m := range keyTables.FindAllStringSubmatch(body, -1) {
			tables[m[1]] = true
			for _, f := range strings.Split(m[2], ",") {
				allowed[m[1]+"."+strings.TrimSpace(strings.SplitN(f, "=", 2)[0])] = true
			}
		}
		check(name, body, allowed)
		// The prelude's helpers must only be handed a table built from KEYS.
		for _, m := range keyHelpers.FindAllStringSubmatch(body, -1) {
			if !tables[m[1]] {
				t.Errorf("%s: %s: %s is not a table of KEYS", name, m[0], m[1])
			}
		}
		if strings.Contains(body, "KEYS[") && strings.Contains(body, "..") &&
			regexp.MustCompile(`KEYS\[\d+\]\s*\.\.`).MatchString(body) {
			t.Errorf("%s builds a key name from KEYS", name)
		}
	}
	// The prelude's helpers use only the keys in their key table.
	check := map[string]bool{"k.live": true, "k.info": true, "k.users": true, "k.events": true, "k.ended": true,
		"k.ov": true, "k.meta": true, "k.rb": true}
	for _, m := range redisCall.FindAllStringSubmatch(common, -1) {
		if !keylessCalls[m[1]] && !check[strings.TrimSpace(m[2])] {
			t.Errorf("common.lua: redis.call('%s', %s): key is not a key parameter", m[1], m[2])
		}
	}
}

func TestNoShebang(t *testing.T) {
	t.Parallel()
	// The embedded Redis of `make run` does not parse "#!lua" flags.
	for _, s := range Load().All() {
		if strings.HasPrefix(s.Source, "#!") {
			t.Errorf("%s starts with a shebang", s.Name)
		}
	}
}

// TestAllListsEveryScript: All is what the metrics name scripts by and what
// the tests above check, so a field it forgot would go unchecked and be
// counted as "other".
func TestAllListsEveryScript(t *testing.T) {
	t.Parallel()
	scripts := Load()
	v := reflect.ValueOf(scripts)
	listed := map[Script]bool{}
	for _, s := range scripts.All() {
		listed[s] = true
	}
	names := map[string]bool{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		s := v.Field(i).Interface().(Script)
		if !listed[s] {
			t.Errorf("Scripts.%s is not in All()", f.Name)
		}
		if s.Name == "" || strings.TrimSpace(s.Source) == "" {
			t.Errorf("Scripts.%s has no name or no source", f.Name)
		}
		if names[s.Name] {
			t.Errorf("Scripts.%s: name %q used twice", f.Name, s.Name)
		}
		names[s.Name] = true
	}
	if len(scripts.All()) != v.NumField() {
		t.Errorf("All() lists %d scripts, Scripts has %d", len(scripts.All()), v.NumField())
	}
}
