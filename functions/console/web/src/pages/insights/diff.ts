// The before/after of an audit entry as lines of a diff: each top-level
// field once when it is unchanged, as a removed line and an added line when
// it changed, and only added (a create) or only removed (a delete) when one
// side is missing. Pure, so it is unit-tested (diff.test.ts).

export type DiffKind = "same" | "added" | "removed";

export interface DiffLine {
  kind: DiffKind;
  field: string;
  /** The value as compact JSON. */
  value: string;
}

/** The text marker of a line: colour is never the only signal. */
export const marker: Record<DiffKind, string> = { same: " ", added: "+", removed: "\u2212" };

type Doc = Record<string, unknown>;

function asDoc(v: unknown): Doc | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Doc) : null;
}

/** show writes a value as compact JSON with its object keys sorted, so two
 * equal documents read the same whatever their key order. */
export function show(v: unknown): string {
  return JSON.stringify(sortKeys(v)) ?? "null";
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  const d = asDoc(v);
  if (!d) return v;
  const out: Doc = {};
  for (const k of Object.keys(d).sort()) out[k] = sortKeys(d[k]);
  return out;
}

/** diffDocs compares two documents (either may be null or not an object:
 * then it counts as a whole value under the field "(value)"). Fields come
 * in key order. */
export function diffDocs(before: unknown, after: unknown): DiffLine[] {
  const b = wrap(before);
  const a = wrap(after);
  const fields = [...new Set([...Object.keys(b ?? {}), ...Object.keys(a ?? {})])].sort();
  const out: DiffLine[] = [];
  for (const field of fields) {
    const inB = b !== null && Object.hasOwn(b, field);
    const inA = a !== null && Object.hasOwn(a, field);
    const vb = inB ? show(b[field]) : "";
    const va = inA ? show(a[field]) : "";
    if (inB && inA && vb === va) {
      out.push({ kind: "same", field, value: va });
      continue;
    }
    if (inB) out.push({ kind: "removed", field, value: vb });
    if (inA) out.push({ kind: "added", field, value: va });
  }
  return out;
}

function wrap(v: unknown): Doc | null {
  if (v === null || v === undefined) return null;
  return asDoc(v) ?? { "(value)": v };
}

/** changedFields names the fields whose value differs (added, removed or
 * changed), in key order. */
export function changedFields(lines: readonly DiffLine[]): string[] {
  return [...new Set(lines.filter((l) => l.kind !== "same").map((l) => l.field))];
}
