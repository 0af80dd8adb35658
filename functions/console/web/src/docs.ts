// The API reference at /docs/: Redoc's standalone renderer, shipped with
// the console (copied into assets/ by scripts/after-build.mjs, named by its
// version so it may be cached for good; no third-party CDN), rendering the
// service's own document.
import { version } from "redoc/package.json";

declare global {
  interface Window {
    Redoc?: { init(specUrl: string, options: Record<string, unknown>, element: HTMLElement | null): void };
  }
}

const target = document.getElementById("reference");
const script = document.createElement("script");
script.src = `/console/assets/redoc-${version}.standalone.js`;
script.onload = () =>
  window.Redoc?.init(
    "/v1/openapi.json",
    { hideHostname: true, disableSearch: true },
    target,
  );
script.onerror = () => {
  if (target) target.textContent = "The API reference could not be loaded. The document itself is at /v1/openapi.json.";
};
document.head.appendChild(script);
