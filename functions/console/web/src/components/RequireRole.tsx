// A page's address typed by someone whose role may not see it shows why,
// instead of the page (the API would refuse its calls anyway).
import type { ReactNode } from "react";
import { useParams } from "react-router";
import { allows, roleIn, useMe, type TenantRole } from "../api/context";

export function RequireRole({ need, children }: { need: TenantRole; children: ReactNode }) {
  const { tenantId } = useParams();
  const me = useMe();
  if (!me.data) return null;
  if (!allows(roleIn(me.data, tenantId), need)) {
    return (
      <section aria-labelledby="denied">
        <h1 id="denied">Not available to your role</h1>
        <p>
          This page needs the {need === "platform_admin" ? "platform admin" : need} role
          {need !== "platform_admin" ? " in this tenant" : ""}. Ask an admin if you need it.
        </p>
      </section>
    );
  }
  return <>{children}</>;
}
