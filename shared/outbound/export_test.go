package outbound

import (
	"net/http"
	"time"
)

// WithTimeout returns p with the per-attempt timeout replaced, so the
// timeout test takes milliseconds.
func WithTimeout(p Policy, d time.Duration) Policy {
	p.timeout = d
	return p
}

// TransportOf returns the *http.Transport under a client from NewClient.
func TransportOf(c *http.Client) *http.Transport {
	return c.Transport.(*schemeCheck).base
}
