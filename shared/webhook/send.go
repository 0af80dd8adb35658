package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/shared/outbound"
)

// AttemptTimeout bounds one attempt: connecting, TLS, sending, the
// response's headers and its snippet. It is the Timeout outbound.NewClient
// sets on the clients it returns (a test checks that the two agree), and
// NewSender refuses a client allowed longer.
const AttemptTimeout = 10 * time.Second

// UserAgent is sent with every delivery, so receivers can tell our requests
// apart in their logs; the number changes if the request's shape does.
const UserAgent = "coditect-license-webhooks/1"

// SnippetLimit is how much of a response body a Result keeps: enough to
// show a receiver's error message in the delivery log, little enough to
// store for every attempt.
const SnippetLimit = 1024

// Outcome is what an attempt means for the message.
type Outcome int

const (
	// Delivered: the receiver answered 2xx. Nothing more to do.
	Delivered Outcome = iota + 1
	// Retry: the receiver may accept the message later (a timeout, a
	// connection error, 429 or 5xx). Schedule another attempt with
	// NextAttempt.
	Retry
	// Failed: another attempt would fail the same way (the address is
	// refused, the receiver redirected, which is not followed, or answered
	// another 4xx). Do not retry; the message stays in the log for a manual
	// redelivery once the endpoint is fixed.
	Failed
)

// String returns "delivered", "retry" or "failed", as stored in the
// delivery log.
func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Failed:
		return "failed"
	default:
		return "Outcome(" + strconv.Itoa(int(o)) + ")"
	}
}

// Result is what one attempt did, for the delivery log and the scheduler.
// Its texts are meant to be shown to the webhook's owner: they name the
// receiver's host and address but nothing of ours (not our addresses, our
// DNS server's, nor the URL's query, which may hold a token).
type Result struct {
	// StatusCode is the response's status; 0 when there was no response.
	StatusCode int
	// Latency is the time from sending the request to the end of reading
	// the snippet, or to the failure.
	Latency time.Duration
	// Snippet is the start of the response body: at most SnippetLimit
	// bytes, valid UTF-8 (a character cut by the limit is dropped, invalid
	// bytes are replaced by U+FFFD).
	Snippet string
	// Error is "" when there was a response; else what failed, for example
	// "timeout after 10s", "connection refused" or "refused: 127.0.0.1
	// (loopback, 127.0.0.0/8)" (an outbound.BlockedError's text, which
	// starts with "refused:").
	Error string
	// Outcome says whether the message is delivered, to retry or failed.
	Outcome Outcome
	// RetryAfter is the wait a 429 or 503 asked for in its Retry-After
	// header (seconds, or an HTTP date taken relative to the Sender's
	// clock), at most MaxRetryAfter; 0 when absent, invalid or past.
	RetryAfter time.Duration
}

// Sender makes single delivery attempts. It is safe for concurrent use.
type Sender struct {
	client *http.Client
	now    func() time.Time
}

// NewSender returns a Sender that posts with client and stamps each attempt
// with now (time.Now in production). client must come from
// outbound.NewClient, in tests too (with a policy allowing the test
// servers): its dial guard is what keeps deliveries out of our network.
// NewSender cannot see that guard, but it refuses a client it can tell is
// not one: without a timeout or with one above AttemptTimeout, or
// following redirects.
func NewSender(client *http.Client, now func() time.Time) (*Sender, error) {
	switch {
	case client == nil:
		return nil, errors.New("webhook: NewSender needs an HTTP client")
	case now == nil:
		return nil, errors.New("webhook: NewSender needs a clock")
	case client.Timeout <= 0 || client.Timeout > AttemptTimeout:
		return nil, fmt.Errorf("webhook: the HTTP client's timeout is %s; it must be above 0 and at most %s (use outbound.NewClient)",
			client.Timeout, AttemptTimeout)
	case client.CheckRedirect == nil || !errors.Is(client.CheckRedirect(&http.Request{URL: &url.URL{}}, nil), http.ErrUseLastResponse):
		// A followed redirect would post the event to a URL the
		// customer never registered.
		return nil, errors.New("webhook: the HTTP client follows redirects (use outbound.NewClient)")
	}
	return &Sender{client: client, now: now}, nil
}

// Send makes one attempt to deliver m to rawURL, signed with secrets (the
// current one first; see Headers). The attempt is stamped with the
// Sender's clock, whatever m.Timestamp holds. The request is a POST of
// m.Body with Content-Type application/json, User-Agent UserAgent and the
// three Standard Webhooks headers. The response body is read up to
// SnippetLimit and closed (a receiver's long answer is not waited for).
//
// Send never returns an error: everything that can go wrong is an Outcome
// with its Error, because the caller records every attempt the same way.
// Failures on our side (a malformed URL or secret) are Failed, since
// repeating the attempt cannot change them.
func (s *Sender) Send(ctx context.Context, rawURL string, m Message, secrets ...string) Result {
	m.Timestamp = s.now()
	headers, err := Headers(m, secrets...)
	if err != nil {
		return Result{Outcome: Failed, Error: "cannot sign: " + strings.TrimPrefix(err.Error(), "webhook: ")}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(m.Body))
	if err != nil {
		// The parse error quotes the URL, which may hold a token.
		return Result{Outcome: Failed, Error: "invalid URL"}
	}
	req.Header = headers
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)

	start := time.Now() // the monotonic clock: latency is measured, not scheduled
	resp, err := s.client.Do(req)
	if err != nil {
		r := s.failure(ctx, err)
		r.Latency = time.Since(start)
		return r
	}
	defer resp.Body.Close()
	// A read error after the status is ignored: the status is the
	// receiver's answer, the snippet only a help to read it.
	body, _ := outbound.ReadSnippet(resp.Body, SnippetLimit)
	r := Result{
		StatusCode: resp.StatusCode,
		Latency:    time.Since(start),
		Snippet:    snippet(body, SnippetLimit),
		Outcome:    outcomeOf(resp.StatusCode),
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		r.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.now())
	}
	return r
}

// outcomeOf maps a status to an outcome. 429 and 5xx say "later"; a 3xx
// is the receiver's answer since redirects are not followed, and like
// other 4xx it will not change by itself. Codes outside 200 to 599 are not
// HTTP as receivers speak it and are treated as permanent too.
func outcomeOf(status int) Outcome {
	switch {
	case status >= 200 && status <= 299:
		return Delivered
	case status == http.StatusTooManyRequests || status >= 500 && status <= 599:
		return Retry
	default:
		return Failed
	}
}

// failure describes an attempt that got no response.
func (s *Sender) failure(ctx context.Context, err error) Result {
	retry := func(msg string) Result { return Result{Outcome: Retry, Error: msg} }

	var blocked *outbound.BlockedError
	if errors.As(err, &blocked) {
		return Result{Outcome: Failed, Error: blocked.Error()}
	}
	if errors.Is(err, outbound.ErrInvalidURL) {
		// The client refused the scheme (http:// once AllowHTTP is off).
		return Result{Outcome: Failed, Error: "invalid URL: the scheme is not allowed"}
	}
	if ctx.Err() != nil {
		// Our side gave up (shutdown, the caller's deadline): the receiver
		// may be fine.
		return retry("aborted: " + ctx.Err().Error())
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Timeout() {
		return retry("timeout after " + s.client.Timeout.String())
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return retry("connection refused")
	case errors.Is(err, syscall.ECONNRESET):
		return retry("connection reset")
	case errors.As(err, &dnsErr):
		// Not dnsErr.Error(): it names our DNS server.
		return retry(fmt.Sprintf("DNS lookup of %s failed: %s", dnsErr.Name, dnsErr.Err))
	case errors.As(err, &certErr):
		return retry("TLS: " + certErr.Err.Error())
	case errors.As(err, &op):
		// Not op.Error(): it may name our local address.
		return retry(fmt.Sprintf("connection error: %s: %v", op.Op, op.Err))
	case ue != nil:
		// Not ue.Error(): it quotes the URL.
		return retry("connection error: " + ue.Err.Error())
	default:
		return retry("connection error: " + err.Error())
	}
}

// snippet returns b as valid UTF-8 of at most limit bytes. b was cut at
// limit bytes by the reader, so a character it ends in the middle of is
// dropped rather than shown as a replacement character; bytes that are not
// UTF-8 become U+FFFD, and the text stops before one would overflow limit.
func snippet(b []byte, limit int) string {
	if start := lastRuneStart(b); start >= 0 && !utf8.FullRune(b[start:]) {
		b = b[:start]
	}
	if utf8.Valid(b) && len(b) <= limit {
		return string(b)
	}
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		piece := string(b[:size])
		if r == utf8.RuneError && size == 1 {
			piece = string(utf8.RuneError)
		}
		if out.Len()+len(piece) > limit {
			break
		}
		out.WriteString(piece)
		b = b[size:]
	}
	return out.String()
}

// lastRuneStart returns the index of the byte that starts b's last
// character, looking back at most utf8.UTFMax bytes; -1 when b is empty.
func lastRuneStart(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return i
		}
	}
	return -1
}

// parseRetryAfter reads a Retry-After value (RFC 9110 section 10.2.3): a
// number of seconds or an HTTP date, the latter relative to now. Values
// above MaxRetryAfter are MaxRetryAfter; anything unreadable, negative or
// past is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return MaxRetryAfter // digits only but too long for uint64
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}
