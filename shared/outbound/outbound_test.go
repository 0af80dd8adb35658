package outbound_test

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coditect-ai/license-server/shared/outbound"
)

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	https := outbound.Policy{}
	http := outbound.Policy{AllowHTTP: true}
	allowLoopback := outbound.Policy{Allow: loopback}
	cases := []struct {
		name string
		raw  string
		p    outbound.Policy
		want error // nil, ErrInvalidURL or ErrBlocked
	}{
		// Accepted.
		{"https name", "https://hooks.example.com/webhook", https, nil},
		{"port and query", "https://hooks.example.com:8443/webhook?tenant=1", https, nil},
		{"upper-case scheme and host", "HTTPS://Hooks.Example.COM/x", https, nil},
		{"trailing dot", "https://hooks.example.com./x", https, nil},
		{"underscore in a label", "https://my_hooks.example.com/x", https, nil},
		{"numeric label not last", "https://123.example.com/x", https, nil},
		{"public IPv4 literal", "https://8.8.8.8/x", https, nil},
		{"public IPv6 literal", "https://[2606:4700:4700::1111]:443/x", https, nil},
		{"NAT64 of a public address", "https://[64:ff9b::808:808]/x", https, nil},
		{"just outside 172.16/12", "https://172.32.0.1/", https, nil},
		{"just outside CGNAT", "https://100.128.0.1/", https, nil},
		{"just outside the benchmark range", "https://198.20.0.1/", https, nil},
		{"http with AllowHTTP", "http://localhost:8080/hook", http, nil},
		{"localhost passes here (refused when dialling)", "https://localhost/hook", https, nil},
		{"loopback literal when allowed", "https://127.0.0.1:9000/", allowLoopback, nil},

		// Scheme, shape.
		{"http without AllowHTTP", "http://hooks.example.com/", https, outbound.ErrInvalidURL},
		{"ftp", "ftp://hooks.example.com/", http, outbound.ErrInvalidURL},
		{"file", "file:///etc/passwd", http, outbound.ErrInvalidURL},
		{"gopher", "gopher://hooks.example.com:70/", http, outbound.ErrInvalidURL},
		{"javascript", "javascript:alert(1)", http, outbound.ErrInvalidURL},
		{"relative", "hooks.example.com/webhook", https, outbound.ErrInvalidURL},
		{"scheme-relative", "//hooks.example.com/webhook", https, outbound.ErrInvalidURL},
		{"opaque", "https:hooks.example.com", https, outbound.ErrInvalidURL},
		{"no host", "https:///webhook", https, outbound.ErrInvalidURL},
		{"empty", "", https, outbound.ErrInvalidURL},
		{"user and password", "https://user:secret@hooks.example.com/", https, outbound.ErrInvalidURL},
		{"user", "https://user@hooks.example.com/", https, outbound.ErrInvalidURL},
		{"userinfo hiding a loopback host", "https://hooks.example.com@127.0.0.1/", https, outbound.ErrInvalidURL},
		{"fragment", "https://hooks.example.com/#frag", https, outbound.ErrInvalidURL},
		{"empty fragment", "https://hooks.example.com/#", https, outbound.ErrInvalidURL},
		{"port 0", "https://hooks.example.com:0/", https, outbound.ErrInvalidURL},
		{"port too large", "https://hooks.example.com:65536/", https, outbound.ErrInvalidURL},
		{"empty port", "https://hooks.example.com:/", https, outbound.ErrInvalidURL},
		{"space in the host", "https://hooks example.com/", https, outbound.ErrInvalidURL},
		{"non-ASCII host", "https://hööks.example.com/", https, outbound.ErrInvalidURL},
		{"label starting with a hyphen", "https://-hooks.example.com/", https, outbound.ErrInvalidURL},
		{"empty label", "https://hooks..example.com/", https, outbound.ErrInvalidURL},
		{"label too long", "https://" + strings.Repeat("a", 64) + ".example.com/", https, outbound.ErrInvalidURL},
		{"not an IPv6 address", "https://[hooks.example.com]/", https, outbound.ErrInvalidURL},

		// IPv4 in spellings netip does not parse but resolvers may.
		{"decimal", "http://2130706433/", http, outbound.ErrInvalidURL},
		{"hex, two parts", "http://0x7f.1/", http, outbound.ErrInvalidURL},
		{"hex, one part", "https://0x7f000001/", https, outbound.ErrInvalidURL},
		{"octal", "https://0177.0.0.1/", https, outbound.ErrInvalidURL},
		{"octal, one part", "https://017700000001/", https, outbound.ErrInvalidURL},
		{"short form", "https://127.1/", https, outbound.ErrInvalidURL},
		{"hex parts", "https://0x7f.0x0.0x0.0x1/", https, outbound.ErrInvalidURL},
		{"metadata, decimal", "https://2852039166/", https, outbound.ErrInvalidURL},
		{"bare 0x", "https://a.0x/", https, outbound.ErrInvalidURL},

		// Literal addresses in blocked ranges.
		{"loopback", "https://127.0.0.1/", https, outbound.ErrBlocked},
		{"loopback, elsewhere in /8", "https://127.255.0.9:8443/", https, outbound.ErrBlocked},
		{"loopback, trailing dot", "https://127.0.0.1./", https, outbound.ErrBlocked},
		{"loopback, percent-encoded (Go refuses the escape)", "https://%31%32%37.0.0.1/", https, outbound.ErrInvalidURL},
		{"unspecified", "https://0.0.0.0/", https, outbound.ErrBlocked},
		{"this network", "https://0.1.2.3/", https, outbound.ErrBlocked},
		{"10/8", "https://10.1.2.3/", https, outbound.ErrBlocked},
		{"172.16/12 low", "https://172.16.0.1/", https, outbound.ErrBlocked},
		{"172.16/12 high", "https://172.31.255.254/", https, outbound.ErrBlocked},
		{"192.168/16", "https://192.168.1.1/", https, outbound.ErrBlocked},
		{"CGNAT", "https://100.64.0.1/", https, outbound.ErrBlocked},
		{"CGNAT high", "https://100.127.255.254/", https, outbound.ErrBlocked},
		{"metadata server", "http://169.254.169.254/computeMetadata/v1/", http, outbound.ErrBlocked},
		{"link-local", "https://169.254.1.1/", https, outbound.ErrBlocked},
		{"benchmark", "https://198.18.0.1/", https, outbound.ErrBlocked},
		{"benchmark high", "https://198.19.255.254/", https, outbound.ErrBlocked},
		{"documentation", "https://192.0.2.10/", https, outbound.ErrBlocked},
		{"IETF assignments", "https://192.0.0.8/", https, outbound.ErrBlocked},
		{"multicast", "https://224.0.0.1/", https, outbound.ErrBlocked},
		{"reserved", "https://240.0.0.1/", https, outbound.ErrBlocked},
		{"broadcast", "https://255.255.255.255/", https, outbound.ErrBlocked},
		{"IPv6 loopback", "https://[::1]/", https, outbound.ErrBlocked},
		{"IPv6 loopback, port", "https://[::1]:8443/", https, outbound.ErrBlocked},
		{"IPv6 unspecified", "https://[::]/", https, outbound.ErrBlocked},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/", https, outbound.ErrBlocked},
		{"IPv4-mapped loopback, hex", "https://[::ffff:7f00:1]/", https, outbound.ErrBlocked},
		{"IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/", https, outbound.ErrBlocked},
		{"IPv4-mapped private", "https://[::ffff:10.0.0.1]/", https, outbound.ErrBlocked},
		{"IPv4-compatible loopback", "https://[::127.0.0.1]/", https, outbound.ErrBlocked},
		{"NAT64 of loopback", "https://[64:ff9b::7f00:1]/", https, outbound.ErrBlocked},
		{"NAT64 of the metadata server", "https://[64:ff9b::169.254.169.254]/", https, outbound.ErrBlocked},
		{"6to4 of loopback", "https://[2002:7f00:1::1]/", https, outbound.ErrBlocked},
		{"IPv6 link-local", "https://[fe80::1]/", https, outbound.ErrBlocked},
		{"IPv6 link-local with zone", "https://[fe80::1%25eth0]/", https, outbound.ErrBlocked},
		{"unique local fc", "https://[fc00::1]/", https, outbound.ErrBlocked},
		{"unique local fd", "https://[fd12:3456::1]/", https, outbound.ErrBlocked},
		{"IPv6 multicast", "https://[ff02::1]/", https, outbound.ErrBlocked},
		{"IPv6 documentation", "https://[2001:db8::1]/", https, outbound.ErrBlocked},
		{"Teredo", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", https, outbound.ErrBlocked},
		{"private still blocked when only loopback is allowed", "https://10.0.0.1/", allowLoopback, outbound.ErrBlocked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u, err := outbound.CheckURL(c.raw, c.p)
			if c.want == nil {
				if err != nil {
					t.Fatalf("CheckURL(%q) = %v, want accepted", c.raw, err)
				}
				if u == nil || u.Host == "" {
					t.Fatalf("CheckURL(%q) accepted %v", c.raw, u)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("CheckURL(%q) = %v, %v; want %v", c.raw, u, err, c.want)
			}
			if c.want == outbound.ErrBlocked {
				var b *outbound.BlockedError
				if !errors.As(err, &b) || !b.Range.IsValid() || b.What == "" {
					t.Fatalf("CheckURL(%q): %#v does not say which range", c.raw, err)
				}
			}
		})
	}
}

// TestCheck covers addresses only the dialler sees (zones, mapped forms
// the resolver returns) and the Allow list.
func TestCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr    string
		allow   []string
		blocked bool
	}{
		{"93.184.215.14", nil, false},
		{"2606:4700:4700::1111", nil, false},
		{"127.0.0.1", nil, true},
		{"::ffff:127.0.0.1", nil, true},
		{"::ffff:127.0.0.1", []string{"127.0.0.0/8"}, false},
		{"127.0.0.1", []string{"127.0.0.0/8"}, false},
		{"::1", []string{"127.0.0.0/8"}, true},
		{"::1", []string{"::1/128"}, false},
		{"fe80::1%eth0", nil, true},
		{"fe80::1%eth0", []string{"fe80::/10"}, false},
		{"10.20.30.40", []string{"10.20.0.0/16"}, false},
		{"10.21.30.40", []string{"10.20.0.0/16"}, true},
		{"169.254.169.254", []string{"10.0.0.0/8"}, true},
		{"64:ff9b::a00:1", nil, true},
		{"64:ff9b:1::1", nil, true},
		{"2002:808:808::1", nil, false},
		{"2002:a9fe:a9fe::1", nil, true},
		{"100::1", nil, true},
		{"3fff::1", nil, true},
		{"fec0::1", nil, true},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			t.Parallel()
			var p outbound.Policy
			for _, a := range c.allow {
				p.Allow = append(p.Allow, netip.MustParsePrefix(a))
			}
			err := p.Check(netip.MustParseAddr(c.addr))
			if got := errors.Is(err, outbound.ErrBlocked); got != c.blocked {
				t.Fatalf("Check(%s) with Allow %v = %v, want blocked %v", c.addr, c.allow, err, c.blocked)
			}
		})
	}
	if err := (outbound.Policy{}).Check(netip.Addr{}); !errors.Is(err, outbound.ErrBlocked) {
		t.Errorf("the zero address was not refused: %v", err)
	}
}

// server is a local test server that counts the requests it served.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t *testing.T, tls bool, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	if tls {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

func (s *server) port() string {
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	return port
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func get(t *testing.T, c *http.Client, raw string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, raw, strings.NewReader(`{"type":"ping"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

// wantBlocked checks that err is a refusal of addr, typed, and not a
// generic network error a retry loop would retry.
func wantBlocked(t *testing.T, err error, host, addr string) {
	t.Helper()
	var b *outbound.BlockedError
	if !errors.Is(err, outbound.ErrBlocked) || !errors.As(err, &b) {
		t.Fatalf("err = %v, want a refusal of %s", err, addr)
	}
	if b.Addr != netip.MustParseAddr(addr) || b.Host != host {
		t.Fatalf("refused %q → %s, want %q → %s (%v)", b.Host, b.Addr, host, addr, err)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		t.Fatalf("a refusal came wrapped as a network error: %v", err)
	}
	want := "refused: " + addr
	if host != "" {
		want = "refused: " + host + " resolves to " + addr
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestDialGuard(t *testing.T) {
	t.Parallel()
	srv := newServer(t, true, ok)

	t.Run("loopback refused by default", func(t *testing.T) {
		t.Parallel()
		c := outbound.NewClient(outbound.Policy{RootCAs: srv.roots()})
		_, err := get(t, c, srv.URL)
		wantBlocked(t, err, "", "127.0.0.1")
	})
	t.Run("localhost refused by default", func(t *testing.T) {
		t.Parallel()
		raw := "https://localhost:" + srv.port() + "/"
		if _, err := outbound.CheckURL(raw, outbound.Policy{}); err != nil {
			t.Fatalf("CheckURL(%q) = %v: the name should pass registration", raw, err)
		}
		c := outbound.NewClient(outbound.Policy{RootCAs: srv.roots()})
		_, err := get(t, c, raw)
		if !errors.Is(err, outbound.ErrBlocked) {
			t.Fatalf("err = %v, want refused", err)
		}
		var b *outbound.BlockedError
		if errors.As(err, &b); b.Host != "localhost" || !b.Addr.IsLoopback() {
			t.Fatalf("refusal %v, want localhost → a loopback address", err)
		}
	})
	t.Run("loopback allowed by configuration, over HTTP/2", func(t *testing.T) {
		t.Parallel()
		c := outbound.NewClient(outbound.Policy{Allow: loopback, RootCAs: srv.roots()})
		resp, err := get(t, c, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("got %s over %s, want 200 over HTTP/2", resp.Status, resp.Proto)
		}
	})
	t.Run("http refused by the client without AllowHTTP", func(t *testing.T) {
		t.Parallel()
		plain := newServer(t, false, ok)
		c := outbound.NewClient(outbound.Policy{Allow: loopback})
		if _, err := get(t, c, plain.URL); !errors.Is(err, outbound.ErrInvalidURL) {
			t.Fatalf("err = %v, want ErrInvalidURL", err)
		}
		if plain.hits.Load() != 0 {
			t.Fatal("the server was reached")
		}
	})
	// Parallel subtests end before the parent's cleanups run.
	t.Cleanup(func() {
		if n := srv.hits.Load(); n != 1 {
			t.Errorf("the server served %d requests, want 1 (only the allowed one)", n)
		}
	})
}

// fakeDNS is a DNS server on a local UDP port answering A and AAAA
// questions from a fixed table (anything else: no answer; an unknown name:
// NXDOMAIN). Pointing a net.Resolver at it makes a name resolve where a
// test likes, as DNS rebinding does after a URL is registered.
type fakeDNS struct {
	conn    net.PacketConn
	records map[string][]netip.Addr // "name." → addresses
}

func newFakeDNS(t *testing.T, records map[string][]netip.Addr) *fakeDNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDNS{conn: conn, records: records}
	t.Cleanup(func() { conn.Close() })
	go d.serve()
	return d
}

func (d *fakeDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if reply := d.answer(buf[:n]); reply != nil {
			d.conn.WriteTo(reply, from)
		}
	}
}

// answer builds the reply to one query (RFC 1035 section 4).
func (d *fakeDNS) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	// The question: a name of length-prefixed labels, then type and class.
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[i+1:i+1+l])))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
	question := q[12 : i+5]
	addrs, known := d.records[strings.Join(labels, ".")+"."]

	var answers []byte
	count := 0
	for _, a := range addrs {
		var data []byte
		switch {
		case qtype == 1 && a.Is4(): // A
			b := a.As4()
			data = b[:]
		case qtype == 28 && a.Is6(): // AAAA
			b := a.As16()
			data = b[:]
		default:
			continue
		}
		answers = binary.BigEndian.AppendUint16(answers, 0xc00c) // the name: a pointer to the question's
		answers = binary.BigEndian.AppendUint16(answers, qtype)
		answers = binary.BigEndian.AppendUint16(answers, 1)  // class IN
		answers = binary.BigEndian.AppendUint32(answers, 60) // TTL
		answers = binary.BigEndian.AppendUint16(answers, uint16(len(data)))
		answers = append(answers, data...)
		count++
	}
	flags := uint16(0x8180) // a response, recursion desired and available, no error
	if !known {
		flags |= 3 // NXDOMAIN
	}
	reply := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(q[0:2])) // the query's id
	reply = binary.BigEndian.AppendUint16(reply, flags)
	reply = binary.BigEndian.AppendUint16(reply, 1) // one question
	reply = binary.BigEndian.AppendUint16(reply, uint16(count))
	reply = binary.BigEndian.AppendUint32(reply, 0) // no authority or additional records
	reply = append(reply, question...)
	return append(reply, answers...)
}

func (d *fakeDNS) resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dialer net.Dialer
			return dialer.DialContext(ctx, "udp", addr)
		},
	}
}

// TestDNSRebinding registers names that pass CheckURL, then makes them
// resolve to internal addresses when delivering: the dial guard refuses
// them before connecting.
func TestDNSRebinding(t *testing.T) {
	t.Parallel()
	srv := newServer(t, false, ok)
	dns := newFakeDNS(t, map[string][]netip.Addr{
		"rebind.test.":   {netip.MustParseAddr("127.0.0.1")},
		"metadata.test.": {netip.MustParseAddr("169.254.169.254")},
		"mapped.test.":   {netip.MustParseAddr("::ffff:169.254.169.254")},
		"private.test.":  {netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("fd00::7")},
		"six.test.":      {netip.MustParseAddr("::1")},
	})
	base := outbound.Policy{AllowHTTP: true, Resolver: dns.resolver()}
	port := srv.port()

	cases := []struct {
		host  string
		allow []netip.Prefix
		addr  string // refused address; "" when the request must go through
	}{
		{"rebind.test", nil, "127.0.0.1"},
		{"metadata.test", nil, "169.254.169.254"},
		{"mapped.test", nil, "169.254.169.254"},
		{"six.test", nil, "::1"},
		{"private.test", nil, ""}, // 10.0.0.7 or fd00::7, whichever is tried first
		// The same name, allowed: proves the resolver really answered and
		// the refusals above are the guard's, not a failed lookup.
		{"rebind.test", loopback, ""},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s allow %v", c.host, c.allow), func(t *testing.T) {
			t.Parallel()
			raw := "http://" + c.host + ":" + port + "/hook"
			p := base
			p.Allow = c.allow
			if _, err := outbound.CheckURL(raw, p); err != nil {
				t.Fatalf("CheckURL(%q) = %v: the name should pass registration", raw, err)
			}
			resp, err := get(t, outbound.NewClient(p), raw)
			switch {
			case c.allow != nil:
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("allowed request: %v", err)
				}
			case c.addr == "":
				if !errors.Is(err, outbound.ErrBlocked) {
					t.Fatalf("err = %v, want refused", err)
				}
			default:
				wantBlocked(t, err, c.host, c.addr)
			}
		})
	}
	t.Cleanup(func() {
		if n := srv.hits.Load(); n != 1 {
			t.Errorf("the server served %d requests, want 1 (only the allowed one)", n)
		}
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	inside := newServer(t, true, ok) // stands for 169.254.169.254
	front := newServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.URL+"/computeMetadata/v1/", http.StatusFound)
	})
	roots := front.roots() // both servers share httptest's certificate
	c := outbound.NewClient(outbound.Policy{Allow: loopback, RootCAs: roots})
	resp, err := get(t, c, front.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), inside.URL) {
		t.Fatalf("got %s (Location %q), want the 302 itself", resp.Status, resp.Header.Get("Location"))
	}
	if n := inside.hits.Load(); n != 0 {
		t.Fatalf("the redirect was followed (%d requests)", n)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newServer(t, true, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	defer close(release)
	p := outbound.WithTimeout(outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 200*time.Millisecond)
	start := time.Now()
	_, err := get(t, outbound.NewClient(p), srv.URL)
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if errors.Is(err, outbound.ErrBlocked) {
		t.Fatalf("a timeout reported as a refusal: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("the request took %s", elapsed)
	}
}

func TestClientSettings(t *testing.T) {
	t.Parallel()
	c := outbound.NewClient(outbound.Policy{})
	if c.Timeout != outbound.Timeout || outbound.Timeout != 10*time.Second {
		t.Errorf("timeout %s, want 10s", c.Timeout)
	}
	tr := outbound.TransportOf(c)
	if tr.Proxy != nil {
		t.Error("the transport takes a proxy (from the environment?)")
	}
	if !tr.ForceAttemptHTTP2 {
		t.Error("HTTP/2 is off")
	}
	if c.CheckRedirect == nil || !errors.Is(c.CheckRedirect(nil, nil), http.ErrUseLastResponse) {
		t.Error("redirects are followed")
	}
}

func TestReadSnippet(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	broken := errors.New("connection reset")
	cases := []struct {
		name    string
		r       io.Reader
		n       int64
		want    string
		wantErr error
	}{
		{"shorter than the cap", strings.NewReader("ok"), 1024, "ok", nil},
		{"exactly the cap", strings.NewReader(long[:1024]), 1024, long[:1024], nil},
		{"capped", strings.NewReader(long), 1024, long[:1024], nil},
		{"one byte", strings.NewReader("hello"), 1, "h", nil},
		{"zero", strings.NewReader("hello"), 0, "", nil},
		{"negative", strings.NewReader("hello"), -1, "", nil},
		{"empty body", strings.NewReader(""), 1024, "", nil},
		{"an error after some bytes", io.MultiReader(strings.NewReader("part"), iotest.ErrReader(broken)), 1024, "part", broken},
		{"an error past the cap is never read", io.MultiReader(strings.NewReader(long), iotest.ErrReader(broken)), 1024, long[:1024], nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := outbound.ReadSnippet(c.r, c.n)
			if string(got) != c.want || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("ReadSnippet = %q (%d bytes), %v; want %d bytes, %v", got, len(got), err, len(c.want), c.wantErr)
			}
		})
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, seed := range []string{
		"https://hooks.example.com/webhook", "http://localhost:8080/", "https://127.0.0.1/",
		"https://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0x7f.1/", "https://user@host/",
		"https://[fe80::1%25eth0]/", "https://[64:ff9b::7f00:1]/", "https://8.8.8.8:443/x?y#z",
		"https://%31%32%37.0.0.1/", "https:opaque", "//host/x", "https://host:/", "https://127.0.0.1./",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowHTTP bool) {
		p := outbound.Policy{AllowHTTP: allowHTTP}
		u, err := outbound.CheckURL(raw, p)
		if err != nil {
			if !errors.Is(err, outbound.ErrInvalidURL) && !errors.Is(err, outbound.ErrBlocked) {
				t.Fatalf("CheckURL(%q): an untyped error %v", raw, err)
			}
			return
		}
		if u.Scheme != "https" && !(allowHTTP && u.Scheme == "http") {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		host := u.Hostname()
		if host == "" || u.User != nil || u.Fragment != "" {
			t.Fatalf("CheckURL(%q) accepted %#v", raw, u)
		}
		if addr, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
			if err := p.Check(addr); err != nil {
				t.Fatalf("CheckURL(%q) accepted a blocked address: %v", raw, err)
			}
		}
		// What was accepted, printed and parsed again, is accepted again
		// (a stored URL is read back from the database).
		if _, err := outbound.CheckURL(u.String(), p); err != nil {
			t.Fatalf("CheckURL(%q) accepted, but not its String %q: %v", raw, u.String(), err)
		}
	})
}
