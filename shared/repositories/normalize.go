// Package repositories stores the code repositories a tenant uses the
// product in, and normalises remote URLs so that the ssh and https forms of
// one remote are one repository.
package repositories

import (
	"errors"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadRemote is returned for a string that is not a git remote.
var ErrBadRemote = errors.New("not a git remote URL")

// Normalize turns a git remote into "host/path": lower-case host, no scheme,
// user, password, port of a standard scheme, trailing ".git" or slashes.
//
//	git@github.com:Acme/Widget.git         -> github.com/Acme/Widget
//	https://user@GitHub.com/Acme/Widget/   -> github.com/Acme/Widget
//	ssh://git@github.com:22/Acme/Widget    -> github.com/Acme/Widget
func Normalize(remote string) (string, error) {
	s := strings.TrimSpace(remote)
	if s == "" || len(s) > 500 || strings.ContainsAny(s, " \t\r\n\x00") {
		return "", ErrBadRemote
	}
	var host, path string
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", ErrBadRemote
		}
		switch u.Scheme {
		case "https", "http", "ssh", "git", "git+ssh", "ssh+git":
		default:
			return "", ErrBadRemote
		}
		host, path = u.Hostname(), u.Path
		if p := u.Port(); p != "" && !standardPort(u.Scheme, p) {
			host += ":" + p
		}
	} else {
		// scp-like syntax: [user@]host:path
		at := strings.LastIndex(s[:max(strings.Index(s, ":"), 0)], "@")
		rest := s[at+1:]
		h, p, ok := strings.Cut(rest, ":")
		if !ok || h == "" || strings.Contains(h, "/") {
			return "", ErrBadRemote
		}
		host, path = h, p
	}
	path = strings.Trim(path, "/")
	path = strings.TrimSuffix(path, ".git")
	path = strings.Trim(path, "/")
	host = strings.ToLower(host)
	if host == "" || path == "" || strings.Contains(path, "..") || strings.Contains(path, "//") {
		return "", ErrBadRemote
	}
	// Parsing unescapes the path ("%00", "%0a", "%ff"): the normal form is
	// stored and written to the usage ledger, so it must hold no control
	// character (PostgreSQL refuses a NUL) and be valid UTF-8 itself.
	out := host + "/" + path
	if len(out) > 500 || !utf8.ValidString(out) || strings.ContainsFunc(out, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) {
		return "", ErrBadRemote
	}
	return out, nil
}

func standardPort(scheme, port string) bool {
	switch scheme {
	case "https":
		return port == "443"
	case "http":
		return port == "80"
	case "git":
		return port == "9418"
	}
	return port == "22"
}
