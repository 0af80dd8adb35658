// Package notifications is the Notifications function: a tenant's admins
// register webhook endpoints (the signing secret shown once, rotated with a
// day of overlap), read each endpoint's delivery log, redeliver, send a
// test ping, and choose who is e-mailed about what. It also serves the two
// pages mails link to without a sign-in: unsubscribe, and what an
// invitation is. Delivering is the Notify function's.
package notifications

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/resource"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Notifications"

// Config is what the function is built from.
type Config struct {
	Authn    *auth.Authenticator
	Store    *notifications.Store
	Licenses *licensing.Service
	// Links checks the links mails carry (unsubscribe, invitation).
	Links Links
	// URLs is the policy webhook URLs are checked against at
	// registration (delivery checks the addresses again).
	URLs outbound.Policy
	Now  func() time.Time
}

// New returns the function.
func New(c Config) (route.Function, error) {
	if c.Authn == nil || c.Store == nil || c.Licenses == nil || c.Links == nil {
		return route.Function{}, errors.New("notifications: missing dependency")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	h := &handler{c: c}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/webhooks", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodGet:  resource.List(c.Licenses, "webhooks", paging.UUIDCursors(c.Store.ListWebhooks)),
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/webhooks/{webhook_id}", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.delete,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-secret", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodPost: h.rotate,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/test", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodPost: h.ping,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodGet: h.deliveries,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodPost: h.redeliver,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/notification-settings", Methods: c.Authn.RequireAll(route.Methods{
			http.MethodGet:   h.settings,
			http.MethodPatch: h.updateSettings,
		})},
		// Followed from a mail, without signing in: the signed link is
		// the credential.
		{Pattern: "/v1/notifications/unsubscribe", Methods: route.Methods{
			http.MethodGet:  h.unsubscribePage,
			http.MethodPost: h.unsubscribe,
		}},
		{Pattern: "/v1/invitations/{token}", Methods: route.Methods{
			http.MethodGet: h.invitation,
		}},
	}}, nil
}

type handler struct{ c Config }

// maxEventTypes bounds a webhook's list (the catalogue is shorter).
const maxEventTypes = 50

type webhookBody struct {
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	EventTypes  *[]string `json:"event_types"`
	Enabled     *bool     `json:"enabled"`
}

// decode reads and checks a create (url required) or a patch (at least one
// field).
func (h *handler) decode(w http.ResponseWriter, r *http.Request, create bool) (notifications.Fields, error) {
	var b webhookBody
	if err := httpjson.Decode(w, r, &b); err != nil {
		return notifications.Fields{}, err
	}
	if create && b.URL == nil {
		return notifications.Fields{}, httpjson.Invalid(`field "url" is required`)
	}
	if !create && b.URL == nil && b.Description == nil && b.EventTypes == nil && b.Enabled == nil {
		return notifications.Fields{}, httpjson.Invalid("nothing to change")
	}
	if b.URL != nil {
		if err := httpjson.Text("url", *b.URL, true, 2048); err != nil {
			return notifications.Fields{}, err
		}
		u, err := outbound.CheckURL(*b.URL, h.c.URLs)
		if err != nil {
			return notifications.Fields{}, httpjson.Errorf(http.StatusUnprocessableEntity, "invalid_webhook_url",
				"field \"url\" is not a webhook URL this service may call: %s", urlProblem(err))
		}
		s := u.String()
		b.URL = &s
	}
	if b.Description != nil {
		if err := httpjson.Text("description", *b.Description, false, 500); err != nil {
			return notifications.Fields{}, err
		}
	}
	if b.EventTypes != nil {
		types := *b.EventTypes
		if types == nil {
			types = []string{}
		}
		if len(types) > maxEventTypes {
			return notifications.Fields{}, httpjson.Invalid(`field "event_types" lists too many types`)
		}
		for _, t := range types {
			if !slices.Contains(outbox.Types, t) {
				return notifications.Fields{}, httpjson.Invalid(`field "event_types": %q is not an event type (see the catalogue)`, t)
			}
		}
		slices.Sort(types)
		types = slices.Compact(types)
		b.EventTypes = &types
	}
	return notifications.Fields{URL: b.URL, Description: b.Description, EventTypes: b.EventTypes, Enabled: b.Enabled}, nil
}

// urlProblem says what is wrong with a refused URL, in words a person can
// act on, without echoing more than the refusal.
func urlProblem(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "outbound") {
		msg = msg[i+2:]
	}
	return msg
}

func (h *handler) ids(r *http.Request) (string, string, error) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		return "", "", err
	}
	id, err := auth.PathID(r, "webhook_id", "webhook_not_found", "webhook")
	return tenantID, id, err
}

func webhookNotFound() *httpjson.Error { return httpjson.NotFound("webhook_not_found", "webhook") }

func fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, database.ErrNotFound) {
		err = webhookNotFound()
	}
	httpjson.WriteError(w, r, err)
}

// created is a webhook with its signing secret, shown once.
type created struct {
	notifications.Webhook
	Secret string `json:"secret"`
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	f, err := h.decode(w, r, true)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	hook, secret, err := h.c.Store.CreateWebhook(r.Context(), tenantID, f)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+tenantID+"/webhooks/"+hook.ID)
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusCreated, created{hook, secret})
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	hook, err := h.c.Store.GetWebhook(r.Context(), tenantID, id)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, hook)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	f, err := h.decode(w, r, false)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	hook, err := h.c.Store.UpdateWebhook(r.Context(), tenantID, id, f)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, hook)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := h.c.Store.DeleteWebhook(r.Context(), tenantID, id); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) rotate(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	hook, secret, err := h.c.Store.RotateSecret(r.Context(), tenantID, id, h.c.Now())
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, created{hook, secret})
}

func (h *handler) ping(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	d, err := h.c.Store.Ping(r.Context(), tenantID, id, h.c.Now())
	if err != nil {
		fail(w, r, err)
		return
	}
	// Accepted: Notify delivers it within seconds; the delivery log shows
	// the outcome.
	httpjson.Write(w, http.StatusAccepted, d)
}

func (h *handler) deliveries(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	page, err := paging.Page(r)
	if err == nil {
		err = paging.UUIDCursor(page)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	items, next, err := h.c.Store.ListDeliveries(r.Context(), tenantID, id, page)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": items, "next_cursor": next})
}

func (h *handler) redeliver(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	deliveryID, err := auth.PathID(r, "delivery_id", "delivery_not_found", "delivery")
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	d, err := h.c.Store.Redeliver(r.Context(), tenantID, id, deliveryID, h.c.Now())
	if errors.Is(err, database.ErrNotFound) {
		err = httpjson.NotFound("delivery_not_found", "delivery")
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, d)
}
