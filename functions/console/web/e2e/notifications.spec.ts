// Webhooks and notification settings as a tenant's admin uses them: an
// endpoint is added (a refused URL explained at the field, the secret shown
// once), pinged, and its delivery log shows what a receiver on this
// machine answered (make run's server may call 127.0.0.1 over plain HTTP);
// it is switched off and on, its secret rotated, edited and deleted. The
// e-mail rules and time zone are saved and read back after a reload.
// axe-core and the keyboard check run on every page.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { bootstrapToken } from "../playwright.config";
import { checkPage, createTenant, signInWithToken, tabTo, watchPage } from "./helpers";

test.describe.configure({ mode: "serial" });

const run = Date.now().toString(36);
let tenantId = "";
let context: BrowserContext;
let page: Page;
let problems: string[] = [];
let receiver: Server;
let hookUrl = "";
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

test.beforeAll(async ({ browser, request }) => {
  // The receiver: answers every delivery 200 with a body the log shows.
  receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { "Content-Type": "text/plain" }).end(`received by the e2e receiver ${run}`);
    });
  });
  await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  tenantId = await createTenant(request, bootstrapToken, `Hooks ${run}`, `hooks-${run}`);
  context = await browser.newContext();
  page = await context.newPage();
  problems = watchPage(page);
  await signInWithToken(page, bootstrapToken);
});

test.afterAll(async () => {
  await context.close();
  await new Promise((ok) => receiver.close(ok));
});

test.afterEach(() => {
  expect(problems, "CSP violations, page errors or 5xx answers").toEqual([]);
});

test("a webhook is created and its secret shown once; a refused URL is explained at the field", async () => {
  await page.goto(`/console/tenants/${tenantId}/webhooks`);
  await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();
  await expect(page.getByText("No webhooks yet")).toBeVisible();
  await checkPage(page, "20-webhooks-empty");
  await tabTo(page, "button", "Create webhook");

  const form = page.getByRole("form", { name: "Add a webhook" });
  // A private address: the service must not call it.
  await form.getByLabel("URL", { exact: true }).fill("https://10.1.2.3/hook");
  await form.getByRole("button", { name: "Create webhook" }).click();
  await expect(form.getByRole("alert")).toContainText("may not call that URL");
  await expect(form.getByLabel("URL", { exact: true })).toHaveAttribute("aria-invalid", "true");
  await checkPage(page, "21-webhooks-refused-url");

  await form.getByLabel("URL", { exact: true }).fill(hookUrl);
  await form.getByLabel("Description (optional)").fill("e2e receiver");
  await form.getByLabel("All event types, including ones added later").uncheck();
  await form.getByLabel("license.created").check();
  await form.getByLabel("seats.exhausted").check();
  await form.getByRole("button", { name: "Create webhook" }).click();
  const secret = page.getByLabel(`Signing secret of ${hookUrl}`, { exact: true });
  await expect(secret).toBeVisible();
  const shown = (await secret.textContent())!.trim();
  expect(shown).toMatch(/^whsec_/);
  const row = page.getByRole("row").filter({ hasText: hookUrl });
  await expect(row).toContainText("license.created, seats.exhausted");
  await expect(row).toContainText("e2e receiver");
  await expect(row.getByText("enabled", { exact: true })).toBeVisible();
  await checkPage(page, "22-webhooks-created");
  await page.getByRole("button", { name: "I have saved it" }).click();
  await expect(page.getByText(shown)).toHaveCount(0);
  // Shown once: not after a reload either.
  await page.reload();
  await expect(page.getByRole("row").filter({ hasText: hookUrl })).toBeVisible();
  await expect(page.getByText(/whsec_/)).toHaveCount(0);
});

test("a test ping is delivered and shows in the delivery log with the receiver's answer", async () => {
  await page.getByRole("button", { name: `Send test to ${hookUrl}` }).click();
  await expect(page.getByRole("status").filter({ hasText: "test ping" })).toBeVisible();
  await page.getByRole("link", { name: `Delivery log of ${hookUrl}` }).click();
  await expect(page.getByRole("heading", { name: "Delivery log", level: 1 })).toBeVisible();
  const first = page.getByRole("list", { name: "Deliveries" }).getByRole("listitem").first();
  // The log refreshes itself while the delivery is pending.
  await expect(first.getByRole("heading")).toContainText("ping", { timeout: 30_000 });
  await expect(first.getByRole("heading")).toContainText("delivered", { timeout: 30_000 });
  const attempt = first.getByRole("row").filter({ hasText: "HTTP 200" });
  await expect(attempt).toContainText("delivered");
  await expect(attempt.locator("pre")).toHaveText(`received by the e2e receiver ${run}`);
  // The receiver got it signed, as Standard Webhooks says.
  const ping = received.find((r) => r.body.includes('"ping"'));
  expect(ping, "the receiver saw the ping").toBeTruthy();
  expect(ping!.headers["webhook-signature"]).toMatch(/^v1,/);
  await checkPage(page, "23-webhook-deliveries");

  const before = received.length;
  await first.getByRole("button", { name: /^Redeliver the ping delivery/ }).click();
  await expect(page.getByRole("status").filter({ hasText: "queued again" })).toBeVisible();
  await expect.poll(() => received.length, { timeout: 30_000 }).toBeGreaterThan(before);
});

test("a webhook is disabled, enabled, its secret rotated, edited and deleted", async () => {
  await page.getByRole("link", { name: "← Webhooks" }).click();
  const row = page.getByRole("row").filter({ hasText: hookUrl });
  await row.getByRole("button", { name: `Disable ${hookUrl}` }).click();
  await expect(row.getByText("disabled", { exact: true })).toBeVisible();
  await row.getByRole("button", { name: `Enable ${hookUrl}` }).click();
  await expect(row.getByText("enabled", { exact: true })).toBeVisible();

  await row.getByRole("button", { name: `Rotate secret of ${hookUrl}` }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("24 hours");
  await checkPage(page, "24-webhooks-rotate");
  await dialog.getByRole("button", { name: "Rotate secret" }).click();
  const secret = page.getByLabel(`New signing secret of ${hookUrl}`, { exact: true });
  await expect(secret).toBeVisible();
  expect((await secret.textContent())!.trim()).toMatch(/^whsec_/);
  await page.getByRole("button", { name: "I have saved it" }).click();

  await row.getByRole("button", { name: `Edit ${hookUrl}` }).click();
  const edit = page.getByRole("form", { name: `Edit ${hookUrl}` });
  await edit.getByLabel("Description (optional)").fill("e2e receiver, renamed");
  await edit.getByLabel("All event types, including ones added later").check();
  await edit.getByRole("button", { name: "Save webhook" }).click();
  await expect(row).toContainText("e2e receiver, renamed");
  await expect(row.getByRole("cell", { name: "all", exact: true })).toBeVisible();

  await row.getByRole("button", { name: `Delete ${hookUrl}` }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete webhook" }).click();
  await expect(page.getByRole("row").filter({ hasText: hookUrl })).toHaveCount(0);
  await expect(page.getByText("No webhooks yet")).toBeVisible();
});

test("notification settings are saved and survive a reload; a wrong time zone is refused in words", async () => {
  await page.getByRole("link", { name: "Notifications", exact: true }).click();
  await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();
  await expect(page.getByLabel("Time zone")).toHaveValue("UTC");
  await checkPage(page, "25-notification-settings");
  // Three controls a row for every event type: more presses than a short page.
  await tabTo(page, "button", "Save", 150);

  await page.getByLabel("Time zone").fill("Mars/Olympus_Mons");
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("alert")).toContainText("IANA time zone");

  await page.getByLabel("Time zone").fill("Europe/Berlin");
  await page.getByLabel("E-mail license.created", { exact: true }).check();
  await page.getByLabel("E-mail license.created to admins", { exact: true }).check();
  await page.getByLabel("Extra recipients of license.created").fill("ops@example.com, oncall@example.com");
  await page.getByLabel("E-mail seats.exhausted", { exact: true }).uncheck();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved." })).toBeVisible();

  await page.reload();
  await expect(page.getByLabel("Time zone")).toHaveValue("Europe/Berlin");
  await expect(page.getByLabel("E-mail license.created", { exact: true })).toBeChecked();
  await expect(page.getByLabel("E-mail license.created to admins", { exact: true })).toBeChecked();
  await expect(page.getByLabel("Extra recipients of license.created")).toHaveValue("ops@example.com, oncall@example.com");
  await expect(page.getByLabel("E-mail seats.exhausted", { exact: true })).not.toBeChecked();
  // Saving again with nothing changed sends nothing.
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Nothing to save" })).toBeVisible();
});
