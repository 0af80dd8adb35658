// Package clientaddr decides which network address a request comes from,
// for limits keyed by client address, and carries it in the request's
// context.
//
// # Which X-Forwarded-For entry is the client
//
// Every entry a client writes into X-Forwarded-For itself is on the left and
// can say anything; only the entries our own proxies append, on the right,
// can be believed. In production a request passes, in order:
//
//  1. the Google external Application Load Balancer of the GCE Ingress
//     (knative/ingress.yaml), which appends "<client-ip>, <load-balancer-ip>":
//     the address that connected to it, then the forwarding rule's own
//     address;
//  2. Istio's ingress gateway (an Envoy with use_remote_address, and
//     gatewayTopology.numTrustedProxies 2 in
//     knative/patches/istio-ingressgateway.yaml), which appends the address
//     that connected to it: one of the load balancer's proxies (public
//     addresses, 35.191.0.0/16 and 130.211.0.0/22);
//  3. Knative's activator, only while it is in the request path (a revision
//     with little spare capacity), and always the queue-proxy beside our
//     container, each appending the pod address that connected to it
//     (private addresses; the queue-proxy's peer as our server sees it is
//     127.0.0.1).
//
// So our server sees "<anything the client wrote>, <client-ip>, <lb-ip>,
// <gfe-proxy-ip>, [<gateway pod ip>, [<activator pod ip>]]". The number of
// private entries at the end varies with the activator, so they are dropped
// first: a trailing run of loopback, private and link-local addresses can
// only have been appended inside the cluster. Of what is left, the client
// is the Index-th entry from the right: 3 (DefaultIndex) with the
// deployment above. Everything to its left, whatever it holds, is ignored,
// so a client cannot choose its own bucket by writing entries there.
//
// When there is no X-Forwarded-For, when it holds fewer entries than Index
// (a request that did not come through the load balancer, such as make run
// and the tests), when an entry at or right of Index is not an address, or
// when Index is 0, the address is the TCP peer's: the one address nobody
// but the network can choose.
//
// IPv6 clients are bucketed by their /64: one host commonly holds a whole
// /64, so limiting single IPv6 addresses would limit nothing.
package clientaddr

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// DefaultIndex is the X-Forwarded-For entry, counted from the right once
// the cluster's own private entries are dropped, that holds the client
// address in our deployment (see the package comment). CLIENT_ADDRESS_XFF_INDEX
// changes it.
const DefaultIndex = 3

// Resolver finds a request's client address.
type Resolver struct {
	// Index is the X-Forwarded-For entry, counted from 1 at the right after
	// dropping trailing private entries, that holds the client address;
	// 0 ignores X-Forwarded-For and always takes the TCP peer.
	Index int
}

// Of returns the client address of r.
func (res Resolver) Of(r *http.Request) netip.Addr {
	peer := peerOf(r)
	if res.Index <= 0 {
		return peer
	}
	values := r.Header.Values("X-Forwarded-For")
	if len(values) == 0 {
		return peer
	}
	// Several header lines are one list, in order (RFC 9110 section 5.3).
	entries := strings.Split(strings.Join(values, ","), ",")
	i := len(entries) - 1
	for ; i >= 0; i-- {
		a, ok := parse(entries[i])
		if !ok {
			return peer
		}
		if !internal(a) {
			break
		}
	}
	i -= res.Index - 1
	if i < 0 {
		return peer
	}
	// Every entry from i rightwards must be an address: a malformed one
	// there means the chain is not the one described above.
	for j := i; j < len(entries); j++ {
		if _, ok := parse(entries[j]); !ok {
			return peer
		}
	}
	a, _ := parse(entries[i])
	return a
}

// internal reports whether a is an address only our own cluster appends.
func internal(a netip.Addr) bool {
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

func parse(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		// Some proxies write a port ("1.2.3.4:5678", "[::1]:80").
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}

func peerOf(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := parse(host)
	return a
}

// Key is the bucket a limit counts addr in: the address itself for IPv4,
// its /64 for IPv6 (an IPv4 address written as IPv6 is IPv4); "" for no
// address. It holds no '{' or '}'.
func Key(addr netip.Addr) string {
	addr = addr.Unmap()
	switch {
	case !addr.IsValid():
		return ""
	case addr.Is4():
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

type addrKey struct{}

// With returns ctx carrying the request's client address.
func With(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, addrKey{}, addr)
}

// From returns the client address With stored; false outside a request
// (background work, which no client drives).
func From(ctx context.Context) (netip.Addr, bool) {
	a, ok := ctx.Value(addrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}
