package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// DisableAfter is how long an endpoint fails every delivery before it is
// disabled (and its tenant's admins told).
const DisableAfter = 72 * time.Hour

// lease is how long a taken delivery is held: longer than an attempt (10 s)
// and its bookkeeping, so a live deliverer never loses one to another.
const lease = 2 * time.Minute

// due is a delivery taken for an attempt.
type due struct {
	id, tenantID, webhookID, messageID, url string
	body                                    []byte
	attempts                                int
	firstAttempt                            time.Time
	secret, previous                        []byte
	previousUntil                           *time.Time
}

// takeSQL takes the due deliveries of enabled endpoints, each the first
// pending one of its endpoint and license (see the package's Order), and
// leases them. $1 now, $2 the lease's end, $3 the limit.
const takeSQL = `
WITH taken AS (
  SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
  WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until <= $1)
    AND w.enabled
    AND (d.ordering_key = '' OR NOT EXISTS (
      SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id AND e.ordering_key = d.ordering_key
        AND e.status = 'pending' AND e.seq < d.seq))
  ORDER BY d.next_attempt_at, d.seq LIMIT $3
  FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d SET locked_until = $2, attempts = d.attempts + 1,
  first_attempt_at = coalesce(d.first_attempt_at, $1)
FROM taken, webhooks w WHERE d.id = taken.id AND w.id = d.webhook_id
RETURNING d.id, d.tenant_id, d.webhook_id, d.message_id, w.url, d.body::text, d.attempts, d.first_attempt_at,
  w.secret, CASE WHEN w.previous_secret_expires_at > $1 THEN w.previous_secret END,
  CASE WHEN w.previous_secret_expires_at > $1 THEN w.previous_secret_expires_at END`

// deliverDue takes one batch of due deliveries, attempts them, and
// records each outcome; it returns how many it took.
func (d *Deliverer) deliverDue(ctx context.Context, res *Result) (int, error) {
	now := d.now()
	var batch []due
	err := d.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, takeSQL, now, now.Add(lease), d.batch)
		if err != nil {
			return err
		}
		var x due
		var body string
		_, err = pgx.ForEachRow(rows, []any{&x.id, &x.tenantID, &x.webhookID, &x.messageID, &x.url, &body, &x.attempts,
			&x.firstAttempt, &x.secret, &x.previous, &x.previousUntil}, func() error {
			x.body = []byte(body)
			batch = append(batch, x)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("taking due deliveries: %w", err)
	}
	type outcome struct {
		due
		r webhook.Result
	}
	results := make([]outcome, len(batch))
	idx := make(map[string]int, len(batch))
	for i, x := range batch {
		idx[x.id] = i
	}
	parallel(d.workers, batch, func(x due) {
		results[idx[x.id]] = outcome{x, d.attempt(ctx, x)}
	})
	var errs []error
	for _, o := range results {
		if err := d.record(ctx, o.due, o.r, res); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return len(batch), fmt.Errorf("recording attempts: %w", errs[0])
	}
	return len(batch), nil
}

// attempt makes one attempt of x, signed with the endpoint's secrets (the
// previous one too, during a rotation).
func (d *Deliverer) attempt(ctx context.Context, x due) webhook.Result {
	secrets := make([]string, 0, 2)
	for _, sealed := range [][]byte{x.secret, x.previous} {
		if sealed == nil {
			continue
		}
		s, err := d.secrets.Open(x.webhookID, sealed)
		if err != nil {
			// A secret that does not open (a key changed without
			// re-sealing) cannot sign: the attempt fails and is logged,
			// the delivery retried, since an operator can fix the key.
			d.logger.ErrorContext(ctx, "webhook signing secret does not open", "webhook_id", x.webhookID, "error", err.Error())
			return webhook.Result{Outcome: webhook.Retry, Error: "signing secret unavailable"}
		}
		secrets = append(secrets, s)
	}
	r := d.hooks.Send(ctx, x.url, webhook.Message{ID: x.messageID, Timestamp: d.now(), Body: x.body}, secrets...)
	d.obs.WebhookAttempt(r.Outcome.String(), r.Latency)
	if r.Outcome == webhook.Failed && r.StatusCode == 0 {
		// Refused before sending (an internal address: SSRF) or otherwise
		// unsendable: worth an operator's look.
		d.logger.WarnContext(ctx, "webhook delivery refused", "webhook_id", x.webhookID, "delivery_id", x.id,
			"tenant_id", x.tenantID, "error", r.Error)
	}
	return r
}

// record writes an attempt's outcome: the attempt in the log; the delivery
// delivered, failed, or due again on the backoff schedule (within the
// retry window); the endpoint's run of failures; and, when that run has
// lasted DisableAfter, the endpoint disabled and its admins told.
func (d *Deliverer) record(ctx context.Context, x due, r webhook.Result, res *Result) error {
	now := d.now()
	status, next := "pending", (*time.Time)(nil)
	outcome := "retry"
	switch r.Outcome {
	case webhook.Delivered:
		status, outcome = "delivered", "delivered"
		res.Delivered++
	case webhook.Retry:
		if t, ok := webhook.NextAttempt(x.firstAttempt, now, x.attempts, r.RetryAfter, d.rnd); ok {
			next = &t
			res.Retried++
		} else {
			status, outcome = "failed", "failed"
			res.Failed++
		}
	default:
		status, outcome = "failed", "failed"
		res.Failed++
	}
	var code *int
	if r.StatusCode != 0 {
		code = &r.StatusCode
	}
	return d.db.Tx(ctx, database.Tenant(x.tenantID), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_attempts
				(tenant_id, delivery_id, attempted_at, status_code, latency_ms, error, response, outcome)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			x.tenantID, x.id, now.Add(-r.Latency), code, r.Latency.Milliseconds(), r.Error, r.Snippet, outcome); err != nil {
			return err
		}
		// A redelivery asked for meanwhile (attempts reset to 0) wins over
		// this outcome: only the lease this attempt held is released.
		if _, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = $2, locked_until = NULL,
				next_attempt_at = coalesce($3, next_attempt_at), last_status = $4, last_error = $5,
				finished_at = CASE WHEN $2::text = 'pending' THEN NULL ELSE $6::timestamptz END
			WHERE id = $1 AND attempts = $7`, x.id, status, next, code, r.Error, now, x.attempts); err != nil {
			return err
		}
		if r.Outcome == webhook.Delivered {
			_, err := tx.Exec(ctx, `UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, x.webhookID)
			return err
		}
		var since time.Time
		var enabled bool
		if err := tx.QueryRow(ctx, `UPDATE webhooks SET failing_since = coalesce(failing_since, $2)
			WHERE id = $1 RETURNING failing_since, enabled`, x.webhookID, now).Scan(&since, &enabled); err != nil {
			return database.NotFound(err)
		}
		if !enabled || now.Sub(since) < DisableAfter {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE webhooks SET enabled = false, disabled_reason = 'failing', updated_at = now()
			WHERE id = $1`, x.webhookID); err != nil {
			return err
		}
		res.Disabled++
		d.logger.WarnContext(ctx, "webhook endpoint disabled after failing for three days", "webhook_id", x.webhookID,
			"tenant_id", x.tenantID, "failing_since", since)
		// Its admins are told (essential: no unsubscribe), once per run of
		// failures.
		_, err := tx.Exec(ctx, `INSERT INTO email_messages (tenant_id, notice_key, kind, recipient, data, next_attempt_at)
			SELECT m.tenant_id, 'webhook.disabled:' || $2::text || ':' || $3::bigint, 'webhook.disabled', m.email,
				jsonb_build_object('webhook_id', $2::text, 'url', $4::text, 'failing_since', $5::timestamptz), $6
			FROM memberships m WHERE m.tenant_id = $1 AND m.role = 'admin' AND m.kind = 'person' AND m.deleted_at IS NULL
			ON CONFLICT DO NOTHING`, x.tenantID, x.webhookID, since.Unix(), x.url, since, now)
		return err
	})
}
