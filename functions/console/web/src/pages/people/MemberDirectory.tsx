// A list of memberships with invite, role change and remove: a tenant's
// members (Members page) and the platform's admins (Tenants page). Both sit
// on the same API shape (MemberList, MemberInvite, MemberUpdate) and the
// same last-admin rule.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../../api/client";
import { useApi, useMe } from "../../api/context";
import { ApiError } from "../../api/errors";
import { Confirm } from "../../components/Confirm";
import { Pager, usePager } from "../../components/Pager";
import { Empty, ErrorBanner, Loading, Notice } from "../../components/Status";
import { formatTime } from "../../lib/format";
import { actorName, isSelf } from "./logic";

type Member = Schemas["Member"];
type Role = Member["role"];
type Kind = Member["kind"];

/** Where the memberships live: a tenant, or the platform (its admins). */
export type Scope = { kind: "tenant"; tenantId: string } | { kind: "platform" };

const pageSize = 50;

function keyOf(scope: Scope): readonly unknown[] {
  return scope.kind === "tenant" ? ["members", scope.tenantId] : ["platform-members"];
}

/** explain words the last-admin refusal for the scope. */
function explain(scope: Scope, err: unknown): unknown {
  if (scope.kind === "platform" && err instanceof ApiError && err.code === "last_admin") {
    return new Error(
      "This would leave the platform without a platform admin. Invite another platform admin and let them sign in first.",
    );
  }
  return err;
}

export function MemberDirectory(props: {
  scope: Scope;
  /** May the caller invite, change and remove (admin of the tenant, or
   * platform admin)? Members only read. */
  canManage: boolean;
}) {
  const { scope, canManage } = props;
  const api = useApi();
  const me = useMe();
  const qc = useQueryClient();
  const pager = usePager();
  const platform = scope.kind === "platform";

  const list = useQuery({
    queryKey: [...keyOf(scope), pager.cursor ?? ""],
    queryFn: async () => {
      const query = { limit: pageSize, cursor: pager.cursor };
      if (scope.kind === "tenant") {
        return must(
          await api.GET("/v1/tenants/{tenant_id}/members", { params: { path: { tenant_id: scope.tenantId }, query } }),
        );
      }
      return must(await api.GET("/v1/platform/members", { params: { query } }));
    },
    refetchInterval: 30_000,
  });

  // The invitation form.
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>(platform ? "admin" : "member");
  const [kind, setKind] = useState<Kind>("person");
  const [invited, setInvited] = useState<Member | null>(null);
  const invite = useMutation({
    mutationFn: async () => {
      const body: Schemas["MemberInvite"] = { email: email.trim(), role: platform ? "admin" : role, kind };
      if (scope.kind === "tenant") {
        return must(
          await api.POST("/v1/tenants/{tenant_id}/members", { params: { path: { tenant_id: scope.tenantId } }, body }),
        );
      }
      return must(await api.POST("/v1/platform/members", { body }));
    },
    onSuccess: (m) => {
      setInvited(m);
      setEmail("");
      void qc.invalidateQueries({ queryKey: keyOf(scope) });
    },
  });

  // Destructive or self-limiting actions ask first.
  const [removing, setRemoving] = useState<Member | null>(null);
  const [demotingSelf, setDemotingSelf] = useState<Member | null>(null);
  // A row's action and the error it met, shown next to that row's controls.
  const [rowError, setRowError] = useState<{ id: string; error: unknown } | null>(null);
  const changeRole = useMutation({
    mutationFn: async (v: { m: Member; role: Role }) => {
      if (scope.kind !== "tenant") throw new Error("platform admins have one role");
      return must(
        await api.PATCH("/v1/tenants/{tenant_id}/members/{member_id}", {
          params: { path: { tenant_id: scope.tenantId, member_id: v.m.id } },
          body: { role: v.role },
        }),
      );
    },
    onMutate: (v) => setRowError((e) => (e?.id === v.m.id ? null : e)),
    onError: (error, v) => setRowError({ id: v.m.id, error: explain(scope, error) }),
    onSettled: (_d, _e, v) => {
      void qc.invalidateQueries({ queryKey: keyOf(scope) });
      if (isSelf(me.data?.email, v.m.email)) void qc.invalidateQueries({ queryKey: ["me"] });
    },
  });
  const remove = useMutation({
    mutationFn: async (m: Member) => {
      if (scope.kind === "tenant") {
        return must(
          await api.DELETE("/v1/tenants/{tenant_id}/members/{member_id}", {
            params: { path: { tenant_id: scope.tenantId, member_id: m.id } },
          }),
        );
      }
      return must(await api.DELETE("/v1/platform/members/{member_id}", { params: { path: { member_id: m.id } } }));
    },
    onMutate: (m) => setRowError((e) => (e?.id === m.id ? null : e)),
    onError: (error, m) => setRowError({ id: m.id, error: explain(scope, error) }),
    onSettled: (_d, _e, m) => {
      setRemoving(null);
      void qc.invalidateQueries({ queryKey: keyOf(scope) });
      if (isSelf(me.data?.email, m.email)) void qc.invalidateQueries({ queryKey: ["me"] });
    },
  });

  function onInvite(e: FormEvent) {
    e.preventDefault();
    setInvited(null);
    invite.mutate();
  }

  function onRole(m: Member, next: Role) {
    if (next === m.role) return;
    if (next === "member" && isSelf(me.data?.email, m.email) && !me.data?.platform_admin) {
      setDemotingSelf(m);
      return;
    }
    changeRole.mutate({ m, role: next });
  }

  const members = list.data?.members ?? [];
  const removingSelf = removing ? isSelf(me.data?.email, removing.email) : false;

  return (
    <>
      <p className="note">
        {platform ? (
          <>
            <strong>The platform always keeps at least one platform admin.</strong> Platform admins act as admins
            in every tenant and alone manage tenants and commercial terms.
          </>
        ) : (
          <>
            <strong>A tenant always keeps at least one admin.</strong> The last admin cannot be demoted or
            removed: make someone else an admin first.
          </>
        )}
      </p>

      {canManage && (
        <form className="card grid" onSubmit={onInvite} aria-label={platform ? "Invite a platform admin" : "Invite a member"}>
          <label>
            E-mail
            <input
              type="email"
              required
              maxLength={320}
              autoComplete="off"
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </label>
          {!platform && (
            <label>
              Role
              <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
                <option value="member">member: seats, reading licenses</option>
                <option value="admin">admin: manages the tenant</option>
              </select>
            </label>
          )}
          <label>
            Kind
            <select value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
              <option value="person">person</option>
              <option value="service_account">service account (Google)</option>
            </select>
          </label>
          <div>
            <button type="submit" className="primary" disabled={invite.isPending}>
              {invite.isPending ? "Inviting…" : platform ? "Invite platform admin" : "Invite member"}
            </button>
          </div>
        </form>
      )}
      <ErrorBanner error={invite.error} />
      {invited && (
        <Notice>
          Invited {invited.email}. The invitation is pending until they sign in with that e-mail address verified.
        </Notice>
      )}

      {list.isPending ? (
        <Loading what={platform ? "platform admins" : "members"} />
      ) : list.error ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : members.length === 0 ? (
        <Empty title={platform ? "No platform admins yet" : "No members yet"}>
          {canManage && <p>Invite someone by e-mail above.</p>}
        </Empty>
      ) : (
        <table aria-label={platform ? "Platform admins" : "Members"}>
          <thead>
            <tr>
              <th scope="col">E-mail</th>
              <th scope="col">Role</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Invited by</th>
              <th scope="col">Since</th>
              {canManage && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {members.map((m) => {
              const self = isSelf(me.data?.email, m.email);
              const err = rowError?.id === m.id ? rowError.error : null;
              return (
                <tr key={m.id}>
                  <td>
                    {m.email}
                    {self && <span className="muted"> (you)</span>}
                  </td>
                  <td>
                    {canManage && !platform ? (
                      <select
                        aria-label={`Role of ${m.email}`}
                        value={m.role}
                        disabled={changeRole.isPending && changeRole.variables?.m.id === m.id}
                        onChange={(e) => onRole(m, e.target.value as Role)}
                      >
                        <option value="member">member</option>
                        <option value="admin">admin</option>
                      </select>
                    ) : platform ? (
                      "platform admin"
                    ) : (
                      m.role
                    )}
                  </td>
                  <td>{m.kind === "service_account" ? "service account" : "person"}</td>
                  <td>
                    {m.status === "active" ? (
                      <span className="badge ok">Active</span>
                    ) : (
                      <span className="badge warn">Pending</span>
                    )}
                  </td>
                  <td>{actorName(m.created_by)}</td>
                  <td>{formatTime(m.bound_at ?? m.created_at)}</td>
                  {canManage && (
                    <td>
                      <div className="row-actions">
                        <button
                          type="button"
                          aria-label={`Remove ${m.email}`}
                          disabled={remove.isPending && remove.variables?.id === m.id}
                          onClick={() => setRemoving(m)}
                        >
                          Remove
                        </button>
                      </div>
                      {err !== null && <ErrorBanner error={err} />}
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager page={pager.page} nextCursor={list.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />

      {/* Mounted only while asked (Confirm's title id is fixed, so one at a time). */}
      {canManage && removing && (
        <Confirm
          open
          title={`Remove ${removing.email}?`}
          confirmLabel={platform ? "Remove platform admin" : "Remove member"}
          busy={remove.isPending}
          onConfirm={() => remove.mutate(removing)}
          onCancel={() => setRemoving(null)}
        >
          <p>
            {platform
              ? "They lose the platform admin role on their next request: no more access to every tenant, nor to the tenants page."
              : "They lose access to this tenant on their next request, and can no longer acquire seats of its licenses that require a member."}
          </p>
          {removingSelf && (
            <p>
              <strong>This is you.</strong> You will lose this access yourself.
            </p>
          )}
        </Confirm>
      )}
      {canManage && demotingSelf && (
        <Confirm
          open
          title="Make yourself a member?"
          confirmLabel="Make me a member"
          busy={changeRole.isPending}
          onConfirm={() => {
            changeRole.mutate({ m: demotingSelf, role: "member" });
            setDemotingSelf(null);
          }}
          onCancel={() => setDemotingSelf(null)}
        >
          <p>You will no longer be an admin of this tenant: only another admin can make you one again.</p>
        </Confirm>
      )}
    </>
  );
}
