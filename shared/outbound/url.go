package outbound

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// CheckURL checks a URL given to us (at registration) and returns it
// parsed: absolute, https (http only with p.AllowHTTP), a host, no user
// information, no fragment, an optional port from 1 to 65535. A literal IP
// host is checked against p at once (an error wrapping ErrBlocked); a host
// name must be an ASCII DNS name whose last label is not numeric, so that
// spellings some resolvers read as IPv4 addresses (2130706433, 0x7f.1,
// 0177.0.0.1, 127.1) are refused rather than left to the resolver. A name
// is not resolved here: the client checks the addresses it resolves to
// when it connects.
func CheckURL(raw string, p Policy) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch {
	case !u.IsAbs():
		return nil, fmt.Errorf("%w: not an absolute URL", ErrInvalidURL)
	case u.Opaque != "":
		return nil, fmt.Errorf("%w: no // after the scheme", ErrInvalidURL)
	}
	if err := checkScheme(u.Scheme, p.AllowHTTP); err != nil {
		return nil, err
	}
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("%w: user information (user:password@) is not allowed", ErrInvalidURL)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, fmt.Errorf("%w: a fragment (#...) is not allowed", ErrInvalidURL)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if err := checkPort(u); err != nil {
		return nil, err
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil {
		if err := p.Check(addr); err != nil {
			return nil, err
		}
		return u, nil
	}
	if strings.HasPrefix(u.Host, "[") {
		return nil, fmt.Errorf("%w: %q is not an IPv6 address", ErrInvalidURL, host)
	}
	if err := checkHostName(host); err != nil {
		return nil, err
	}
	return u, nil
}

func checkPort(u *url.URL) error {
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%w: an empty port", ErrInvalidURL)
	}
	port := u.Port()
	if port == "" {
		return nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("%w: port %q is not from 1 to 65535", ErrInvalidURL, port)
	}
	return nil
}

// checkHostName accepts ASCII DNS names: labels of letters, digits, '-'
// and '_' (some receivers' names have one), at most 63 bytes each and 253
// in all, one trailing dot allowed; the last label not numeric (the WHATWG
// URL standard's "ends in a number": such a host is an IPv4 address in some
// spelling, which resolvers such as glibc's inet_aton read as one).
func checkHostName(host string) error {
	name := strings.TrimSuffix(host, ".")
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: %q is not a host name", ErrInvalidURL, host)
	}
	labels := strings.Split(name, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%w: %q is not a host name", ErrInvalidURL, host)
		}
		for i := range len(label) {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("%w: %q is not a host name (write internationalised names in their xn-- form)",
					ErrInvalidURL, host)
			}
		}
	}
	if numeric(labels[len(labels)-1]) {
		return fmt.Errorf("%w: %q is an IPv4 address in a non-standard spelling; write it as a.b.c.d", ErrInvalidURL, host)
	}
	return nil
}

// numeric reports whether a label is a number as inet_aton and the WHATWG
// IPv4 parser read it: decimal, octal (leading 0) or hexadecimal (0x).
func numeric(label string) bool {
	digits := label
	hex := false
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		digits, hex = label[2:], true
	}
	if digits == "" {
		return hex // "0x" alone is zero to WHATWG
	}
	for i := range len(digits) {
		c := digits[i]
		isDigit := '0' <= c && c <= '9'
		isHex := 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		if !isDigit && !(hex && isHex) {
			return false
		}
	}
	return true
}
