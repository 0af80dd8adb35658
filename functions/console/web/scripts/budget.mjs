// The console's size budget (issue 18): the JavaScript a first visit
// loads before any page of its own — the entry script index.html names and
// the modules it preloads — at most 250 KB gzip. Pages, charts, the
// Firebase SDK and the API reference load later, on demand. Prints the
// figures (BENCHMARKS.md quotes them) and fails over budget.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 250 * 1024;
const dist = new URL("../../dist/", import.meta.url);
const html = readFileSync(new URL("index.html", dist), "utf8");
const initial = new Set();
for (const m of html.matchAll(/<script[^>]*\bsrc="\/console\/([^"]+\.js)"/g)) initial.add(m[1]);
for (const m of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="\/console\/([^"]+\.js)"/g)) initial.add(m[1]);
if (initial.size === 0) {
  console.error("budget: index.html names no script: is the console built?");
  process.exit(1);
}
const gz = (name) => gzipSync(readFileSync(new URL(name, dist)), { level: 9 }).length;
let total = 0;
for (const name of initial) {
  const size = gz(name);
  total += size;
  console.log(`budget: initial ${name} ${(size / 1024).toFixed(1)} KB gzip`);
}
let lazy = 0;
for (const name of readdirSync(new URL("assets/", dist))) {
  const path = `assets/${name}`;
  if (name.endsWith(".js") && !initial.has(path) && statSync(new URL(path, dist)).isFile()) lazy += gz(path);
}
console.log(`budget: initial JavaScript ${(total / 1024).toFixed(1)} KB gzip of ${BUDGET / 1024} KB allowed; loaded on demand ${(lazy / 1024).toFixed(1)} KB gzip`);
if (total > BUDGET) {
  console.error(`budget: the initial JavaScript is over budget by ${((total - BUDGET) / 1024).toFixed(1)} KB gzip`);
  process.exit(1);
}
