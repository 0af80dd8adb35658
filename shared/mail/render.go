package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"
)

// templateFS holds the templates: for each kind K, templates/K.txt.tmpl
// (defining "subject" and "body") and templates/K.html.tmpl (defining
// "body"), placed in templates/layout.txt.tmpl and layout.html.tmpl.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// Kinds lists the kinds Render knows, with the data each expects.
func Kinds() map[string]string {
	return map[string]string{
		"license.expiring":       "ExpiringData",
		"license.expired":        "ExpiredData",
		"seats.exhausted":        "SeatsData",
		"seats.utilization_high": "SeatsData",
		"usage.weekly_summary":   "WeeklySummaryData",
		"member.invited":         "InvitationData",
		"webhook.disabled":       "WebhookDisabledData",
		"event":                  "EventData",
	}
}

// checkData checks that data is what kind expects, with its required
// fields, and returns it as a value (not a pointer), so the templates see
// one shape.
func checkData(kind string, data any) (any, error) {
	switch kind {
	case "license.expiring":
		return checkAs[ExpiringData](data)
	case "license.expired":
		return checkAs[ExpiredData](data)
	case "seats.exhausted", "seats.utilization_high":
		return checkAs[SeatsData](data)
	case "usage.weekly_summary":
		return checkAs[WeeklySummaryData](data)
	case "member.invited":
		return checkAs[InvitationData](data)
	case "webhook.disabled":
		return checkAs[WebhookDisabledData](data)
	case "event":
		return checkAs[EventData](data)
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

func checkAs[T interface{ check() error }](data any) (any, error) {
	var v T
	switch d := data.(type) {
	case T:
		v = d
	case *T:
		if d == nil {
			return nil, fmt.Errorf("nil *%T", v)
		}
		v = *d
	default:
		return nil, fmt.Errorf("data is %T, not %T", data, v)
	}
	if err := v.check(); err != nil {
		return nil, err
	}
	return v, nil
}

// MaxProductName bounds the product name, which starts every subject.
const MaxProductName = 60

// Renderer renders messages from the embedded templates. It is safe for
// concurrent use.
type Renderer struct {
	product string
	kinds   map[string]kindTemplates
}

type kindTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the templates for productName, the name that starts
// every subject ("[productName] ...") and heads every message.
func NewRenderer(productName string) (*Renderer, error) {
	name := strings.TrimSpace(productName)
	if name == "" || utf8.RuneCountInString(name) > MaxProductName {
		return nil, fmt.Errorf("mail: product name must hold 1 to %d characters", MaxProductName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return nil, errors.New("mail: product name contains a control character")
		}
	}
	r := &Renderer{product: name, kinds: map[string]kindTemplates{}}
	funcs := map[string]any{
		"product":     func() string { return name },
		"unsubscribe": unsubscribeOf,
		"when":        formatWhen,
		"day":         formatDay,
		"hours":       formatHours,
		"clip":        clip,
		"plural":      plural,
	}
	for kind := range Kinds() {
		text, err := texttemplate.New(kind).Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/"+kind+".txt.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: parsing the text templates of %s: %w", kind, err)
		}
		html, err := htmltemplate.New(kind).Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html.tmpl", "templates/"+kind+".html.tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail: parsing the HTML templates of %s: %w", kind, err)
		}
		for _, want := range []string{"subject", "body", "layout"} {
			if text.Lookup(want) == nil {
				return nil, fmt.Errorf("mail: the text templates of %s define no %q", kind, want)
			}
		}
		for _, want := range []string{"body", "layout"} {
			if html.Lookup(want) == nil {
				return nil, fmt.Errorf("mail: the HTML templates of %s define no %q", kind, want)
			}
		}
		r.kinds[kind] = kindTemplates{text: text, html: html}
	}
	return r, nil
}

// Render returns the subject, the text part and the HTML part of a message
// of kind (see Kinds) for data, which must be the kind's data type (or a
// pointer to it) with its required fields set.
func (r *Renderer) Render(kind string, data any) (subject, text, html string, err error) {
	t, ok := r.kinds[kind]
	if !ok {
		return "", "", "", fmt.Errorf("mail: unknown kind %q", kind)
	}
	v, err := checkData(kind, data)
	if err != nil {
		return "", "", "", fmt.Errorf("mail: data for %s: %w", kind, err)
	}
	var sb, tb, hb bytes.Buffer
	if err := t.text.ExecuteTemplate(&sb, "subject", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering the subject of %s: %w", kind, err)
	}
	if err := t.text.ExecuteTemplate(&tb, "layout", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering the text of %s: %w", kind, err)
	}
	if err := t.html.ExecuteTemplate(&hb, "layout", v); err != nil {
		return "", "", "", fmt.Errorf("mail: rendering the HTML of %s: %w", kind, err)
	}
	return r.subject(sb.String()), tb.String(), hb.String(), nil
}

// subject prefixes the product and folds every run of white space
// (a line break in a tenant's name included) into one space, so the
// subject is one line; it shortens it to MaxSubject characters.
func (r *Renderer) subject(s string) string {
	s = "[" + r.product + "] " + strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= MaxSubject {
		return s
	}
	return clip(MaxSubject, s)
}

// Template functions.

func unsubscribeOf(data any) string {
	if u, ok := data.(unsubscriber); ok {
		return u.unsubscribeURL()
	}
	return ""
}

// formatWhen shows an instant in UTC: the recipients are anywhere, and a
// named zone is unambiguous.
func formatWhen(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04 MST") }

func formatDay(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006") }

func formatHours(h float64) string { return fmt.Sprintf("%.1f", h) }

// clip shortens s to n characters, the last one an ellipsis.
func clip(n int, s string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// plural returns one when n is 1 and many otherwise.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
