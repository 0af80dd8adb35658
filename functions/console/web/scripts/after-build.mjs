// After `vite build`:
// - Redoc's standalone renderer goes into assets/, named by its version
//   (src/docs.ts loads it; bundling it through Vite fails and would gain
//   nothing). Its one reference to a third-party host, the attribution
//   logo on Redocly's CDN, is replaced by an empty image: the reference
//   page fetches nothing from anywhere but this origin (its CSP would
//   block the request anyway, and report it). A Redoc release that moves
//   the logo fails this step rather than slipping through.
// - ../dist/.gitkeep comes back: Vite empties ../dist, and the Go package
//   embeds that folder, which must exist in a fresh clone.
import { readFileSync, writeFileSync } from "node:fs";

const logo = "https://cdn.redoc.ly/redoc/logo-mini.svg";
const redoc = JSON.parse(readFileSync(new URL("../node_modules/redoc/package.json", import.meta.url), "utf8"));
const bundle = readFileSync(new URL("../node_modules/redoc/bundles/redoc.standalone.js", import.meta.url), "utf8");
const uses = bundle.split(logo).length - 1;
if (uses !== 1) {
  console.error(`after-build: Redoc ${redoc.version} names its CDN logo ${uses} times, not once: check scripts/after-build.mjs`);
  process.exit(1);
}
if (/https:\/\/cdn\.redoc\.ly/.test(bundle.replace(logo, ""))) {
  console.error(`after-build: Redoc ${redoc.version} loads something else from its CDN`);
  process.exit(1);
}
writeFileSync(
  new URL(`../../dist/assets/redoc-${redoc.version}.standalone.js`, import.meta.url),
  bundle.replace(logo, "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"),
);
writeFileSync(new URL("../../dist/.gitkeep", import.meta.url), "");
