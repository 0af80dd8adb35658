// Routes. Pages load on demand, so the first load carries only the frame,
// the sign-in and the page asked for (the charts only where they are).
import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, Route, Routes } from "react-router";
import { useMe } from "./api/context";
import { useSession } from "./auth/session";
import { SignIn } from "./auth/SignIn";
import { Layout } from "./components/Layout";
import { RequireRole } from "./components/RequireRole";
import { ErrorBanner, Loading } from "./components/Status";
import type { ConsoleSettings } from "./config";
import type { TenantRole } from "./api/context";

const Overview = lazy(() => import("./pages/Overview"));
const Licenses = lazy(() => import("./pages/Licenses"));
const LicenseDetail = lazy(() => import("./pages/LicenseDetail"));
const Workstations = lazy(() => import("./pages/Workstations"));
const Repositories = lazy(() => import("./pages/Repositories"));
const ApiKeys = lazy(() => import("./pages/ApiKeys"));
const Members = lazy(() => import("./pages/Members"));
const Audit = lazy(() => import("./pages/Audit"));
const Usage = lazy(() => import("./pages/Usage"));
const Tenants = lazy(() => import("./pages/Tenants"));
const Webhooks = lazy(() => import("./pages/Webhooks"));
const WebhookDeliveries = lazy(() => import("./pages/WebhookDeliveries"));
const NotificationSettings = lazy(() => import("./pages/NotificationSettings"));

function page(need: TenantRole, el: ReactNode) {
  return (
    <RequireRole need={need}>
      <Suspense fallback={<Loading what="the page" />}>{el}</Suspense>
    </RequireRole>
  );
}

export function App({ settings }: { settings: ConsoleSettings }) {
  const { session } = useSession();
  if (!session) return <SignIn settings={settings} />;
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Home />} />
        <Route path="tenants/:tenantId">
          <Route index element={page("member", <Overview />)} />
          <Route path="licenses" element={page("member", <Licenses />)} />
          <Route path="licenses/:licenseId" element={page("member", <LicenseDetail />)} />
          <Route path="workstations" element={page("admin", <Workstations />)} />
          <Route path="repositories" element={page("admin", <Repositories />)} />
          <Route path="api-keys" element={page("admin", <ApiKeys />)} />
          <Route path="members" element={page("member", <Members />)} />
          <Route path="audit" element={page("admin", <Audit />)} />
          <Route path="usage" element={page("admin", <Usage />)} />
          <Route path="webhooks" element={page("admin", <Webhooks />)} />
          <Route path="webhooks/:webhookId" element={page("admin", <WebhookDeliveries />)} />
          <Route path="notifications" element={page("admin", <NotificationSettings />)} />
        </Route>
        <Route path="platform/tenants" element={page("platform_admin", <Tenants />)} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}

/** Home sends the caller to its first tenant, or a platform admin with
 * none to the tenants. */
function Home() {
  const me = useMe();
  if (me.error) return <ErrorBanner error={me.error} />;
  if (!me.data) return <Loading what="your account" />;
  const first = me.data.memberships[0];
  if (first) return <Navigate replace to={`/tenants/${first.tenant_id}/`} />;
  if (me.data.platform_admin) return <Navigate replace to="/platform/tenants" />;
  return (
    <section>
      <h1>No tenant yet</h1>
      <p>You are signed in, but not a member of any tenant. Ask an admin to invite {me.data.email || "you"}.</p>
    </section>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>There is no page at this address.</p>
    </section>
  );
}
