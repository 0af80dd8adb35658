// Audit log (admins): every admin change to the tenant, newest first,
// filtered on the server by actor, action, target type and target id, a
// page at a time, in a table. Each entry's changes open (a <details>) to
// the before/after as a diff: lines marked "+" and "−" as well as coloured.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi } from "../api/context";
import { Pager, usePager } from "../components/Pager";
import { Empty, ErrorBanner, Loading } from "../components/Status";
import { formatTime } from "../lib/format";
import {
  actionsByType,
  anyFilter,
  asTargetType,
  noFilters,
  queryOf,
  sameFilters,
  targetTypeLabels,
  targetTypeOf,
  targetTypes,
  type AuditFilters,
  type TargetType,
} from "./insights/audit";
import { changedFields, diffDocs, marker } from "./insights/diff";
import { Field } from "./insights/Field";

type Entry = Schemas["AuditEntry"];

const pageSize = 50;

export default function Audit() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const pager = usePager();
  // draft: what the form shows; applied: what the list asks for.
  const [draft, setDraft] = useState<AuditFilters>(noFilters);
  const [applied, setApplied] = useState<AuditFilters>(noFilters);

  const apply = (f: AuditFilters) => {
    setDraft(f);
    if (!sameFilters(f, applied)) {
      setApplied(f);
      // A cursor is valid only for the filters it was given with.
      pager.reset();
    }
  };

  const query = queryOf(applied);
  const list = useQuery({
    queryKey: ["audit", tenantId, query, pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/audit", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pager.cursor, ...query } },
        }),
      ),
    placeholderData: keepPreviousData,
  });

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    apply(draft);
  };
  const setTargetType = (t: TargetType | "") => {
    // An action of another target type would match nothing.
    const action = t && draft.action && targetTypeOf(draft.action) !== t ? "" : draft.action;
    apply({ ...draft, targetType: t, action });
  };
  const actionGroups = draft.targetType ? [draft.targetType] : targetTypes;
  const entries = list.data?.entries ?? [];
  const filtered = anyFilter(applied);

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <p className="muted">Every change an admin made to this tenant, newest first. Times are UTC.</p>

      <form className="card grid" role="search" aria-label="Filter the audit log" onSubmit={onSubmit}>
        <Field label="Actor">
          {(id) => (
            <input
              id={id}
              value={draft.actor}
              onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
              placeholder="user:ada@example.com"
              autoComplete="off"
              spellCheck={false}
              maxLength={512}
            />
          )}
        </Field>
        <Field label="Target type">
          {(id) => (
            <select id={id} value={draft.targetType} onChange={(e) => setTargetType(e.target.value as TargetType | "")}>
              <option value="">Any</option>
              {targetTypes.map((t) => (
                <option key={t} value={t}>
                  {targetTypeLabels[t]}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Action">
          {(id) => (
            <select id={id} value={draft.action} onChange={(e) => apply({ ...draft, action: e.target.value })}>
              <option value="">Any</option>
              {actionGroups.map((t) => (
                <optgroup key={t} label={targetTypeLabels[t]}>
                  {actionsByType[t].map((a) => (
                    <option key={a} value={a}>
                      {a}
                    </option>
                  ))}
                </optgroup>
              ))}
            </select>
          )}
        </Field>
        <Field label="Target id">
          {(id) => (
            <input
              id={id}
              value={draft.targetId}
              onChange={(e) => setDraft({ ...draft, targetId: e.target.value })}
              autoComplete="off"
              spellCheck={false}
              maxLength={512}
            />
          )}
        </Field>
        <div className="audit-filter-actions">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button type="button" onClick={() => apply(noFilters)} disabled={!filtered && !anyFilter(draft)}>
            Clear filters
          </button>
        </div>
      </form>

      {list.error && <ErrorBanner error={list.error} retry={() => void list.refetch()} />}
      {list.isPending ? (
        !list.error && <Loading what="the audit log" />
      ) : entries.length === 0 ? (
        !list.error &&
        (filtered ? (
          <Empty title="No entries match these filters">
            <button type="button" onClick={() => apply(noFilters)}>
              Show all entries
            </button>
          </Empty>
        ) : (
          <Empty title="No audit entries yet">
            <p>Changes to licenses, API keys, members, workstations and repositories will be listed here.</p>
          </Empty>
        ))
      ) : (
        <>
          {list.isFetching && !list.isPending && (
            <p className="muted" role="status">
              Updating…
            </p>
          )}
          <table className="audit-entries" aria-label="Audit entries">
            <thead>
              <tr>
                <th scope="col">When (UTC)</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <AuditRow
                  key={e.id}
                  tenantId={tenantId}
                  entry={e}
                  onActor={() => apply({ ...noFilters, actor: e.actor })}
                  onTarget={() => apply({ ...noFilters, targetType: asTargetType(e.target_type), targetId: e.target_id })}
                />
              ))}
            </tbody>
          </table>
        </>
      )}
      <Pager page={pager.page} nextCursor={list.data?.next_cursor} onNext={pager.next} onPrevious={pager.previous} />
    </section>
  );
}

function AuditRow(props: { tenantId: string; entry: Entry; onActor(): void; onTarget(): void }) {
  const e = props.entry;
  const lines = diffDocs(e.before, e.after);
  const changed = changedFields(lines);
  const kind = e.before === null && e.after !== null ? "created" : e.after === null ? "deleted" : "changed";
  const typeLabel = targetTypeLabels[e.target_type as TargetType] ?? e.target_type;
  const summary =
    lines.length === 0
      ? "No document"
      : kind === "changed"
        ? changed.length === 1
          ? "1 field changed"
          : `${changed.length} fields changed`
        : kind === "created"
          ? "Created"
          : "Removed";
  return (
    <tr>
      <td className="audit-when">
        <time dateTime={e.at}>{formatTime(e.at)}</time>
      </td>
      <td className="audit-action">
        <strong>{e.action}</strong>
      </td>
      <td className="audit-actor">{e.actor}</td>
      <td>
        {typeLabel} <code className="audit-target">{e.target_id}</code>
      </td>
      <td className="audit-changes">
        <details>
          <summary>
            {summary}
            <span className="audit-sr-only"> in entry {e.id}</span>
          </summary>
          <div className="audit-body">
            <p className="muted">
              {lines.length === 0
                ? "No document was recorded."
                : kind === "created"
                  ? "The record after the change: every line is added (+)."
                  : kind === "deleted"
                    ? "The record before the change: every line is removed (−)."
                    : changed.length === 0
                      ? "No field changed."
                      : `Changed: ${changed.join(", ")}. Lines marked − are before the change, + after.`}
            </p>
            {lines.length > 0 && (
              <pre className="diff">
                {lines.map((l, i) => (
                  <span key={i} className={l.kind === "same" ? undefined : l.kind}>
                    {`${marker[l.kind]} ${l.field}: ${l.value}\n`}
                  </span>
                ))}
              </pre>
            )}
            <div className="row-actions">
              <button type="button" onClick={props.onActor}>
                Only entries by {e.actor}
              </button>
              <button type="button" onClick={props.onTarget}>
                Only entries of {typeLabel.toLowerCase()} {e.target_id}
              </button>
              {e.target_type === "license" && e.action !== "license.delete" && (
                <Link to={`/tenants/${props.tenantId}/licenses/${e.target_id}`}>Open the license</Link>
              )}
            </div>
          </div>
        </details>
      </td>
    </tr>
  );
}
