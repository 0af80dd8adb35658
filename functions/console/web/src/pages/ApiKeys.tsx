// API keys: credentials for programs (CI, scripts) acting in this tenant
// with a role. Created with the secret shown once; listed by name and
// prefix (never the secret); revoked with a confirmation. Revoked keys stay
// listed for the record.
import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi, useMe } from "../api/context";
import { Confirm } from "../components/Confirm";
import { Pager, usePager } from "../components/Pager";
import { SecretOnce } from "../components/SecretOnce";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatTime } from "../lib/format";
import { actorName, isOwnApiKey } from "./people/logic";

type ApiKey = Schemas["APIKey"];
type Role = Schemas["Role"];

const pageSize = 50;

export default function ApiKeys() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const me = useMe();
  const qc = useQueryClient();
  const pager = usePager();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("member");
  const [secret, setSecret] = useState<{ name: string; key: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const list = useQuery({
    queryKey: ["api-keys", tenantId, pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/api-keys", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pager.cursor } },
        }),
      ),
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ["api-keys", tenantId] });

  const create = useMutation({
    mutationFn: async () =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/api-keys", {
          params: { path: { tenant_id: tenantId } },
          body: { name: name.trim(), role },
        }),
      ),
    onMutate: () => {
      setDone(null);
      setSecret(null);
    },
    onSuccess: (k) => {
      setSecret({ name: k.name, key: k.key });
      setName("");
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: async (k: ApiKey) =>
      must(
        await api.DELETE("/v1/tenants/{tenant_id}/api-keys/{key_id}", {
          params: { path: { tenant_id: tenantId, key_id: k.id } },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (_d, k) => setDone(`Revoked ${k.name}. Programs using it are refused from their next request.`),
    onSettled: () => {
      setRevoking(null);
      void refresh();
    },
  });

  function onCreate(e: FormEvent) {
    e.preventDefault();
    create.mutate();
  }

  const keys = list.data?.api_keys ?? [];
  const revokingOwn = revoking ? isOwnApiKey(me.data?.actor, revoking.id) : false;

  return (
    <section aria-labelledby="api-keys-title">
      <h1 id="api-keys-title">API keys</h1>
      <p className="muted">
        Keys let programs call the API as this tenant: a <strong>member</strong> key acquires seats and reads
        licenses; an <strong>admin</strong> key manages the tenant like an admin. The service keeps only a hash of
        each key.
      </p>

      <form className="card grid" onSubmit={onCreate} aria-label="Create an API key">
        <label>
          Name
          <input required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} placeholder="CI runners" />
        </label>
        <label>
          Role
          <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <div>
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create API key"}
          </button>
        </div>
      </form>
      <ErrorBanner error={create.error} />
      {secret && <SecretOnce label="API key" secret={secret.key} onDone={() => setSecret(null)} />}
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={revoke.error} />

      {list.isPending ? (
        <Loading what="API keys" />
      ) : list.error ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : keys.length === 0 ? (
        <Empty title="No API keys yet">
          <p>Create one above for a program that needs to call the API.</p>
        </Empty>
      ) : (
        <table aria-label="API keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Prefix</th>
              <th scope="col">Created</th>
              <th scope="col">Created by</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <td>
                  {k.name}
                  {isOwnApiKey(me.data?.actor, k.id) && <span className="muted"> (signed in with it)</span>}
                </td>
                <td>{k.role}</td>
                <td>
                  <code>{k.key_prefix}…</code>
                </td>
                <td>{formatTime(k.created_at)}</td>
                <td>{actorName(k.created_by)}</td>
                <td>
                  {k.revoked_at ? (
                    <>
                      <span className="badge bad">Revoked</span>{" "}
                      <span className="muted">{formatTime(k.revoked_at)}</span>
                    </>
                  ) : (
                    <span className="badge ok">Active</span>
                  )}
                </td>
                <td>
                  {!k.revoked_at && (
                    <div className="row-actions">
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Revoke ${k.name}`}
                        disabled={revoke.isPending && revoke.variables?.id === k.id}
                        onClick={() => setRevoking(k)}
                      >
                        Revoke
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager page={pager.page} nextCursor={list.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />

      <Confirm
        open={revoking !== null}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke key"
        busy={revoke.isPending}
        onConfirm={() => revoking && revoke.mutate(revoking)}
        onCancel={() => setRevoking(null)}
      >
        <p>
          Every program using the key starting <code>{revoking?.key_prefix}</code> is refused from its next request.
          A revoked key cannot be restored: create a new one instead.
        </p>
        {revokingOwn && (
          <p>
            <strong>You are signed in with this key.</strong> The console stops working for you until you sign in
            with another credential.
          </p>
        )}
      </Confirm>
    </section>
  );
}
