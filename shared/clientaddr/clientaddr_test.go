package clientaddr_test

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/coditect-ai/license-server/shared/clientaddr"
)

// The chain our deployment writes (see the package comment): the load
// balancer's "<client>, <forwarding rule>", the gateway's "<GFE proxy>",
// then the cluster's private hops, one or two depending on the activator.
const (
	client = "203.0.113.7"
	rule   = "198.51.100.1"
	gfe    = "35.191.4.9"
)

func TestOf(t *testing.T) {
	t.Parallel()
	prod := clientaddr.Resolver{Index: clientaddr.DefaultIndex}
	cases := []struct {
		name string
		res  clientaddr.Resolver
		xff  []string // header lines
		peer string
		want string
	}{
		{"no header: the TCP peer", prod, nil, "192.0.2.10:5555", "192.0.2.10"},
		{"through the gateway, activator out of the path", prod, []string{client + ", " + rule + ", " + gfe + ", 10.4.0.12"}, "127.0.0.1:1", client},
		{"through the gateway and the activator", prod, []string{client + ", " + rule + ", " + gfe + ", 10.4.0.12, 10.4.1.7"}, "127.0.0.1:1", client},
		{"a left-most entry written by the client", prod, []string{"1.2.3.4, " + client + ", " + rule + ", " + gfe + ", 10.4.0.12"}, "127.0.0.1:1", client},
		{"several, junk and private ones written by the client", prod, []string{"not-an-ip, 10.0.0.1, 9.9.9.9, " + client + ", " + rule + ", " + gfe + ", 10.4.0.12"}, "127.0.0.1:1", client},
		{"split across header lines", prod, []string{"8.8.8.8, " + client, rule + ", " + gfe, "10.4.0.12"}, "127.0.0.1:1", client},
		{"a port on an entry", prod, []string{client + ":4444, " + rule + ", " + gfe + ":80, 10.4.0.12"}, "127.0.0.1:1", client},
		{"too few entries (not through the load balancer): the peer", prod, []string{"1.2.3.4, 5.6.7.8"}, "192.0.2.10:5555", "192.0.2.10"},
		{"only private entries: the peer", prod, []string{"10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4"}, "192.0.2.10:5555", "192.0.2.10"},
		{"junk in the trusted part: the peer", prod, []string{client + ", junk, " + gfe + ", 10.4.0.12"}, "192.0.2.10:5555", "192.0.2.10"},
		{"index 0 ignores the header", clientaddr.Resolver{}, []string{client + ", " + rule + ", " + gfe}, "192.0.2.10:5555", "192.0.2.10"},
		{"index 1: the last public entry", clientaddr.Resolver{Index: 1}, []string{"1.1.1.1, " + client + ", 10.0.0.9"}, "127.0.0.1:1", client},
		{"IPv6 client", prod, []string{"2001:db8::1, 2001:db8:aaaa:1::5, " + rule + ", " + gfe + ", 10.4.0.12"}, "127.0.0.1:1", "2001:db8:aaaa:1::5"},
		{"IPv6 peer", prod, nil, "[2001:db8::7]:443", "2001:db8::7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := c.res.Of(r); got != netip.MustParseAddr(c.want) {
				t.Fatalf("Of = %s, want %s", got, c.want)
			}
		})
	}
}

// TestSpoofedEntriesKeepTheBucket: whatever a client writes to the left of
// what the load balancer appends, its bucket is the same.
func TestSpoofedEntriesKeepTheBucket(t *testing.T) {
	t.Parallel()
	res := clientaddr.Resolver{Index: clientaddr.DefaultIndex}
	trusted := client + ", " + rule + ", " + gfe + ", 10.4.0.12"
	want := ""
	for i, spoof := range []string{"", "1.1.1.1, ", "1.1.1.1, 2.2.2.2, ", client + ", ", "::1, 127.0.0.1, ", "x, y, z, ", "35.191.4.9, 198.51.100.1, "} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:9"
		r.Header.Set("X-Forwarded-For", spoof+trusted)
		got := clientaddr.Key(res.Of(r))
		if i == 0 {
			want = got
		}
		if got != want || got != client {
			t.Fatalf("with %q in front the bucket is %q, want %q", spoof, got, client)
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"::ffff:203.0.113.7":   "203.0.113.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
	} {
		if got := clientaddr.Key(netip.MustParseAddr(in)); got != want {
			t.Errorf("Key(%s) = %q, want %q", in, got, want)
		}
	}
	if got := clientaddr.Key(netip.Addr{}); got != "" {
		t.Errorf("Key(no address) = %q", got)
	}
}

func TestContext(t *testing.T) {
	t.Parallel()
	if _, ok := clientaddr.From(context.Background()); ok {
		t.Fatal("an address outside any request")
	}
	a := netip.MustParseAddr(client)
	if got, ok := clientaddr.From(clientaddr.With(context.Background(), a)); !ok || got != a {
		t.Fatalf("From = %v %v", got, ok)
	}
}
