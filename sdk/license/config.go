package license

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// DefaultIssuer is the lease issuer ("iss") expected when [Config.Issuer] is
// empty.
const DefaultIssuer = "https://api.coditect.ai"

// Defaults of the optional [Config] fields.
const (
	DefaultTimeout    = 10 * time.Second // of each HTTP call, with the default HTTPClient
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
)

// maxRetryAfter bounds how long a Retry-After can make the seat wait, so a
// wrong header cannot stall it for ever.
const maxRetryAfter = 5 * time.Minute

// Config says where the service is, which license to use and which root keys
// to trust. BaseURL, LicenseKey and RootKeys are required.
type Config struct {
	// BaseURL of the service, e.g. https://api.coditect.ai. Plain http://
	// is refused except to this machine (localhost, 127.0.0.0/8, ::1), and
	// so is a redirect to it.
	BaseURL string
	// LicenseKey is the license's key (lk_…).
	LicenseKey string
	// Fingerprint identifies this workstation; one workstation holds at
	// most one seat of a license. Default: [DefaultFingerprint].
	Fingerprint string
	// Hostname and OS describe the workstation to admins. Default:
	// os.Hostname and runtime.GOOS.
	Hostname, OS string
	// User and Repository are optional. User names the person when the
	// license counts seats per user and no Credential is given.
	User, Repository string
	// InstanceID names this holder of the workstation's seat: several
	// processes of one workstation share its one seat, each holding it
	// until it closes (or its lease lapses), and the seat frees when the
	// last of them closes. Default: a random id per [Acquire], so every
	// [Seat] is its own holder; set one only to make two Seats one holder.
	InstanceID string

	// RootKeys are the pinned root public keys (kid → key) leases must be
	// signed under, usually shipped with the product and read with
	// [ParseRootKeys]. Required: never fill them from the server being
	// checked.
	RootKeys map[string]*rsa.PublicKey
	// Issuer is the "iss" leases must carry. Default: [DefaultIssuer].
	Issuer string

	// Credential is the user's ID token or API key, sent as a bearer token
	// on acquire, for licenses that require a user.
	Credential string
	// CredentialFunc, when set, is called before every acquire (including
	// the background ones) and overrides Credential: use it for ID tokens
	// that expire.
	CredentialFunc func(ctx context.Context) (string, error)

	// HTTPClient makes the calls. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// WaitForSeat makes Acquire wait for a seat to free up (retrying with
	// backoff until its context ends) instead of failing with ErrNoSeats.
	WaitForSeat bool
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries. Defaults: 1 s and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the seat's state changes and failures (never the
	// license key, credential, session id or lease). Default: no logs.
	Logger *slog.Logger
	// Now is the clock leases are checked against. Default: time.Now.
	Now func() time.Time

	// BorrowFile is where a borrowed seat is kept ([Seat.Borrow]): the
	// borrow lease, the session id and the borrow's device private key,
	// written 0600 and replaced atomically. Required to borrow, and read
	// by [OpenBorrowed] and by [Acquire], which returns the borrowed seat
	// it holds instead of acquiring one. Keep it in the user's own
	// directory (e.g. under os.UserConfigDir), one file per license.
	BorrowFile string
}

// client is a checked Config with its defaults filled in.
type client struct {
	base        string
	key         string
	licenseID   string
	fingerprint string
	hostname    string
	os          string
	user        string
	repository  string
	instance    string
	verifier    leasejws.Verifier
	credential  func(ctx context.Context) (string, error)
	http        *http.Client
	waitForSeat bool
	minBackoff  time.Duration
	maxBackoff  time.Duration
	log         *slog.Logger
	now         func() time.Time
	borrowFile  string
}

func newClient(cfg Config) (*client, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("license: BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if err := checkTransport(u); err != nil {
		return nil, err
	}
	licenseID, err := LicenseID(cfg.LicenseKey)
	if err != nil {
		return nil, err
	}
	if len(cfg.RootKeys) == 0 {
		return nil, errors.New("license: no pinned RootKeys")
	}
	for kid, k := range cfg.RootKeys {
		if k == nil || k.N == nil {
			return nil, fmt.Errorf("license: root key %q is nil", kid)
		}
	}
	c := &client{
		base: strings.TrimSuffix(cfg.BaseURL, "/"), key: cfg.LicenseKey, licenseID: licenseID,
		fingerprint: cfg.Fingerprint, hostname: cfg.Hostname, os: cfg.OS, user: cfg.User,
		repository: cfg.Repository, instance: cfg.InstanceID, http: cfg.HTTPClient, waitForSeat: cfg.WaitForSeat,
		minBackoff: cfg.MinBackoff, maxBackoff: cfg.MaxBackoff, log: cfg.Logger, now: cfg.Now,
		borrowFile: cfg.BorrowFile,
	}
	if c.fingerprint == "" {
		if c.fingerprint, err = DefaultFingerprint(); err != nil {
			return nil, err
		}
	}
	if c.instance == "" {
		// 26 base32 characters: 130 random bits, in the server's
		// instance_id alphabet.
		c.instance = rand.Text()
	}
	if c.hostname == "" {
		h, _ := os.Hostname()
		c.hostname = truncate(h, 255)
	}
	if c.os == "" {
		c.os = runtime.GOOS
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	// Copy the keys: the caller's map may change after Acquire returns.
	roots := make(map[string]*rsa.PublicKey, len(cfg.RootKeys))
	for kid, k := range cfg.RootKeys {
		roots[kid] = k
	}
	c.verifier = leasejws.Verifier{Roots: roots, Issuer: issuer}
	c.credential = cfg.CredentialFunc
	if c.credential == nil {
		cred := cfg.Credential
		c.credential = func(context.Context) (string, error) { return cred, nil }
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	c.http = refusingDowngrades(c.http)
	if c.minBackoff <= 0 {
		c.minBackoff = DefaultMinBackoff
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = DefaultMaxBackoff
	}
	if c.maxBackoff < c.minBackoff {
		c.maxBackoff = c.minBackoff
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// checkTransport refuses plain HTTP except to this machine: the license key,
// the user's credential and the session id travel in every request, and
// over http:// anyone on the path could read and reuse them. A server on
// loopback (development, tests, a local proxy) is the one exception.
func checkTransport(u *url.URL) error {
	if u.Scheme == "https" || isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("license: %s uses http:// to a host that is not this machine; use https://", u.Redacted())
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// refusingDowngrades returns a copy of hc (the caller's client is left as
// it is) that will not follow a redirect checkTransport refuses: a 307 or
// 308 would otherwise resend the license key to an http:// address.
func refusingDowngrades(hc *http.Client) *http.Client {
	cp := *hc
	next := hc.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkTransport(req.URL); err != nil {
			return fmt.Errorf("refusing a redirect: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("license: stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}

// LicenseID returns the id of the license a key names: license keys read
// lk_<the license UUID as 32 hex digits>_<secret>. Only the form is checked.
func LicenseID(licenseKey string) (string, error) {
	const prefix, hexLen = "lk_", 32
	rest, ok := strings.CutPrefix(licenseKey, prefix)
	if !ok || len(rest) < hexLen+2 || rest[hexLen] != '_' {
		return "", errors.New("license: LicenseKey is not a license key (lk_…)")
	}
	h := rest[:hexLen]
	for i := 0; i < len(h); i++ {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", errors.New("license: LicenseKey is not a license key (lk_…)")
		}
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
