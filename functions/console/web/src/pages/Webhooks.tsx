// Webhooks: endpoints the service POSTs this tenant's events to, signed
// with a secret shown once (at creation and at each rotation). Listed with
// what they receive and whether they are on (and why not: the service
// turns off an endpoint that failed for three days); edited, switched on
// and off, tested with a ping, deleted with a confirmation. Each one's
// delivery log is its own page (WebhookDeliveries).
import { useId, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must } from "../api/client";
import { useApi } from "../api/context";
import { ApiError } from "../api/errors";
import { Confirm } from "../components/Confirm";
import { Pager, usePager } from "../components/Pager";
import { SecretOnce } from "../components/SecretOnce";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { describeEventTypes, eventTypes, webhookState, type EventType, type Webhook } from "./notifications/logic";

const pageSize = 50;

interface WebhookForm {
  url: string;
  description: string;
  /** Empty: every type. */
  eventTypes: EventType[];
}

const blank: WebhookForm = { url: "", description: "", eventTypes: [] };

export default function Webhooks() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const pager = usePager();
  const [secret, setSecret] = useState<{ label: string; key: string } | null>(null);
  const [editing, setEditing] = useState<Webhook | null>(null);
  const [deleting, setDeleting] = useState<Webhook | null>(null);
  const [rotating, setRotating] = useState<Webhook | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // The create form is remounted after a success, so it starts blank.
  const [createKey, setCreateKey] = useState(0);

  const list = useQuery({
    queryKey: ["webhooks", tenantId, pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/webhooks", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pager.cursor } },
        }),
      ),
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ["webhooks", tenantId] });
  const path = (w: Webhook) => ({ path: { tenant_id: tenantId, webhook_id: w.id } });
  const start = () => {
    setDone(null);
    setSecret(null);
  };

  const create = useMutation({
    mutationFn: async (f: WebhookForm) =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/webhooks", {
          params: { path: { tenant_id: tenantId } },
          // enabled has a default in the spec, which the generated type
          // makes required.
          body: { url: f.url.trim(), description: f.description.trim(), event_types: f.eventTypes, enabled: true },
        }),
      ),
    onMutate: start,
    onSuccess: (w) => {
      setSecret({ label: `Signing secret of ${w.url}`, key: w.secret });
      setCreateKey((k) => k + 1);
      void refresh();
    },
  });
  const update = useMutation({
    mutationFn: async (v: { w: Webhook; body: { url?: string; description?: string; event_types?: EventType[]; enabled?: boolean } }) =>
      must(await api.PATCH("/v1/tenants/{tenant_id}/webhooks/{webhook_id}", { params: path(v.w), body: v.body })),
    onMutate: start,
    onSuccess: (w, v) => {
      if (v.body.enabled === undefined) {
        setEditing(null);
        setDone(`Saved ${w.url}.`);
      } else {
        setDone(w.enabled ? `Enabled ${w.url}: events are delivered again.` : `Disabled ${w.url}: no events are sent to it.`);
      }
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: async (w: Webhook) =>
      must(await api.DELETE("/v1/tenants/{tenant_id}/webhooks/{webhook_id}", { params: path(w) })),
    onMutate: start,
    onSuccess: (_d, w) => setDone(`Deleted ${w.url}. No more events are sent to it.`),
    onSettled: () => {
      setDeleting(null);
      void refresh();
    },
  });
  const rotate = useMutation({
    mutationFn: async (w: Webhook) =>
      must(await api.POST("/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-secret", { params: path(w) })),
    onMutate: start,
    onSuccess: (w) => {
      setSecret({ label: `New signing secret of ${w.url}`, key: w.secret });
      void refresh();
    },
    onSettled: () => setRotating(null),
  });
  const ping = useMutation({
    mutationFn: async (w: Webhook) =>
      must(await api.POST("/v1/tenants/{tenant_id}/webhooks/{webhook_id}/test", { params: path(w) })),
    onMutate: start,
    onSuccess: (_d, w) => setDone(`A test ping to ${w.url} is queued. Its delivery shows in the endpoint's delivery log.`),
  });

  const hooks = list.data?.webhooks ?? [];

  return (
    <section aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      <p className="muted">
        The service POSTs this tenant's events to each endpoint, signed with the endpoint's secret (Standard Webhooks).
        Failed deliveries are retried for three days; an endpoint that keeps failing is disabled and its admins are
        e-mailed.
      </p>

      {editing ? (
        <WebhookEditor
          key={editing.id}
          title={`Edit ${editing.url}`}
          initial={{ url: editing.url, description: editing.description, eventTypes: editing.event_types }}
          submitLabel="Save webhook"
          busyLabel="Saving…"
          busy={update.isPending}
          error={update.error}
          onSubmit={(f) =>
            update.mutate({
              w: editing,
              body: { url: f.url.trim(), description: f.description.trim(), event_types: f.eventTypes },
            })
          }
          onCancel={() => {
            update.reset();
            setEditing(null);
          }}
        />
      ) : (
        <WebhookEditor
          key={createKey}
          title="Add a webhook"
          initial={blank}
          submitLabel="Create webhook"
          busyLabel="Creating…"
          busy={create.isPending}
          error={create.error}
          onSubmit={(f) => create.mutate(f)}
        />
      )}
      {secret && <SecretOnce label={secret.label} secret={secret.key} onDone={() => setSecret(null)} />}
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={editing ? null : update.error} />
      <ErrorBanner error={remove.error ?? rotate.error ?? ping.error} />

      {list.isPending ? (
        <Loading what="webhooks" />
      ) : list.error ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : hooks.length === 0 ? (
        <Empty title="No webhooks yet">
          <p>Add one above to have this tenant's events POSTed to your service.</p>
        </Empty>
      ) : (
        <table aria-label="Webhooks">
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Description</th>
              <th scope="col">Event types</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {hooks.map((w) => {
              const state = webhookState(w);
              return (
                <tr key={w.id}>
                  <td>
                    <Link to={w.id} aria-label={`Delivery log of ${w.url}`}>
                      <code>{w.url}</code>
                    </Link>
                  </td>
                  <td>{w.description || <span className="muted">—</span>}</td>
                  <td>{describeEventTypes(w.event_types)}</td>
                  <td>
                    <span className={`badge ${state.tone}`}>{state.text}</span>
                  </td>
                  <td>
                    <div className="row-actions">
                      <button
                        type="button"
                        aria-label={`Edit ${w.url}`}
                        disabled={editing?.id === w.id}
                        onClick={() => {
                          update.reset();
                          setEditing(w);
                        }}
                      >
                        Edit
                      </button>
                      <button
                        type="button"
                        aria-label={`${w.enabled ? "Disable" : "Enable"} ${w.url}`}
                        disabled={update.isPending && update.variables?.w.id === w.id}
                        onClick={() => update.mutate({ w, body: { enabled: !w.enabled } })}
                      >
                        {w.enabled ? "Disable" : "Enable"}
                      </button>
                      <button
                        type="button"
                        aria-label={`Send test to ${w.url}`}
                        disabled={ping.isPending && ping.variables?.id === w.id}
                        onClick={() => ping.mutate(w)}
                      >
                        Send test
                      </button>
                      <button type="button" aria-label={`Rotate secret of ${w.url}`} onClick={() => setRotating(w)}>
                        Rotate secret
                      </button>
                      <button
                        type="button"
                        className="danger"
                        aria-label={`Delete ${w.url}`}
                        disabled={remove.isPending && remove.variables?.id === w.id}
                        onClick={() => setDeleting(w)}
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

      <Confirm
        open={deleting !== null}
        title={`Delete the webhook ${deleting?.url ?? ""}?`}
        confirmLabel="Delete webhook"
        busy={remove.isPending}
        onConfirm={() => deleting && remove.mutate(deleting)}
        onCancel={() => setDeleting(null)}
      >
        <p>No more events are sent to it, and its delivery log is deleted with it. This cannot be undone.</p>
      </Confirm>
      <Confirm
        open={rotating !== null}
        title={`Rotate the secret of ${rotating?.url ?? ""}?`}
        confirmLabel="Rotate secret"
        busy={rotate.isPending}
        onConfirm={() => rotating && rotate.mutate(rotating)}
        onCancel={() => setRotating(null)}
      >
        <p>
          A new secret is made and shown once. For 24 hours deliveries carry a signature with the old secret too, so
          the receiver can switch without losing events; after that only the new one signs.
        </p>
      </Confirm>
    </section>
  );
}

/** The create or edit form (one at a time, so its labels are unique). */
function WebhookEditor(props: {
  title: string;
  initial: WebhookForm;
  submitLabel: string;
  busyLabel: string;
  busy: boolean;
  error: unknown;
  onSubmit(f: WebhookForm): void;
  onCancel?(): void;
}) {
  const [f, setF] = useState<WebhookForm>(props.initial);
  const [all, setAll] = useState(props.initial.eventTypes.length === 0);
  const urlErrorId = useId();
  const badUrl = props.error instanceof ApiError && props.error.code === "invalid_webhook_url";

  function submit(e: FormEvent) {
    e.preventDefault();
    props.onSubmit({ ...f, eventTypes: all ? [] : f.eventTypes });
  }
  function toggle(t: EventType, on: boolean) {
    setF({ ...f, eventTypes: on ? [...f.eventTypes, t] : f.eventTypes.filter((x) => x !== t) });
  }

  return (
    <form className="card grid" onSubmit={submit} aria-label={props.title}>
      <p className="form-title">
        <strong>{props.title}</strong>
      </p>
      <div className="field">
        <label>
          URL
          <input
            required
            type="url"
            maxLength={2048}
            value={f.url}
            onChange={(e) => setF({ ...f, url: e.target.value })}
            placeholder="https://example.com/webhooks/license"
            aria-invalid={badUrl || undefined}
            aria-describedby={badUrl ? urlErrorId : undefined}
            spellCheck={false}
          />
        </label>
        {badUrl && (
          <p id={urlErrorId} className="field-error" role="alert">
            {(props.error as ApiError).message}
          </p>
        )}
      </div>
      <label>
        Description (optional)
        <input maxLength={500} value={f.description} onChange={(e) => setF({ ...f, description: e.target.value })} />
      </label>
      <fieldset className="event-types">
        <legend>Event types</legend>
        <label className="inline">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} />
          All event types, including ones added later
        </label>
        {!all && (
          <div className="event-type-grid">
            {eventTypes.map((t) => (
              <label className="inline" key={t}>
                <input type="checkbox" checked={f.eventTypes.includes(t)} onChange={(e) => toggle(t, e.target.checked)} />
                <code>{t}</code>
              </label>
            ))}
          </div>
        )}
      </fieldset>
      <div className="row-actions">
        <button type="submit" className="primary" disabled={props.busy || (!all && f.eventTypes.length === 0)}>
          {props.busy ? props.busyLabel : props.submitLabel}
        </button>
        {props.onCancel && (
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
        )}
      </div>
      {props.error !== null && props.error !== undefined && !badUrl && (
        <div className="form-error">
          <ErrorBanner error={props.error} />
        </div>
      )}
    </form>
  );
}
