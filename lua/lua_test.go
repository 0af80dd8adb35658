package lua

import (
	"regexp"
	"strings"
	"testing"
)

var (
	keyAliases   = regexp.MustCompile(`local ([\w, ]+) = (KEYS\[\d\](?:, KEYS\[\d\])*)\n`)
	redisCall    = regexp.MustCompile(`redis\.call\('(\w+)'(?:,\s*([^,)]+))?`)
	dropSession  = regexp.MustCompile(`drop_session\(([^)]*)\)`)
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
		check(name, body, allowed)
		for _, m := range dropSession.FindAllStringSubmatch(body, -1) {
			args := strings.Split(m[1], ",")
			for _, a := range args[:4] {
				if !allowed[strings.TrimSpace(a)] {
					t.Errorf("%s: drop_session(%s): %s is not from KEYS", name, m[1], a)
				}
			}
		}
		if strings.Contains(body, "KEYS[") && strings.Contains(body, "..") &&
			regexp.MustCompile(`KEYS\[\d\]\s*\.\.`).MatchString(body) {
			t.Errorf("%s builds a key name from KEYS", name)
		}
	}
	// The prelude's helper uses only its key parameters.
	check := map[string]bool{"live": true, "leases": true, "info": true, "users": true}
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
