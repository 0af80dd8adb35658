package mail_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/mail"
)

var (
	at      = time.Date(2026, 11, 12, 14, 30, 0, 0, time.UTC)
	license = mail.License{ID: "7f3c", Product: "CAD Pro", KeyPrefix: "lk_7f3c_Ab9z"}
)

const (
	consoleURL = "https://console.example.com/licenses/7f3c"
	unsubURL   = "https://console.example.com/unsubscribe?t=abc.def"
)

// sample is one kind's valid data and what its parts must say.
type sample struct {
	kind    string
	data    any
	subject string   // the subject, exactly
	want    []string // in both the text and the HTML part
}

func samples() []sample {
	return []sample{
		{"license.expiring",
			mail.ExpiringData{Tenant: "Acme", License: license, ExpiresAt: at, DaysLeft: 7, ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] CAD Pro (lk_7f3c_Ab9z) expires in 7 days",
			[]string{"Acme", "CAD Pro (lk_7f3c_Ab9z)", "Thu 12 Nov 2026 14:30 UTC", "in 7 days", consoleURL}},
		{"license.expired",
			mail.ExpiredData{Tenant: "Acme", License: license, ExpiredAt: at, ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] CAD Pro (lk_7f3c_Ab9z) has expired",
			[]string{"Acme", "expired on", "Thu 12 Nov 2026 14:30 UTC", consoleURL}},
		{"seats.exhausted",
			mail.SeatsData{Tenant: "Acme", License: license, Seats: 10, InUse: 10, At: at, ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] All 10 seats of CAD Pro (lk_7f3c_Ab9z) are in use",
			[]string{"Acme", "10 of 10", "Thu 12 Nov 2026 14:30 UTC", "refused"}},
		{"seats.utilization_high",
			mail.SeatsData{Tenant: "Acme", License: license, Seats: 10, InUse: 9, At: at, ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] 90% of the seats of CAD Pro (lk_7f3c_Ab9z) are in use",
			[]string{"Acme", "9 of the 10 seats", "90%"}},
		{"usage.weekly_summary",
			mail.WeeklySummaryData{Tenant: "Acme",
				WeekStart: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), WeekEnd: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC),
				Licenses: []mail.LicenseUsage{
					{License: license, PeakSeats: 8, Seats: 10, SeatHours: 312.25, Denials: 3},
					{License: mail.License{ID: "9a1b", Product: "CAM Lite"}, PeakSeats: 1, Seats: 2, SeatHours: 4, Denials: 0},
				},
				TopUsers:   []mail.UserUsage{{User: "ada@acme.example", SeatHours: 40.5}, {User: "grace", SeatHours: 38}},
				ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] Weekly usage of Acme, Mon 2 Nov 2026 to Sun 8 Nov 2026",
			[]string{"Mon 2 Nov 2026", "Sun 8 Nov 2026", "CAD Pro (lk_7f3c_Ab9z)", "312.2", "CAM Lite (9a1b)", "4.0",
				"ada@acme.example", "40.5", "grace", "38.0"}},
		{"member.invited",
			mail.InvitationData{Tenant: "Acme", Role: "admin", InvitedBy: "Ada Lovelace",
				AcceptURL: "https://console.example.com/invitations/accept?t=xyz", ExpiresAt: at},
			"[Seats] Ada Lovelace invited you to Acme",
			[]string{"Ada Lovelace", "Acme", "admin", "https://console.example.com/invitations/accept?t=xyz", "Thu 12 Nov 2026 14:30 UTC"}},
		{"webhook.disabled",
			mail.WebhookDisabledData{Tenant: "Acme", WebhookURL: "https://user:pw@hooks.acme.example/in/licenses?token=s3cret",
				FailingSince: at, LastError: "503 Service Unavailable", ConsoleURL: consoleURL},
			"[Seats] Webhook endpoint disabled: https://hooks.acme.example/in/licenses",
			[]string{"https://hooks.acme.example/in/licenses", "Thu 12 Nov 2026 14:30 UTC", "503 Service Unavailable", "disabled"}},
		{"event",
			mail.EventData{Tenant: "Acme", Type: "license.suspended", At: at,
				Fields:     []mail.Field{{Key: "license", Value: "lk_7f3c_Ab9z"}, {Key: "reason", Value: "non-payment"}},
				ConsoleURL: consoleURL, Unsubscribe: unsubURL},
			"[Seats] license.suspended in Acme",
			[]string{"license.suspended", "Acme", "lk_7f3c_Ab9z", "reason", "non-payment", "Thu 12 Nov 2026 14:30 UTC"}},
	}
}

func newRenderer(t *testing.T, product string) *mail.Renderer {
	t.Helper()
	r, err := mail.NewRenderer(product)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRenderEveryKind(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, "Seats")
	seen := map[string]bool{}
	for _, s := range samples() {
		seen[s.kind] = true
		t.Run(s.kind, func(t *testing.T) {
			t.Parallel()
			subject, text, html, err := r.Render(s.kind, s.data)
			if err != nil {
				t.Fatal(err)
			}
			if subject != s.subject {
				t.Errorf("subject %q, want %q", subject, s.subject)
			}
			for _, w := range s.want {
				if !strings.Contains(text, w) {
					t.Errorf("text part lacks %q:\n%s", w, text)
				}
				if !strings.Contains(html, htmlEscape(w)) {
					t.Errorf("HTML part lacks %q:\n%s", htmlEscape(w), html)
				}
			}
			if !strings.HasPrefix(html, "<!DOCTYPE html>") || !strings.Contains(html, "</html>") {
				t.Errorf("HTML part is not a whole document:\n%s", html)
			}
			for _, part := range []string{text, html} {
				if strings.Contains(part, "<no value>") || strings.Contains(part, "%!") {
					t.Errorf("a part shows a missing value or a bad format:\n%s", part)
				}
			}
			// No external resources: nothing to fetch when the message is opened.
			for _, bad := range []string{"<img", "<link", "<script", "url(", "<style"} {
				if strings.Contains(strings.ToLower(html), bad) {
					t.Errorf("HTML part holds %q", bad)
				}
			}
			// The pointer form renders the same.
			if _, _, _, err := r.Render(s.kind, pointerTo(s.data)); err != nil {
				t.Errorf("pointer to the data: %v", err)
			}
		})
	}
	for kind := range mail.Kinds() {
		if !seen[kind] {
			t.Errorf("kind %s has no sample in this test", kind)
		}
	}
}

// htmlEscape is how html/template writes w in text.
func htmlEscape(w string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(w)
}

func pointerTo(data any) any {
	switch d := data.(type) {
	case mail.ExpiringData:
		return &d
	case mail.ExpiredData:
		return &d
	case mail.SeatsData:
		return &d
	case mail.WeeklySummaryData:
		return &d
	case mail.InvitationData:
		return &d
	case mail.WebhookDisabledData:
		return &d
	case mail.EventData:
		return &d
	}
	panic("no pointer case for a sample")
}

func TestRenderSubjectVariants(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, "Seats")
	for _, c := range []struct {
		kind string
		data any
		want string
	}{
		{"license.expiring", mail.ExpiringData{Tenant: "Acme", License: license, ExpiresAt: at, DaysLeft: 0},
			"[Seats] CAD Pro (lk_7f3c_Ab9z) expires today"},
		{"license.expiring", mail.ExpiringData{Tenant: "Acme", License: mail.License{ID: "7f3c"}, ExpiresAt: at, DaysLeft: 1},
			"[Seats] 7f3c expires tomorrow"},
		{"member.invited", mail.InvitationData{Tenant: "Acme", Role: "viewer", AcceptURL: "https://x.example/a", ExpiresAt: at},
			"[Seats] You are invited to Acme"},
		// A line break in a tenant's name cannot make the subject two lines.
		{"event", mail.EventData{Tenant: "Acme\r\nBcc: victim@example.com", Type: "license.created"},
			"[Seats] license.created in Acme Bcc: victim@example.com"},
	} {
		subject, _, _, err := r.Render(c.kind, c.data)
		if err != nil {
			t.Fatalf("%s: %v", c.kind, err)
		}
		if subject != c.want {
			t.Errorf("%s: subject %q, want %q", c.kind, subject, c.want)
		}
	}
	long := mail.EventData{Tenant: strings.Repeat("é", 400), Type: "license.created"}
	subject, _, _, err := r.Render("event", long)
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(subject)); n != mail.MaxSubject || !strings.HasSuffix(subject, "…") {
		t.Errorf("a long subject is %d characters (%q), want %d ending in an ellipsis", n, subject, mail.MaxSubject)
	}
}

func TestRenderUnsubscribeLinkIffSet(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, "Seats")
	with := mail.ExpiringData{Tenant: "Acme", License: license, ExpiresAt: at, DaysLeft: 3, Unsubscribe: unsubURL}
	without := with
	without.Unsubscribe = ""

	_, text, html, err := r.Render("license.expiring", with)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "Unsubscribe from these e-mails: "+unsubURL) {
		t.Errorf("text part lacks the unsubscribe link:\n%s", text)
	}
	if !strings.Contains(html, `<a href="`+htmlEscape(unsubURL)+`"`) || !strings.Contains(html, "Unsubscribe from these e-mails</a>") {
		t.Errorf("HTML part lacks the unsubscribe link:\n%s", html)
	}

	_, text, html, err = r.Render("license.expiring", without)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{text, html} {
		if strings.Contains(strings.ToLower(part), "unsubscribe") {
			t.Errorf("a part mentions unsubscribing though no link is set:\n%s", part)
		}
	}

	// The essential kinds never show one.
	for _, s := range samples() {
		if s.kind != "member.invited" && s.kind != "webhook.disabled" {
			continue
		}
		_, text, html, err := r.Render(s.kind, s.data)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.ToLower(text+html), "unsubscribe") {
			t.Errorf("%s mentions unsubscribing", s.kind)
		}
	}
}

func TestRenderEscapesHTML(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, `<script>alert("p")</script>`)
	data := mail.EventData{
		Tenant: `<img src=x onerror=alert(1)>`, Type: "license.created",
		Fields:     []mail.Field{{Key: "<b>k</b>", Value: `"><script>alert(2)</script>`}},
		ConsoleURL: "https://console.example.com/?q=%3Cx%3E&y=1",
	}
	subject, text, html, err := r.Render("event", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img", "<b>"} {
		if strings.Contains(html, bad) {
			t.Errorf("HTML part holds %q unescaped:\n%s", bad, html)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;p&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;k&lt;/b&gt;",
		`href="https://console.example.com/?q=%3Cx%3E&amp;y=1"`} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks the escaped %q:\n%s", want, html)
		}
	}
	// The subject and the text part are not HTML: they keep the text as it is.
	if !strings.HasPrefix(subject, `[<script>alert("p")</script>] `) {
		t.Errorf("subject %q", subject)
	}
	if !strings.Contains(text, `<img src=x onerror=alert(1)>`) {
		t.Errorf("text part changed the tenant's name:\n%s", text)
	}
}

func TestRenderRefusesBadData(t *testing.T) {
	t.Parallel()
	r := newRenderer(t, "Seats")
	var nilExpiring *mail.ExpiringData
	for _, c := range []struct {
		name string
		kind string
		data any
		want string
	}{
		{"unknown kind", "license.unknown", mail.EventData{Tenant: "A", Type: "x"}, "unknown kind"},
		{"nil data", "license.expiring", nil, "not mail.ExpiringData"},
		{"nil pointer", "license.expiring", nilExpiring, "nil"},
		{"wrong type", "license.expiring", mail.ExpiredData{}, "not mail.ExpiringData"},
		{"a map", "event", map[string]any{"Tenant": "A", "Type": "x"}, "not mail.EventData"},
		{"no tenant", "license.expiring", mail.ExpiringData{License: license, ExpiresAt: at}, "Tenant"},
		{"no license id", "license.expiring", mail.ExpiringData{Tenant: "A", ExpiresAt: at}, "License.ID"},
		{"no expiry", "license.expiring", mail.ExpiringData{Tenant: "A", License: license}, "ExpiresAt"},
		{"negative days", "license.expiring", mail.ExpiringData{Tenant: "A", License: license, ExpiresAt: at, DaysLeft: -1}, "DaysLeft"},
		{"no expired at", "license.expired", mail.ExpiredData{Tenant: "A", License: license}, "ExpiredAt"},
		{"no seats", "seats.exhausted", mail.SeatsData{Tenant: "A", License: license, At: at}, "Seats"},
		{"no time", "seats.utilization_high", mail.SeatsData{Tenant: "A", License: license, Seats: 3}, "At"},
		{"empty week", "usage.weekly_summary", mail.WeeklySummaryData{Tenant: "A", WeekStart: at, WeekEnd: at}, "WeekEnd"},
		{"usage without license", "usage.weekly_summary", mail.WeeklySummaryData{Tenant: "A", WeekStart: at, WeekEnd: at.Add(time.Hour),
			Licenses: []mail.LicenseUsage{{Seats: 1}}}, "Licenses[0]"},
		{"user without name", "usage.weekly_summary", mail.WeeklySummaryData{Tenant: "A", WeekStart: at, WeekEnd: at.Add(time.Hour),
			TopUsers: []mail.UserUsage{{SeatHours: 1}}}, "TopUsers[0]"},
		{"no accept URL", "member.invited", mail.InvitationData{Tenant: "A", Role: "admin", ExpiresAt: at}, "AcceptURL"},
		{"javascript accept URL", "member.invited", mail.InvitationData{Tenant: "A", Role: "admin", ExpiresAt: at,
			AcceptURL: "javascript:alert(1)"}, "AcceptURL"},
		{"no role", "member.invited", mail.InvitationData{Tenant: "A", AcceptURL: "https://x.example/", ExpiresAt: at}, "Role"},
		{"no webhook URL", "webhook.disabled", mail.WebhookDisabledData{Tenant: "A", FailingSince: at}, "WebhookURL"},
		{"no failing since", "webhook.disabled", mail.WebhookDisabledData{Tenant: "A", WebhookURL: "https://h.example/"}, "FailingSince"},
		{"no type", "event", mail.EventData{Tenant: "A"}, "Type"},
		{"field without key", "event", mail.EventData{Tenant: "A", Type: "x", Fields: []mail.Field{{Value: "v"}}}, "Fields[0]"},
		{"data URL console link", "event", mail.EventData{Tenant: "A", Type: "x", ConsoleURL: "data:text/html,hi"}, "ConsoleURL"},
		{"bad unsubscribe", "event", mail.EventData{Tenant: "A", Type: "x", Unsubscribe: "https://x.example/a b"}, "Unsubscribe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			subject, text, html, err := r.Render(c.kind, c.data)
			if err == nil {
				t.Fatalf("rendered %q with bad data", subject)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
			if subject != "" || text != "" || html != "" {
				t.Error("parts returned with an error")
			}
		})
	}
}

func TestNewRendererRefusesBadProductNames(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "   ", "a\nb", strings.Repeat("x", mail.MaxProductName+1)} {
		if _, err := mail.NewRenderer(name); err == nil {
			t.Errorf("NewRenderer(%q) succeeded", name)
		}
	}
}

// TestEveryTemplateFileIsUsed keeps the templates folder to the kinds
// Render knows: a file for a kind not in Kinds would never be parsed.
func TestEveryTemplateFileIsUsed(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"layout.txt.tmpl": true, "layout.html.tmpl": true}
	for kind := range mail.Kinds() {
		want[kind+".txt.tmpl"] = true
		want[kind+".html.tmpl"] = true
	}
	err := fs.WalkDir(os.DirFS("templates"), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !want[filepath.Base(path)] {
			t.Errorf("templates/%s belongs to no kind", path)
		}
		delete(want, filepath.Base(path))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		t.Errorf("templates/%s is missing", name)
	}
}
