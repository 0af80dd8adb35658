// The pure logic of the workstations, repositories, API keys, members and
// tenants pages (unit-tested in logic.test.ts; the pages only render).
import type { Schemas } from "../../api/client";

type Workstation = Schemas["Workstation"];
type Session = Schemas["Session"];
type Repository = Schemas["Repository"];

/** workstationName is how a workstation is named to a person: its hostname,
 * or its fingerprint when the SDK gave none. */
export function workstationName(w: Pick<Workstation, "hostname" | "fingerprint">): string {
  return w.hostname.trim() || w.fingerprint;
}

/** matchesWorkstation says whether a search (case-insensitive, every word
 * must match) finds a workstation by hostname, fingerprint or last user. */
export function matchesWorkstation(w: Pick<Workstation, "hostname" | "fingerprint" | "last_user">, search: string): boolean {
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [w.hostname, w.fingerprint, w.last_user].join("\n").toLowerCase();
  return words.every((word) => hay.includes(word));
}

/** sessionLine describes one live session in the block confirmation. */
export function sessionLine(s: Pick<Session, "user" | "hostname" | "fingerprint" | "repository">): string {
  const who = s.user || "unknown user";
  const where = s.hostname || s.fingerprint;
  return s.repository ? `${who} on ${where} (${s.repository})` : `${who} on ${where}`;
}

/** sessionsPhrase is "its 2 live sessions" / "its 1 live session". */
export function sessionsPhrase(n: number): string {
  return n === 1 ? "its 1 live session" : `its ${n} live sessions`;
}

/** slugFrom suggests a tenant slug from its name: lower-case letters,
 * digits and inner hyphens, at most 63 (the API's pattern). */
export function slugFrom(name: string): string {
  const s = name
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return s.slice(0, 63).replace(/-+$/, "");
}

export const slugPattern = "^[a-z0-9]([a-z0-9\\-]{0,61}[a-z0-9])?$";

/** validSlug checks a slug against the API's pattern. */
export function validSlug(s: string): boolean {
  return /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(s);
}

export interface RepositoryForm {
  name: string;
  remote_url: string;
  provider: string;
  default_branch: string;
}

export function repositoryForm(r?: Repository): RepositoryForm {
  return {
    name: r?.name ?? "",
    remote_url: r?.remote_url ?? "",
    provider: r?.provider ?? "",
    default_branch: r?.default_branch ?? "",
  };
}

/** repositoryCreate is the body of a create: name and remote trimmed,
 * provider and branch only when given. */
export function repositoryCreate(f: RepositoryForm): Schemas["RepositoryCreate"] {
  const body: Schemas["RepositoryCreate"] = { name: f.name.trim(), remote_url: f.remote_url.trim() };
  if (f.provider.trim()) body.provider = f.provider.trim();
  if (f.default_branch.trim()) body.default_branch = f.default_branch.trim();
  return body;
}

/** repositoryChanges is the body of a PATCH: only the fields that differ
 * from the repository as read (the remote is stored normalised, so sending
 * it back unchanged would be a needless change); null when nothing does. */
export function repositoryChanges(before: Repository, f: RepositoryForm): Schemas["RepositoryUpdate"] | null {
  const body: Schemas["RepositoryUpdate"] = {};
  const name = f.name.trim();
  const remote = f.remote_url.trim();
  const provider = f.provider.trim();
  const branch = f.default_branch.trim();
  if (name !== before.name) body.name = name;
  if (remote !== before.remote_url) body.remote_url = remote;
  if (provider !== before.provider) body.provider = provider;
  if (branch !== before.default_branch) body.default_branch = branch;
  return Object.keys(body).length ? body : null;
}

/** isOwnApiKey says whether the caller is signed in with this API key (the
 * audit log, and /v1/me, name an API key caller api_key:<id>). */
export function isOwnApiKey(actor: string | undefined, keyId: string): boolean {
  return actor === `api_key:${keyId}`;
}

/** isSelf says whether a membership is the caller's own (e-mails are
 * lower-cased by the API). */
export function isSelf(myEmail: string | undefined, memberEmail: string): boolean {
  return !!myEmail && myEmail.toLowerCase() === memberEmail.toLowerCase();
}

/** actorName shows an actor as the audit log names it, a little friendlier. */
export function actorName(actor: string): string {
  if (actor.startsWith("user:")) return actor.slice(5);
  if (actor === "bootstrap") return "bootstrap token";
  if (actor.startsWith("api_key:")) return `API key ${actor.slice(8, 16)}…`;
  return actor || "—";
}
