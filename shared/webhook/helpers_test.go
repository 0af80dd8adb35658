package webhook_test

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/outbound"
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

// startDNS serves the A records in table (lower-case names without the
// final dot) on a local UDP port and returns a resolver asking only it.
// Other names are NXDOMAIN; other record types of a known name are empty.
// It lets a test make a name resolve to an internal address, as a DNS
// rebinding after registration would.
func startDNS(t *testing.T, table map[string]string) *net.Resolver {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	records := make(map[string]netip.Addr, len(table))
	for name, addr := range table {
		records[name] = netip.MustParseAddr(addr)
	}
	go func() {
		buf := make([]byte, 1232)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed by the cleanup
			}
			if resp := dnsReply(buf[:n], records); resp != nil {
				conn.WriteTo(resp, peer)
			}
		}
	}()
	server := conn.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", server)
		},
	}
}

// dnsReply answers a one-question query (RFC 1035 section 4.1): the
// query's header and question, then at most one A record pointing back at
// the question's name. Anything it cannot read gets no answer.
func dnsReply(q []byte, records map[string]netip.Addr) []byte {
	const headerLen = 12
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	var labels []string
	off := headerLen
	for {
		if off >= len(q) {
			return nil
		}
		n := int(q[off])
		off++
		if n == 0 {
			break
		}
		if n > 63 || off+n > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[off:off+n])))
		off += n
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	off += 4 // type and class

	resp := append([]byte(nil), q[:off]...) // the id and the question, echoed
	addr, known := records[strings.Join(labels, ".")]
	resp[2] = 0x80 | q[2]&0x01 // a response; recursion desired as asked
	resp[3] = 0x80             // recursion available, no error
	if !known {
		resp[3] |= 3 // NXDOMAIN
	}
	answers := uint16(0)
	if known && qtype == 1 && addr.Is4() {
		a := addr.As4()
		resp = append(resp, 0xc0, headerLen)           // the name: a pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, 1)  // A
		resp = binary.BigEndian.AppendUint16(resp, 1)  // IN
		resp = binary.BigEndian.AppendUint32(resp, 30) // TTL
		resp = binary.BigEndian.AppendUint16(resp, 4)
		resp = append(resp, a[:]...)
		answers = 1
	}
	binary.BigEndian.PutUint16(resp[6:8], answers)
	binary.BigEndian.PutUint32(resp[8:12], 0) // no authority, no additional records
	return resp
}
