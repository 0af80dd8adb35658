// Data shaping of the Overview and Usage pages: report windows, every
// bucket of a range present (the API leaves out the empty ones), the top
// keys of a report with the rest as "other", sums per key, and the CSV of a
// report. Pure, so it is unit-tested (shape.test.ts).
import type { Cell } from "../../lib/csv";

export type Granularity = "hour" | "day";
export type GroupBy = "license" | "user" | "workstation" | "repository";

export const bucketMs: Record<Granularity, number> = { hour: 3_600_000, day: 86_400_000 };

/** A usage bucket as the API sends it (UsageBucket). */
export interface Bucket {
  key: string;
  start: string;
  peak_seats: number;
  seat_hours: number;
  denials: number;
}

/** A report window: [from, to), ISO times. */
export interface Window {
  from: string;
  to: string;
}

const dayMs = bucketMs.day;

/** startOfBucket is the UTC hour or day t falls in. */
export function startOfBucket(t: number, granularity: Granularity): number {
  const size = bucketMs[granularity];
  return Math.floor(t / size) * size;
}

/** lastHours is the window of the last n whole UTC hours and the current
 * one: it ends with the end of the current hour, as the API's default. */
export function lastHours(n: number, now: Date): Window {
  const to = startOfBucket(now.getTime(), "hour") + bucketMs.hour;
  return { from: iso(to - n * bucketMs.hour), to: iso(to) };
}

/** weekStart is Monday 00:00 UTC of now's ISO week. */
export function weekStart(now: Date): Date {
  const day = startOfBucket(now.getTime(), "day");
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 … Sunday 6
  return new Date(day - weekday * dayMs);
}

/** thisWeek is the window from the start of the ISO week to the end of
 * today (UTC), for daily buckets. */
export function thisWeek(now: Date): Window {
  return { from: iso(weekStart(now).getTime()), to: iso(startOfBucket(now.getTime(), "day") + dayMs) };
}

/** bucketStarts are the starts of the UTC buckets that overlap [from, to),
 * oldest first (the API's buckets are aligned to UTC hours and days). At
 * most limit of them; none for an empty or unreadable window. */
export function bucketStarts(w: Window, granularity: Granularity, limit = 10_000): string[] {
  const from = Date.parse(w.from);
  const to = Date.parse(w.to);
  if (Number.isNaN(from) || Number.isNaN(to) || !(to > from)) return [];
  const size = bucketMs[granularity];
  const out: string[] = [];
  for (let t = startOfBucket(from, granularity); t < to && out.length < limit; t += size) out.push(iso(t));
  return out;
}

/** The series of the charts: the top keys, then "other" for the rest. */
export const OTHER = "\u0000other";

export interface Series {
  /** The data key of the series in each row: s0, s1, … or "other" (a
   * report's key may hold dots, which recharts would read as a path). */
  id: string;
  /** The report key, or OTHER. */
  key: string;
  /** Seat-hours of the key over the whole report. */
  seatHours: number;
}

/** A row of the stacked charts: a bucket start and each series' value. */
export type StackRow = { start: string } & Record<string, number | string>;

/** rankKeys orders a report's keys by seat-hours over the report, most
 * first (then peak seats, then denials, then the key itself). */
export function rankKeys(buckets: readonly Bucket[]): { key: string; seatHours: number; peak: number; denials: number }[] {
  const by = new Map<string, { key: string; seatHours: number; peak: number; denials: number }>();
  for (const b of buckets) {
    const k = by.get(b.key) ?? { key: b.key, seatHours: 0, peak: 0, denials: 0 };
    k.seatHours = round(k.seatHours + b.seat_hours);
    k.peak = Math.max(k.peak, b.peak_seats);
    k.denials += b.denials;
    by.set(b.key, k);
  }
  return [...by.values()].sort(
    (a, b) =>
      b.seatHours - a.seatHours || b.peak - a.peak || b.denials - a.denials || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}

/** topSeries are the n keys with the most seat-hours, then one "other"
 * series when more keys remain. */
export function topSeries(buckets: readonly Bucket[], n: number): Series[] {
  const ranked = rankKeys(buckets);
  const top: Series[] = ranked.slice(0, n).map((k, i) => ({ id: `s${i}`, key: k.key, seatHours: k.seatHours }));
  const rest = ranked.slice(n);
  if (rest.length > 0) {
    top.push({ id: "other", key: OTHER, seatHours: round(rest.reduce((s, k) => s + k.seatHours, 0)) });
  }
  return top;
}

/** stack lays a report out for the charts: one row per bucket of the
 * window (zeros where the report has none), and in each row every series'
 * value of metric. Seat-hours of "other" are the sum of its keys; peak
 * seats of "other" are the highest peak among its keys (peaks of different
 * keys need not coincide, so they do not add up). */
export function stack(
  buckets: readonly Bucket[],
  series: readonly Series[],
  w: Window,
  granularity: Granularity,
  metric: "seat_hours" | "peak_seats",
): StackRow[] {
  const starts = bucketStarts(w, granularity);
  const index = new Map(starts.map((s, i) => [Date.parse(s), i]));
  const rows: StackRow[] = starts.map((start) => {
    const row: StackRow = { start };
    for (const s of series) row[s.id] = 0;
    return row;
  });
  const idOf = new Map(series.filter((s) => s.key !== OTHER).map((s) => [s.key, s.id]));
  const other = series.some((s) => s.key === OTHER);
  for (const b of buckets) {
    const t = Date.parse(b.start);
    if (Number.isNaN(t)) continue;
    const i = index.get(startOfBucket(t, granularity));
    const row = i === undefined ? undefined : rows[i];
    const id = idOf.get(b.key) ?? (other ? "other" : undefined);
    if (!row || !id) continue;
    const v = b[metric];
    row[id] = metric === "seat_hours" ? round(Number(row[id]) + v) : Math.max(Number(row[id]), v);
  }
  return rows;
}

/** A sum per key of a report, and the total. */
export interface Totals {
  byKey: { key: string; value: number }[];
  total: number;
}

/** sumBy adds up a figure per key, largest first (then by key); keys whose
 * sum is 0 are left out. */
export function sumBy(buckets: readonly Bucket[], metric: "denials" | "seat_hours"): Totals {
  const by = new Map<string, number>();
  for (const b of buckets) by.set(b.key, round((by.get(b.key) ?? 0) + b[metric]));
  const byKey = [...by.entries()]
    .filter(([, v]) => v !== 0)
    .map(([key, value]) => ({ key, value }))
    .sort((a, b) => b.value - a.value || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { byKey, total: round(byKey.reduce((s, k) => s + k.value, 0)) };
}

/** expiringWithin are the licenses whose expiry is after now and at most
 * days away, soonest first. */
export function expiringWithin<L extends { expires_at: string | null }>(licenses: readonly L[], now: Date, days: number): L[] {
  const from = now.getTime();
  const until = from + days * dayMs;
  return licenses
    .filter((l) => {
      if (!l.expires_at) return false;
      const t = Date.parse(l.expires_at);
      return t > from && t <= until;
    })
    .sort((a, b) => Date.parse(a.expires_at!) - Date.parse(b.expires_at!));
}

/** The header of a report's CSV, exactly. */
export const usageHeader = ["key", "start", "peak_seats", "seat_hours", "denials"];

/** usageRows are a report's buckets as CSV rows, one per bucket, in the
 * API's order and with its values. */
export function usageRows(buckets: readonly Bucket[]): Cell[][] {
  return buckets.map((b) => [b.key, b.start, b.peak_seats, b.seat_hours, b.denials]);
}

/** usageFilename is usage-<group>-<granularity>-<from>-<to>.csv, the times
 * in UTC as 2026-05-25T0000Z (no colons: not every file system takes
 * them). */
export function usageFilename(groupBy: GroupBy, granularity: Granularity, w: Window): string {
  return `usage-${groupBy}-${granularity}-${fileTime(w.from)}-${fileTime(w.to)}.csv`;
}

function fileTime(s: string): string {
  const t = Date.parse(s);
  if (Number.isNaN(t)) return "unknown";
  const d = new Date(t).toISOString();
  return `${d.slice(0, 10)}T${d.slice(11, 13)}${d.slice(14, 16)}Z`;
}

/** The value of a datetime-local input (minutes, no zone) for an instant,
 * read as UTC: the console shows every time in UTC. */
export function toInputUTC(t: Date | string): string {
  const ms = typeof t === "string" ? Date.parse(t) : t.getTime();
  if (Number.isNaN(ms)) return "";
  return new Date(ms).toISOString().slice(0, 16);
}

/** fromInputUTC reads a datetime-local value as UTC ("" or unreadable:
 * null). */
export function fromInputUTC(v: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(v)) return null;
  const ms = Date.parse(v + (v.length === 16 ? ":00" : "") + "Z");
  return Number.isNaN(ms) ? null : iso(ms);
}

/** defaultRange is the Usage page's first range: the last 7 UTC days, by
 * day, ending with today. */
export function defaultRange(now: Date): Window {
  const to = startOfBucket(now.getTime(), "day") + dayMs;
  return { from: iso(to - 7 * dayMs), to: iso(to) };
}

/** tickOf labels a bucket on the x axis (UTC): "14:00" or "05-31", and the
 * day too for hours that start one ("05-31 00:00"). */
export function tickOf(s: string, granularity: Granularity): string {
  const t = Date.parse(s);
  if (Number.isNaN(t)) return "";
  const d = new Date(t).toISOString();
  if (granularity === "day") return d.slice(5, 10);
  return d.slice(11, 16) === "00:00" ? `${d.slice(5, 10)} 00:00` : d.slice(11, 16);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Floating-point sums (0.1 + 0.2) rounded to what a person reads. */
export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
