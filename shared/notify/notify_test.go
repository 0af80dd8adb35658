package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/mail"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/notify"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// verify checks a delivery with the Standard Webhooks reference library,
// not with our code.
func verify(t *testing.T, secret string, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Fatalf("the Standard Webhooks library refuses the delivery: %v", err)
	}
}

func decode(t *testing.T, r received) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.body)
	}
	return m
}

func TestDeliversSignedEventsOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	hook, secret := e.webhook(r.url("/hooks"))
	l := e.license("cad")
	res := e.run(e.deliverer(r))
	if res.Events != 1 || res.Queued != 1 || res.Delivered != 1 {
		t.Fatalf("run = %+v, want one event handed on and delivered", res)
	}
	got := r.received()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	verify(t, secret, got[0])
	body := decode(t, got[0])
	if body["type"] != "license.created" || body["tenant_id"] != e.tenant || body["version"] != float64(1) {
		t.Errorf("envelope = %v", body)
	}
	if got[0].header.Get("webhook-id") != body["id"] {
		t.Errorf("webhook-id %q is not the event id %v", got[0].header.Get("webhook-id"), body["id"])
	}
	data, _ := body["data"].(map[string]any)
	lic, _ := data["license"].(map[string]any)
	if lic["id"] != l.ID || lic["product"] != "cad" {
		t.Errorf("data.license = %v, want the license", lic)
	}
	if strings.Contains(string(got[0].body), "key_hash") || strings.Contains(string(got[0].body), "lk_") && !strings.Contains(string(got[0].body), "key_prefix") {
		t.Errorf("the delivery carries a secret: %s", got[0].body)
	}
	if n := e.pendingEvents(); n != 0 {
		t.Errorf("%d events still pending after the run", n)
	}
	// Another run (a sweep, a nudge) adds nothing.
	if res := e.run(e.deliverer(r)); res != (notify.Result{}) {
		t.Errorf("second run = %+v, want nothing", res)
	}
	if n := len(r.received()); n != 1 {
		t.Errorf("receiver got %d deliveries after a second run, want 1", n)
	}
	ds := e.deliveries(hook.ID)
	if len(ds) != 1 || ds[0].Status != "delivered" || ds[0].Attempts != 1 {
		t.Errorf("deliveries = %+v", ds)
	}
	// The log shows the attempt through the admin's store.
	list, _, err := e.store.ListDeliveries(e.ctx, e.tenant, hook.ID, database.Page{Limit: 10})
	if err != nil || len(list) != 1 || len(list[0].Attempts) != 1 {
		t.Fatalf("delivery log = %+v, %v", list, err)
	}
	a := list[0].Attempts[0]
	if a.StatusCode == nil || *a.StatusCode != 200 || a.Outcome != "delivered" || a.Response != `{"n":1}` {
		t.Errorf("attempt = %+v", a)
	}
}

func TestEndpointsGetOnlyTheTypesTheyWant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	suspended, _ := e.webhook(r.url("/suspended"), "license.suspended")
	off, _ := e.webhook(r.url("/off"))
	disabled := false
	if _, err := e.store.UpdateWebhook(e.ctx, e.tenant, off.ID, notificationsFields(&disabled)); err != nil {
		t.Fatal(err)
	}
	l := e.license("cad")
	e.suspend(l.ID)
	e.run(e.deliverer(r))
	got := r.received()
	if len(got) != 1 || decode(t, got[0])["type"] != "license.suspended" {
		t.Fatalf("deliveries = %d, want only license.suspended to the endpoint that wants it", len(got))
	}
	if ds := e.deliveries(suspended.ID); len(ds) != 1 {
		t.Errorf("the suspended endpoint has %d deliveries", len(ds))
	}
	if ds := e.deliveries(off.ID); len(ds) != 0 {
		t.Errorf("a disabled endpoint was queued %d deliveries", len(ds))
	}
}

// TestRetriesOnSchedule: a receiver that fails (500), times out and
// answers 429 with Retry-After gets its retries on the backoff schedule,
// with the fake clock, and nothing in between.
func TestRetriesOnSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Long enough for a TLS handshake and the answer on a loaded 2-core
	// machine under the race detector (300 ms once timed an attempt out
	// before the receiver saw it), short of the 2 s the second answer
	// takes.
	e.timeout = time.Second
	r := newReceiver(t)
	r.next = func(n int) (int, http.Header, time.Duration) {
		switch n {
		case 1:
			return http.StatusInternalServerError, nil, 0
		case 2:
			return http.StatusOK, nil, 2 * time.Second // past the attempt's timeout
		case 3:
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}, 0
		}
		return http.StatusNoContent, nil, 0
	}
	hook, _ := e.webhook(r.url("/hooks"))
	e.license("cad")
	d := e.deliverer(r)
	first := e.clock.now()
	type step struct {
		status     string
		retryAfter time.Duration
	}
	for i, want := range []step{{"pending", 0}, {"pending", 0}, {"pending", time.Hour}} {
		e.run(d)
		ds := e.deliveries(hook.ID)
		if len(ds) != 1 || ds[0].Status != want.status || ds[0].Attempts != i+1 {
			t.Fatalf("after attempt %d: %+v", i+1, ds)
		}
		next, ok := webhook.NextAttempt(first, e.clock.now(), i+1, want.retryAfter, e.rnd)
		if !ok || !ds[0].NextAttemptAt.Equal(next) {
			t.Fatalf("after attempt %d the next is at %v, the schedule says %v", i+1, ds[0].NextAttemptAt, next)
		}
		if want.retryAfter > 0 && ds[0].NextAttemptAt.Before(e.clock.now().Add(want.retryAfter)) {
			t.Fatalf("Retry-After %v not honoured: next at %v", want.retryAfter, ds[0].NextAttemptAt)
		}
		// Just before it is due, nothing is attempted.
		e.clock.set(next.Add(-time.Second))
		e.run(d)
		if n := len(r.received()); n != i+1 {
			t.Fatalf("attempted %d times before the retry was due, want %d", n, i+1)
		}
		e.clock.set(next)
	}
	e.run(d)
	got := r.received()
	if len(got) != 4 {
		t.Fatalf("receiver got %d attempts, want 4", len(got))
	}
	// Every attempt is the same message under the same id.
	for _, g := range got[1:] {
		if g.header.Get("webhook-id") != got[0].header.Get("webhook-id") || string(g.body) != string(got[0].body) {
			t.Errorf("a retry is not the same message")
		}
	}
	ds := e.deliveries(hook.ID)
	if ds[0].Status != "delivered" {
		t.Fatalf("status %s after the 204", ds[0].Status)
	}
	list, _, err := e.store.ListDeliveries(e.ctx, e.tenant, hook.ID, database.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	var codes []int
	for _, a := range list[0].Attempts {
		outcomes = append(outcomes, a.Outcome)
		c := 0
		if a.StatusCode != nil {
			c = *a.StatusCode
		}
		codes = append(codes, c)
	}
	if !slices.Equal(outcomes, []string{"retry", "retry", "retry", "delivered"}) || !slices.Equal(codes, []int{500, 0, 429, 204}) {
		t.Errorf("log outcomes %v codes %v", outcomes, codes)
	}
	if e := list[0].Attempts[1].Error; !strings.Contains(e, "timeout") {
		t.Errorf("the timed-out attempt says %q", e)
	}
}

// TestOrderedPerLicense: an endpoint gets one license's events in order: a
// later one waits while an earlier one is retried; another license's
// events do not wait.
func TestOrderedPerLicense(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	fail := true
	r.next = func(int) (int, http.Header, time.Duration) {
		if fail {
			return http.StatusServiceUnavailable, nil, 0
		}
		return http.StatusOK, nil, 0
	}
	e.webhook(r.url("/hooks"))
	a := e.license("cad")
	e.suspend(a.ID) // a's second event
	d := e.deliverer(r)
	e.run(d)
	got := r.received()
	if len(got) != 1 || decode(t, got[0])["type"] != "license.created" {
		t.Fatalf("first run sent %d deliveries; want only the first event of the license", len(got))
	}
	b := e.license("cam") // another license: not held up by a's
	e.clock.add(time.Second)
	e.run(d)
	got = r.received()
	if len(got) != 2 || decode(t, got[1])["type"] != "license.created" ||
		decode(t, got[1])["data"].(map[string]any)["license"].(map[string]any)["id"] != b.ID {
		t.Fatalf("another license's event waited behind a's (got %d deliveries)", len(got))
	}
	fail = false
	e.clock.add(24 * time.Hour)
	e.run(d)
	got = r.received()
	var types []string
	for _, g := range got[2:] {
		m := decode(t, g)
		if m["data"].(map[string]any)["license"].(map[string]any)["id"] == a.ID {
			types = append(types, m["type"].(string))
		}
	}
	if !slices.Equal(types, []string{"license.created", "license.suspended"}) {
		t.Fatalf("after recovery the endpoint got %v, want license.created then license.suspended", types)
	}
}

// TestNothingLostWhenTheDelivererDies: an event committed by a process that
// died before delivering it (no nudge, no run) is delivered by the next
// sweep; a delivery taken by a deliverer that died mid-attempt is attempted
// again once its lease runs out, and not before.
func TestNothingLostWhenTheDelivererDies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	hook, _ := e.webhook(r.url("/hooks"))
	e.license("cad") // committed; its process "dies" here
	// The dying deliverer: it hands the event on and takes the delivery,
	// then is killed in the middle of the attempt (its context ends, so
	// nothing it did afterwards reaches the database).
	stuck := newReceiver(t)
	entered := make(chan struct{})
	stuck.next = func(int) (int, http.Header, time.Duration) { close(entered); return http.StatusOK, nil, time.Minute }
	if _, err := e.store.UpdateWebhook(e.ctx, e.tenant, hook.ID, urlField(stuck.url("/hooks"))); err != nil {
		t.Fatal(err)
	}
	ctx, kill := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.deliverer(stuck).Run(ctx)
	}()
	<-entered
	kill()
	<-done
	ds := e.deliveries(hook.ID)
	if len(ds) != 1 || ds[0].Status != "pending" || ds[0].Attempts != 1 {
		t.Fatalf("after the kill: %+v", ds)
	}
	if _, err := e.store.UpdateWebhook(e.ctx, e.tenant, hook.ID, urlField(r.url("/hooks"))); err != nil {
		t.Fatal(err)
	}
	fresh := e.deliverer(r)
	e.clock.add(time.Minute) // the lease (2 minutes) still holds
	e.run(fresh)
	if n := len(r.received()); n != 0 {
		t.Fatalf("a leased delivery was attempted again before its lease ran out (%d)", n)
	}
	e.clock.add(2 * time.Minute)
	e.run(fresh)
	if n := len(r.received()); n != 1 {
		t.Fatalf("the sweep delivered %d times, want 1", n)
	}
	if ds := e.deliveries(hook.ID); ds[0].Status != "delivered" {
		t.Fatalf("status %s", ds[0].Status)
	}
}

// TestDisabledAfterThreeDaysAndAdminsTold: an endpoint down for three days
// is disabled, its tenant's admins e-mailed once, and nothing more is sent
// to it.
func TestDisabledAfterThreeDaysAndAdminsTold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	r.next = func(int) (int, http.Header, time.Duration) { return http.StatusBadGateway, nil, 0 }
	hook, _ := e.webhook(r.url("/hooks"))
	e.license("cad")
	d := e.deliverer(r)
	start := e.clock.now()
	disabled := 0
	for range 100 {
		res := e.run(d)
		disabled += res.Disabled
		w, err := e.store.GetWebhook(e.ctx, e.tenant, hook.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !w.Enabled {
			if since := e.clock.now().Sub(start); since < notify.DisableAfter {
				t.Fatalf("disabled after %v, before three days", since)
			}
			if w.DisabledReason == nil || *w.DisabledReason != "failing" {
				t.Errorf("disabled_reason = %v", w.DisabledReason)
			}
			break
		}
		ds := e.deliveries(hook.ID)
		if last := ds[len(ds)-1]; last.Status != "pending" {
			// The delivery's own window ended: a later event keeps the
			// endpoint failing.
			e.license("cad")
			e.run(d)
			ds = e.deliveries(hook.ID)
		}
		e.clock.set(ds[len(ds)-1].NextAttemptAt)
	}
	if disabled != 1 {
		t.Fatalf("disabled %d times, want once", disabled)
	}
	attempts := len(r.received())
	e.license("cad")
	e.clock.add(time.Hour)
	e.run(d)
	if n := len(r.received()); n != attempts {
		t.Errorf("a disabled endpoint got %d more attempts", n-attempts)
	}
	for _, admin := range []string{"ada@example.com", "grace@example.com"} {
		msgs := e.mails.to(admin)
		var notices int
		for _, m := range msgs {
			if strings.Contains(m.Subject, "disabled") {
				notices++
				if m.Unsubscribe != "" {
					t.Errorf("the endpoint-disabled notice has an unsubscribe link")
				}
				if !strings.Contains(m.Text, "example.com") {
					t.Errorf("the notice does not name the endpoint: %s", m.Text)
				}
			}
		}
		if notices != 1 {
			t.Errorf("%s got %d endpoint-disabled notices, want 1 (subjects: %v)", admin, notices, subjects(msgs))
		}
	}
}

func subjects(msgs []mail.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Subject)
	}
	return out
}

// TestRefusesInternalAddressesAtDelivery: the URL's name resolved to a
// public address when registered; at delivery it resolves to 127.0.0.1 or
// the metadata server (DNS rebinding): no connection is made, the attempt
// is logged as refused, and the delivery fails without retries.
func TestRefusesInternalAddressesAtDelivery(t *testing.T) {
	t.Parallel()
	for _, internal := range []string{"127.0.0.1", "169.254.169.254"} {
		t.Run(internal, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.allow = nil // production: nothing internal allowed
			r := newReceiver(t)
			e.dns.Set("example.com", "93.184.216.34") // public when registered
			hook, _ := e.webhook(r.url("/hooks"))
			e.dns.Set("example.com", internal) // rebound before delivery
			e.license("cad")
			res := e.run(e.deliverer(r))
			if res.Failed != 1 || res.Retried != 0 {
				t.Fatalf("run = %+v, want one failed attempt and no retry", res)
			}
			if n := len(r.received()); n != 0 {
				t.Fatalf("the internal address was reached (%d requests)", n)
			}
			list, _, err := e.store.ListDeliveries(e.ctx, e.tenant, hook.ID, database.Page{Limit: 10})
			if err != nil || len(list) != 1 || list[0].Status != "failed" || len(list[0].Attempts) != 1 {
				t.Fatalf("delivery log = %+v, %v", list, err)
			}
			if msg := list[0].Attempts[0].Error; !strings.Contains(msg, "refused") || !strings.Contains(msg, internal) {
				t.Errorf("attempt error %q does not say the address was refused", msg)
			}
			if logs := e.logs.String(); !strings.Contains(logs, "webhook delivery refused") || !strings.Contains(logs, internal) {
				t.Errorf("the refusal is not logged: %s", logs)
			}
		})
	}
}

// TestRotatedSecretsBothVerify: during the overlap a delivery verifies with
// the new secret and with the previous one.
func TestRotatedSecretsBothVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := newReceiver(t)
	hook, old := e.webhook(r.url("/hooks"))
	_, fresh, err := e.store.RotateSecret(e.ctx, e.tenant, hook.ID, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old {
		t.Fatal("rotation kept the secret")
	}
	e.license("cad")
	e.run(e.deliverer(r))
	got := r.received()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	verify(t, fresh, got[0])
	verify(t, old, got[0])
	// Past the overlap, the previous secret no longer signs.
	e.clock.add(25 * time.Hour)
	e.license("cam")
	e.run(e.deliverer(r))
	got = r.received()
	if len(got) != 2 {
		t.Fatalf("%d deliveries", len(got))
	}
	// (The library's Verify would refuse this one for its timestamp, a day
	// from the real clock: compare the signatures it would make instead.)
	ts, err := strconv.ParseInt(got[1].header.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(secret string) string {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := wh.Sign(got[1].header.Get("webhook-id"), time.Unix(ts, 0), got[1].body)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	if h := got[1].header.Get("webhook-signature"); h != sign(fresh) || strings.Contains(h, sign(old)) {
		t.Errorf("after the overlap the signature is %q; want only the new secret's", h)
	}
}

// TestMailsFollowTheRules: the default rules mail license.expiring to the
// admins with a one-click unsubscribe link, mail an invitation to the
// invited person (no unsubscribe), and an unsubscribed admin is left out.
func TestMailsFollowTheRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.license("cad")
	expires := e.clock.now().Add(7 * 24 * time.Hour).Truncate(time.Second)
	payload := map[string]any{"license": map[string]any{"id": l.ID, "product": "cad", "key_prefix": "lk_x"},
		"expires_at": expires, "days": 7}
	e.emit("license.expiring", payload, "license.expiring:"+l.ID+":7:test")
	d := e.deliverer()
	res := e.run(d)
	if res.Sent != 2 {
		t.Fatalf("run = %+v, want two mails (one per admin)", res)
	}
	ada := e.mails.to("ada@example.com")
	if len(ada) != 1 || !strings.Contains(ada[0].Subject, "cad") || ada[0].Unsubscribe == "" || ada[0].HTML == "" {
		t.Fatalf("ada's mail: %+v", ada)
	}
	// The link unsubscribes ada from this type, without signing in (the
	// function's page does what this store call does; the HTTP test
	// follows the link itself).
	tok := ada[0].Unsubscribe[strings.Index(ada[0].Unsubscribe, "token=")+len("token="):]
	var u links.Unsubscribe
	if err := e.signer.Verify(links.PurposeUnsubscribe, unescape(t, tok), &u); err != nil {
		t.Fatal(err)
	}
	if u.Email != "ada@example.com" || u.EventType != "license.expiring" || u.TenantID != e.tenant {
		t.Fatalf("unsubscribe token says %+v", u)
	}
	if err := e.store.Unsubscribe(e.ctx, u.TenantID, u.Email, u.EventType); err != nil {
		t.Fatal(err)
	}
	e.emit("license.expiring", payload, "license.expiring:"+l.ID+":1:test")
	e.run(d)
	if n := len(e.mails.to("ada@example.com")); n != 1 {
		t.Errorf("ada unsubscribed and still got mail (%d)", n)
	}
	if n := len(e.mails.to("grace@example.com")); n != 2 {
		t.Errorf("grace got %d mails, want 2", n)
	}
	// An invitation goes to the invited person, with its link, and cannot
	// be unsubscribed from.
	m, err := e.admin().Members.Invite(e.ctx, e.tenant, "lin@example.com", "member", "", actor)
	if err != nil {
		t.Fatal(err)
	}
	e.run(d)
	inv := e.mails.to("lin@example.com")
	if len(inv) != 1 || inv[0].Unsubscribe != "" || !strings.Contains(inv[0].Text, "?invitation=") {
		t.Fatalf("invitation mail: %+v", inv)
	}
	link := inv[0].Text[strings.Index(inv[0].Text, "?invitation=")+len("?invitation="):]
	link = strings.Fields(link)[0]
	var i links.Invitation
	if err := e.signer.Verify(links.PurposeInvitation, unescape(t, link), &i); err != nil {
		t.Fatal(err)
	}
	if i.MemberID != m.ID || i.TenantID != e.tenant {
		t.Errorf("invitation link names %+v", i)
	}
	// Nothing secret: no license key in any mail.
	for _, msg := range e.mails.msgs {
		if strings.Contains(msg.Text+msg.HTML, "key_hash") {
			t.Errorf("a mail carries a key hash")
		}
	}
}

// TestMailRetriesAndGivesUp: a transient failure is retried a minute
// later; a permanent refusal is not retried.
func TestMailRetriesAndGivesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	l := e.license("cad")
	payload := map[string]any{"license": map[string]any{"id": l.ID, "product": "cad"}, "expires_at": e.clock.now().Add(24 * time.Hour), "days": 1}
	e.emit("license.expiring", payload, "license.expiring:"+l.ID+":1:retry")
	d := e.deliverer()
	e.mails.fail = errTransient
	res := e.run(d)
	if res.MailRetried != 2 || res.Sent != 0 {
		t.Fatalf("run = %+v, want two retries", res)
	}
	e.mails.fail = nil
	e.clock.add(30 * time.Second)
	if res := e.run(d); res.Sent != 0 {
		t.Fatalf("retried before a minute: %+v", res)
	}
	e.clock.add(31 * time.Second)
	if res := e.run(d); res.Sent != 2 {
		t.Fatalf("after a minute: %+v, want both sent", res)
	}
}

func urlField(u string) notifications.Fields { return notifications.Fields{URL: &u} }

func notificationsFields(enabled *bool) notifications.Fields {
	return notifications.Fields{Enabled: enabled}
}

// errTransient is a failure worth retrying (not mail.Permanent).
var errTransient = errors.New("connection reset")

func unescape(t *testing.T, s string) string {
	t.Helper()
	v, err := url.QueryUnescape(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
