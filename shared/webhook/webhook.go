// Package webhook delivers events to customers' HTTPS endpoints the way the
// Standard Webhooks specification (https://www.standardwebhooks.com/) says:
// a JSON POST with the headers webhook-id, webhook-timestamp and
// webhook-signature, the signature an HMAC-SHA256 over "id.timestamp.body"
// under a secret written "whsec_" + base64.
//
// The package makes single attempts and says what to do next; it keeps no
// queue and no state. Callers (the delivery worker) store the messages and
// each webhook's sealed secret, call Sender.Send, record the Result and, on
// Retry, schedule the next attempt with NextAttempt.
//
// # Why the reference library signs
//
// Receivers verify with the Standard Webhooks libraries; signing with the
// same reference implementation (github.com/standard-webhooks/standard-webhooks/libraries/go)
// rather than our own HMAC code means the bytes signed, the encoding and the
// header format cannot drift from what those receivers compute.
//
// # Why each attempt is signed at its own time
//
// Receivers reject a webhook-timestamp more than five minutes from their
// clock (the libraries' tolerance, which stops replays). A retry hours after
// the event must therefore carry the time of the retry, not of the event:
// Send stamps every attempt with its clock, while the webhook-id stays the
// event's id so that receivers still recognise a redelivery.
//
// # Why the HTTP client comes from outbound
//
// Webhook URLs are chosen by customers, so every delivery goes through
// outbound's client: it refuses internal addresses when dialling (after DNS,
// so a name rebound to 169.254.169.254 is refused too), never follows
// redirects and bounds each attempt by AttemptTimeout.
package webhook
