// What every end-to-end test shares: accessibility checks, screenshots,
// Content-Security-Policy violations, and the API calls a client makes.
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

/** checkPage runs axe-core on what the page shows now: no serious or
 * critical violation (WCAG 2.x A and AA rules), and takes its screenshot
 * when SCREENSHOTS names a folder (test output, not committed). */
export async function checkPage(page: Page, name: string, fullPage = true): Promise<void> {
  await page.waitForLoadState("networkidle").catch(() => {});
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(" | ")}`),
    `axe on ${name}`,
  ).toEqual([]);
  // Every control is reachable by keyboard: nothing interactive is taken
  // out of the tab order, and nothing outside it pretends to be a control.
  const unreachable = await page.evaluate(() =>
    Array.from(document.querySelectorAll<HTMLElement>("a[href], button, input, select, textarea, summary, [role=button], [onclick]"))
      .filter((el) => el.offsetParent !== null && !(el as HTMLButtonElement).disabled)
      .filter((el) => el.tabIndex < 0)
      .map((el) => el.outerHTML.slice(0, 120)),
  );
  expect(unreachable, `controls out of the tab order on ${name}`).toEqual([]);
  const dir = process.env.SCREENSHOTS;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `${name}.png`), fullPage });
  }
}

/** watchPage records what must never happen on any page: a CSP
 * violation, an uncaught error, or a 5xx from the API. */
export function watchPage(page: Page): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 500) problems.push(`${r.status()} from ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

export async function signInWithToken(page: Page, token: string): Promise<void> {
  await page.goto("/console/");
  await page.getByLabel("API key or token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "License console", level: 1 })).toBeVisible();
}

export interface Seat {
  session_id: string;
}

/** acquire takes a seat as a vendor's tool does (the SDK's call). */
export async function acquire(
  request: APIRequestContext,
  key: string,
  who: { fingerprint: string; user: string; hostname: string },
): Promise<Seat> {
  const r = await request.post("/v1/acquire", {
    data: { license_key: key, fingerprint: who.fingerprint, user: who.user, hostname: who.hostname, os: "linux" },
  });
  expect(r.status(), await r.text()).toBe(200);
  return (await r.json()) as Seat;
}

/** heartbeat is the SDK's keep-alive: its answer's status and error code. */
export async function heartbeat(request: APIRequestContext, seat: Seat): Promise<{ status: number; code: string }> {
  const r = await request.post("/v1/heartbeat", { data: { session_id: seat.session_id } });
  const body = (await r.json().catch(() => ({}))) as { error?: { code?: string } };
  return { status: r.status(), code: body.error?.code ?? "" };
}

/** tabTo presses Tab until the focused element is the one named, proving
 * it can be reached from the keyboard. */
export async function tabTo(page: Page, role: "button" | "link" | "textbox" | "combobox", name: string, max = 60) {
  const target = page.getByRole(role, { name, exact: true }).first();
  await page.locator("body").click({ position: { x: 1, y: 1 } });
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return;
  }
  throw new Error(`${role} "${name}" was not reached with ${max} presses of Tab`);
}

/** createTenant makes a tenant through the API as the platform admin (a
 * test's own, so its lists start empty) and returns its id. */
export async function createTenant(request: APIRequestContext, token: string, name: string, slug: string): Promise<string> {
  const r = await request.post("/v1/tenants", { data: { name, slug }, headers: { Authorization: `Bearer ${token}` } });
  expect(r.status(), await r.text()).toBe(201);
  return ((await r.json()) as { id: string }).id;
}
