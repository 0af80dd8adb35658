// Small pieces both license pages use: the status badge, the certificate
// download and the lease/limit words.
import type { Client } from "../../api/client";
import { must } from "../../api/client";
import { formatDuration } from "../../lib/format";
import { licenseState, type License } from "./terms";

/** The badge says the state in words; the colour only repeats it. */
export function LicenseStatus({ license, now }: { license: Pick<License, "status" | "expires_at">; now?: Date }) {
  const s = licenseState(license, now);
  const cls = s === "active" ? "ok" : s === "suspended" ? "bad" : "warn";
  return <span className={`badge ${cls}`}>{s}</span>;
}

export function ttlText(seconds: number): string {
  return `${formatDuration(seconds)} (${seconds} s)`;
}

/** downloadCertificate asks for the license's signed certificate (POST:
 * it may be issued anew) and saves it as license-<id>-certificate.json. */
export async function downloadCertificate(api: Client, tenantId: string, licenseId: string): Promise<void> {
  const cert = must(
    await api.POST("/v1/tenants/{tenant_id}/licenses/{license_id}/certificate", {
      params: { path: { tenant_id: tenantId, license_id: licenseId } },
    }),
  );
  saveJSON(`license-${licenseId}-certificate.json`, cert);
}

function saveJSON(filename: string, value: unknown): void {
  const blob = new Blob([JSON.stringify(value, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
