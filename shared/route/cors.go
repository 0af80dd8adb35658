package route

import (
	"net/http"
	"strconv"
	"strings"
)

// Browser calls (the admin web console) and HTTPS.
//
// CORS: a browser on a page of an origin listed in Options.CORSOrigins may
// call the API. Credentials are bearer tokens in Authorization, never
// cookies, so Access-Control-Allow-Credentials is never sent: a page of
// another origin cannot make the browser attach anything on its own. An
// origin not listed gets no CORS header at all, and its preflight goes to
// the route like any other OPTIONS request: 405 method_not_allowed, which
// the browser takes as a refusal (and which says nothing an OPTIONS without
// an Origin would not).
const (
	corsAllowHeaders  = "Authorization, Content-Type, Idempotency-Key"
	corsExposeHeaders = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Idempotent-Replayed, " +
		"Location, WWW-Authenticate"
	// corsMaxAge is how long a browser may reuse a preflight's answer
	// (seconds; browsers cap it, Chromium at 2 hours).
	corsMaxAge = 3600
)

// HSTS is the Strict-Transport-Security every HTTPS answer carries: a
// year, subdomains included.
const HSTS = "max-age=31536000; includeSubDomains"

// cors answers preflights of allowed origins for a route with methods m, and
// marks the route's other answers to them readable; next serves the rest.
func cors(allowed map[string]bool, m Methods, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The answer depends on Origin whether or not this one is
		// allowed: a cache must not give one origin's answer to another.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", m.allow())
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}

// hsts adds Strict-Transport-Security to every answer that goes out over
// HTTPS. In production TLS ends at the Google load balancer, which says
// what the client used in X-Forwarded-Proto, and the VirtualService
// redirects every request that says "http" (knative/routes.yaml), so every
// answer our servers give through the load balancer is an HTTPS answer; a
// server given TLS itself (r.TLS) is one too. A client that forges
// X-Forwarded-Proto on plain HTTP gains nothing: browsers ignore the header
// on an answer that did not come over HTTPS (RFC 6797 section 8.1), so
// sending it too often costs nothing, and not sending it is the only harm.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || forwardedHTTPS(r) {
			w.Header().Set("Strict-Transport-Security", HSTS)
		}
		next.ServeHTTP(w, r)
	})
}

// forwardedHTTPS reports whether the first proxy (the load balancer) says
// the client spoke HTTPS: the first entry of X-Forwarded-Proto.
func forwardedHTTPS(r *http.Request) bool {
	v := r.Header.Get("X-Forwarded-Proto")
	first, _, _ := strings.Cut(v, ",")
	return strings.EqualFold(strings.TrimSpace(first), "https")
}
