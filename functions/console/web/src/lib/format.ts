// Formatting shared by every page (UTC times: the API's and the ledger's).

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

/** formatRelative says how far from now a time is ("in 5 min", "3 h ago",
 * "now" within a second; "—" for no readable time). */
export function formatRelative(iso: string, now: Date = new Date()): string {
  const ms = new Date(iso).getTime() - now.getTime();
  if (Number.isNaN(ms)) return "—";
  const abs = Math.abs(ms);
  if (abs < 1_000) return "now";
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1_000, "s"],
  ];
  for (const [size, unit] of units) {
    if (abs >= size) {
      const n = Math.floor(abs / size);
      return ms >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
    }
  }
  return "now";
}

/** formatDuration writes seconds in the largest unit that divides them
 * ("5 min", "2 h", "90 s"); 0 is "0 s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "—";
  if (seconds === 0) return "0 s";
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** formatHours writes hours with 2, 1 or no decimals as they grow: 3 to 4
 * significant digits. The step is chosen on the rounded value, so 9.999 is
 * "10.0", not "10.00". */
export function formatHours(h: number): string {
  if (!Number.isFinite(h)) return "—";
  const a = Math.abs(h);
  return a >= 99.95 ? h.toFixed(0) : a >= 9.995 ? h.toFixed(1) : h.toFixed(2);
}

export function percent(used: number, total: number): number {
  if (total <= 0) return 0;
  return Math.round((used / total) * 100);
}
