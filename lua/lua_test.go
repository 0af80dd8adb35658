package lua

import (
	"regexp"
	"strings"
	"testing"
)

var (
	keyAliases   = regexp.MustCompile(`local ([\w, ]+) = (KEYS\[\d\](?:, KEYS\[\d\])*)\n`)
	redisCall    = regexp.MustCompile(`redis\.call\('(\w+)'(?:,\s*([^,)]+))?`)
	keyTables    = regexp.MustCompile(`local (\w+) = \{((?:\w+ = KEYS\[\d\](?:, )?)+)\}\n`)
	keyHelpers   = regexp.MustCompile(`(?:drop_session|end_session|record)\((\w+),`)
	keylessCalls = map[string]bool{"TIME": true}
)

// TestEveryKeyComesFromKEYS is the static half of the cluster contract: a
// single Redis node runs a script that builds a key name itself, but a
// cluster may not (the key can live in another slot). Every command's key
// must be KEYS[n] or a local bound to it, and the prelude's helper must only
// be handed such keys.
func TestEveryKeyComesFromKEYS(t *testing.T) {
	t.Parallel()
	for name, src := range Source() {
		body := strings.TrimPrefix(src, common)
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
				if !allowed[key] && !regexp.MustCompile(`^KEYS\[\d\]$`).MatchString(key) {
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
			regexp.MustCompile(`KEYS\[\d\]\s*\.\.`).MatchString(body) {
			t.Errorf("%s builds a key name from KEYS", name)
		}
	}
	// The prelude's helpers use only the keys in their key table.
	check := map[string]bool{"k.live": true, "k.info": true, "k.users": true, "k.events": true}
	for _, m := range redisCall.FindAllStringSubmatch(common, -1) {
		if !keylessCalls[m[1]] && !check[strings.TrimSpace(m[2])] {
			t.Errorf("common.lua: redis.call('%s', %s): key is not a key parameter", m[1], m[2])
		}
	}
}

func TestNoShebang(t *testing.T) {
	t.Parallel()
	// The embedded Redis of `make run` does not parse "#!lua" flags.
	for name, src := range Source() {
		if strings.HasPrefix(src, "#!") {
			t.Errorf("%s starts with a shebang", name)
		}
	}
}
