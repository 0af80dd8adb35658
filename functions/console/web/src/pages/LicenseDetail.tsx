// License detail: the license's terms, what the caller's role may change
// about it, its live sessions (refreshed every 3 s, each one endable, or
// all at once) and its usage charts. Sessions, usage, the certificate and
// key rotation are admin-only in the API; the commercial terms (seats,
// status, expiry, the lease TTL ceiling) and delete are platform-only.
import { lazy, Suspense, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must } from "../api/client";
import { allows, roleIn, useApi, useMe } from "../api/context";
import { Confirm } from "../components/Confirm";
import { SecretOnce } from "../components/SecretOnce";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatTime } from "../lib/format";
import { downloadCertificate, LicenseStatus, ttlText } from "./licenses/parts";
import { expiryText, processesText, seatText, type Session } from "./licenses/sessions";
import {
  editValuesOf,
  leasingLabels,
  autoRenewText,
  borrowText,
  offOrSeconds,
  patchOf,
  tomorrow,
  type EditValues,
  type License,
  type LicenseUpdate,
} from "./licenses/terms";

// The charts (recharts) load only for those who may see usage.
const UsageCharts = lazy(() => import("./licenses/UsageCharts"));

const sessionsEvery = 3_000;

export default function LicenseDetail() {
  const { tenantId = "", licenseId = "" } = useParams();
  const api = useApi();
  const me = useMe();
  const role = roleIn(me.data, tenantId);
  const admin = allows(role, "admin");
  const platform = role === "platform_admin";
  // Set once the license is deleted: nothing asks for it any more while
  // the list loads.
  const [deleted, setDeleted] = useState(false);

  const license = useQuery({
    queryKey: ["licenses", tenantId, "detail", licenseId],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/licenses/{license_id}", {
          params: { path: { tenant_id: tenantId, license_id: licenseId } },
        }),
      ),
    // Seats in use is live.
    refetchInterval: 5_000,
    enabled: !deleted,
  });

  const back = (
    <p className="license-back">
      <Link to={`/tenants/${tenantId}/licenses`}>All licenses</Link>
    </p>
  );

  if (!license.data) {
    return (
      <section aria-labelledby="license-title">
        {back}
        <h1 id="license-title">License</h1>
        {license.error ? (
          <ErrorBanner error={license.error} retry={() => void license.refetch()} />
        ) : (
          <Loading what="the license" />
        )}
      </section>
    );
  }

  const l = license.data;
  if (deleted) {
    return (
      <section aria-labelledby="license-title">
        {back}
        <h1 id="license-title">{l.product}</h1>
        <Notice>The license was deleted.</Notice>
      </section>
    );
  }
  return (
    <section aria-labelledby="license-title">
      {back}
      <h1 id="license-title">{l.product}</h1>
      {license.error && <ErrorBanner error={license.error} retry={() => void license.refetch()} />}
      <Terms license={l} />

      {admin ? (
        <>
          <Actions tenantId={tenantId} license={l} platform={platform} onDeleted={() => setDeleted(true)} />
          <EditLicense key={l.id} tenantId={tenantId} license={l} platform={platform} />
          <Sessions tenantId={tenantId} license={l} />
          <Suspense fallback={<Loading what="the usage charts" />}>
            <UsageCharts tenantId={tenantId} licenseId={l.id} seats={l.seats} />
          </Suspense>
        </>
      ) : (
        <Notice>
          Live sessions, usage and changes to this license are for this tenant's admins. Ask one if you need them.
        </Notice>
      )}
    </section>
  );
}

/** The license's terms as a description list. */
function Terms({ license: l }: { license: License }) {
  return (
    <dl className="license-terms" aria-label="License terms">
      <div>
        <dt>Status</dt>
        <dd>
          <LicenseStatus license={l} />
        </dd>
      </div>
      <div>
        <dt>Seats used / seats</dt>
        <dd>
          {l.seats_used} / {l.seats}
          {l.seats_used > l.seats && <span className="muted"> (over: seats were lowered)</span>}
        </dd>
      </div>
      <div>
        <dt>Expires</dt>
        <dd>{l.expires_at ? formatTime(l.expires_at) : "Never"}</dd>
      </div>
      <div>
        <dt>Lease TTL</dt>
        <dd>{ttlText(l.lease_ttl_seconds)}</dd>
      </div>
      <div>
        <dt>Lease TTL ceiling</dt>
        <dd>{ttlText(l.max_lease_ttl_seconds)}</dd>
      </div>
      <div>
        <dt>Leasing</dt>
        <dd>{leasingLabels[l.leasing]}</dd>
      </div>
      <div>
        <dt>User required</dt>
        <dd>{l.require_user ? "Yes" : "No"}</dd>
      </div>
      <div>
        <dt>Seat limit per user</dt>
        <dd>{l.max_seats_per_user ?? "No limit"}</dd>
      </div>
      <div>
        <dt>Processes per seat</dt>
        <dd>{l.max_instances_per_seat ?? "No limit"}</dd>
      </div>
      <div>
        <dt>Linger</dt>
        <dd>{offOrSeconds(l.linger_seconds)}</dd>
      </div>
      <div>
        <dt>Revive</dt>
        <dd>{offOrSeconds(l.revive_seconds)}</dd>
      </div>
      <div>
        <dt>Borrowing</dt>
        <dd>{borrowText(l.borrow)}</dd>
        <dt>Auto-renew</dt>
        <dd>{autoRenewText(l.auto_renew)}</dd>
      </div>
      <div>
        <dt>Key prefix</dt>
        <dd>
          <code>{l.key_prefix}</code>
        </dd>
      </div>
      <div>
        <dt>Created</dt>
        <dd>{formatTime(l.created_at)}</dd>
      </div>
      <div>
        <dt>Updated</dt>
        <dd>{formatTime(l.updated_at)}</dd>
      </div>
    </dl>
  );
}

/** Suspend/resume and delete (platform), certificate and key rotation
 * (admins). Only one dialog is mounted at a time. */
function Actions(props: { tenantId: string; license: License; platform: boolean; onDeleted(): void }) {
  const { tenantId, license: l, platform } = props;
  const api = useApi();
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const [dialog, setDialog] = useState<"suspend" | "delete" | "rotate" | null>(null);
  const [grace, setGrace] = useState("0");
  const [rotated, setRotated] = useState<{ key: string; previousUntil: string; grace: number } | null>(null);
  const path = { tenant_id: tenantId, license_id: l.id };
  const detailKey = ["licenses", tenantId, "detail", l.id];

  const setStatus = useMutation({
    mutationFn: async (status: "active" | "suspended") =>
      must(await api.PATCH("/v1/tenants/{tenant_id}/licenses/{license_id}", { params: { path }, body: { status } })),
    onSuccess: (updated) => {
      queryClient.setQueryData(detailKey, updated);
      void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId] });
      setDialog(null);
    },
  });

  const remove = useMutation({
    mutationFn: async () =>
      must(await api.DELETE("/v1/tenants/{tenant_id}/licenses/{license_id}", { params: { path } })),
    onSuccess: () => {
      setDialog(null);
      // Stop asking for the license (and its sessions and usage) first.
      props.onDeleted();
      void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId, "list"] });
      navigate(`/tenants/${tenantId}/licenses`, { replace: true });
      setTimeout(() => {
        for (const what of ["detail", "sessions", "usage"]) {
          queryClient.removeQueries({ queryKey: ["licenses", tenantId, what, l.id] });
        }
      }, 0);
    },
  });

  const certificate = useMutation({ mutationFn: () => downloadCertificate(api, tenantId, l.id) });

  const rotate = useMutation({
    mutationFn: async (graceSeconds: number) =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/licenses/{license_id}/rotate-key", {
          params: { path },
          body: { grace_seconds: graceSeconds },
        }),
      ),
    onSuccess: (r, graceSeconds) => {
      setDialog(null);
      setGrace("0");
      setRotated({ key: r.key, previousUntil: r.previous_key_expires_at, grace: graceSeconds });
      void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId] });
    },
  });

  const suspended = l.status === "suspended";
  const submitRotate = (e?: FormEvent) => {
    e?.preventDefault();
    if (!rotate.isPending) rotate.mutate(Number(grace.trim() || "0"));
  };

  return (
    <section aria-labelledby="license-actions-title">
      <h2 id="license-actions-title">Actions</h2>
      {rotated && (
        <>
          <SecretOnce label="New license key" secret={rotated.key} onDone={() => setRotated(null)} />
          <p>
            {rotated.grace > 0
              ? `The replaced key keeps working for acquires until ${formatTime(rotated.previousUntil)}.`
              : "The replaced key no longer opens the license."}{" "}
            Live sessions keep their seats.
          </p>
        </>
      )}
      <div className="row-actions">
        {platform &&
          (suspended ? (
            <button type="button" onClick={() => setStatus.mutate("active")} disabled={setStatus.isPending}>
              {setStatus.isPending ? "Resuming…" : "Resume license"}
            </button>
          ) : (
            <button type="button" onClick={() => setDialog("suspend")}>
              Suspend license
            </button>
          ))}
        <button type="button" onClick={() => certificate.mutate()} disabled={certificate.isPending}>
          {certificate.isPending ? "Downloading…" : "Download certificate"}
        </button>
        <button type="button" onClick={() => setDialog("rotate")}>
          Rotate key
        </button>
        {platform && (
          <button type="button" className="danger" onClick={() => setDialog("delete")}>
            Delete license
          </button>
        )}
      </div>
      {!dialog && <ErrorBanner error={setStatus.error ?? certificate.error} />}

      {dialog === "suspend" && (
        <Confirm
          open
          title={`Suspend ${l.product}?`}
          confirmLabel="Suspend"
          busy={setStatus.isPending}
          onConfirm={() => setStatus.mutate("suspended")}
          onCancel={() => setDialog(null)}
        >
          <p>
            No seat of this license is granted while it is suspended, and every live session ends at its next
            heartbeat. You can resume it later.
          </p>
          <ErrorBanner error={setStatus.error} />
        </Confirm>
      )}
      {dialog === "delete" && (
        <Confirm
          open
          title={`Delete ${l.product}?`}
          confirmLabel="Delete for good"
          busy={remove.isPending}
          onConfirm={() => remove.mutate()}
          onCancel={() => setDialog(null)}
        >
          <p>
            Its key stops working and its {l.seats_used} live session{l.seats_used === 1 ? "" : "s"} stop counting at
            once. This cannot be undone.
          </p>
          <ErrorBanner error={remove.error} />
        </Confirm>
      )}
      {dialog === "rotate" && (
        <Confirm
          open
          title={`Rotate the key of ${l.product}?`}
          confirmLabel="Rotate now"
          busy={rotate.isPending}
          onConfirm={() => submitRotate()}
          onCancel={() => setDialog(null)}
        >
          <p>
            The license gets a new key, shown once. Clients must be given it; the replaced key keeps opening the license
            for the grace period, then stops. Live sessions keep their seats.
          </p>
          <form onSubmit={submitRotate}>
            <label>
              Grace period (seconds)
              <input
                type="number"
                min={0}
                max={604800}
                step={1}
                required
                value={grace}
                onChange={(e) => setGrace(e.target.value)}
                aria-describedby="rotate-grace-hint"
              />
            </label>
            <p id="rotate-grace-hint" className="muted">
              0: the replaced key stops at once. At most 604800 (7 days).
            </p>
          </form>
          <ErrorBanner error={rotate.error} />
        </Confirm>
      )}
    </section>
  );
}

/** The edit form: the usage fields for a tenant admin, and the commercial
 * terms too for a platform admin. Only changed fields are sent. */
function EditLicense({ tenantId, license, platform }: { tenantId: string; license: License; platform: boolean }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [before, setBefore] = useState<EditValues>(() => editValuesOf(license));
  const [v, setV] = useState<EditValues>(before);
  const [message, setMessage] = useState<string | null>(null);
  const set = <K extends keyof EditValues>(k: K, value: EditValues[K]) => {
    setMessage(null);
    setV((old) => ({ ...old, [k]: value }));
  };

  const save = useMutation({
    mutationFn: async (body: LicenseUpdate) =>
      must(
        await api.PATCH("/v1/tenants/{tenant_id}/licenses/{license_id}", {
          params: { path: { tenant_id: tenantId, license_id: license.id } },
          body,
        }),
      ),
    onSuccess: (updated) => {
      queryClient.setQueryData(["licenses", tenantId, "detail", license.id], updated);
      void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId, "list"] });
      const now = editValuesOf(updated);
      setBefore(now);
      setV(now);
      setMessage("Saved.");
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = patchOf(before, v, platform);
    if (Object.keys(body).length === 0) {
      setMessage("Nothing to save: no field was changed.");
      return;
    }
    save.mutate(body);
  };

  const ttlMax = platform ? Number(v.max_lease_ttl_seconds) || 86400 : license.max_lease_ttl_seconds;

  return (
    <section className="card" aria-labelledby="edit-license-title">
      <h2 id="edit-license-title">Edit license</h2>
      <form className="grid" onSubmit={submit} aria-labelledby="edit-license-title">
        {platform && (
          <>
            <label>
              Seats
              <input
                required
                type="number"
                min={1}
                max={100000}
                step={1}
                value={v.seats}
                onChange={(e) => set("seats", e.target.value)}
              />
            </label>
            <label>
              Status
              <select value={v.status} onChange={(e) => set("status", e.target.value as EditValues["status"])}>
                <option value="active">Active</option>
                <option value="suspended">Suspended</option>
              </select>
            </label>
            <label>
              Expires
              <input
                type="date"
                min={v.expires && v.expires < tomorrow() ? undefined : tomorrow()}
                value={v.expires}
                onChange={(e) => set("expires", e.target.value)}
                aria-describedby="edit-expires-hint"
              />
            </label>
            <label>
              Lease TTL ceiling (seconds)
              <input
                required
                type="number"
                min={1}
                max={86400}
                step={1}
                value={v.max_lease_ttl_seconds}
                onChange={(e) => set("max_lease_ttl_seconds", e.target.value)}
              />
            </label>
          </>
        )}
        <label>
          Lease TTL (seconds)
          <input
            required
            type="number"
            min={1}
            max={ttlMax}
            step={1}
            value={v.lease_ttl_seconds}
            onChange={(e) => set("lease_ttl_seconds", e.target.value)}
            aria-describedby="edit-ttl-hint"
          />
        </label>
        <label>
          Leasing
          <select value={v.leasing} onChange={(e) => set("leasing", e.target.value as EditValues["leasing"])}>
            <option value="per_fingerprint">{leasingLabels.per_fingerprint}</option>
            <option value="per_user">{leasingLabels.per_user}</option>
          </select>
        </label>
        <label>
          Seat limit per user
          <input
            type="number"
            min={1}
            max={100000}
            step={1}
            value={v.max_seats_per_user}
            onChange={(e) => set("max_seats_per_user", e.target.value)}
            aria-describedby="edit-peruser-hint"
          />
        </label>
        <label>
          Processes per seat
          <input
            type="number"
            min={1}
            max={256}
            step={1}
            value={v.max_instances_per_seat}
            onChange={(e) => set("max_instances_per_seat", e.target.value)}
            aria-describedby="edit-instances-hint"
          />
        </label>
        <label>
          Linger (seconds)
          <input
            required
            type="number"
            min={0}
            max={86400}
            step={1}
            value={v.linger_seconds}
            onChange={(e) => set("linger_seconds", e.target.value)}
            aria-describedby="edit-linger-hint"
          />
        </label>
        <label>
          Revive (seconds)
          <input
            required
            type="number"
            min={0}
            max={900}
            step={1}
            value={v.revive_seconds}
            onChange={(e) => set("revive_seconds", e.target.value)}
            aria-describedby="edit-revive-hint"
          />
        </label>
        <label>
          Borrow up to (hours)
          <input
            type="number"
            min={1}
            max={2160}
            step={1}
            value={v.borrow_hours}
            onChange={(e) => set("borrow_hours", e.target.value)}
            aria-describedby="edit-borrow-hint"
          />
        </label>
        <label>
          Borrowed at once
          <input
            type="number"
            min={1}
            max={100000}
            step={1}
            value={v.borrow_max_concurrent}
            onChange={(e) => set("borrow_max_concurrent", e.target.value)}
            aria-describedby="edit-borrow-hint"
          />
        </label>
        <label>
          Seats kept online
          <input
            type="number"
            min={0}
            max={100000}
            step={1}
            value={v.borrow_min_online_seats}
            onChange={(e) => set("borrow_min_online_seats", e.target.value)}
            aria-describedby="edit-borrow-hint"
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={v.require_user} onChange={(e) => set("require_user", e.target.checked)} />
          Require a user
        </label>
        <div className="licenses-hints muted">
          <p id="edit-ttl-hint">
            Lease TTL: how long a seat outlives its last heartbeat; at most {ttlMax} s
            {platform ? " (the lease TTL ceiling)." : ", the ceiling the platform set."}
          </p>
          <p id="edit-peruser-hint">Seat limit per user: empty for no limit.</p>
          <p id="edit-instances-hint">
            Processes per seat: how many running copies of a tool on one workstation may share its seat; empty for no
            limit (256 at most).
          </p>
          <p id="edit-linger-hint">
            Linger: after a release the seat stays counted this long (never past the expiry), so the same workstation
            (or user, per-user leasing) restarting the tool takes its session back; 0 is off (86400 at most).
          </p>
          <p id="edit-revive-hint">
            Revive: a heartbeat this soon after its session expired revives it, if a seat is free; 0 is off (900 at
            most).
          </p>
          <p id="edit-borrow-hint">
            Borrowing: a user may take a seat offline for up to this many hours (1 to 2160, 90 days); empty turns
            borrowing off. Borrowed at once: empty for any number. Seats kept online: borrowing never leaves fewer
            seats than this for online users.
          </p>
          {platform && <p id="edit-expires-hint">Expires at 00:00 UTC on that date; empty: never.</p>}
          {!platform && <p>Seats, status and expiry are set by the platform (your vendor).</p>}
        </div>
        <div className="licenses-form-actions">
          <button type="submit" className="primary" disabled={save.isPending}>
            {save.isPending ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
      <ErrorBanner error={save.error} />
      {message && !save.error && (
        <p role="status" className="muted">
          {message}
        </p>
      )}
    </section>
  );
}

/** The license's live sessions, refreshed every few seconds. */
function Sessions({ tenantId, license: l }: { tenantId: string; license: License }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const path = { tenant_id: tenantId, license_id: l.id };
  const [ending, setEnding] = useState<Session | null>(null);
  const [revokeAll, setRevokeAll] = useState(false);
  const [revoked, setRevoked] = useState<number | null>(null);

  const sessions = useQuery({
    queryKey: ["licenses", tenantId, "sessions", l.id],
    queryFn: async () =>
      must(await api.GET("/v1/tenants/{tenant_id}/licenses/{license_id}/sessions", { params: { path } })).sessions,
    refetchInterval: sessionsEvery,
  });

  const refresh = () => {
    void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId, "sessions", l.id] });
    void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId, "detail", l.id] });
    void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId, "list"] });
  };

  const end = useMutation({
    mutationFn: async (s: Session) =>
      must(
        await api.DELETE("/v1/tenants/{tenant_id}/licenses/{license_id}/sessions/{session_digest}", {
          params: { path: { ...path, session_digest: s.session_digest } },
        }),
      ),
    onSuccess: () => {
      setEnding(null);
      refresh();
    },
  });

  const all = useMutation({
    mutationFn: async () =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/licenses/{license_id}/sessions:revoke-all", { params: { path } }),
      ),
    onSuccess: (r) => {
      setRevokeAll(false);
      setRevoked(r.revoked);
      refresh();
    },
  });

  const list = sessions.data ?? [];
  const now = new Date();
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Live sessions</h2>
      <div className="toolbar">
        <p className="muted license-updated">
          {sessions.dataUpdatedAt > 0
            ? `Updated ${formatTime(new Date(sessions.dataUpdatedAt).toISOString())}`
            : "Not loaded yet"}{" "}
          · refreshes every {sessionsEvery / 1000} s
        </p>
        <button
          type="button"
          className="danger"
          onClick={() => {
            all.reset();
            setRevoked(null);
            setRevokeAll(true);
          }}
        >
          Revoke all sessions
        </button>
      </div>
      {revoked !== null && (
        <Notice>
          {revoked === 0
            ? "There were no live sessions to end."
            : `Ended ${revoked} session${revoked === 1 ? "" : "s"}. Each client must acquire a seat again.`}
        </Notice>
      )}
      {sessions.error && <ErrorBanner error={sessions.error} retry={() => void sessions.refetch()} />}
      {!ending && !revokeAll && end.error && <ErrorBanner error={end.error} />}
      {sessions.isPending ? (
        <Loading what="live sessions" />
      ) : list.length === 0 ? (
        sessions.data && (
          <Empty title="No live sessions">
            <p>When a client acquires a seat of this license, its session appears here within seconds.</p>
          </Empty>
        )
      ) : (
        <table aria-label="Live sessions">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Workstation</th>
              <th scope="col">Hostname</th>
              <th scope="col">OS</th>
              <th scope="col">Processes</th>
              <th scope="col">Seat</th>
              <th scope="col">Repository</th>
              <th scope="col">Acquired</th>
              <th scope="col">Expires</th>
              <th scope="col">
                <span className="license-sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => {
              const expiry = expiryText(s, now);
              return (
                <tr key={s.session_digest}>
                  <td>{s.user || <span className="muted">—</span>}</td>
                  <td>
                    <code>{s.fingerprint}</code>
                  </td>
                  <td>{s.hostname || <span className="muted">—</span>}</td>
                  <td>{s.os || <span className="muted">—</span>}</td>
                  <td>{processesText(s)}</td>
                  <td>{seatText(s)}</td>
                  <td>{s.repository || <span className="muted">—</span>}</td>
                  <td>{formatTime(s.acquired_at)}</td>
                  <td>
                    {expiry.lead}
                    <time dateTime={s.expires_at}>{expiry.when}</time>
                  </td>
                  <td>
                    <button
                      type="button"
                      aria-label={`End session of ${s.user || s.fingerprint}`}
                      onClick={() => {
                        end.reset();
                        setEnding(s);
                      }}
                    >
                      End session
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}

      {ending && (
        <Confirm
          open
          title={`End the session of ${ending.user || ending.fingerprint}?`}
          confirmLabel="End session"
          busy={end.isPending}
          onConfirm={() => end.mutate(ending)}
          onCancel={() => setEnding(null)}
        >
          {ending.borrowed ? (
            <p>
              The session is borrowed: its device ({ending.hostname || ending.fingerprint}) is offline and cannot be
              told, so the seat stays counted until the borrow ends. The session goes on the license&apos;s revocation
              list, and the device gives the seat up when it next comes online.
            </p>
          ) : ending.lingering ? (
            <p>
              The seat is free at once. It was released and lingers; once ended, the workstation (
              {ending.hostname || ending.fingerprint}) acquires a new seat when its tool starts again, if one is free.
            </p>
          ) : (
            <p>
              The seat is free at once. The client ({ending.hostname || ending.fingerprint}) loses it at its next
              heartbeat and does not take it back by itself.
            </p>
          )}
          <ErrorBanner error={end.error} />
        </Confirm>
      )}
      {revokeAll && (
        <Confirm
          open
          title={`End every live session of ${l.product}?`}
          confirmLabel="End all sessions"
          busy={all.isPending}
          onConfirm={() => all.mutate()}
          onCancel={() => setRevokeAll(false)}
        >
          <p>
            Every seat is freed at once ({list.length} live now) and every client must acquire again. Use it when a key
            leaked or a policy changed.
          </p>
          <ErrorBanner error={all.error} />
        </Confirm>
      )}
    </section>
  );
}
