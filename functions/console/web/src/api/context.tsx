// The API client of the signed-in session, and the caller's roles.
import { createContext, useContext, useMemo, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { newClient, must, type Client, type Schemas } from "./client";
import { useSession } from "../auth/session";

const Ctx = createContext<Client | null>(null);

export function ApiProvider({ baseUrl, children }: { baseUrl: string; children: ReactNode }) {
  const { token } = useSession();
  const client = useMemo(() => newClient(baseUrl, token, () => {}), [baseUrl, token]);
  return <Ctx.Provider value={client}>{children}</Ctx.Provider>;
}

export function useApi(): Client {
  const c = useContext(Ctx);
  if (!c) throw new Error("useApi outside ApiProvider");
  return c;
}

export type Me = Schemas["Me"];
export type TenantRole = "platform_admin" | "admin" | "member";

/** useMe is the caller as GET /v1/me says. */
export function useMe() {
  const api = useApi();
  return useQuery({
    queryKey: ["me"],
    queryFn: async () => must(await api.GET("/v1/me")),
    staleTime: 60_000,
    retry: false,
  });
}

/** roleIn is the caller's role in a tenant (platform admins act as admins
 * everywhere and also see the platform's pages), or null. */
export function roleIn(me: Me | undefined, tenantId: string | undefined): TenantRole | null {
  if (!me) return null;
  if (me.platform_admin) return "platform_admin";
  const m = me.memberships.find((x) => x.tenant_id === tenantId);
  return m ? m.role : null;
}

/** allows says whether role may do what needs at least `need`. */
export function allows(role: TenantRole | null, need: TenantRole): boolean {
  const rank: Record<TenantRole, number> = { member: 1, admin: 2, platform_admin: 3 };
  return role !== null && rank[role] >= rank[need];
}
