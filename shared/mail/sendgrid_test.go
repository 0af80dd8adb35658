package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/coditect-ai/license-server/shared/mail"
)

const sgKey = "SG.test-key-id.very-secret-part"

// fakeSendGrid checks every request strictly against the v3 Mail Send
// shape and answers status with body. Requests that break the shape are
// answered 599 and reported through t.
type fakeSendGrid struct {
	t      *testing.T
	status int
	body   string

	mu   sync.Mutex
	last map[string]any // the last request's JSON body
}

func newFakeSendGrid(t *testing.T, status int, body string) (*fakeSendGrid, *httptest.Server) {
	f := &fakeSendGrid{t: t, status: status, body: body}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeSendGrid) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(format string, args ...any) {
		f.t.Errorf("fake SendGrid: "+format, args...)
		http.Error(w, "bad request shape", 599)
	}
	if r.Method != http.MethodPost {
		fail("method %s, want POST", r.Method)
		return
	}
	if r.URL.Path != "/v3/mail/send" {
		fail("path %s, want /v3/mail/send", r.URL.Path)
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+sgKey {
		fail("Authorization %q", got)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fail("Content-Type %q", ct)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		fail("reading the body: %v", err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		fail("body is not JSON: %v", err)
		return
	}
	f.mu.Lock()
	f.last = doc
	f.mu.Unlock()
	if f.status == 0 {
		fail("no status set")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = io.WriteString(w, f.body)
}

func (f *fakeSendGrid) request() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func newSendGrid(t *testing.T, baseURL string) *mail.SendGrid {
	t.Helper()
	s, err := mail.NewSendGrid(sgKey, "Licenses <noreply@licenses.example>", &http.Client{}, baseURL)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func message() mail.Message {
	return mail.Message{
		To:          "Ada Lovelace <ada@acme.example>",
		Subject:     "[Seats] CAD Pro expires in 7 days",
		Text:        "The license expires.\n",
		HTML:        "<p>The license expires.</p>",
		Unsubscribe: "https://console.example.com/unsubscribe?t=abc.def",
		ID:          "0b7e3c1a-2f4d-4e5a-9b8c-1d2e3f4a5b6c",
	}
}

func TestSendGridRequestShape(t *testing.T) {
	t.Parallel()
	fake, srv := newFakeSendGrid(t, http.StatusAccepted, "")
	s := newSendGrid(t, srv.URL)
	m := message()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"personalizations": []any{map[string]any{"to": []any{map[string]any{"email": "ada@acme.example", "name": "Ada Lovelace"}}}},
		"from":             map[string]any{"email": "noreply@licenses.example", "name": "Licenses"},
		"subject":          m.Subject,
		// text/plain first: SendGrid refuses another order.
		"content": []any{
			map[string]any{"type": "text/plain", "value": m.Text},
			map[string]any{"type": "text/html", "value": m.HTML},
		},
		"headers": map[string]any{
			"List-Unsubscribe":      "<" + m.Unsubscribe + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
		"custom_args": map[string]any{"notification_id": m.ID},
	}
	if got := fake.request(); !reflect.DeepEqual(got, want) {
		t.Errorf("request body\n got %s\nwant %s", asJSON(got), asJSON(want))
	}
}

func TestSendGridEssentialTextOnly(t *testing.T) {
	t.Parallel()
	fake, srv := newFakeSendGrid(t, http.StatusAccepted, "")
	s := newSendGrid(t, srv.URL)
	m := mail.Message{To: "grace@acme.example", Subject: "You are invited", Text: "Accept: https://x.example/a"}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := fake.request()
	for _, absent := range []string{"headers", "custom_args"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s sent for a message without unsubscribe link or id: %s", absent, asJSON(got))
		}
	}
	wantTo := []any{map[string]any{"email": "grace@acme.example"}}
	if to := got["personalizations"].([]any)[0].(map[string]any)["to"]; !reflect.DeepEqual(to, wantTo) {
		t.Errorf("to %s, want %s", asJSON(to), asJSON(wantTo))
	}
	wantContent := []any{map[string]any{"type": "text/plain", "value": m.Text}}
	if !reflect.DeepEqual(got["content"], wantContent) {
		t.Errorf("content %s, want %s", asJSON(got["content"]), asJSON(wantContent))
	}
}

func TestSendGridErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status    int
		body      string
		permanent bool
		want      []string
	}{
		{400, `{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from","help":null}]}`, true,
			[]string{"400", "The from address does not match a verified Sender Identity.", "field from"}},
		{401, `{"errors":[{"message":"The provided authorization grant is invalid, expired, or revoked","field":null,"help":null}]}`, true,
			[]string{"401", "authorization grant is invalid"}},
		{403, `{"errors":[{"message":"access forbidden"}]}`, true, []string{"403", "access forbidden"}},
		{413, `{"errors":[{"message":"payload too large"}]}`, true, []string{"413", "payload too large"}},
		{429, `{"errors":[{"message":"too many requests"}]}`, false, []string{"429", "too many requests"}},
		{500, `{"errors":[{"message":"internal error"}]}`, false, []string{"500", "internal error"}},
		{502, `<html>Bad gateway</html>`, false, []string{"502", "Bad gateway"}},
		// An error body that echoes the key (a misbehaving proxy) must not
		// carry it into the error.
		{400, `{"errors":[{"message":"bad key ` + sgKey + `"}]}`, true, []string{"400", "bad key [redacted]"}},
		// ... nor any part of it when a long body is shortened.
		{503, strings.Repeat("x", 185) + sgKey + strings.Repeat("y", 300), false, []string{"503", "[redacted]"}},
	} {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			_, srv := newFakeSendGrid(t, c.status, c.body)
			err := newSendGrid(t, srv.URL).Send(context.Background(), message())
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if mail.Permanent(err) != c.permanent {
				t.Errorf("Permanent(%q) = %v, want %v", err, !c.permanent, c.permanent)
			}
			assertNoKey(t, err)
		})
	}
}

func TestSendGridTransportErrors(t *testing.T) {
	t.Parallel()
	// A server that is gone: the transport error is retried and names no key.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	err := newSendGrid(t, srv.URL).Send(context.Background(), message())
	if err == nil || mail.Permanent(err) {
		t.Fatalf("Send to a closed server: %v, want a temporary error", err)
	}
	assertNoKey(t, err)

	// A cancelled context.
	_, live := newFakeSendGrid(t, http.StatusAccepted, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = newSendGrid(t, live.URL).Send(ctx, message())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context: %v", err)
	}
}

func TestSendGridRefusesBadMessagesBeforeSending(t *testing.T) {
	t.Parallel()
	fake, srv := newFakeSendGrid(t, http.StatusAccepted, "")
	s := newSendGrid(t, srv.URL)
	m := message()
	m.To = "a@acme.example, b@other.example"
	err := s.Send(context.Background(), m)
	if !errors.Is(err, mail.ErrInvalidMessage) || !mail.Permanent(err) {
		t.Errorf("two recipients: %v, want a permanent ErrInvalidMessage", err)
	}
	if fake.request() != nil {
		t.Error("a refused message reached SendGrid")
	}
}

func TestNewSendGrid(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, key, from, base string
	}{
		{"no key", "", "a@b.example", ""},
		{"key with a newline", "SG.x\r\nX-Evil: 1", "a@b.example", ""},
		{"no from", sgKey, "", ""},
		{"two froms", sgKey, "a@b.example, c@d.example", ""},
		{"relative base", sgKey, "a@b.example", "/v3"},
		{"ftp base", sgKey, "a@b.example", "ftp://api.sendgrid.com"},
	} {
		s, err := mail.NewSendGrid(c.key, c.from, nil, c.base)
		if err == nil {
			t.Errorf("%s: NewSendGrid succeeded", c.name)
			continue
		}
		if s != nil {
			t.Errorf("%s: a sender returned with an error", c.name)
		}
		if c.key != "" && strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: error %q holds the key", c.name, err)
		}
	}
	if _, err := mail.NewSendGrid(sgKey, "noreply@licenses.example", nil, ""); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func assertNoKey(t *testing.T, err error) {
	t.Helper()
	for _, part := range []string{sgKey, "very-secret-part", "SG.test"} {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q holds the API key", err)
		}
	}
}

func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}
