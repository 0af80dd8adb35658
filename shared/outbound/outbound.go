// Package outbound is the HTTP client for URLs that users give us (webhook
// endpoints): it cannot be pointed at our own network, the cloud's metadata
// server or anything else only reachable from inside.
//
// # Why the address is checked when dialling
//
// A check of the URL when it is registered proves nothing about the
// delivery: the host name's DNS can change at any time afterwards (DNS
// rebinding: a name that resolved to a public address at registration
// resolves to 127.0.0.1 or 169.254.169.254 at delivery), and one name can
// hold several addresses of which only some are internal. So CheckURL, at
// registration, refuses what it can see (a bad scheme, user information, a
// literal internal address, numeric host spellings such as 2130706433 or
// 0x7f.1), but the guard that matters runs inside the dialler: a
// net.Dialer's Control function sees every IP:port actually about to be
// connected to, after resolution, for every address tried, and refuses the
// connection before the connect system call when the address is in a
// blocked range (see Policy.Check). Nothing is resolved twice, so there is
// no window between a check and a connection.
//
// # Why redirects are not followed
//
// A redirect is a second, server-chosen URL: following it would let any
// public endpoint bounce a delivery to http://169.254.169.254/ (the dial
// guard would still refuse that, but a redirect also changes the scheme,
// the method and the body, and turns a delivery into a fetch). Webhook
// receivers must answer at the URL they registered, so a 3xx is returned
// as the answer (http.ErrUseLastResponse) and recorded as such.
//
// # Why no proxy from the environment
//
// http.ProxyFromEnvironment would send requests to whatever HTTPS_PROXY
// names; the dial guard would then check the proxy's address, not the
// destination's, and a proxy inside the network would reach everything.
// The client dials destinations directly, always.
//
// # Errors
//
// A refused address is a *BlockedError, which wraps ErrBlocked and is
// returned by the dialler as itself, not inside a *net.OpError: check
// errors.Is(err, outbound.ErrBlocked) before treating an error as a
// network failure to retry, and record it as its own outcome ("refused:
// rebind.example resolves to 127.0.0.1 (loopback, 127.0.0.0/8)"). A URL
// that is not acceptable is an error wrapping ErrInvalidURL.
package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Timeout bounds one attempt: dialling, TLS, the request, the response
// headers and reading the body.
const Timeout = 10 * time.Second

// ErrBlocked is wrapped by every refusal of an address (a *BlockedError).
var ErrBlocked = errors.New("outbound: address not allowed")

// ErrInvalidURL is wrapped by every refusal of a URL by CheckURL or by the
// client (a scheme the policy does not allow).
var ErrInvalidURL = errors.New("outbound: invalid URL")

// Policy says what outbound requests may reach.
type Policy struct {
	// AllowHTTP allows plain http:// URLs besides https://. Only for make
	// run's receivers on localhost; never in production.
	AllowHTTP bool
	// Allow lists ranges allowed although they are blocked by default (for
	// example 127.0.0.0/8 for make run, or a private range where a
	// customer's receiver is reached over a peering). IPv4 ranges are
	// written in IPv4 form.
	Allow []netip.Prefix
	// Resolver resolves host names when dialling; nil is the system's. Tests
	// point it at a fake DNS server to make names resolve where they like.
	Resolver *net.Resolver
	// RootCAs, when set, replaces the system's roots for verifying servers
	// (tests' httptest.NewTLSServer certificates); nil is the system's.
	RootCAs *x509.CertPool

	// timeout replaces Timeout (tests only, see export_test.go).
	timeout time.Duration
}

func (p Policy) attemptTimeout() time.Duration {
	if p.timeout > 0 {
		return p.timeout
	}
	return Timeout
}

// NewClient returns an HTTP client that enforces p: every address dialled
// is checked (Policy.Check), redirects are returned instead of followed,
// no proxy is used, each request takes at most Timeout, and HTTP/2 is used
// when the server offers it.
func NewClient(p Policy) *http.Client {
	timeout := p.attemptTimeout()
	g := &guard{
		policy: p,
		dialer: net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Resolver: p.Resolver},
	}
	transport := &http.Transport{
		Proxy:                  nil, // never from the environment: see the package comment
		DialContext:            g.dialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off unless asked for
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: &schemeCheck{base: transport, allowHTTP: p.AllowHTTP},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ReadSnippet reads at most n bytes of r (a response body, for the
// delivery log), returning what it read and any error other than the end
// of r. It does not close r.
func ReadSnippet(r io.Reader, n int64) ([]byte, error) {
	if n <= 0 {
		return []byte{}, nil
	}
	return io.ReadAll(io.LimitReader(r, n))
}

// schemeCheck refuses requests whose scheme the policy does not allow, so
// a URL stored while http was allowed is not delivered to once it is not.
type schemeCheck struct {
	base      *http.Transport
	allowHTTP bool
}

func (s *schemeCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL.Scheme, s.allowHTTP); err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on errors
		}
		return nil, err
	}
	return s.base.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (s *schemeCheck) CloseIdleConnections() { s.base.CloseIdleConnections() }

func checkScheme(scheme string, allowHTTP bool) error {
	switch {
	case scheme == "https":
		return nil
	case scheme == "http" && allowHTTP:
		return nil
	case scheme == "http":
		return fmt.Errorf("%w: the scheme must be https", ErrInvalidURL)
	default:
		return fmt.Errorf("%w: the scheme must be https, not %q", ErrInvalidURL, scheme)
	}
}
