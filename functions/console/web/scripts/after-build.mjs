// After `vite build`:
// - Redoc's standalone renderer goes into assets/, named by its version
//   (src/docs.ts loads it; bundling it through Vite fails and would gain
//   nothing);
// - ../dist/.gitkeep comes back: Vite empties ../dist, and the Go package
//   embeds that folder, which must exist in a fresh clone.
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";

const redoc = JSON.parse(readFileSync(new URL("../node_modules/redoc/package.json", import.meta.url), "utf8"));
copyFileSync(
  new URL("../node_modules/redoc/bundles/redoc.standalone.js", import.meta.url),
  new URL(`../../dist/assets/redoc-${redoc.version}.standalone.js`, import.meta.url),
);
writeFileSync(new URL("../../dist/.gitkeep", import.meta.url), "");
