// Licenses: the tenant's licenses with their live seat counts (search on
// the page shown, cursor paging) and, for platform admins, the create form
// (the key shown once). Creating a license sets commercial terms (product,
// seats, expiry, the lease TTL ceiling), so the API lets only platform
// admins do it (functions/licenses: create checks terms()); a tenant's
// admins change how seats are used on each license's page.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { must } from "../api/client";
import { allows, roleIn, useApi, useMe } from "../api/context";
import { Pager, usePager } from "../components/Pager";
import { SecretOnce } from "../components/SecretOnce";
import { Empty, ErrorBanner, Loading } from "../components/Status";
import { formatDuration, formatTime } from "../lib/format";
import { LicenseStatus } from "./licenses/parts";
import {
  createBodyOf,
  emptyCreate,
  leasingLabels,
  matches,
  tomorrow,
  type CreateValues,
  type License,
  type LicenseCreate,
} from "./licenses/terms";

const pageSize = 50;

export default function Licenses() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const me = useMe();
  const role = roleIn(me.data, tenantId);
  const platform = role === "platform_admin";
  const admin = allows(role, "admin");
  const pager = usePager();
  const [search, setSearch] = useState("");
  const [created, setCreated] = useState<{ id: string; product: string; key: string } | null>(null);

  const list = useQuery({
    queryKey: ["licenses", tenantId, "list", pager.cursor ?? ""],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/licenses", {
          params: { path: { tenant_id: tenantId }, query: { limit: pageSize, cursor: pager.cursor } },
        }),
      ),
    placeholderData: keepPreviousData,
    // Seats in use change as clients come and go.
    refetchInterval: 10_000,
  });

  const licenses = list.data?.licenses ?? [];
  const shown = licenses.filter((l) => matches(l, search));

  return (
    <section aria-labelledby="licenses-title">
      <h1 id="licenses-title">Licenses</h1>

      {created && (
        <>
          <SecretOnce label="License key" secret={created.key} onDone={() => setCreated(null)} />
          <p>
            Created <Link to={`/tenants/${tenantId}/licenses/${created.id}`}>{created.product}</Link>.
          </p>
        </>
      )}

      {platform ? (
        <CreateLicense
          tenantId={tenantId}
          onCreated={(l) => {
            setCreated(l);
            setSearch("");
          }}
        />
      ) : admin ? (
        <p className="muted">
          Licenses, their seats and expiry are set by the platform (your vendor). You choose how each license's seats are
          used on its page.
        </p>
      ) : null}

      <h2>All licenses</h2>
      <div className="toolbar">
        <label>
          Search licenses
          <input
            type="search"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder="Product or key prefix"
            aria-describedby="licenses-search-hint"
          />
        </label>
        <span id="licenses-search-hint" className="muted">
          Searches the page shown.
        </span>
      </div>

      {list.error && <ErrorBanner error={list.error} retry={() => void list.refetch()} />}
      {list.isPending ? (
        <Loading what="licenses" />
      ) : licenses.length === 0 && pager.page > 1 ? (
        <Empty title="No more licenses">
          <p>This page is empty: go back to the previous page.</p>
        </Empty>
      ) : licenses.length === 0 ? (
        list.data && (
          <Empty title="No licenses yet">
            <p>
              {platform
                ? "Create the tenant's first license with the form above."
                : admin
                  ? "Licenses are created by the platform's admins (your vendor). Ask them for one."
                  : "Ask an admin of this tenant about its licenses."}
            </p>
          </Empty>
        )
      ) : shown.length === 0 ? (
        <Empty title="No license on this page matches your search">
          <p>Search for a product name or the start of a license key, or go to another page.</p>
        </Empty>
      ) : (
        <LicenseTable tenantId={tenantId} licenses={shown} />
      )}

      <Pager
        page={pager.page}
        nextCursor={list.data?.next_cursor}
        onNext={(c) => pager.next(c)}
        onPrevious={() => pager.previous()}
      />
    </section>
  );
}

function LicenseTable({ tenantId, licenses }: { tenantId: string; licenses: License[] }) {
  const now = new Date();
  return (
    <table aria-label="Licenses">
      <thead>
        <tr>
          <th scope="col">Product</th>
          <th scope="col" className="num">
            Seats used / seats
          </th>
          <th scope="col">Status</th>
          <th scope="col">Expires</th>
          <th scope="col">Leasing</th>
          <th scope="col" className="num">
            Lease TTL
          </th>
          <th scope="col">Key prefix</th>
        </tr>
      </thead>
      <tbody>
        {licenses.map((l) => (
          <tr key={l.id}>
            <td>
              <Link to={`/tenants/${tenantId}/licenses/${l.id}`}>{l.product}</Link>
            </td>
            <td className="num">
              {l.seats_used} / {l.seats}
              {l.seats_used > l.seats && <span className="muted"> (over: seats were lowered)</span>}
            </td>
            <td>
              <LicenseStatus license={l} now={now} />
            </td>
            <td>{l.expires_at ? formatTime(l.expires_at) : "Never"}</td>
            <td>
              {leasingLabels[l.leasing]}
              {l.require_user && <span className="muted"> · user required</span>}
              {l.max_seats_per_user != null && <span className="muted"> · at most {l.max_seats_per_user} per user</span>}
            </td>
            <td className="num">{formatDuration(l.lease_ttl_seconds)}</td>
            <td>
              <code>{l.key_prefix}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The create form: platform admins only (every field is a commercial term
 * or the usage policy the license starts with). */
function CreateLicense({
  tenantId,
  onCreated,
}: {
  tenantId: string;
  onCreated(l: { id: string; product: string; key: string }): void;
}) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [v, setV] = useState<CreateValues>(emptyCreate);
  const set = <K extends keyof CreateValues>(k: K, value: CreateValues[K]) => setV((old) => ({ ...old, [k]: value }));

  const create = useMutation({
    mutationFn: async (values: CreateValues) =>
      must(
        await api.POST("/v1/tenants/{tenant_id}/licenses", {
          params: { path: { tenant_id: tenantId } },
          // The API defaults the lease TTLs left out (see CreateBody).
          body: createBodyOf(values) as LicenseCreate,
        }),
      ),
    onSuccess: (l) => {
      onCreated({ id: l.id, product: l.product, key: l.key });
      setV(emptyCreate);
      void queryClient.invalidateQueries({ queryKey: ["licenses", tenantId] });
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!create.isPending) create.mutate(v);
  };

  return (
    <section className="card" aria-labelledby="create-license-title">
      <h2 id="create-license-title">New license</h2>
      <form className="grid" onSubmit={submit}>
        <label>
          Product
          <input
            required
            value={v.product}
            onChange={(e) => set("product", e.target.value)}
            pattern="[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}"
            maxLength={100}
            autoComplete="off"
            aria-describedby="create-product-hint"
          />
        </label>
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
          Lease TTL (seconds)
          <input
            type="number"
            min={1}
            max={Number(v.max_lease_ttl_seconds) || 86400}
            step={1}
            value={v.lease_ttl_seconds}
            placeholder="300"
            onChange={(e) => set("lease_ttl_seconds", e.target.value)}
          />
        </label>
        <label>
          Lease TTL ceiling (seconds)
          <input
            type="number"
            min={1}
            max={86400}
            step={1}
            value={v.max_lease_ttl_seconds}
            placeholder="86400"
            onChange={(e) => set("max_lease_ttl_seconds", e.target.value)}
            aria-describedby="create-maxttl-hint"
          />
        </label>
        <label>
          Expires
          <input
            type="date"
            min={tomorrow()}
            value={v.expires}
            onChange={(e) => set("expires", e.target.value)}
            aria-describedby="create-expires-hint"
          />
        </label>
        <label>
          Leasing
          <select value={v.leasing} onChange={(e) => set("leasing", e.target.value as CreateValues["leasing"])}>
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
            aria-describedby="create-peruser-hint"
          />
        </label>
        <label className="inline">
          <input type="checkbox" checked={v.require_user} onChange={(e) => set("require_user", e.target.checked)} />
          Require a user
        </label>
        <div className="licenses-hints muted">
          <p id="create-product-hint">Product: letters, digits and . _ : - (up to 100).</p>
          <p id="create-maxttl-hint">
            The lease TTL ceiling is the most tenant admins may raise the lease TTL to; empty: 86400 (1 day). An empty lease
            TTL is 300 s.
          </p>
          <p id="create-expires-hint">Expires at 00:00 UTC on that date; empty: never.</p>
          <p id="create-peruser-hint">Seat limit per user: empty for no limit.</p>
        </div>
        <div className="licenses-form-actions">
          <button type="submit" className="primary" disabled={create.isPending}>
            {create.isPending ? "Creating…" : "Create license"}
          </button>
        </div>
      </form>
      <ErrorBanner error={create.error} />
    </section>
  );
}
