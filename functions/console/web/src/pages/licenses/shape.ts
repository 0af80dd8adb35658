// Chart data of one license's usage: the report's buckets for the license,
// with every bucket of the range present (zeros where the ledger had
// nothing), so the charts' x axis is continuous. Pure, so it is unit-tested.
import type { Cell } from "../../lib/csv";

export type Granularity = "hour" | "day";

/** The ranges the range picker offers. */
export type RangeId = "24h" | "7d" | "30d";

export const ranges: { id: RangeId; label: string; granularity: Granularity; buckets: number }[] = [
  { id: "24h", label: "Last 24 hours", granularity: "hour", buckets: 24 },
  { id: "7d", label: "Last 7 days", granularity: "day", buckets: 7 },
  { id: "30d", label: "Last 30 days", granularity: "day", buckets: 30 },
];

export const bucketMs: Record<Granularity, number> = { hour: 3_600_000, day: 86_400_000 };

/** A report window: buckets [from, to) of one granularity, aligned to UTC. */
export interface Window {
  from: string;
  to: string;
  granularity: Granularity;
}

/** windowOf is the range's window at now: it ends with the end of the
 * current bucket (what the API defaults to) and spans the range's buckets. */
export function windowOf(range: RangeId, now: Date): Window {
  const r = ranges.find((x) => x.id === range) ?? ranges[0]!;
  const size = bucketMs[r.granularity];
  const to = Math.floor(now.getTime() / size) * size + size;
  const from = to - r.buckets * size;
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: r.granularity };
}

/** A usage bucket as the API sends it (UsageBucket). */
export interface Bucket {
  key: string;
  start: string;
  peak_seats: number;
  seat_hours: number;
  denials: number;
}

/** One point of the charts: a bucket's start (ISO, UTC) and its figures. */
export interface Point {
  start: string;
  peak_seats: number;
  seat_hours: number;
  denials: number;
}

export type Metric = "peak_seats" | "seat_hours" | "denials";

/** shapeUsage keeps the buckets of licenseId inside the window and fills the
 * buckets the report left out with zeros, oldest first. A bucket that does
 * not start on the window's grid (it should) counts in the bucket it falls
 * in: its peak by maximum, its seat-hours and denials added. */
export function shapeUsage(buckets: readonly Bucket[], licenseId: string, w: Window): Point[] {
  const size = bucketMs[w.granularity];
  const from = new Date(w.from).getTime();
  const to = new Date(w.to).getTime();
  if (!(to > from) || Number.isNaN(from) || Number.isNaN(to)) return [];
  const n = Math.ceil((to - from) / size);
  const points: Point[] = [];
  for (let i = 0; i < n; i++) {
    points.push({ start: new Date(from + i * size).toISOString(), peak_seats: 0, seat_hours: 0, denials: 0 });
  }
  for (const b of buckets) {
    if (b.key !== licenseId) continue;
    const t = new Date(b.start).getTime();
    if (Number.isNaN(t) || t < from || t >= to) continue;
    const p = points[Math.floor((t - from) / size)];
    if (!p) continue;
    p.peak_seats = Math.max(p.peak_seats, b.peak_seats);
    p.seat_hours = round(p.seat_hours + b.seat_hours);
    p.denials += b.denials;
  }
  return points;
}

/** Floating-point sums (0.1 + 0.2) are rounded to what a person reads. */
function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** csvOf is the CSV behind one chart: exactly its points. */
export function csvOf(points: readonly Point[], metric: Metric): { header: string[]; rows: Cell[][] } {
  return { header: ["start", metric], rows: points.map((p) => [p.start, p[metric]]) };
}

/** The file a chart's CSV is saved as. */
export function csvFilename(licenseId: string, metric: Metric, range: RangeId): string {
  return `license-${licenseId}-${metric}-${range}.csv`;
}

/** tickOf labels a bucket on the x axis (UTC): "14:00" or "05-31". */
export function tickOf(iso: string, granularity: Granularity): string {
  const s = new Date(iso).toISOString();
  return granularity === "hour" ? s.slice(11, 16) : s.slice(5, 10);
}

/** peakOf is the highest value of a metric over the points (0 when none). */
export function peakOf(points: readonly Point[], metric: Metric): number {
  return points.reduce((m, p) => Math.max(m, p[metric]), 0);
}

/** totalOf sums a metric over the points. */
export function totalOf(points: readonly Point[], metric: Metric): number {
  return round(points.reduce((s, p) => s + p[metric], 0));
}
