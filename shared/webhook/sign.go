package webhook

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// SecretPrefix starts every signing secret, as the specification writes
// them, so that a secret pasted into a receiver's configuration says what
// it is.
const SecretPrefix = "whsec_"

// secretBytes is the length of a signing key: SHA-256's output length, the
// least RFC 2104 recommends for an HMAC-SHA256 key (longer adds nothing).
const secretBytes = 32

// maxIDLength bounds a message id: it is sent in a header and receivers
// store it to deduplicate.
const maxIDLength = 255

// NewSecret returns a fresh signing secret: "whsec_" followed by the
// standard base64 encoding of 32 bytes from crypto/rand.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("webhook: reading random bytes for a secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Message is one event to deliver to one webhook.
type Message struct {
	// ID is the event's id, sent as webhook-id. Receivers deduplicate on
	// it, so it is the same on every retry and every manual redelivery of
	// the event. At most 255 bytes of printable ASCII without spaces.
	ID string
	// Timestamp is the signing time sent as webhook-timestamp (whole
	// seconds). Headers signs it as given; Sender.Send replaces it with the
	// time of each attempt (see the package comment).
	Timestamp time.Time
	// Body is the JSON body, signed and sent byte for byte.
	Body []byte
}

// Headers returns the three Standard Webhooks headers for m, signed with
// each of secrets by the reference library. Give the current secret first
// and, while a secret is being rotated, the previous one after it: the
// webhook-signature header then holds one "v1,<signature>" per secret,
// separated by spaces (the specification allows several), so a receiver
// still configured with either secret verifies the message.
func Headers(m Message, secrets ...string) (http.Header, error) {
	if err := checkID(m.ID); err != nil {
		return nil, err
	}
	if m.Timestamp.IsZero() {
		return nil, errors.New("webhook: the message has no timestamp")
	}
	if len(secrets) == 0 {
		return nil, errors.New("webhook: no signing secret")
	}
	signatures := make([]string, 0, len(secrets))
	for i, secret := range secrets {
		// The library takes secrets with or without the prefix; ours always
		// have it, and one without is a sign of a column mixed up.
		if !strings.HasPrefix(secret, SecretPrefix) {
			return nil, fmt.Errorf("webhook: signing secret %d does not start with %q", i+1, SecretPrefix)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			// The library's error does not quote the secret; say which one.
			return nil, fmt.Errorf("webhook: signing secret %d: %w", i+1, err)
		}
		sig, err := wh.Sign(m.ID, m.Timestamp, m.Body)
		if err != nil {
			return nil, fmt.Errorf("webhook: signing with secret %d: %w", i+1, err)
		}
		signatures = append(signatures, sig)
	}
	h := make(http.Header, 3)
	h.Set(standardwebhooks.HeaderWebhookID, m.ID)
	h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(m.Timestamp.Unix(), 10))
	h.Set(standardwebhooks.HeaderWebhookSignature, strings.Join(signatures, " "))
	return h, nil
}

// checkID refuses ids that cannot travel in a header as they are, or that
// would make the signed "id.timestamp.body" depend on how a receiver trims
// spaces.
func checkID(id string) error {
	if id == "" {
		return errors.New("webhook: the message has no id")
	}
	if len(id) > maxIDLength {
		return fmt.Errorf("webhook: the message id is %d bytes, more than %d", len(id), maxIDLength)
	}
	for i := range len(id) {
		if c := id[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("webhook: the message id %q holds a character other than printable ASCII", id)
		}
	}
	return nil
}
