import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The console is served by functions/console at /console/, which embeds
// ../dist (go:embed); docs.html is the API reference at /docs/.
export default defineConfig({
  base: "/console/",
  plugins: [react()],
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      input: { index: "index.html", docs: "docs.html" },
    },
  },
  server: {
    // `npm run dev`: the API is make run's server.
    proxy: Object.fromEntries(
      ["/v1", "/dev", "/identitytoolkit.googleapis.com", "/securetoken.googleapis.com"].map((p) => [p, "http://127.0.0.1:8080"]),
    ),
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
  },
});
