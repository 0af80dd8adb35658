package webhook_test

import (
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbound/dnstest"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// loopback lets the tests' servers on 127.0.0.1 be reached.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// receiver is an HTTPS test server counting the requests that reach it.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

func newReceiver(t *testing.T, h http.HandlerFunc) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		h(w, req)
	}))
	t.Cleanup(r.Close)
	return r
}

// roots trusts the test servers' certificate (httptest's, valid for
// 127.0.0.1, ::1, example.com and *.example.com).
func (r *receiver) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(r.Certificate())
	return pool
}

func (r *receiver) port() string {
	_, port, err := net.SplitHostPort(r.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	return port
}

// newSender builds a Sender on outbound's client for p. A timeout above 0
// shortens the client's (outbound's own override is visible only to its
// tests; the client's Timeout field bounds the whole attempt all the same).
func newSender(t *testing.T, p outbound.Policy, timeout time.Duration, now func() time.Time) *webhook.Sender {
	t.Helper()
	c := outbound.NewClient(p)
	if timeout > 0 {
		c.Timeout = timeout
	}
	if now == nil {
		now = time.Now
	}
	s, err := webhook.NewSender(c, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startDNS serves the A records in table and returns a resolver asking
// only it (shared/outbound/dnstest).
func startDNS(t *testing.T, table map[string]string) *net.Resolver {
	t.Helper()
	return dnstest.Start(t, table).Resolver()
}
