// Members: who may use this tenant. Every member reads the list; admins
// (and platform admins) invite by e-mail, change roles and remove; the API
// keeps at least one admin (409 last_admin), and the page says so up front
// and next to the action it refused.
import { useParams } from "react-router";
import { allows, roleIn, useMe } from "../api/context";
import { MemberDirectory } from "./people/MemberDirectory";

export default function Members() {
  const { tenantId = "" } = useParams();
  const me = useMe();
  const canManage = allows(roleIn(me.data, tenantId), "admin");
  return (
    <section aria-labelledby="members-title">
      <h1 id="members-title">Members</h1>
      <p className="muted">
        People and service accounts invited by e-mail. An invitation stays pending until its first sign-in with that
        e-mail address verified.
        {!canManage && " Only an admin of this tenant can invite, change or remove members."}
      </p>
      <MemberDirectory key={tenantId} scope={{ kind: "tenant", tenantId }} canManage={canManage} />
    </section>
  );
}
