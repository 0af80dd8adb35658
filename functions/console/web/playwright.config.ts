// The console's end-to-end tests: Debian's Chromium (CHROMIUM) driving the
// built console served by the local server (DEVSERVER, `make run`'s
// binary) on the real Redis at 127.0.0.1:6379 (a key prefix of its own)
// and a throwaway PostgreSQL cluster it makes. `make console-test` sets
// the variables; nothing here downloads a browser.
import { defineConfig } from "@playwright/test";

const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
const devserver = process.env.DEVSERVER;
if (!devserver) throw new Error("DEVSERVER must name the local server's binary (make console-test builds bin/devserver)");
// Chosen once by the runner; its workers load this file again and inherit
// the variable, so they all talk to the same server.
process.env.E2E_PORT ??= String(18000 + (process.pid % 2000));
const port = Number(process.env.E2E_PORT);
export const bootstrapToken = "console-e2e-bootstrap-token-0123456789abcdef";
const base = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: "e2e",
  // One server, one story: the tests build on each other's state.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: base,
    launchOptions: {
      executablePath: chromium,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    acceptDownloads: true,
    trace: "off",
    screenshot: "only-on-failure",
  },
  webServer: {
    command: devserver,
    url: `${base}/health/`,
    reuseExistingServer: false,
    timeout: 180_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      PORT: String(port),
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_KEY_PREFIX: `console-e2e-${process.pid}:`,
      BOOTSTRAP_ADMIN_TOKEN: bootstrapToken,
      // The usage ledger is drained by the cleanup timer: often here.
      CLEANUP_INTERVAL: "1s",
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      TMPDIR: process.env.TMPDIR ?? "/tmp",
    },
  },
});
