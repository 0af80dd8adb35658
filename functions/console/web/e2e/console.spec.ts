// The console as people use it: the vendor's platform admin signs in,
// creates a tenant and a license, watches seats taken by a client appear,
// ends one (and the client loses it), sees a released seat linger, blocks
// a workstation, sets up the tenant's repositories, API keys and members,
// reads the usage and the audit log; then an invited member signs in with
// an e-mail link and sees only what a member may see. axe-core checks
// every page on the way.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { bootstrapToken } from "../playwright.config";
import { acquire, checkPage, heartbeat, signInWithToken, signOut, tabTo, watchPage, type Seat } from "./helpers";

test.describe.configure({ mode: "serial" });

const run = Date.now().toString(36);
const tenantName = `Acme ${run}`;
const memberEmail = `bob-${run}@example.com`;
let tenantId = "";
let licenseId = "";
let licenseKey = "";
let apiKey = "";
const seats: Record<string, Seat> = {};
let context: BrowserContext;
let page: Page;
let problems: string[] = [];

// One page for the whole story (the tests build on each other).
test.beforeAll(async ({ browser }) => {
  context = await browser.newContext();
  page = await context.newPage();
  problems = watchPage(page);
});

test.afterAll(async () => {
  await context.close();
});

test.afterEach(() => {
  expect(problems, "CSP violations, page errors or 5xx answers").toEqual([]);
});

test("the sign-in page offers both ways in, and a wrong token is refused in words", async () => {
  await page.goto("/console/");
  await expect(page.getByRole("heading", { name: "License console", level: 1 })).toBeVisible();
  await expect(page.getByLabel("Work e-mail")).toBeVisible();
  await checkPage(page, "01-sign-in");
  await page.getByLabel("API key or token").fill("not-a-real-token");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toContainText(/sign-in is no longer valid|not valid|sign in again/i);
  // Nothing kept: a reload shows the sign-in again.
  await page.reload();
  await expect(page.getByLabel("API key or token")).toBeVisible();
});

test("the platform admin creates a tenant", async () => {
  await signInWithToken(page, bootstrapToken);
  await page.goto("/console/platform/tenants");
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Tenants");
  await page.getByLabel("Name", { exact: true }).fill(tenantName);
  await page.getByLabel("Slug", { exact: true }).fill(`acme-${run}`);
  await page.getByRole("button", { name: "Create tenant" }).click();
  const row = page.getByRole("row").filter({ hasText: tenantName });
  await expect(row).toBeVisible();
  await checkPage(page, "02-tenants");
  await row.getByRole("link").first().click();
  await expect(page).toHaveURL(/\/console\/tenants\/[0-9a-f-]{36}\/?$/);
  tenantId = page.url().match(/tenants\/([0-9a-f-]{36})/)![1]!;
});

test("a license is created and its key shown once", async () => {
  await page.getByRole("link", { name: "Licenses", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Licenses");
  await page.getByLabel("Product").fill("coditect");
  await page.getByLabel("Seats", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Create license" }).click();
  const key = page.getByLabel("License key", { exact: true });
  await expect(key).toBeVisible();
  licenseKey = (await key.textContent())!.trim();
  expect(licenseKey).toMatch(/^lk_/);
  await checkPage(page, "03-licenses");
  await page.getByRole("button", { name: "I have saved it" }).click();
  await expect(page.getByText(licenseKey)).toHaveCount(0);
  await page.getByRole("link", { name: "coditect" }).first().click();
  await expect(page).toHaveURL(/\/licenses\/[0-9a-f-]{36}$/);
  licenseId = page.url().split("/").pop()!;
  expect(licenseId).toMatch(/^[0-9a-f-]{36}$/);
});

test("seats taken by clients appear live, and ending one loses it for the client", async ({ request }) => {
  seats.ada = await acquire(request, licenseKey, { fingerprint: "ws-ada", user: "ada", hostname: "ada-laptop" });
  const sessions = page.getByRole("table", { name: "Live sessions" });
  await expect(sessions.getByRole("row").filter({ hasText: "ada-laptop" })).toBeVisible();
  // One of the license's seats, not one beyond them (it has no overage policy).
  await expect(
    sessions.getByRole("row").filter({ hasText: "ada-laptop" }).getByRole("cell", { name: "Entitled", exact: true }),
  ).toBeVisible();
  // Taken while the page is open: it shows without a reload.
  seats.grace = await acquire(request, licenseKey, { fingerprint: "ws-grace", user: "grace", hostname: "grace-desk" });
  seats.alan = await acquire(request, licenseKey, { fingerprint: "ws-alan", user: "alan", hostname: "alan-box" });
  await expect(sessions.getByRole("row").filter({ hasText: "grace-desk" })).toBeVisible();
  await expect(sessions.getByRole("row").filter({ hasText: "alan-box" })).toBeVisible();
  await checkPage(page, "04-license-detail");

  await sessions.getByRole("button", { name: /End session of grace/ }).click();
  await page.getByRole("dialog").getByRole("button", { name: /End session/ }).click();
  await expect(sessions.getByRole("row").filter({ hasText: "grace-desk" })).toHaveCount(0);
  expect(await heartbeat(request, seats.grace!)).toEqual({ status: 403, code: "session_revoked" });
  expect((await heartbeat(request, seats.ada!)).status).toBe(200);
});

/** setLinger saves the license's linger_seconds through its edit form. */
async function setLinger(seconds: number): Promise<void> {
  const form = page.getByRole("form", { name: "Edit license" });
  await form.getByLabel("Linger (seconds)").fill(String(seconds));
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === "PATCH" && /\/licenses\/[0-9a-f-]{36}$/.test(r.url()) && r.ok()),
    form.getByRole("button", { name: "Save changes" }).click(),
  ]);
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();
}

test("a released seat that lingers says so, and ending it frees the seat", async ({ request }) => {
  await setLinger(600);
  seats.linus = await acquire(request, licenseKey, { fingerprint: "ws-linus", user: "linus", hostname: "linus-pc" });
  const r = await request.post("/v1/release", { data: { session_id: seats.linus.session_id } });
  expect(r.status()).toBe(200);
  const released = (await r.json()) as { released: boolean; seat_freed: boolean; lingers_until?: string };
  expect(released).toMatchObject({ released: true, seat_freed: false });
  expect(released.lingers_until).toBeTruthy();

  const sessions = page.getByRole("table", { name: "Live sessions" });
  const row = sessions.getByRole("row").filter({ hasText: "linus-pc" });
  await expect(row.getByRole("cell", { name: "Released — lingering", exact: true })).toBeVisible();
  // Its expiry is when the lingering seat stops counting (release + linger_seconds).
  await expect(row.getByRole("cell", { name: /^Seat free in \d+ (s|min)$/ })).toBeVisible();
  // A held session still counts its processes.
  const ada = sessions.getByRole("row").filter({ hasText: "ada-laptop" });
  await expect(ada.getByRole("cell", { name: "1", exact: true })).toBeVisible();
  await expect(ada.getByText(/lingering|Seat free/)).toHaveCount(0);
  await checkPage(page, "04b-lingering-session");

  await row.getByRole("button", { name: /End session of linus/ }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("released and lingers");
  await dialog.getByRole("button", { name: /End session/ }).click();
  await expect(row).toHaveCount(0);
  // Linger off again: the seats released later in this story end at once.
  await setLinger(0);
});

test("blocking a workstation ends its sessions", async ({ request }) => {
  await page.getByRole("link", { name: "Workstations", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Workstations");
  const row = page.getByRole("row").filter({ hasText: "alan-box" });
  await expect(row).toBeVisible();
  await checkPage(page, "05-workstations");
  await row.getByRole("button", { name: /^Block/ }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("alan");
  await dialog.getByRole("button", { name: /Block/ }).click();
  await expect(row.getByText("Blocked")).toBeVisible();
  const hb = await heartbeat(request, seats.alan!);
  expect(hb.status).toBe(403);
  expect(["workstation_blocked", "session_revoked"]).toContain(hb.code);
  await row.getByRole("button", { name: /^Unblock/ }).click();
  await expect(row.getByText("Blocked")).toHaveCount(0);
});

test("repositories, API keys and members are managed", async () => {
  await page.getByRole("link", { name: "Repositories", exact: true }).click();
  // The old page stays while the new one loads (a transition): wait for it,
  // or the fill below lands in the old page's field of the same name.
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Repositories");
  await page.getByLabel("Name", { exact: true }).fill("widgets");
  await page.getByLabel(/Remote/).fill("git@github.com:acme/widgets.git");
  await page.getByRole("button", { name: /Add repository|Create repository/ }).click();
  await expect(page.getByRole("row").filter({ hasText: "widgets" })).toBeVisible();
  await checkPage(page, "06-repositories");

  await page.getByRole("link", { name: "API keys", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("API keys");
  await page.getByLabel("Name", { exact: true }).fill("ci");
  await page.getByRole("button", { name: "Create API key" }).click();
  const shown = page.getByLabel("API key", { exact: true });
  await expect(shown).toBeVisible();
  apiKey = (await shown.textContent())!.trim();
  expect(apiKey).toMatch(/^ak_/);
  await checkPage(page, "07-api-keys");
  await page.getByRole("button", { name: "I have saved it" }).click();

  await page.getByRole("link", { name: "Members", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Members");
  await page.getByLabel("E-mail").fill(memberEmail);
  await page.getByRole("combobox", { name: "Role", exact: true }).selectOption("member");
  await page.getByRole("button", { name: "Invite member" }).click();
  await expect(page.getByRole("row").filter({ hasText: memberEmail })).toBeVisible();
  await checkPage(page, "08-members");
});

test("usage is grouped, charted and exported as CSV", async ({ request }) => {
  // A seat released is in the ledger once the cleanup timer drains it.
  const r = await request.post("/v1/release", { data: { session_id: seats.ada!.session_id } });
  expect(r.status()).toBe(200);
  await page.getByRole("link", { name: "Usage", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Usage");
  await page.getByLabel("Group by").selectOption("user");
  await page.getByLabel("Granularity").selectOption("hour");
  const table = page.getByRole("table").last();
  await expect(async () => {
    await page.getByLabel("Group by").selectOption("license");
    await page.getByLabel("Group by").selectOption("user");
    await expect(table.getByRole("row").filter({ hasText: "ada" })).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await checkPage(page, "09-usage");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: /Export CSV/ }).first().click()]);
  const csv = readFileSync((await download.path())!, "utf8").trim().split(/\r?\n/);
  expect(csv[0]).toBe("key,start,peak_seats,seat_hours,denials");
  const users = csv.slice(1).map((l) => l.split(",")[0]);
  expect(users).toContain("ada");
  for (const line of csv.slice(1)) expect(line.split(",")).toHaveLength(5);
});

test("the audit log is filtered and shows what changed", async () => {
  await page.getByRole("link", { name: "Audit log", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("Audit");
  await page.getByLabel("Action").selectOption("license.create");
  const rows = page.getByRole("table").getByRole("row");
  await expect(rows.filter({ hasText: "license.create" }).first()).toBeVisible();
  await expect(rows.filter({ hasText: "repository.create" })).toHaveCount(0);
  await checkPage(page, "10-audit");
});

test("the overview gauges the seats in use", async () => {
  await page.getByRole("link", { name: "Overview", exact: true }).click();
  await expect(page.getByText(/of 3 seats in use/)).toBeVisible();
  await checkPage(page, "11-overview");
  await tabTo(page, "link", "Licenses");
});

test("a member signs in with an e-mail link and sees a member's console", async ({ request }) => {
  await signOut(page);
  await page.goto(`/console/`);
  await page.getByLabel("Work e-mail").fill(memberEmail);
  await page.getByRole("button", { name: "Email me a sign-in link" }).click();
  await expect(page.getByText(/Check your inbox/)).toBeVisible();
  const outbox = await request.get(`/dev/idp/outbox?email=${encodeURIComponent(memberEmail)}`);
  expect(outbox.status()).toBe(200);
  const { link } = (await outbox.json()) as { link: string };
  await page.goto(link);
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`/console/tenants/${tenantId}/?$`));
  const nav = page.getByRole("navigation", { name: "Console" });
  for (const shown of ["Overview", "Licenses", "Members"]) {
    await expect(nav.getByRole("link", { name: shown, exact: true })).toBeVisible();
  }
  for (const hidden of ["Workstations", "Repositories", "API keys", "Audit log", "Usage", "Webhooks", "Notifications", "Tenants"]) {
    await expect(nav.getByRole("link", { name: hidden, exact: true })).toHaveCount(0);
  }
  await checkPage(page, "12-member-overview");
  // Typing an admin page's address shows why not, and no admin data.
  for (const path of ["api-keys", "workstations", "audit", "usage", "webhooks", "notifications"]) {
    await page.goto(`/console/tenants/${tenantId}/${path}`);
    await expect(page.getByRole("heading", { name: "Not available to your role" })).toBeVisible();
  }
  await page.goto(`/console/platform/tenants`);
  await expect(page.getByRole("heading", { name: "Not available to your role" })).toBeVisible();
  await checkPage(page, "13-member-denied");
  // The member's licenses page reads, but offers no admin control.
  await page.goto(`/console/tenants/${tenantId}/licenses`);
  await expect(page.getByRole("link", { name: "coditect" }).first()).toBeVisible();
  await expect(page.getByRole("button", { name: "Create license" })).toHaveCount(0);
  // Reloading keeps the member signed in (the SDK's session persistence).
  await page.reload();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
});

test("the API reference renders the service's own document under the same CSP", async () => {
  await page.goto("/docs/");
  await expect(page.getByRole("heading", { name: /Coditect floating license API/ }).first()).toBeVisible({ timeout: 30_000 });
  // The reference is one long page: its screenshot is the first screen.
  await checkPage(page, "14-api-reference", false);
  const csp = (await page.request.get("/docs/")).headers()["content-security-policy"];
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
});

test("an API key signs in with its own role, and once revoked leads back to the sign-in", async ({ browser, request }) => {
  const ctx = await browser.newContext();
  const p = await ctx.newPage();
  const seen = watchPage(p);
  await signInWithToken(p, apiKey);
  // The key was created with the member role: a member's navigation.
  const nav = p.getByRole("navigation", { name: "Console" });
  await expect(nav.getByRole("link", { name: "Licenses", exact: true })).toBeVisible();
  await expect(nav.getByRole("link", { name: "API keys", exact: true })).toHaveCount(0);
  const keys = await request.get(`/v1/tenants/${tenantId}/api-keys`, { headers: { Authorization: `Bearer ${bootstrapToken}` } });
  const id = ((await keys.json()) as { api_keys: { id: string; name: string }[] }).api_keys.find((k) => k.name === "ci")!.id;
  const revoked = await request.delete(`/v1/tenants/${tenantId}/api-keys/${id}`, {
    headers: { Authorization: `Bearer ${bootstrapToken}` },
  });
  expect(revoked.status()).toBe(204);
  await p.reload();
  await expect(p.getByRole("alert")).toContainText(/no longer valid/);
  await p.getByRole("button", { name: "Sign in again" }).click();
  await expect(p.getByLabel("API key or token")).toBeVisible();
  expect(seen).toEqual([]);
  await ctx.close();
});
