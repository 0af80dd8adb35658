// CSV (RFC 4180) of the rows behind a table or chart, and its download.

export type Cell = string | number | boolean | null | undefined;

export function toCSV(header: string[], rows: Cell[][]): string {
  const line = (cells: Cell[]) => cells.map(cell).join(",");
  return [line(header), ...rows.map(line)].join("\r\n") + "\r\n";
}

function cell(v: Cell): string {
  if (v === null || v === undefined) return "";
  let s = String(v);
  // A spreadsheet runs a cell starting with = + - @ as a formula: names
  // and hostnames come from clients, so they are defused.
  if (/^[=+\-@\t\r]/.test(s) && typeof v === "string") s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function downloadCSV(filename: string, header: string[], rows: Cell[][]): void {
  const blob = new Blob([toCSV(header, rows)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
