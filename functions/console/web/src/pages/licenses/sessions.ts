// A live session's row in words. A session its holder released lingers
// (the license's linger_seconds): it has no processes, yet its seat counts
// until expires_at, when it is freed unless the same workstation (or user,
// per-user leasing) acquires again and takes it back. A borrowed session
// is offline on the device that borrowed it: no processes heartbeat, and
// its seat counts until the borrow ends (expires_at). Pure, so it is
// unit-tested.
import type { Schemas } from "../../api/client";
import { formatRelative } from "../../lib/format";

export type Session = Schemas["Session"];

/** processesText is the Processes cell: how many processes hold the seat,
 * or that none does because it was released and lingers, or because it is
 * borrowed and offline. */
export function processesText(s: Pick<Session, "holders" | "lingering" | "borrowed">): string {
  if (s.borrowed) return "Borrowed — offline";
  return s.lingering ? "Released — lingering" : String(s.holders.length);
}

/** seatText is the Seat cell: whether the session holds one of the
 * license's seats or one beyond them, under its overage policy (until it is
 * reclassified, oldest first, as seats free). */
export function seatText(s: Pick<Session, "seat_class">): string {
  return s.seat_class === "overage" ? "Overage" : "Entitled";
}

/** expiryText is the Expires cell, in two parts so that only the time is
 * inside its <time> element: when the session runs out unless a heartbeat
 * renews it, or, for a lingering or borrowed one, when its seat stops
 * counting. */
export function expiryText(
  s: Pick<Session, "expires_at" | "lingering" | "borrowed">,
  now: Date = new Date(),
): { lead: string; when: string } {
  const when = formatRelative(s.expires_at, now);
  if (s.borrowed) {
    if (new Date(s.expires_at).getTime() <= now.getTime()) return { lead: "Borrow ended, seat free ", when: "now" };
    return { lead: "Borrowed until ", when };
  }
  if (!s.lingering) return { lead: "", when };
  // Past its expiry but not yet swept: the seat is free already.
  if (new Date(s.expires_at).getTime() <= now.getTime()) return { lead: "Seat free ", when: "now" };
  return { lead: "Seat free ", when };
}
