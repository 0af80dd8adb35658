// One webhook's delivery log: every delivery newest first, each with its
// attempts (when, the receiver's answer or what failed, how long, and the
// first bytes of the response), so an admin can see why a receiver is
// failing and send a delivery again once it is fixed. While a delivery is
// on its way the log refreshes itself.
import { useState } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi } from "../api/context";
import { Pager, usePager } from "../components/Pager";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatTime } from "../lib/format";
import { attemptResult, describeEventTypes, webhookState } from "./notifications/logic";

type Delivery = Schemas["WebhookDelivery"];

const pageSize = 20;
// How often the log is read again while a delivery is pending: the
// deliverer's retries are seconds to hours apart, so a few seconds shows a
// first attempt promptly without polling hard.
const pendingRefresh = 3_000;

const statusTone: Record<Delivery["status"], string> = { delivered: "ok", pending: "warn", failed: "bad" };
const outcomeTone: Record<Schemas["WebhookAttempt"]["outcome"], string> = { delivered: "ok", retry: "warn", failed: "bad" };

export default function WebhookDeliveries() {
  const { tenantId = "", webhookId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const pager = usePager();
  const [done, setDone] = useState<string | null>(null);
  const path = { tenant_id: tenantId, webhook_id: webhookId };

  const hook = useQuery({
    queryKey: ["webhook", tenantId, webhookId],
    queryFn: async () => must(await api.GET("/v1/tenants/{tenant_id}/webhooks/{webhook_id}", { params: { path } })),
  });
  const log = useQuery({
    queryKey: ["webhook-deliveries", tenantId, webhookId, pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries", {
          params: { path, query: { limit: pageSize, cursor: pager.cursor } },
        }),
      ),
    refetchInterval: (q) => (q.state.data?.deliveries.some((d) => d.status === "pending") ? pendingRefresh : false),
  });
  const refresh = () => qc.invalidateQueries({ queryKey: ["webhook-deliveries", tenantId, webhookId] });

  const ping = useMutation({
    mutationFn: async () =>
      must(await api.POST("/v1/tenants/{tenant_id}/webhooks/{webhook_id}/test", { params: { path } })),
    onMutate: () => setDone(null),
    onSuccess: () => {
      setDone("A test ping is queued; it appears below.");
      // The newest is on the first page.
      pager.reset();
      void refresh();
    },
  });
  const redeliver = useMutation({
    mutationFn: async (d: Delivery) =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", {
          params: { path: { ...path, delivery_id: d.id } },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (_r, d) => {
      setDone(`The ${d.event_type} delivery is queued again.`);
      void refresh();
    },
  });

  const deliveries = log.data?.deliveries ?? [];
  const w = hook.data;
  const state = w ? webhookState(w) : null;

  return (
    <section aria-labelledby="deliveries-title">
      <p className="license-back">
        <Link to={`/tenants/${tenantId}/webhooks`}>← Webhooks</Link>
      </p>
      <h1 id="deliveries-title">Delivery log</h1>
      {hook.error ? (
        <ErrorBanner error={hook.error} retry={() => void hook.refetch()} />
      ) : !w ? (
        <Loading what="the webhook" />
      ) : (
        <dl className="license-terms">
          <div>
            <dt>URL</dt>
            <dd>
              <code>{w.url}</code>
            </dd>
          </div>
          <div>
            <dt>Event types</dt>
            <dd>{describeEventTypes(w.event_types)}</dd>
          </div>
          <div>
            <dt>Status</dt>
            <dd>
              <span className={`badge ${state!.tone}`}>{state!.text}</span>
            </dd>
          </div>
          {w.previous_secret_expires_at && (
            <div>
              <dt>Previous secret signs until</dt>
              <dd>{formatTime(w.previous_secret_expires_at)}</dd>
            </div>
          )}
        </dl>
      )}
      <div className="toolbar">
        <button type="button" onClick={() => ping.mutate()} disabled={ping.isPending}>
          {ping.isPending ? "Sending…" : "Send test"}
        </button>
        <button type="button" onClick={() => void log.refetch()} disabled={log.isFetching}>
          Refresh
        </button>
      </div>
      {done && <Notice>{done}</Notice>}
      <ErrorBanner error={ping.error ?? redeliver.error} />

      {log.isPending ? (
        <Loading what="deliveries" />
      ) : log.error ? (
        <ErrorBanner error={log.error} retry={() => void log.refetch()} />
      ) : deliveries.length === 0 ? (
        <Empty title="No deliveries yet">
          <p>Events this endpoint receives, and test pings, are listed here once sent.</p>
        </Empty>
      ) : (
        <ol className="deliveries" aria-label="Deliveries">
          {deliveries.map((d) => (
            <li key={d.id} className="card">
              <h2 className="delivery-title">
                <code>{d.event_type}</code> <span className={`badge ${statusTone[d.status]}`}>{d.status}</span>
              </h2>
              <p className="muted">
                Created {formatTime(d.created_at)}
                {" · "}
                {d.attempt_count === 1 ? "1 attempt" : `${d.attempt_count} attempts`}
                {d.status === "pending" && d.next_attempt_at && <> · next attempt {formatTime(d.next_attempt_at)}</>}
                {d.finished_at && <> · finished {formatTime(d.finished_at)}</>}
                {" · "}message id <code>{d.message_id}</code>
              </p>
              {d.attempts.length > 0 && (
                <table aria-label={`Attempts of the ${d.event_type} delivery created ${formatTime(d.created_at)}`}>
                  <thead>
                    <tr>
                      <th scope="col">Time</th>
                      <th scope="col">Answer</th>
                      <th scope="col" className="num">
                        Latency
                      </th>
                      <th scope="col">Outcome</th>
                      <th scope="col">Response</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.attempts.map((a, i) => (
                      <tr key={i}>
                        <td>{formatTime(a.attempted_at)}</td>
                        <td>{attemptResult(a)}</td>
                        <td className="num">{a.latency_ms} ms</td>
                        <td>
                          <span className={`badge ${outcomeTone[a.outcome]}`}>{a.outcome}</span>
                        </td>
                        <td>{a.response ? <pre className="response">{a.response}</pre> : <span className="muted">—</span>}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {d.status !== "pending" && (
                <div className="row-actions">
                  <button
                    type="button"
                    aria-label={`Redeliver the ${d.event_type} delivery created ${formatTime(d.created_at)}`}
                    disabled={redeliver.isPending && redeliver.variables?.id === d.id}
                    onClick={() => redeliver.mutate(d)}
                  >
                    Redeliver
                  </button>
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
      <Pager page={pager.page} nextCursor={log.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
    </section>
  );
}
