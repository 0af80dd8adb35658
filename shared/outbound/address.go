package outbound

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// BlockedError is a refused address. It wraps ErrBlocked.
type BlockedError struct {
	// Host is the name that resolved to Addr, when the refusal happened
	// while dialling a name; empty for a literal address.
	Host string
	// Addr is the refused address (IPv4-mapped IPv6 unmapped, zone
	// dropped).
	Addr netip.Addr
	// Range is the blocked range Addr is in, and What what it is
	// ("loopback", "link-local", ...).
	Range netip.Prefix
	What  string
}

func (e *BlockedError) Error() string {
	if e.Host != "" {
		return fmt.Sprintf("refused: %s resolves to %s (%s, %s)", e.Host, e.Addr, e.What, e.Range)
	}
	return fmt.Sprintf("refused: %s (%s, %s)", e.Addr, e.What, e.Range)
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

type blockedRange struct {
	prefix netip.Prefix
	what   string
}

// blocked are the ranges refused unless Policy.Allow holds the address,
// the more specific first (the first match names the refusal). IPv4-mapped
// IPv6 addresses are unmapped before they are looked up; NAT64 and 6to4
// addresses are checked by the IPv4 address they embed (see Check).
var blocked = func() []blockedRange {
	table := []struct{ prefix, what string }{
		// IPv4 (RFC 6890 and the IANA special-purpose registry).
		{"0.0.0.0/8", "\"this network\""},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "CGNAT shared address space"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.169.254/32", "link-local, the cloud metadata server"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved"},
		// IPv6.
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible IPv6 (deprecated)"},
		{"64:ff9b:1::/48", "local-use NAT64"},
		{"100::/64", "discard-only"},
		{"2001:db8::/32", "documentation"},
		{"2001::/23", "IETF protocol assignments (Teredo, benchmarking)"},
		{"3fff::/20", "documentation"},
		{"fc00::/7", "unique local"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"ff00::/8", "multicast"},
	}
	ranges := make([]blockedRange, len(table))
	for i, r := range table {
		ranges[i] = blockedRange{prefix: netip.MustParsePrefix(r.prefix), what: r.what}
	}
	return ranges
}()

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the IPv4 address in the last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056: the IPv4 address in bits 16 to 48
)

// Check returns a *BlockedError when addr may not be connected to: it is
// in a blocked range (loopback, private, link-local including the metadata
// server 169.254.169.254, CGNAT, unique local, multicast, broadcast,
// reserved, benchmarking, documentation, unspecified; IPv4-mapped forms of
// any of them; NAT64 and 6to4 addresses embedding any of them) and no
// range of p.Allow holds it. It returns nil when addr may be connected to.
func (p Policy) Check(addr netip.Addr) error {
	if !addr.IsValid() {
		return &BlockedError{Addr: addr, What: "not an address"}
	}
	addr = addr.Unmap().WithZone("") // a Prefix never contains a zoned address
	for _, a := range p.Allow {
		if a.Contains(addr) {
			return nil
		}
	}
	if r, ok := lookup(addr); ok {
		return &BlockedError{Addr: addr, Range: r.prefix, What: r.what}
	}
	var embedded netip.Addr
	var via string
	b := addr.As16()
	switch {
	case nat64.Contains(addr):
		embedded, via = netip.AddrFrom4([4]byte(b[12:16])), "NAT64"
	case sixToFour.Contains(addr):
		embedded, via = netip.AddrFrom4([4]byte(b[2:6])), "6to4"
	default:
		return nil
	}
	if r, ok := lookup(embedded); ok {
		return &BlockedError{Addr: addr, Range: r.prefix, What: fmt.Sprintf("%s of %s, %s", via, embedded, r.what)}
	}
	return nil
}

func lookup(addr netip.Addr) (blockedRange, bool) {
	for _, r := range blocked {
		if r.prefix.Contains(addr) {
			return r, true
		}
	}
	return blockedRange{}, false
}

// guard dials with the policy's check on every address tried.
type guard struct {
	policy Policy
	dialer net.Dialer
}

// dialContext is the transport's DialContext. The check runs in the
// dialler's Control function, which sees the resolved IP:port of each
// address tried (after DNS, before connect). When no address could be
// connected to and one of them was refused, the refusal is the error,
// returned as itself (not a *net.OpError), with the host name it was
// dialled by.
func (g *guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var (
		mu      sync.Mutex // Happy Eyeballs tries IPv6 and IPv4 concurrently
		refused *BlockedError
	)
	d := g.dialer
	d.Control = func(_, address string, _ syscall.RawConn) error {
		err := g.checkAddress(address)
		if err != nil {
			mu.Lock()
			if refused == nil {
				refused = err
			}
			mu.Unlock()
			return err
		}
		return nil
	}
	conn, err := d.DialContext(ctx, network, address)
	if err == nil {
		return conn, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != nil {
		if host, _, splitErr := net.SplitHostPort(address); splitErr == nil {
			if _, parseErr := netip.ParseAddr(host); parseErr != nil {
				refused.Host = host // a name: say what it resolved to
			}
		}
		return nil, refused
	}
	return nil, err
}

func (g *guard) checkAddress(address string) *BlockedError {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: the dialler always gives IP:port; anything else is
		// not something we can vouch for.
		return &BlockedError{What: fmt.Sprintf("not an IP address and port: %q", address)}
	}
	if err := g.policy.Check(ap.Addr()); err != nil {
		return err.(*BlockedError)
	}
	return nil
}
