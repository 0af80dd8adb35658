// What the Console function tells the pages (/console/config.json).

export interface IdentityPlatformSettings {
  api_key: string;
  auth_domain: string;
  project_id: string;
  platform_tenant: string;
  /** A stand-in for Google's sign-in endpoints (the local server's). */
  emulator?: string;
}

export interface ConsoleSettings {
  api_base: string;
  identity_platform: IdentityPlatformSettings | null;
  token_sign_in: boolean;
}

export async function loadSettings(): Promise<ConsoleSettings> {
  const res = await fetch("/console/config.json", { cache: "no-cache" });
  if (!res.ok) throw new Error(`The console's settings could not be loaded (HTTP ${res.status}).`);
  return (await res.json()) as ConsoleSettings;
}
