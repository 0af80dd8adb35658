// One license's usage: peak seats (with the seats limit), seat-hours and
// denials per hour or day over a chosen range, each chart a <figure> with
// its caption, its data table (kept for screen readers, shown on demand)
// and its CSV. Loaded lazily: recharts is only fetched by pages that draw.
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Bar, BarChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { must } from "../../api/client";
import { useApi } from "../../api/context";
import { ErrorBanner, Loading } from "../../components/Status";
import { downloadCSV } from "../../lib/csv";
import { formatHours, formatTime } from "../../lib/format";
import {
  csvFilename,
  csvOf,
  peakOf,
  ranges,
  shapeUsage,
  tickOf,
  totalOf,
  windowOf,
  type Granularity,
  type Metric,
  type Point,
  type RangeId,
} from "./shape";

// The stylesheet's colours (4.5:1 on white).
const colours: Record<Metric, string> = { peak_seats: "#0b57d0", seat_hours: "#146c2e", denials: "#b3261e" };
const limitColour = "#8a5300";

const titles: Record<Metric, { name: string; noun: string }> = {
  peak_seats: { name: "Peak seats", noun: "peak seats" },
  seat_hours: { name: "Seat-hours", noun: "seat-hours" },
  denials: { name: "Denials", noun: "denials" },
};

export default function UsageCharts({ tenantId, licenseId, seats }: { tenantId: string; licenseId: string; seats: number }) {
  const api = useApi();
  const [range, setRange] = useState<RangeId>("24h");
  const [tables, setTables] = useState(false);

  const usage = useQuery({
    queryKey: ["licenses", tenantId, "usage", licenseId, range],
    queryFn: async () => {
      const w = windowOf(range, new Date());
      const report = must(
        await api.GET("/v1/tenants/{tenant_id}/usage", {
          params: {
            path: { tenant_id: tenantId },
            query: { group_by: "license", granularity: w.granularity, from: w.from, to: w.to },
          },
        }),
      );
      return { window: w, points: shapeUsage(report.buckets, licenseId, w) };
    },
    // The ledger counts open sessions until now: refresh now and then.
    refetchInterval: 30_000,
  });

  const data = usage.data;
  const per = data?.window.granularity === "hour" ? "hour" : "day";
  const idle = data ? data.points.every((p) => p.peak_seats === 0 && p.denials === 0 && p.seat_hours === 0) : false;

  return (
    <section aria-labelledby="usage-title">
      <h2 id="usage-title">Usage</h2>
      <div className="toolbar">
        <label>
          Range
          <select value={range} onChange={(e) => setRange(e.target.value as RangeId)}>
            {ranges.map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <label className="inline">
          <input type="checkbox" checked={tables} onChange={(e) => setTables(e.target.checked)} />
          Show data tables
        </label>
        {data && (
          <span className="muted">
            {formatTime(data.window.from)} to {formatTime(data.window.to)}, by {per} (UTC)
          </span>
        )}
      </div>
      {usage.error && <ErrorBanner error={usage.error} retry={() => void usage.refetch()} />}
      {usage.isPending ? (
        <Loading what="usage" />
      ) : data ? (
        <>
          {idle && <p className="muted">No seat of this license was held or denied in this range.</p>}
          <div className="license-charts">
            {(["peak_seats", "seat_hours", "denials"] as const).map((m) => (
              <MetricChart
                key={m}
                metric={m}
                points={data.points}
                granularity={data.window.granularity}
                seats={m === "peak_seats" ? seats : undefined}
                showTable={tables}
                onExport={() => {
                  const csv = csvOf(data.points, m);
                  downloadCSV(csvFilename(licenseId, m, range), csv.header, csv.rows);
                }}
              />
            ))}
          </div>
        </>
      ) : null}
    </section>
  );
}

function MetricChart(props: {
  metric: Metric;
  points: Point[];
  granularity: Granularity;
  seats?: number | undefined;
  showTable: boolean;
  onExport(): void;
}) {
  const { metric, points, granularity, seats } = props;
  const t = titles[metric];
  const caption = `${t.name} per ${granularity}`;
  const value = (x: number) => (metric === "seat_hours" ? formatHours(x) : String(x));
  const summary =
    metric === "peak_seats"
      ? `${caption}: highest ${peakOf(points, metric)}${seats !== undefined ? ` of ${seats} seats` : ""}.`
      : `${caption}: ${value(totalOf(points, metric))} in total, highest ${value(peakOf(points, metric))}.`;
  const id = `license-chart-${metric}`;
  return (
    <figure className="license-chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>{caption}</figcaption>
      <div className="chart" role="img" aria-label={`${caption} chart`} aria-describedby={`${id}-summary`}>
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={points} accessibilityLayer={false} margin={{ top: 10, right: 16, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#d5dae0" vertical={false} />
            <XAxis
              dataKey="start"
              tickFormatter={(s: string) => tickOf(s, granularity)}
              tick={{ fill: "#4f5660", fontSize: 12 }}
              minTickGap={12}
            />
            <YAxis
              allowDecimals={metric === "seat_hours"}
              tick={{ fill: "#4f5660", fontSize: 12 }}
              tickFormatter={(x: number) => (x >= 100 ? x.toFixed(0) : String(Number(x.toPrecision(2))))}
              width={52}
            />
            <Tooltip
              labelFormatter={(s) => formatTime(String(s))}
              formatter={(v) => [value(Number(v)), t.name]}
            />
            <Bar dataKey={metric} name={t.name} fill={colours[metric]} isAnimationActive={false} />
            {seats !== undefined && (
              <ReferenceLine
                y={seats}
                stroke={limitColour}
                strokeDasharray="6 4"
                ifOverflow="extendDomain"
                label={{ value: `Seats (${seats})`, position: "insideTopRight", fill: limitColour, fontSize: 12 }}
              />
            )}
          </BarChart>
        </ResponsiveContainer>
      </div>
      <p id={`${id}-summary`} className="muted license-chart-summary">
        {summary}
      </p>
      <table aria-label={caption} className={props.showTable ? undefined : "license-sr-only"}>
        <thead>
          <tr>
            <th scope="col">Start (UTC)</th>
            <th scope="col" className="num">
              {t.name}
            </th>
          </tr>
        </thead>
        <tbody>
          {points.map((p) => (
            <tr key={p.start}>
              <td>{formatTime(p.start)}</td>
              <td className="num">{p[metric]}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={props.onExport}>
        Export {t.noun} CSV
      </button>
    </figure>
  );
}
