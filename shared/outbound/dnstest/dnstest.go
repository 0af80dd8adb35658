// Package dnstest is a tiny DNS server for tests: it answers A queries
// from a table the test can change at any time, so a name can resolve to
// a public address at registration and to 127.0.0.1 or 169.254.169.254 at
// delivery (DNS rebinding), with no real DNS involved.
package dnstest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Server answers A queries from its table.
type Server struct {
	mu      sync.Mutex
	records map[string]netip.Addr
	addr    string
}

// Start serves table (lower-case names without the final dot → IPv4
// addresses) on a local UDP port until the test ends. Other names are
// NXDOMAIN; other record types of a known name are empty.
func Start(t testing.TB, table map[string]string) *Server {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &Server{records: map[string]netip.Addr{}, addr: conn.LocalAddr().String()}
	for name, addr := range table {
		s.Set(name, addr)
	}
	go func() {
		buf := make([]byte, 1232)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return // closed by the cleanup
			}
			s.mu.Lock()
			resp := reply(buf[:n], s.records)
			s.mu.Unlock()
			if resp != nil {
				_, _ = conn.WriteTo(resp, peer)
			}
		}
	}()
	return s
}

// Set points name at addr from now on.
func (s *Server) Set(name, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[strings.ToLower(name)] = netip.MustParseAddr(addr)
}

// Resolver asks only this server.
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", s.addr)
		},
	}
}

// reply answers a one-question query (RFC 1035 section 4.1): the
// query's header and question, then at most one A record pointing back at
// the question's name. Anything it cannot read gets no answer.
func reply(q []byte, records map[string]netip.Addr) []byte {
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
