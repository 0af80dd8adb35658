package route_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/coditect-ai/license-server/shared/route"
)

// seen records the events a function was called with.
type seen struct {
	mu  sync.Mutex
	ids []string
}

func (s *seen) fn(_ context.Context, e event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, e.Type()+"/"+e.ID())
	if e.Type() == "test.fail" {
		return errors.New("the function failed")
	}
	return nil
}

func (s *seen) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := s.ids
	s.ids = nil
	return ids
}

// eventRequests are what triggers send, and what they must not be
// mistaken for.
var eventRequests = []struct {
	name    string
	headers map[string]string
	body    string
	// weDiffer, when set, says why our answer's class differs on purpose.
	weDiffer string
}{
	{"binary", map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "test.ok", "Ce-Id": "b1", "Ce-Source": "/t",
		"Content-Type": "application/json"}, `{"message":{"data":"e30="}}`, ""},
	{"structured", map[string]string{"Content-Type": "application/cloudevents+json"},
		`{"specversion":"1.0","type":"test.ok","id":"s1","source":"/t","data":{"a":1}}`, ""},
	{"function error", map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "test.fail", "Ce-Id": "f1",
		"Ce-Source": "/t"}, ``, ""},
	{"no event", map[string]string{"Content-Type": "application/json"}, `{"a":1}`, ""},
	{"malformed structured", map[string]string{"Content-Type": "application/cloudevents+json"}, `{not json`,
		"functions-framework answers 500, so the trigger would redeliver a malformed event until it gives up; " +
			"a 400 says at once that no retry can help"},
	{"missing id", map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "test.ok", "Ce-Source": "/t"}, ``, ""},
}

func send(t *testing.T, url string, headers map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestCloudEventsAsFunctionsFramework holds route.CloudEvents, which the
// entry points serve CloudEvent functions with, to functions-framework-go's
// own contract: for each request a trigger might send, both call the
// function with the same event, or neither does, and both answer with the
// same class of status (a 5xx asks the trigger to retry; a 4xx does not).
func TestCloudEventsAsFunctionsFramework(t *testing.T) {
	theirs, ours := &seen{}, &seen{}
	if err := funcframework.RegisterCloudEventFunctionContext(context.Background(), "/", theirs.fn); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	// Start never returns (it has no shutdown): the server lives as long
	// as this test binary.
	go func() { _ = funcframework.StartHostPort("127.0.0.1", port) }()
	frameworkURL := "http://127.0.0.1:" + port + "/"
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("functions-framework's server did not start")
		}
	}
	srv := httptest.NewServer(route.CloudEvents(ours.fn, ""))
	t.Cleanup(srv.Close)

	for _, c := range eventRequests {
		want := send(t, frameworkURL, c.headers, c.body)
		got := send(t, srv.URL, c.headers, c.body)
		switch {
		case c.weDiffer == "" && got/100 != want/100:
			t.Errorf("%s: we answered %d, functions-framework %d", c.name, got, want)
		case c.weDiffer != "" && (got/100 != 4 || want/100 != 5):
			t.Errorf("%s: we answered %d, functions-framework %d; the known difference (%s) changed",
				c.name, got, want, c.weDiffer)
		}
		if w, g := theirs.take(), ours.take(); strings.Join(w, ",") != strings.Join(g, ",") {
			t.Errorf("%s: we called the function with %v, functions-framework with %v", c.name, g, w)
		}
	}
}

// TestCloudEventsManualRun: with a manual type (make run's
// /internal/cleanup), a plain POST runs the function with a fresh event of
// that type; a GET is refused.
func TestCloudEventsManualRun(t *testing.T) {
	t.Parallel()
	ours := &seen{}
	srv := httptest.NewServer(route.CloudEvents(ours.fn, "test.manual"))
	t.Cleanup(srv.Close)
	if status := send(t, srv.URL, nil, ""); status != http.StatusNoContent {
		t.Fatalf("plain POST: %d", status)
	}
	if ids := ours.take(); len(ids) != 1 || !strings.HasPrefix(ids[0], "test.manual/") {
		t.Fatalf("called with %v", ids)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Fatalf("GET: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}
