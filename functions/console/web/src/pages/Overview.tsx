// Overview of a tenant: a live gauge of seats in use per license (every
// 5 s) and the licenses expiring within 30 days, for everyone; for admins
// (usage reports are admin-only in the API) also the denials of the last
// 24 hours per license and the top users by seat-hours this week.
import { useMemo } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { must } from "../api/client";
import { allows, roleIn, useApi, useMe } from "../api/context";
import { Empty, ErrorBanner, Loading, Notice } from "../components/Status";
import { formatHours, formatRelative, formatTime } from "../lib/format";
import { LicenseStatus } from "./licenses/parts";
import { licenseName, useAllLicenses, type License } from "./insights/licenses";
import { expiringWithin, lastHours, rankKeys, sumBy, thisWeek, type Window } from "./insights/shape";

const gaugesEvery = 5_000;
const reportsEvery = 60_000;
const expiringDays = 30;
const topUsers = 10;

export default function Overview() {
  const { tenantId = "" } = useParams();
  const me = useMe();
  const admin = allows(roleIn(me.data, tenantId), "admin");
  const licenses = useAllLicenses(tenantId, gaugesEvery);
  const list = licenses.data?.licenses;
  const byId = useMemo(() => new Map((list ?? []).map((l) => [l.id, l])), [list]);
  // Licenses of the same product are told apart by their key's start.
  const shared = useMemo(() => {
    const seen = new Map<string, number>();
    for (const l of list ?? []) seen.set(l.product, (seen.get(l.product) ?? 0) + 1);
    return new Set([...seen].filter(([, n]) => n > 1).map(([p]) => p));
  }, [list]);
  const keyHint = (l: License) => (shared.has(l.product) ? ` (key ${l.key_prefix}…)` : "");

  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>

      <section aria-labelledby="overview-gauges">
        <h2 id="overview-gauges">Seats in use</h2>
        {licenses.error && <ErrorBanner error={licenses.error} retry={() => void licenses.refetch()} />}
        {!list ? (
          !licenses.error && <Loading what="licenses" />
        ) : list.length === 0 ? (
          <Empty title="No licenses yet">
            <p>Licenses are issued by the platform (your vendor). They appear here once created.</p>
          </Empty>
        ) : (
          <>
            <p className="muted">Live: refreshed every {gaugesEvery / 1000} seconds.</p>
            <ul className="gauges overview-gauges">
              {list.map((l) => (
                <Gauge key={l.id} tenantId={tenantId} license={l} hint={keyHint(l)} />
              ))}
            </ul>
            {!licenses.data?.complete && (
              <Notice>Only the first {list.length} licenses are shown; see Licenses for all of them.</Notice>
            )}
          </>
        )}
      </section>

      <section aria-labelledby="overview-expiring">
        <h2 id="overview-expiring">Expiring within {expiringDays} days</h2>
        {!list ? (
          !licenses.error && <Loading what="licenses" />
        ) : (
          <Expiring tenantId={tenantId} licenses={list} hint={keyHint} />
        )}
      </section>

      {admin && (
        <>
          <Denials tenantId={tenantId} byId={byId} />
          <TopUsers tenantId={tenantId} />
        </>
      )}
    </section>
  );
}

function Gauge({ tenantId, license: l, hint }: { tenantId: string; license: License; hint: string }) {
  const nameId = `gauge-${l.id}-name`;
  const textId = `gauge-${l.id}-text`;
  const max = Math.max(l.seats, 1);
  return (
    <li className="card gauge">
      <p className="overview-gauge-head">
        <Link id={nameId} to={`/tenants/${tenantId}/licenses/${l.id}`}>
          {l.product}
          {hint}
        </Link>{" "}
        <LicenseStatus license={l} />
      </p>
      <meter
        min={0}
        max={max}
        value={Math.min(l.seats_used, max)}
        low={Math.ceil(max * 0.7)}
        high={Math.ceil(max * 0.9)}
        optimum={0}
        aria-labelledby={nameId}
        aria-describedby={textId}
      />
      <p id={textId} className="overview-gauge-text">
        {l.seats_used} of {l.seats} seats in use
        {l.seats_used > l.seats && (
          <>
            {" "}
            <span className="badge warn">over the limit</span>
          </>
        )}
      </p>
    </li>
  );
}

function Expiring(props: { tenantId: string; licenses: License[]; hint(l: License): string }) {
  const { tenantId, licenses } = props;
  const now = new Date();
  const soon = expiringWithin(licenses, now, expiringDays);
  if (soon.length === 0) {
    return <Empty title={`No license expires in the next ${expiringDays} days`} />;
  }
  return (
    <table aria-label={`Licenses expiring within ${expiringDays} days`}>
      <thead>
        <tr>
          <th scope="col">License</th>
          <th scope="col">Seats</th>
          <th scope="col">Expires (UTC)</th>
        </tr>
      </thead>
      <tbody>
        {soon.map((l) => (
          <tr key={l.id}>
            <td>
              <Link to={`/tenants/${tenantId}/licenses/${l.id}`}>
                {l.product}
                {props.hint(l)}
              </Link>
            </td>
            <td>{l.seats}</td>
            <td>
              {formatTime(l.expires_at)} <span className="muted">({formatRelative(l.expires_at!, now)})</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** useReport reads a usage report of the tenant (admins only). */
function useReport(tenantId: string, name: string, groupBy: "license" | "user", granularity: "hour" | "day", window: () => Window) {
  const api = useApi();
  return useQuery({
    queryKey: ["usage", tenantId, "overview", name],
    queryFn: async () => {
      const w = window();
      return must(
        await api.GET("/v1/tenants/{tenant_id}/usage", {
          params: { path: { tenant_id: tenantId }, query: { group_by: groupBy, granularity, from: w.from, to: w.to } },
        }),
      );
    },
    refetchInterval: reportsEvery,
  });
}

function Denials({ tenantId, byId }: { tenantId: string; byId: ReadonlyMap<string, License> }) {
  const report = useReport(tenantId, "denials-24h", "license", "hour", () => lastHours(24, new Date()));
  const totals = report.data ? sumBy(report.data.buckets, "denials") : null;
  return (
    <section aria-labelledby="overview-denials">
      <h2 id="overview-denials">Denials in the last 24 hours</h2>
      {report.error && <ErrorBanner error={report.error} retry={() => void report.refetch()} />}
      {!totals ? (
        !report.error && <Loading what="denials" />
      ) : totals.total === 0 ? (
        <Empty title="No denials in the last 24 hours">
          <p>Every request for a seat was granted.</p>
        </Empty>
      ) : (
        <>
          <p>
            <strong>{totals.total}</strong> {totals.total === 1 ? "request for a seat was" : "requests for a seat were"} denied.
          </p>
          <table aria-label="Denials in the last 24 hours per license">
            <thead>
              <tr>
                <th scope="col">License</th>
                <th scope="col" className="num">
                  Denials
                </th>
              </tr>
            </thead>
            <tbody>
              {totals.byKey.map((k) => (
                <tr key={k.key}>
                  <td>
                    {byId.has(k.key) ? (
                      <Link to={`/tenants/${tenantId}/licenses/${k.key}`}>{licenseName(byId, k.key)}</Link>
                    ) : (
                      licenseName(byId, k.key)
                    )}{" "}
                    <code className="muted">{k.key}</code>
                  </td>
                  <td className="num">{k.value}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td className="num">{totals.total}</td>
              </tr>
            </tfoot>
          </table>
        </>
      )}
    </section>
  );
}

function TopUsers({ tenantId }: { tenantId: string }) {
  const report = useReport(tenantId, "users-week", "user", "day", () => thisWeek(new Date()));
  const top = report.data ? rankKeys(report.data.buckets).filter((k) => k.seatHours > 0).slice(0, topUsers) : null;
  return (
    <section aria-labelledby="overview-users">
      <h2 id="overview-users">Top users this week</h2>
      <p className="muted">By seat-hours since Monday 00:00 UTC.</p>
      {report.error && <ErrorBanner error={report.error} retry={() => void report.refetch()} />}
      {!top ? (
        !report.error && <Loading what="users" />
      ) : top.length === 0 ? (
        <Empty title="No seats used this week" />
      ) : (
        <table aria-label={`Top ${topUsers} users by seat-hours this week`}>
          <thead>
            <tr>
              <th scope="col" className="num">
                Rank
              </th>
              <th scope="col">User</th>
              <th scope="col" className="num">
                Seat-hours
              </th>
              <th scope="col" className="num">
                Peak seats
              </th>
              <th scope="col" className="num">
                Denials
              </th>
            </tr>
          </thead>
          <tbody>
            {top.map((u, i) => (
              <tr key={u.key}>
                <td className="num">{i + 1}</td>
                <td>{u.key || <span className="muted">(no user given)</span>}</td>
                <td className="num">{formatHours(u.seatHours)}</td>
                <td className="num">{u.peak}</td>
                <td className="num">{u.denials}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
