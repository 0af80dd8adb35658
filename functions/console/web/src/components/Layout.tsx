// The frame of every signed-in page: a skip link, the navigation of what
// the caller's role may do in the current tenant, the tenant switcher and
// sign-out.
import { NavLink, Outlet, useNavigate, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { allows, roleIn, useApi, useMe } from "../api/context";
import { must } from "../api/client";
import { ApiError } from "../api/errors";
import { useSession } from "../auth/session";
import { tenantPages } from "../nav";
import { ErrorBanner, Loading } from "./Status";

export function Layout() {
  const { tenantId } = useParams();
  const me = useMe();
  const { signOut } = useSession();
  const role = roleIn(me.data, tenantId);
  return (
    <div className="frame">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">License console</span>
        {me.data && <TenantSwitcher current={tenantId} />}
        <span className="who">
          {me.data?.email || me.data?.actor}
          {role && <span className="role"> · {roleLabel(role)}</span>}
        </span>
        <a href="/docs/">API reference</a>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav className="side" aria-label="Console">
        <ul>
          {tenantId &&
            tenantPages
              .filter((p) => allows(role, p.need))
              .map((p) => (
                <li key={p.path}>
                  <NavLink end={p.path === ""} to={`/tenants/${tenantId}/${p.path}`}>
                    {p.label}
                  </NavLink>
                </li>
              ))}
          {me.data?.platform_admin && (
            <li>
              <NavLink to="/platform/tenants">Tenants</NavLink>
            </li>
          )}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {me.isPending ? (
          <Loading what="your account" />
        ) : me.error ? (
          <>
            <ErrorBanner error={me.error} />
            {me.error instanceof ApiError && me.error.status === 401 && (
              // The credential was revoked or expired: the way out is a new sign-in.
              <button type="button" className="primary" onClick={() => void signOut()}>
                Sign in again
              </button>
            )}
          </>
        ) : (
          <Outlet />
        )}
      </main>
    </div>
  );
}

export function roleLabel(r: string): string {
  return r === "platform_admin" ? "platform admin" : r;
}

/** The tenants the caller can switch between: every tenant for a platform
 * admin (first page), its memberships for anyone else. */
function TenantSwitcher({ current }: { current: string | undefined }) {
  const api = useApi();
  const me = useMe();
  const navigate = useNavigate();
  const platform = me.data?.platform_admin ?? false;
  const tenants = useQuery({
    queryKey: ["tenants", "switcher", platform, me.data?.memberships.map((m) => m.tenant_id).join(",")],
    enabled: !!me.data,
    queryFn: async () => {
      if (platform) return must(await api.GET("/v1/tenants", { params: { query: { limit: 200 } } })).tenants;
      const out = [];
      for (const m of me.data?.memberships ?? []) {
        out.push(must(await api.GET("/v1/tenants/{tenant_id}", { params: { path: { tenant_id: m.tenant_id } } })));
      }
      return out;
    },
  });
  if (!tenants.data || tenants.data.length === 0) return null;
  return (
    <label className="switcher">
      Tenant{" "}
      <select
        value={current ?? ""}
        onChange={(e) => e.target.value && navigate(`/tenants/${e.target.value}/`)}
      >
        {!current && <option value="">Choose…</option>}
        {tenants.data.map((t) => (
          <option key={t.id} value={t.id}>
            {t.name}
          </option>
        ))}
      </select>
    </label>
  );
}
