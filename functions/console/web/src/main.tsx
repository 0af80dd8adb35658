import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { ApiError } from "./api/errors";
import { ApiProvider } from "./api/context";
import { SessionProvider } from "./auth/session";
import { App } from "./App";
import { loadSettings } from "./config";
import "./styles.css";

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; a 5xx or a dropped
      // connection might.
      retry: (n, err) => n < 2 && !(err instanceof ApiError && err.status < 500),
      refetchOnWindowFocus: true,
    },
  },
});

const root = createRoot(document.getElementById("root")!);
loadSettings()
  .then((settings) => {
    root.render(
      <StrictMode>
        <QueryClientProvider client={queries}>
          <SessionProvider onSignOut={() => queries.clear()}>
            <ApiProvider baseUrl={settings.api_base}>
              <BrowserRouter basename="/console">
                <App settings={settings} />
              </BrowserRouter>
            </ApiProvider>
          </SessionProvider>
        </QueryClientProvider>
      </StrictMode>,
    );
  })
  .catch((err: unknown) => {
    root.render(
      <main className="signin">
        <h1>License console</h1>
        <p role="alert">{err instanceof Error ? err.message : "The console could not start."}</p>
      </main>,
    );
  });
