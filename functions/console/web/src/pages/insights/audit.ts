// The audit log's filters: the actions and target types the log records
// (GET /v1/tenants/{tenant_id}/audit?action=&target_type=) and the query a
// set of filters makes. Pure, so it is unit-tested (audit.test.ts).
import type { operations } from "../../api/schema.gen";

type AuditQuery = NonNullable<operations["listAuditEntries"]["parameters"]["query"]>;
export type TargetType = NonNullable<AuditQuery["target_type"]>;

/** Every target type, in the order the filter offers them. */
export const targetTypes: readonly TargetType[] = ["tenant", "license", "api_key", "workstation", "repository", "member", "session"];

export const targetTypeLabels: Record<TargetType, string> = {
  tenant: "Tenant",
  license: "License",
  api_key: "API key",
  workstation: "Workstation",
  repository: "Repository",
  member: "Member",
  session: "Session",
};

/** The actions each target type's changes are recorded as (the triggers'
 * create/update/delete/revoke, license.rotate_key, and the session
 * controls' session.revoke and license.revoke_sessions). */
export const actionsByType: Record<TargetType, readonly `${TargetType}.${string}`[]> = {
  tenant: ["tenant.create", "tenant.update", "tenant.delete"],
  license: ["license.create", "license.update", "license.delete", "license.rotate_key", "license.revoke_sessions"],
  api_key: ["api_key.create", "api_key.revoke"],
  workstation: ["workstation.create", "workstation.update", "workstation.delete"],
  repository: ["repository.create", "repository.update", "repository.delete"],
  member: ["member.create", "member.update", "member.delete"],
  session: ["session.revoke"],
};

/** The same pattern the API checks an action against. */
export const actionPattern =
  /^(tenant|license|api_key|workstation|repository|member|session)\.(create|update|delete|revoke|rotate_key|revoke_sessions)$/;

export interface AuditFilters {
  actor: string;
  action: string;
  targetType: TargetType | "";
  targetId: string;
}

export const noFilters: AuditFilters = { actor: "", action: "", targetType: "", targetId: "" };

/** queryOf is the API query of filters: only the ones set (an empty value
 * is no filter, and the spec's pattern and enum refuse ""), the free text
 * trimmed. */
export function queryOf(f: AuditFilters): Pick<AuditQuery, "actor" | "action" | "target_type" | "target_id"> {
  const q: Pick<AuditQuery, "actor" | "action" | "target_type" | "target_id"> = {};
  const actor = f.actor.trim();
  const targetId = f.targetId.trim();
  if (actor) q.actor = actor;
  if (f.action) q.action = f.action;
  if (f.targetType) q.target_type = f.targetType;
  if (targetId) q.target_id = targetId;
  return q;
}

/** sameFilters says whether two sets of filters ask the same (a page
 * cursor is valid only for the filters it came with). */
export function sameFilters(a: AuditFilters, b: AuditFilters): boolean {
  const qa = queryOf(a);
  const qb = queryOf(b);
  return qa.actor === qb.actor && qa.action === qb.action && qa.target_type === qb.target_type && qa.target_id === qb.target_id;
}

/** anyFilter says whether any filter is set. */
export function anyFilter(f: AuditFilters): boolean {
  return Object.keys(queryOf(f)).length > 0;
}

/** asTargetType is s when it is a known target type, else "". */
export function asTargetType(s: string): TargetType | "" {
  return (targetTypes as readonly string[]).includes(s) ? (s as TargetType) : "";
}

/** targetTypeOf is the target type an action names ("" for none known). */
export function targetTypeOf(action: string): TargetType | "" {
  return asTargetType(action.split(".", 1)[0] ?? "");
}
