package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// DefaultSendGridURL is SendGrid's API, the base NewSendGrid uses when
// given "".
const DefaultSendGridURL = "https://api.sendgrid.com"

// sendGridTimeout bounds a request when NewSendGrid is given no client:
// http.DefaultClient has no timeout, and a hung request would hold up the
// deliverer forever.
const sendGridTimeout = 30 * time.Second

// maxErrorBody bounds how much of an error answer is read: SendGrid's
// error documents are small, and a proxy's error page need not be read
// whole.
const maxErrorBody = 64 << 10

// SendGrid sends through SendGrid's v3 Mail Send API.
type SendGrid struct {
	key      string
	from     *mail.Address
	client   *http.Client
	endpoint string
}

// NewSendGrid returns a sender that POSTs to {baseURL}/v3/mail/send with
// apiKey as its bearer token, from the address from (which may carry a
// display name: "Licenses <noreply@example.com>"). baseURL "" is
// DefaultSendGridURL; tests point it at a fake. client nil is a client with
// a 30 s timeout.
func NewSendGrid(apiKey, from string, client *http.Client, baseURL string) (*SendGrid, error) {
	if apiKey == "" {
		return nil, errors.New("mail: empty SendGrid API key")
	}
	if strings.ContainsAny(apiKey, "\r\n \t") {
		return nil, errors.New("mail: the SendGrid API key contains white space")
	}
	sender, err := parseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: sender address: %w", err)
	}
	if baseURL == "" {
		baseURL = DefaultSendGridURL
	}
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("mail: SendGrid base URL %q is not an absolute http(s) URL", baseURL)
	}
	if client == nil {
		client = &http.Client{Timeout: sendGridTimeout}
	}
	return &SendGrid{
		key:      apiKey,
		from:     sender,
		client:   client,
		endpoint: strings.TrimRight(baseURL, "/") + "/v3/mail/send",
	}, nil
}

// The request body, in SendGrid's documented shape. Only what we use.
type (
	sgAddress struct {
		Email string `json:"email"`
		Name  string `json:"name,omitempty"`
	}
	sgPersonalization struct {
		To []sgAddress `json:"to"`
	}
	sgContent struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	sgRequest struct {
		Personalizations []sgPersonalization `json:"personalizations"`
		From             sgAddress           `json:"from"`
		Subject          string              `json:"subject"`
		// Content: text/plain first, then text/html: SendGrid refuses
		// any other order.
		Content    []sgContent       `json:"content"`
		Headers    map[string]string `json:"headers,omitempty"`
		CustomArgs map[string]string `json:"custom_args,omitempty"`
	}
	sgErrors struct {
		Errors []struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"errors"`
	}
)

// Send sends m in one request. SendGrid answers 202 Accepted when it has
// queued the message.
func (s *SendGrid) Send(ctx context.Context, m Message) error {
	c, err := check(m)
	if err != nil {
		return err
	}
	body, err := json.Marshal(s.request(c))
	if err != nil {
		return fmt.Errorf("sendgrid: encoding the request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sendgrid: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		// Transport errors name the URL, not the headers; should one ever
		// quote the key, it is dropped with the error chain.
		if strings.Contains(err.Error(), s.key) {
			return errors.New("sendgrid: " + s.redact(err.Error()))
		}
		return fmt.Errorf("sendgrid: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		// Drain what little there is so the connection is reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// Redacted before it is shortened too, so no prefix of the key is left.
	return &sendGridError{status: resp.StatusCode, detail: s.redact(errorDetail([]byte(s.redact(string(raw)))))}
}

func (s *SendGrid) request(c checked) sgRequest {
	content := []sgContent{{Type: "text/plain", Value: c.Text}}
	if c.HTML != "" {
		content = append(content, sgContent{Type: "text/html", Value: c.HTML})
	}
	r := sgRequest{
		Personalizations: []sgPersonalization{{To: []sgAddress{{Email: c.to.Address, Name: c.to.Name}}}},
		From:             sgAddress{Email: s.from.Address, Name: s.from.Name},
		Subject:          c.Subject,
		Content:          content,
	}
	if c.Unsubscribe != "" {
		r.Headers = map[string]string{
			"List-Unsubscribe":      "<" + c.Unsubscribe + ">",
			"List-Unsubscribe-Post": unsubscribePost,
		}
	}
	if c.ID != "" {
		r.CustomArgs = map[string]string{"notification_id": c.ID}
	}
	return r
}

// redact removes the API key from a text about to become an error, in
// case anything (an echoing proxy, a transport error) quoted it.
func (s *SendGrid) redact(text string) string {
	return strings.ReplaceAll(text, s.key, "[redacted]")
}

// errorDetail turns SendGrid's error document ({"errors":[{"message",
// "field"}]}) into one line; anything else is quoted, shortened.
func errorDetail(raw []byte) string {
	var doc sgErrors
	if err := json.Unmarshal(raw, &doc); err == nil && len(doc.Errors) > 0 {
		parts := make([]string, 0, len(doc.Errors))
		for _, e := range doc.Errors {
			if e.Field != "" {
				parts = append(parts, fmt.Sprintf("%s (field %s)", e.Message, e.Field))
			} else {
				parts = append(parts, e.Message)
			}
		}
		return strings.Join(parts, "; ")
	}
	const keep = 200
	text := strings.TrimSpace(string(raw))
	if len(text) > keep {
		text = text[:keep] + "…"
	}
	if text == "" {
		return "no error document"
	}
	return fmt.Sprintf("%q", text)
}

// sendGridError is an answer other than 2xx. Permanent reads its status.
type sendGridError struct {
	status int
	detail string
}

func (e *sendGridError) Error() string {
	return fmt.Sprintf("sendgrid: %d %s: %s", e.status, http.StatusText(e.status), e.detail)
}
