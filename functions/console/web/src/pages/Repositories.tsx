// Repositories: the git remotes seats are acquired for (the SDK reports the
// normalised remote with each acquire). Admins register, edit and delete
// them; the https and ssh forms of one remote are one repository, so a
// second registration of it is 409 remote_taken.
import { useState, type FormEvent } from "react";
import { useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi } from "../api/context";
import { ApiError } from "../api/errors";
import { Confirm } from "../components/Confirm";
import { Pager, usePager } from "../components/Pager";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatTime } from "../lib/format";
import {
  repositoryChanges,
  repositoryCreate,
  repositoryForm,
  type RepositoryForm,
} from "./people/logic";

type Repository = Schemas["Repository"];

const pageSize = 50;

export default function Repositories() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const pager = usePager();
  const [editing, setEditing] = useState<Repository | null>(null);
  const [deleting, setDeleting] = useState<Repository | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // A new key empties the create form once its repository is registered.
  const [created, setCreated] = useState(0);

  const list = useQuery({
    queryKey: ["repositories", tenantId, pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/repositories", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pager.cursor } },
        }),
      ),
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ["repositories", tenantId] });

  const create = useMutation({
    mutationFn: async (f: RepositoryForm) =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/repositories", {
          params: { path: { tenant_id: tenantId } },
          body: repositoryCreate(f),
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (r) => {
      setDone(`Registered ${r.name} (${r.remote_url}).`);
      setCreated((n) => n + 1);
      void refresh();
    },
  });
  const update = useMutation({
    mutationFn: async (v: { r: Repository; body: Schemas["RepositoryUpdate"] }) =>
      must(
        await api.PATCH("/v1/tenants/{tenant_id}/repositories/{repository_id}", {
          params: { path: { tenant_id: tenantId, repository_id: v.r.id } },
          body: v.body,
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (r) => {
      setDone(`Saved ${r.name}.`);
      setEditing(null);
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: async (r: Repository) =>
      must(
        await api.DELETE("/v1/tenants/{tenant_id}/repositories/{repository_id}", {
          params: { path: { tenant_id: tenantId, repository_id: r.id } },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (_d, r) => {
      setDone(`Deleted ${r.name}.`);
      if (editing?.id === r.id) setEditing(null);
    },
    onSettled: () => {
      setDeleting(null);
      void refresh();
    },
  });

  const repos = list.data?.repositories ?? [];

  return (
    <section aria-labelledby="repositories-title">
      <h1 id="repositories-title">Repositories</h1>
      <p className="muted">
        The git remotes your developers work in. Seats acquired in a registered repository are reported by it in
        usage. The https and ssh forms of a remote are the same repository.
      </p>

      {editing ? (
        <RepositoryEditor
          key={editing.id}
          title={`Edit ${editing.name}`}
          initial={repositoryForm(editing)}
          submitLabel="Save repository"
          busyLabel="Saving…"
          busy={update.isPending}
          error={update.error}
          onSubmit={(f) => {
            const body = repositoryChanges(editing, f);
            if (!body) {
              setEditing(null);
              return;
            }
            update.mutate({ r: editing, body });
          }}
          onCancel={() => {
            update.reset();
            setEditing(null);
          }}
        />
      ) : (
        <RepositoryEditor
          key={`create-${created}`}
          title="Register a repository"
          initial={repositoryForm()}
          submitLabel="Create repository"
          busyLabel="Creating…"
          busy={create.isPending}
          error={create.error}
          onSubmit={(f) => create.mutate(f)}
        />
      )}
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={remove.error} />

      {list.isPending ? (
        <Loading what="repositories" />
      ) : list.error ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : repos.length === 0 ? (
        <Empty title="No repositories yet">
          <p>Register one with its git remote above.</p>
        </Empty>
      ) : (
        <table aria-label="Repositories">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Remote</th>
              <th scope="col">Provider</th>
              <th scope="col">Default branch</th>
              <th scope="col">Created</th>
              <th scope="col">Updated</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {repos.map((r) => (
              <tr key={r.id} aria-current={editing?.id === r.id ? "true" : undefined}>
                <td>{r.name}</td>
                <td>
                  <code>{r.remote_url}</code>
                </td>
                <td>{r.provider || "—"}</td>
                <td>{r.default_branch || "—"}</td>
                <td>{formatTime(r.created_at)}</td>
                <td>{formatTime(r.updated_at)}</td>
                <td>
                  <div className="row-actions">
                    <button
                      type="button"
                      aria-label={`Edit ${r.name}`}
                      disabled={editing?.id === r.id}
                      onClick={() => {
                        update.reset();
                        setEditing(r);
                      }}
                    >
                      Edit
                    </button>
                    <button
                      type="button"
                      className="danger"
                      aria-label={`Delete ${r.name}`}
                      disabled={remove.isPending && remove.variables?.id === r.id}
                      onClick={() => setDeleting(r)}
                    >
                      Delete
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager page={pager.page} nextCursor={list.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />

      <Confirm
        open={deleting !== null}
        title={`Delete ${deleting?.name ?? ""}?`}
        confirmLabel="Delete repository"
        busy={remove.isPending}
        onConfirm={() => deleting && remove.mutate(deleting)}
        onCancel={() => setDeleting(null)}
      >
        <p>
          <code>{deleting?.remote_url}</code> is no longer registered. Its past usage stays in the reports and the
          record is kept for the audit log; you can register the remote again later.
        </p>
      </Confirm>
    </section>
  );
}

/** The create or edit form (one at a time, so its labels are unique). */
function RepositoryEditor(props: {
  title: string;
  initial: RepositoryForm;
  submitLabel: string;
  busyLabel: string;
  busy: boolean;
  error: unknown;
  onSubmit(f: RepositoryForm): void;
  onCancel?(): void;
}) {
  const [f, setF] = useState<RepositoryForm>(props.initial);
  const set = (k: keyof RepositoryForm) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const taken = props.error instanceof ApiError && props.error.code === "remote_taken";

  function submit(e: FormEvent) {
    e.preventDefault();
    props.onSubmit(f);
  }

  return (
    <form className="card grid" onSubmit={submit} aria-label={props.title}>
      <p className="form-title">
        <strong>{props.title}</strong>
      </p>
      <label>
        Name
        <input required maxLength={200} value={f.name} onChange={set("name")} />
      </label>
      <label>
        Remote URL
        <input
          required
          maxLength={500}
          value={f.remote_url}
          onChange={set("remote_url")}
          placeholder="https://github.com/acme/app.git"
          aria-invalid={taken || undefined}
          aria-describedby={taken ? "remote-taken" : undefined}
          spellCheck={false}
        />
      </label>
      <label>
        Provider (optional)
        <input maxLength={50} value={f.provider} onChange={set("provider")} placeholder="github" />
      </label>
      <label>
        Default branch (optional)
        <input maxLength={255} value={f.default_branch} onChange={set("default_branch")} placeholder="main" />
      </label>
      <div className="row-actions">
        <button type="submit" className="primary" disabled={props.busy}>
          {props.busy ? props.busyLabel : props.submitLabel}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
      {props.error !== null && props.error !== undefined && (
        <div className="form-error" id={taken ? "remote-taken" : undefined}>
          <ErrorBanner error={props.error} />
          {taken && (
            <p className="muted">
              The ssh and https forms of a remote (and any letter case of its host) are the same repository. Find it in
              the list below and edit it instead.
            </p>
          )}
        </div>
      )}
    </form>
  );
}
