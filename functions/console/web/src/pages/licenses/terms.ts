// What a license says, in words, and the bodies of its create and edit
// forms. Who may send what is the Licenses function's rule
// (functions/licenses/request.go): creating a license, and its seats,
// status, expires_at and max_lease_ttl_seconds, are the platform's
// commercial terms; a tenant admin may change require_user,
// max_seats_per_user, max_instances_per_seat, linger_seconds,
// revive_seconds, borrow, leasing and lease_ttl_seconds (up to the ceiling).
import type { Schemas } from "../../api/client";
import { formatDuration } from "../../lib/format";

export type License = Schemas["License"];
export type LicenseUpdate = Schemas["LicenseUpdate"];
export type LicenseCreate = Schemas["LicenseCreate"];
export type Leasing = Schemas["Leasing"];
export type BorrowPolicy = Schemas["BorrowPolicy"];

/** The state shown in a license's badge: a license past its expiry is
 * "expired" even though its stored status is still active. */
export type LicenseState = "active" | "suspended" | "expired";

export function licenseState(l: Pick<License, "status" | "expires_at">, now: Date = new Date()): LicenseState {
  if (l.status === "suspended") return "suspended";
  if (l.expires_at && new Date(l.expires_at).getTime() <= now.getTime()) return "expired";
  return "active";
}

export const leasingLabels: Record<Leasing, string> = {
  per_fingerprint: "Per workstation",
  per_user: "Per user",
};

/** offOrSeconds shows a policy in seconds where 0 turns it off
 * (linger_seconds, revive_seconds). */
export function offOrSeconds(seconds: number): string {
  return seconds === 0 ? "Off" : `${seconds} s`;
}

/** autoRenewText shows the renewal policy (without Stripe): off, or how
 * often the expiry moves on. */
export function autoRenewText(a: License["auto_renew"] | undefined): string {
  if (!a) return "Off";
  return a.period === "P1Y" ? "Every year, on the expiry day" : "Every month, on the expiry day";
}

/** borrowText shows the borrow (offline checkout) policy: off, or how long
 * a borrow may run, how many at once, and the seats kept for online use. */
export function borrowText(b: BorrowPolicy | null | undefined): string {
  if (!b) return "Off";
  const parts = [`Up to ${formatDuration(b.max_seconds ?? 604_800)}`];
  parts.push(b.max_concurrent == null ? "any number at once" : `${b.max_concurrent} at once`);
  if (b.min_online_seats) parts.push(`${b.min_online_seats} seats kept online`);
  return parts.join(", ");
}

/** matches is the search of the licenses list: product or key prefix. */
export function matches(l: Pick<License, "product" | "key_prefix">, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return l.product.toLowerCase().includes(q) || l.key_prefix.toLowerCase().includes(q);
}

/** dateToExpiry turns a date input's value (YYYY-MM-DD) into the expiry
 * sent: the start of that day, UTC; "" is no expiry (null). */
export function dateToExpiry(date: string): string | null {
  const d = date.trim();
  if (!d) return null;
  return `${d}T00:00:00Z`;
}

/** expiryToDate is the date input's value for an expiry ("" for never). */
export function expiryToDate(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().slice(0, 10);
}

/** The values of the edit form, as the inputs hold them. */
export interface EditValues {
  lease_ttl_seconds: string;
  leasing: Leasing;
  require_user: boolean;
  /** "" is no limit. */
  max_seats_per_user: string;
  /** "" is no limit. */
  max_instances_per_seat: string;
  /** "0" is off. */
  linger_seconds: string;
  /** "0" is off. */
  revive_seconds: string;
  /** How long a borrow may run, in hours; "" is borrowing off. */
  borrow_hours: string;
  /** "" is any number. */
  borrow_max_concurrent: string;
  borrow_min_online_seats: string;
  // Platform admins only:
  seats: string;
  status: "active" | "suspended";
  /** YYYY-MM-DD, "" is never. */
  expires: string;
  max_lease_ttl_seconds: string;
}

export function editValuesOf(l: License): EditValues {
  return {
    lease_ttl_seconds: String(l.lease_ttl_seconds),
    leasing: l.leasing,
    require_user: l.require_user,
    max_seats_per_user: l.max_seats_per_user == null ? "" : String(l.max_seats_per_user),
    max_instances_per_seat: l.max_instances_per_seat == null ? "" : String(l.max_instances_per_seat),
    linger_seconds: String(l.linger_seconds),
    revive_seconds: String(l.revive_seconds),
    borrow_hours: l.borrow ? String((l.borrow.max_seconds ?? 604_800) / 3600) : "",
    borrow_max_concurrent: l.borrow?.max_concurrent == null ? "" : String(l.borrow.max_concurrent),
    borrow_min_online_seats: l.borrow ? String(l.borrow.min_online_seats ?? 0) : "0",
    seats: String(l.seats),
    status: l.status,
    expires: expiryToDate(l.expires_at),
    max_lease_ttl_seconds: String(l.max_lease_ttl_seconds),
  };
}

/** patchOf is the PATCH body of an edit: only the fields that differ from
 * the values the form started with (so a field someone else changed
 * meanwhile is not put back), and of those only the ones the caller's role
 * may send. Empty when nothing changed. */
export function patchOf(before: EditValues, after: EditValues, platform: boolean): LicenseUpdate {
  const out: LicenseUpdate = {};
  if (after.lease_ttl_seconds !== before.lease_ttl_seconds) out.lease_ttl_seconds = int(after.lease_ttl_seconds);
  if (after.leasing !== before.leasing) out.leasing = after.leasing;
  if (after.require_user !== before.require_user) out.require_user = after.require_user;
  if (after.max_seats_per_user.trim() !== before.max_seats_per_user.trim()) {
    out.max_seats_per_user = after.max_seats_per_user.trim() === "" ? null : int(after.max_seats_per_user);
  }
  if (after.max_instances_per_seat.trim() !== before.max_instances_per_seat.trim()) {
    out.max_instances_per_seat =
      after.max_instances_per_seat.trim() === "" ? null : int(after.max_instances_per_seat);
  }
  if (after.linger_seconds !== before.linger_seconds) out.linger_seconds = int(after.linger_seconds);
  if (after.revive_seconds !== before.revive_seconds) out.revive_seconds = int(after.revive_seconds);
  if (
    after.borrow_hours.trim() !== before.borrow_hours.trim() ||
    after.borrow_max_concurrent.trim() !== before.borrow_max_concurrent.trim() ||
    after.borrow_min_online_seats.trim() !== before.borrow_min_online_seats.trim()
  ) {
    // The API replaces the whole policy: send all of it.
    if (after.borrow_hours.trim() === "") {
      out.borrow = null;
    } else {
      const b: BorrowPolicy = {
        max_seconds: Math.round(Number(after.borrow_hours.trim()) * 3600),
        min_online_seats: after.borrow_min_online_seats.trim() === "" ? 0 : int(after.borrow_min_online_seats),
      };
      if (after.borrow_max_concurrent.trim() !== "") b.max_concurrent = int(after.borrow_max_concurrent);
      out.borrow = b;
    }
  }
  if (platform) {
    if (after.seats !== before.seats) out.seats = int(after.seats);
    if (after.status !== before.status) out.status = after.status;
    if (after.expires !== before.expires) out.expires_at = dateToExpiry(after.expires);
    if (after.max_lease_ttl_seconds !== before.max_lease_ttl_seconds) {
      out.max_lease_ttl_seconds = int(after.max_lease_ttl_seconds);
    }
  }
  return out;
}

/** The values of the create form (platform admins only). */
export interface CreateValues {
  product: string;
  seats: string;
  /** "" is the API's default (300 s, or the ceiling when lower). */
  lease_ttl_seconds: string;
  /** "" is the API's default (86400 s). */
  max_lease_ttl_seconds: string;
  /** YYYY-MM-DD, "" is never. */
  expires: string;
  leasing: Leasing;
  require_user: boolean;
  /** "" is no limit. */
  max_seats_per_user: string;
}

export const emptyCreate: CreateValues = {
  product: "",
  seats: "",
  lease_ttl_seconds: "",
  max_lease_ttl_seconds: "",
  expires: "",
  leasing: "per_fingerprint",
  require_user: false,
  max_seats_per_user: "",
};

/** The POST body as sent. openapi-typescript types fields that have a
 * default as required, but the API fills the lease TTLs, linger_seconds
 * and revive_seconds in when they are left out (and refuses null), so they
 * are optional here. */
type Defaulted = "lease_ttl_seconds" | "max_lease_ttl_seconds" | "linger_seconds" | "revive_seconds";
export type CreateBody = Omit<LicenseCreate, Defaulted> & Partial<Pick<LicenseCreate, Defaulted>>;

/** createBodyOf is the POST body: optional fields left empty are left out. */
export function createBodyOf(v: CreateValues): CreateBody {
  const body: CreateBody = {
    product: v.product.trim(),
    seats: int(v.seats),
    leasing: v.leasing,
    require_user: v.require_user,
  };
  if (v.lease_ttl_seconds.trim()) body.lease_ttl_seconds = int(v.lease_ttl_seconds);
  if (v.max_lease_ttl_seconds.trim()) body.max_lease_ttl_seconds = int(v.max_lease_ttl_seconds);
  const exp = dateToExpiry(v.expires);
  if (exp) body.expires_at = exp;
  if (v.max_seats_per_user.trim()) body.max_seats_per_user = int(v.max_seats_per_user);
  return body;
}

/** int reads a number input; what is not a whole number is sent as is
 * (NaN becomes null in JSON) for the API to refuse in words. */
function int(s: string): number {
  return Number(s.trim());
}

/** tomorrow is the earliest date an expiry may be set to (the API wants it
 * in the future), as a date input's min. */
export function tomorrow(now: Date = new Date()): string {
  return new Date(Math.floor(now.getTime() / 86_400_000) * 86_400_000 + 86_400_000).toISOString().slice(0, 10);
}
