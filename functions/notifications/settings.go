package notifications

import (
	"errors"
	"html/template"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/outbox"
)

// Links checks the signed links mails carry (shared/links' Signer).
type Links interface {
	Verify(purpose, token string, into any) error
}

func (h *handler) settings(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	s, err := h.c.Store.Settings(r.Context(), tenantID)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

type settingsBody struct {
	TimeZone *string                        `json:"time_zone"`
	Email    map[string]*notifications.Rule `json:"email"`
}

func (h *handler) updateSettings(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	var b settingsBody
	if err := httpjson.Decode(w, r, &b); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if b.TimeZone == nil && len(b.Email) == 0 {
		httpjson.WriteError(w, r, httpjson.Invalid("nothing to change"))
		return
	}
	zone := ""
	if b.TimeZone != nil {
		if !notifications.ValidTimeZone(*b.TimeZone) {
			httpjson.WriteError(w, r, httpjson.Invalid(`field "time_zone" must be an IANA time zone such as "Europe/Berlin"`))
			return
		}
		zone = *b.TimeZone
	}
	rules := make(map[string]notifications.Rule, len(b.Email))
	for t, rule := range b.Email {
		if !slices.Contains(outbox.Types, t) {
			httpjson.WriteError(w, r, httpjson.Invalid(`field "email": %q is not an event type (see the catalogue)`, t))
			return
		}
		if rule == nil {
			httpjson.WriteError(w, r, httpjson.Invalid(`field "email": the rule of %q must be an object`, t))
			return
		}
		if len(rule.Recipients) > notifications.MaxRecipients {
			httpjson.WriteError(w, r, httpjson.Invalid(`field "email": %q has more than %d recipients`, t, notifications.MaxRecipients))
			return
		}
		clean := []string{}
		for _, to := range rule.Recipients {
			addr, ok := emailAddress(to)
			if !ok {
				httpjson.WriteError(w, r, httpjson.Invalid(`field "email": %q is not an e-mail address`, to))
				return
			}
			if !slices.Contains(clean, addr) {
				clean = append(clean, addr)
			}
		}
		rules[t] = notifications.Rule{Email: rule.Email, Admins: rule.Admins, Recipients: clean}
	}
	s, err := h.c.Store.UpdateSettings(r.Context(), tenantID, zone, rules)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, s)
}

// emailAddress is a bare address (no display name), lower-cased.
func emailAddress(s string) (string, bool) {
	if len(s) < 3 || len(s) > 320 {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s, "@") {
		return "", false
	}
	return strings.ToLower(s), true
}

// Unsubscribe is what an unsubscribe link carries (links.PurposeUnsubscribe).
type Unsubscribe = links.Unsubscribe

var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
button{font:inherit;padding:.5rem 1rem;border-radius:.375rem;border:1px solid #1f4fd1;background:#1f4fd1;color:#fff;cursor:pointer}</style>
</head><body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{if .Token}}<form method="post" action="?token={{.Token}}"><button type="submit">Unsubscribe</button></form>{{end}}
</main></body></html>
`))

type pageData struct{ Title, Message, Token string }

func writePage(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Nothing on this page loads anything; its one form posts here.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = unsubscribePage.Execute(w, d)
}

// what names the mails an unsubscribe stops.
func what(eventType string) string {
	if eventType == "*" {
		return "notification e-mails"
	}
	return "e-mails about " + eventType
}

// unsubscribeAnswer is what a JSON client (not a browser) is told of an
// unsubscribe link.
type unsubscribeAnswer struct {
	Email string `json:"email"`
	// EventType is the type the link stops, or "*" for every mail that
	// may be stopped.
	EventType    string `json:"event_type"`
	Unsubscribed bool   `json:"unsubscribed"`
}

// browser reports whether the caller reads HTML: a person who followed a
// link from a mail. Others (a mail client's one-click POST, a script, the
// console) get JSON and the error envelope.
func browser(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

func badLink(w http.ResponseWriter, r *http.Request) {
	if !browser(r) {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusBadRequest, "invalid_link", "the unsubscribe link is not valid"))
		return
	}
	writePage(w, http.StatusBadRequest, pageData{Title: "This link does not work",
		Message: "The unsubscribe link is not valid. Use the link of a more recent e-mail, or ask your tenant's admin."})
}

// unsubscribePage asks before unsubscribing: a GET must change nothing,
// since mail scanners follow links.
func (h *handler) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	var u Unsubscribe
	if err := h.c.Links.Verify(links.PurposeUnsubscribe, token, &u); err != nil {
		badLink(w, r)
		return
	}
	if !browser(r) {
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, unsubscribeAnswer{Email: u.Email, EventType: u.EventType})
		return
	}
	writePage(w, http.StatusOK, pageData{Title: "Unsubscribe",
		Message: "Stop sending " + what(u.EventType) + " to " + u.Email + "?", Token: token})
}

// unsubscribe records it: from the page's form, or a mail client's
// one-click POST (RFC 8058). Both carry the token in the URL (the form
// posts to the link it was opened from); the one-click body
// ("List-Unsubscribe=One-Click") says nothing more, so it is not read.
func (h *handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	var u Unsubscribe
	if err := h.c.Links.Verify(links.PurposeUnsubscribe, token, &u); err != nil {
		badLink(w, r)
		return
	}
	if err := h.c.Store.Unsubscribe(r.Context(), u.TenantID, u.Email, u.EventType); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if !browser(r) {
		w.Header().Set("Cache-Control", "no-store")
		httpjson.Write(w, http.StatusOK, unsubscribeAnswer{Email: u.Email, EventType: u.EventType, Unsubscribed: true})
		return
	}
	writePage(w, http.StatusOK, pageData{Title: "Unsubscribed",
		Message: u.Email + " will get no more " + what(u.EventType) + ". An admin of your tenant can change who is e-mailed in the console."})
}

// Invitation is what an invitation link carries (links.PurposeInvitation).
type Invitation = links.Invitation

// invitationAnswer is what the console shows of an invitation.
type invitationAnswer struct {
	notifications.Invitation
	ExpiresAt time.Time `json:"expires_at"`
}

// invitation tells the console, before anyone signs in, what an
// invitation link is for: which tenant, which role, for which e-mail. The
// link is spent once the person has signed in (the membership is bound),
// and expires.
func (h *handler) invitation(w http.ResponseWriter, r *http.Request) {
	var inv Invitation
	err := h.c.Links.Verify(links.PurposeInvitation, r.PathValue("token"), &inv)
	switch {
	case errors.Is(err, links.ErrExpiredToken):
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusGone, "invitation_expired",
			"this invitation has expired: ask an admin of the tenant to invite you again"))
		return
	case err != nil:
		httpjson.WriteError(w, r, httpjson.NotFound("invitation_not_found", "invitation"))
		return
	}
	got, err := h.c.Store.Invitation(r.Context(), inv.TenantID, inv.MemberID)
	switch {
	case errors.Is(err, database.ErrNotFound):
		httpjson.WriteError(w, r, httpjson.NotFound("invitation_not_found", "invitation"))
		return
	case err != nil:
		httpjson.WriteError(w, r, err)
		return
	case got.Accepted:
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusGone, "invitation_used",
			"this invitation has been accepted already: sign in to the console"))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, invitationAnswer{got, time.Unix(inv.Expires, 0).UTC()})
}
