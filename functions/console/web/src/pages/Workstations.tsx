// Workstations: the machines seats were acquired on, live (refreshed every
// 5 s). An admin blocks one (its acquires fail at once and its live
// sessions end; the confirmation lists them) or unblocks it.
import { useMemo, useState } from "react";
import { useParams } from "react-router";
import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { must, type Schemas } from "../api/client";
import { useApi } from "../api/context";
import { Confirm } from "../components/Confirm";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatRelative, formatTime } from "../lib/format";
import { matchesWorkstation, sessionLine, sessionsPhrase, workstationName } from "./people/logic";

type Workstation = Schemas["Workstation"];

const pageSize = 100;

export default function Workstations() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const qc = useQueryClient();
  const [search, setSearch] = useState("");
  const [blockingId, setBlockingId] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);

  const list = useInfiniteQuery({
    queryKey: ["workstations", tenantId],
    initialPageParam: "",
    queryFn: async ({ pageParam }) =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/workstations", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pageParam || undefined } },
        }),
      ),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    refetchInterval: 5_000,
  });

  const all = useMemo(() => list.data?.pages.flatMap((p) => p.workstations) ?? [], [list.data]);
  const shown = useMemo(() => all.filter((w) => matchesWorkstation(w, search)), [all, search]);
  // The confirmation shows the workstation as it is now (the list is live).
  const blocking = all.find((w) => w.id === blockingId) ?? null;

  const setBlocked = useMutation({
    mutationFn: async (v: { w: Workstation; blocked: boolean }) =>
      must(
        await api.PATCH("/v1/tenants/{tenant_id}/workstations/{workstation_id}", {
          params: { path: { tenant_id: tenantId, workstation_id: v.w.id } },
          body: { blocked: v.blocked },
        }),
      ),
    onMutate: () => setDone(null),
    onSuccess: (w, v) => {
      const ended = v.blocked ? v.w.sessions.length : 0;
      setDone(
        v.blocked
          ? `Blocked ${workstationName(w)}${ended ? `; ${ended === 1 ? "its live session was" : `its ${ended} live sessions were`} ended` : ""}.`
          : `Unblocked ${workstationName(w)}: it can acquire seats again.`,
      );
    },
    onSettled: () => {
      setBlockingId(null);
      void qc.invalidateQueries({ queryKey: ["workstations", tenantId] });
    },
  });

  return (
    <section aria-labelledby="workstations-title">
      <h1 id="workstations-title">Workstations</h1>
      <p className="muted">
        Every machine a seat was acquired on (recorded within about a second of the acquire). A blocked
        workstation's acquires fail at once; blocking also ends its live sessions. Refreshed every 5 seconds.
      </p>

      <div className="toolbar" role="search">
        <label>
          Search workstations
          <input
            type="search"
            value={search}
            placeholder="hostname, fingerprint or user"
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        {all.length > 0 && (
          <span className="muted" aria-live="polite">
            {search ? `${shown.length} of ${all.length} loaded` : `${all.length} loaded`}
            {list.hasNextPage ? " (more to load)" : ""}
          </span>
        )}
      </div>

      <ErrorBanner error={setBlocked.error} />
      {done && <Notice>{done}</Notice>}

      {list.isPending ? (
        <Loading what="workstations" />
      ) : list.error && !list.data ? (
        <ErrorBanner error={list.error} retry={() => void list.refetch()} />
      ) : all.length === 0 ? (
        <Empty title="No workstations yet">
          <p>A workstation appears here after its first seat is acquired.</p>
        </Empty>
      ) : shown.length === 0 ? (
        <Empty title="No workstation matches">
          <p>
            Nothing loaded matches “{search}”.{list.hasNextPage ? " Load more to search further." : ""}
          </p>
        </Empty>
      ) : (
        <>
          {list.error && <ErrorBanner error={list.error} />}
          <table aria-label="Workstations">
            <thead>
              <tr>
                <th scope="col">Hostname</th>
                <th scope="col">Fingerprint</th>
                <th scope="col">OS</th>
                <th scope="col">Last user</th>
                <th scope="col">Last seen</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Live sessions
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((w) => {
                const name = workstationName(w);
                const busy = setBlocked.isPending && setBlocked.variables?.w.id === w.id;
                const users = [...new Set(w.sessions.map((s) => s.user).filter(Boolean))];
                return (
                  <tr key={w.id}>
                    <td>{w.hostname || <span className="muted">—</span>}</td>
                    <td>
                      <code className="ws-fingerprint">{w.fingerprint}</code>
                    </td>
                    <td>{w.os || "—"}</td>
                    <td>{w.last_user || "—"}</td>
                    <td>
                      <time dateTime={w.last_seen_at} title={formatTime(w.last_seen_at)}>
                        {formatRelative(w.last_seen_at)}
                      </time>
                    </td>
                    <td>
                      {w.blocked ? <span className="badge bad">Blocked</span> : <span className="badge ok">Allowed</span>}
                    </td>
                    <td className="num">
                      {w.sessions.length}
                      {users.length > 0 && <div className="muted ws-users">{users.join(", ")}</div>}
                    </td>
                    <td>
                      <div className="row-actions">
                        {w.blocked ? (
                          <button
                            type="button"
                            aria-label={`Unblock ${name}`}
                            disabled={busy}
                            onClick={() => setBlocked.mutate({ w, blocked: false })}
                          >
                            {busy ? "Unblocking…" : "Unblock"}
                          </button>
                        ) : (
                          <button
                            type="button"
                            className="danger"
                            aria-label={`Block ${name}`}
                            disabled={busy}
                            onClick={() => setBlockingId(w.id)}
                          >
                            {busy ? "Blocking…" : "Block"}
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}

      {list.hasNextPage && (
        <div className="toolbar">
          <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
            {list.isFetchingNextPage ? "Loading more…" : "Load more workstations"}
          </button>
        </div>
      )}

      <Confirm
        open={blocking !== null}
        title={`Block ${blocking ? workstationName(blocking) : ""}?`}
        confirmLabel="Block workstation"
        busy={setBlocked.isPending}
        onConfirm={() => blocking && setBlocked.mutate({ w: blocking, blocked: true })}
        onCancel={() => setBlockingId(null)}
      >
        {blocking && <BlockEffect w={blocking} />}
      </Confirm>
    </section>
  );
}

/** What blocking a workstation does, with the live sessions it ends. */
function BlockEffect({ w }: { w: Workstation }) {
  const n = w.sessions.length;
  return (
    <>
      <p>
        Every acquire from <strong>{workstationName(w)}</strong> (fingerprint <code>{w.fingerprint}</code>) will fail
        until it is unblocked.
      </p>
      {n === 0 ? (
        <p>It has no live sessions now.</p>
      ) : (
        <>
          <p>Blocking ends {sessionsPhrase(n)}:</p>
          <ul className="ws-sessions">
            {w.sessions.map((s) => (
              <li key={s.session_digest}>
                {sessionLine(s)}, acquired {formatRelative(s.acquired_at)}
              </li>
            ))}
          </ul>
        </>
      )}
    </>
  );
}
