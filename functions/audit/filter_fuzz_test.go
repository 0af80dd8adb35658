package audit

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzParseFilter feeds any query string to the audit log's filter parser.
// It never panics; a refusal is a 4xx *httpjson.Error; an accepted filter
// has a known action and target type (or none), and an actor and target id
// PostgreSQL takes as text (valid UTF-8, no NUL) of bounded length.
func FuzzParseFilter(f *testing.F) {
	for _, q := range []string{"", "actor=user:ada", "action=license.update", "action=session.revoke", "action=license.rotate_key",
		"target_type=member", "target_id=0b6f6c1e-8f0e-4e8e-9a43-0a1b2c3d4e5f", "action=license", "action=.update",
		"action=license.update.x", "target_type=License", "actor=%00", "actor=a%0Ab", "target_id=%FF", "actor=x&actor=y",
		"action=license.update'--", "%zz=1", "target_id=" + strings.Repeat("a", 513)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		v, _ := url.ParseQuery(rawQuery)
		fl, err := parseFilter(v)
		if httpjsontest.Refused(t, "parseFilter", rawQuery, err) {
			return
		}
		if (fl.Action != "" && !audit.KnownAction(fl.Action)) || (fl.TargetType != "" && !audit.KnownTargetType(fl.TargetType)) {
			t.Fatalf("parseFilter(%q) accepted %+v", rawQuery, fl)
		}
		for _, s := range []string{fl.Actor, fl.TargetID} {
			if len(s) > maxFilterLen || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("parseFilter(%q) accepted %+v", rawQuery, fl)
			}
		}
	})
}
