// What the Webhooks and Notifications pages compute, kept apart from the
// pages so it is tested without a browser.
import type { Schemas } from "../../api/client";
import { formatTime } from "../../lib/format";

export type EventType = Schemas["EventType"];
export type EmailRule = Schemas["EmailRule"];
export type Webhook = Schemas["Webhook"];

/** eventTypes is the catalogue in the order the API documents it. The
 * generated types carry no runtime list, so it is written out here; the
 * check below fails `tsc` when the spec gains a type this list lacks. */
export const eventTypes = [
  "license.created",
  "license.updated",
  "license.suspended",
  "license.resumed",
  "license.deleted",
  "license.key_rotated",
  "license.expiring",
  "license.expired",
  "seats.exhausted",
  "seats.utilization_high",
  "seats.utilization_normal",
  "session.revoked",
  "workstation.blocked",
  "workstation.unblocked",
  "member.invited",
  "member.removed",
  "api_key.created",
  "api_key.revoked",
  "usage.weekly_summary",
  "license.overage_entered",
  "license.overage_exited",
  "billing.payment_failed",
  "license.renewed",
] as const satisfies readonly EventType[];
type Missing = Exclude<EventType, (typeof eventTypes)[number]>;
// If this line fails to compile, add the missing event type above.
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

/** describeEventTypes is a webhook's subscription in words: an empty list
 * means every type (the API's rule), not none. */
export function describeEventTypes(types: readonly string[]): string {
  return types.length === 0 ? "all" : types.join(", ");
}

/** webhookState is the status cell: why a disabled endpoint is off matters
 * (the service turns off one that failed for three days). */
export function webhookState(w: Pick<Webhook, "enabled" | "disabled_reason" | "failing_since">): {
  text: string;
  tone: "ok" | "bad" | "warn";
} {
  if (w.enabled) {
    return w.failing_since
      ? { text: `enabled: failing since ${formatTime(w.failing_since)}`, tone: "warn" }
      : { text: "enabled", tone: "ok" };
  }
  if (w.disabled_reason === "failing") {
    return { text: `disabled: failing since ${formatTime(w.failing_since)}`, tone: "bad" };
  }
  return { text: "disabled", tone: "bad" };
}

/** parseRecipients reads the extra-recipients field: addresses separated
 * by commas, semicolons or white space, each once (compared without case,
 * as the API lower-cases them). */
export function parseRecipients(s: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const part of s.split(/[\s,;]+/)) {
    const a = part.trim();
    if (a === "" || seen.has(a.toLowerCase())) continue;
    seen.add(a.toLowerCase());
    out.push(a);
  }
  return out;
}

export function formatRecipients(list: readonly string[]): string {
  return list.join(", ");
}

/** A rule as the form edits it: recipients as typed. */
export interface RuleDraft {
  email: boolean;
  admins: boolean;
  recipients: string;
}

export function draftOf(rule: EmailRule | undefined): RuleDraft {
  return { email: rule?.email ?? false, admins: rule?.admins ?? false, recipients: formatRecipients(rule?.recipients ?? []) };
}

function sameRule(a: EmailRule, b: EmailRule): boolean {
  return (
    a.email === b.email &&
    a.admins === b.admins &&
    a.recipients.length === b.recipients.length &&
    a.recipients.every((r, i) => r.toLowerCase() === b.recipients[i]!.toLowerCase())
  );
}

/** changedRules is the PATCH's email object: only the types whose rule
 * differs from what was loaded (the API keeps the types not named, so
 * sending less cannot undo someone else's change to another type). */
export function changedRules(
  loaded: Partial<Record<string, EmailRule>>,
  drafts: Partial<Record<string, RuleDraft>>,
): Partial<Record<EventType, EmailRule>> {
  const out: Partial<Record<EventType, EmailRule>> = {};
  for (const t of eventTypes) {
    const d = drafts[t];
    if (!d) continue;
    const next: EmailRule = { email: d.email, admins: d.admins, recipients: parseRecipients(d.recipients) };
    const before = loaded[t] ?? { email: false, admins: false, recipients: [] };
    if (!sameRule(before, next)) out[t] = next;
  }
  return out;
}

/** attemptResult is an attempt's answer in words: the status code when a
 * response came, the error when none did. */
export function attemptResult(a: Pick<Schemas["WebhookAttempt"], "status_code" | "error">): string {
  if (a.status_code !== null) return `HTTP ${a.status_code}`;
  return a.error || "no response";
}
