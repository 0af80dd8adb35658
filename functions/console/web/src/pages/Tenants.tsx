// Tenants (platform admins only): the vendor's customers. List, create
// (with a link into the new tenant, and its row shown even when the list,
// oldest first, has it on a later page), suspend and resume (all its
// licenses go inactive at once), delete; and the platform's own admins.
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi, useMe } from "../api/context";
import { ApiError } from "../api/errors";
import { Confirm } from "../components/Confirm";
import { Pager, usePager } from "../components/Pager";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatTime } from "../lib/format";
import { MemberDirectory } from "./people/MemberDirectory";
import { slugFrom, slugPattern } from "./people/logic";

type Tenant = Schemas["Tenant"];

const pageSize = 50;

export default function Tenants() {
  const api = useApi();
  const me = useMe();
  const qc = useQueryClient();
  const pager = usePager();
  const [suspending, setSuspending] = useState<Tenant | null>(null);
  const [deleting, setDeleting] = useState<Tenant | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // The tenant just created, and a new key for the create form to empty it.
  const [createdId, setCreatedId] = useState<string | null>(null);
  const [creates, setCreates] = useState(0);

  const list = useQuery({
    queryKey: ["tenants", "platform", pager.cursor ?? ""],
    queryFn: async () => must(await api.GET("/v1/tenants", { params: { query: { limit: pageSize, cursor: pager.cursor } } })),
  });
  // Every list of tenants (this one and the tenant switcher's).
  const refresh = () => qc.invalidateQueries({ queryKey: ["tenants"] });

  // The tenant just created, read on its own (and refreshed with the list).
  const created = useQuery({
    queryKey: ["tenants", "one", createdId],
    enabled: createdId !== null,
    queryFn: async () =>
      must(await api.GET("/v1/tenants/{tenant_id}", { params: { path: { tenant_id: createdId ?? "" } } })),
  });

  const create = useMutation({
    mutationFn: async (body: Schemas["TenantCreate"]) => must(await api.POST("/v1/tenants", { body })),
    onMutate: () => setDone(null),
    onSuccess: (t) => {
      qc.setQueryData(["tenants", "one", t.id], t);
      setCreatedId(t.id);
      setCreates((n) => n + 1);
      void refresh();
    },
  });
  const setStatus = useMutation({
    mutationFn: async (v: { t: Tenant; status: Tenant["status"] }) =>
      must(
        await api.PATCH("/v1/tenants/{tenant_id}", {
          params: { path: { tenant_id: v.t.id } },
          body: { status: v.status },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (t) =>
      setDone(
        t.status === "suspended"
          ? `Suspended ${t.name}: its licenses are inactive.`
          : `Resumed ${t.name}: its licenses are active again.`,
      ),
    onSettled: (_d, _e, v) => {
      setSuspending(null);
      void refresh();
      void qc.invalidateQueries({ queryKey: ["licenses", v.t.id] });
    },
  });
  const remove = useMutation({
    mutationFn: async (t: Tenant) =>
      must(await api.DELETE("/v1/tenants/{tenant_id}", { params: { path: { tenant_id: t.id } } })),
    onMutate: () => setDone(null),
    onSuccess: (_d, t) => {
      setDone(`Deleted ${t.name}.`);
      if (t.id === createdId) setCreatedId(null);
    },
    onSettled: () => {
      setDeleting(null);
      void refresh();
    },
  });

  const listed = list.data?.tenants ?? [];
  // The new tenant first when this page of the list does not hold it.
  const fresh = createdId && created.data && !listed.some((t) => t.id === createdId) ? created.data : null;
  const tenants = fresh ? [fresh, ...listed] : listed;
  const newTenant = createdId ? (created.data ?? null) : null;

  return (
    <section aria-labelledby="tenants-title">
      <h1 id="tenants-title">Tenants</h1>
      <p className="muted">
        The vendor's customers. Each owns its licenses, API keys, members, workstations and repositories.
      </p>

      <CreateTenant
        key={creates}
        busy={create.isPending}
        error={create.error}
        onCreate={(body) => create.mutate(body)}
      />

      {newTenant && !done && (
        <Notice>
          Created {newTenant.name}. <Link to={`/tenants/${newTenant.id}/`}>Open the new tenant</Link> to add its
          licenses and invite its first admin.
        </Notice>
      )}
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={setStatus.error} />
      <ErrorBanner error={remove.error} />

      {list.isPending ? (
        <Loading what="tenants" />
      ) : list.error ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : tenants.length === 0 ? (
        <Empty title="No tenants yet">
          <p>Create the first one above.</p>
        </Empty>
      ) : (
        <table aria-label="Tenants">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Slug</th>
              <th scope="col">Status</th>
              <th scope="col">Identity Platform tenant</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {tenants.map((t) => {
              const busy =
                (setStatus.isPending && setStatus.variables?.t.id === t.id) ||
                (remove.isPending && remove.variables?.id === t.id);
              return (
                <tr key={t.id}>
                  <td>
                    <Link to={`/tenants/${t.id}/`}>{t.name}</Link>
                    {t.id === createdId && <span className="badge ok tenant-new">New</span>}
                  </td>
                  <td>
                    <code>{t.slug}</code>
                  </td>
                  <td>
                    {t.status === "active" ? (
                      <span className="badge ok">Active</span>
                    ) : (
                      <span className="badge warn">Suspended</span>
                    )}
                  </td>
                  <td>{t.idp_tenant_id ? <code>{t.idp_tenant_id}</code> : "—"}</td>
                  <td>{formatTime(t.created_at)}</td>
                  <td>
                    <div className="row-actions">
                      {t.status === "active" ? (
                        <button
                          type="button"
                          aria-label={`Suspend ${t.name}`}
                          disabled={busy}
                          onClick={() => setSuspending(t)}
                        >
                          Suspend
                        </button>
                      ) : (
                        <button
                          type="button"
                          aria-label={`Resume ${t.name}`}
                          disabled={busy}
                          onClick={() => setStatus.mutate({ t, status: "active" })}
                        >
                          {setStatus.isPending && setStatus.variables?.t.id === t.id ? "Resuming…" : "Resume"}
                        </button>
                      )}
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Delete ${t.name}`}
                        disabled={busy}
                        onClick={() => setDeleting(t)}
                      >
                        Delete
                      </button>
                    </div>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager page={pager.page} nextCursor={list.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />

      <section aria-labelledby="platform-admins-title">
        <h2 id="platform-admins-title">Platform admins</h2>
        <p className="muted">
          People who manage every tenant and the commercial terms of licenses.
          {me.data?.actor === "bootstrap" &&
            " You are signed in with the bootstrap token, which is a platform admin without being listed here."}
        </p>
        <MemberDirectory scope={{ kind: "platform" }} canManage={!!me.data?.platform_admin} />
      </section>

      {/* Mounted only while asked (Confirm's title id is fixed, so one at a time). */}
      {suspending && (
        <Confirm
          open
          title={`Suspend ${suspending.name}?`}
          confirmLabel="Suspend tenant"
          busy={setStatus.isPending}
          onConfirm={() => setStatus.mutate({ t: suspending, status: "suspended" })}
          onCancel={() => setSuspending(null)}
        >
          <p>
            All of its licenses become inactive at once: its live sessions stop counting and every new acquire is
            refused until you resume it. Its data and settings are kept.
          </p>
        </Confirm>
      )}
      {deleting && (
        <Confirm
          open
          title={`Delete ${deleting.name}?`}
          confirmLabel="Delete tenant"
          busy={remove.isPending}
          onConfirm={() => remove.mutate(deleting)}
          onCancel={() => setDeleting(null)}
        >
          <p>
            <strong>This cannot be undone from the console or the API.</strong> The tenant disappears, and with it
            access to everything it owns:
          </p>
          <ul>
            <li>its licenses stop at once: live sessions stop counting and every acquire is refused;</li>
            <li>its API keys stop working and its members lose access;</li>
            <li>its workstations, repositories, usage and audit log can no longer be read.</li>
          </ul>
          <p>
            The records are kept in the database for the record, and its slug <code>{deleting.slug}</code> becomes free
            for a new tenant.
          </p>
        </Confirm>
      )}
    </section>
  );
}

/** The create form: the slug follows the name until it is edited. */
function CreateTenant(props: { busy: boolean; error: unknown; onCreate(body: Schemas["TenantCreate"]): void }) {
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [idp, setIdp] = useState("");
  const code = props.error instanceof ApiError ? props.error.code : "";

  function submit(e: FormEvent) {
    e.preventDefault();
    const body: Schemas["TenantCreate"] = { name: name.trim(), slug: slug.trim() };
    if (idp.trim()) body.idp_tenant_id = idp.trim();
    props.onCreate(body);
  }

  return (
    <form className="card grid" onSubmit={submit} aria-label="Create a tenant">
      <label>
        Name
        <input
          required
          maxLength={200}
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            if (!slugEdited) setSlug(slugFrom(e.target.value));
          }}
        />
      </label>
      <div className="field">
        <label>
          Slug
          <input
          required
          pattern={slugPattern}
          maxLength={63}
          value={slug}
          spellCheck={false}
          aria-describedby="tenant-slug-hint"
          aria-invalid={code === "slug_taken" || undefined}
          onChange={(e) => {
            setSlug(e.target.value);
            setSlugEdited(e.target.value !== "");
          }}
        />
        </label>
        <span id="tenant-slug-hint" className="hint">
          Lower-case letters, digits and inner hyphens; unique.
        </span>
      </div>
      <div className="field">
        <label>
          Identity Platform tenant (optional)
          <input
          maxLength={128}
          value={idp}
          spellCheck={false}
          aria-describedby="tenant-idp-hint"
          aria-invalid={code === "idp_tenant_taken" || undefined}
          onChange={(e) => setIdp(e.target.value)}
        />
        </label>
        <span id="tenant-idp-hint" className="hint">
          Its people sign in through this Identity Platform tenant.
        </span>
      </div>
      <div>
        <button type="submit" className="primary" disabled={props.busy}>
          {props.busy ? "Creating…" : "Create tenant"}
        </button>
      </div>
      {props.error !== null && props.error !== undefined && (
        <div className="form-error">
          <ErrorBanner error={props.error} />
        </div>
      )}
    </form>
  );
}
