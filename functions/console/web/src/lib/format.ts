// Formatting shared by every page (UTC times: the API's and the ledger's).

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toISOString().replace("T", " ").replace(/\.\d{3}Z$/, " UTC");
}

/** formatRelative says how far from now a time is ("in 5 min", "3 h ago"). */
export function formatRelative(iso: string, now: Date = new Date()): string {
  const ms = new Date(iso).getTime() - now.getTime();
  const abs = Math.abs(ms);
  const units: [number, string][] = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1_000, "s"],
  ];
  for (const [size, unit] of units) {
    if (abs >= size || unit === "s") {
      const n = Math.floor(abs / size);
      return ms >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
    }
  }
  return "now";
}

export function formatDuration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function formatHours(h: number): string {
  return h >= 100 ? h.toFixed(0) : h >= 10 ? h.toFixed(1) : h.toFixed(2);
}

export function percent(used: number, total: number): number {
  if (total <= 0) return 0;
  return Math.round((used / total) * 100);
}
