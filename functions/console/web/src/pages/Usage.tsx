// Usage report (admins): peak concurrent seats, seat-hours and denials per
// license, user, workstation or repository, by hour or day, over a chosen
// UTC range. A stacked chart of seat-hours by key (the top 8 and "other"),
// a chart of peak seats, the rows as the API returned them, and their CSV.
import { useMemo, useState, type ReactElement } from "react";
import { useParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { must } from "../api/client";
import { useApi } from "../api/context";
import { ApiError } from "../api/errors";
import { Empty, ErrorBanner, Loading } from "../components/Status";
import { downloadCSV } from "../lib/csv";
import { formatHours, formatTime } from "../lib/format";
import { Field } from "./insights/Field";
import { licenseName, useAllLicenses, type License } from "./insights/licenses";
import {
  OTHER,
  defaultRange,
  fromInputUTC,
  rankKeys,
  round,
  stack,
  tickOf,
  toInputUTC,
  topSeries,
  usageFilename,
  usageHeader,
  usageRows,
  type Bucket,
  type Granularity,
  type GroupBy,
  type Series,
  type Window,
} from "./insights/shape";

const topKeys = 8;
const rowsShown = 200;

const groups: { id: GroupBy; label: string; noun: string }[] = [
  { id: "license", label: "License", noun: "license" },
  { id: "user", label: "User", noun: "user" },
  { id: "workstation", label: "Workstation", noun: "workstation" },
  { id: "repository", label: "Repository", noun: "repository" },
];

// Colours of the series, each at least 3:1 on white (WCAG non-text
// contrast); the peak chart also varies the line's dashes.
const palette = ["#0b57d0", "#146c2e", "#b3261e", "#8a5300", "#6a1b9a", "#00695c", "#ad1457", "#37474f"];
const otherColour = "#6b6b6b";
const dashes = ["", "6 3", "2 3", "10 3 2 3", "", "6 3", "2 3", "10 3 2 3"];

export default function Usage() {
  const { tenantId = "" } = useParams();
  const api = useApi();
  const [groupBy, setGroupBy] = useState<GroupBy>("license");
  const [granularity, setGranularity] = useState<Granularity>("day");
  const [initial] = useState(() => defaultRange(new Date()));
  const [fromText, setFromText] = useState(() => toInputUTC(initial.from));
  const [toText, setToText] = useState(() => toInputUTC(initial.to));
  const [allRows, setAllRows] = useState(false);
  // A new report starts with its first rows shown.
  const change =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      set(v);
      setAllRows(false);
    };

  const from = fromInputUTC(fromText);
  const to = fromInputUTC(toText);
  const rangeProblem =
    !from || !to ? "Enter both From and To." : Date.parse(to) <= Date.parse(from) ? "To must be after From." : "";

  const report = useQuery({
    queryKey: ["usage", tenantId, "report", groupBy, granularity, from, to],
    queryFn: async () =>
      must(
        await api.GET("/v1/tenants/{tenant_id}/usage", {
          params: { path: { tenant_id: tenantId }, query: { group_by: groupBy, granularity, from: from!, to: to! } },
        }),
      ),
    enabled: !rangeProblem,
    placeholderData: keepPreviousData,
    retry: (n, err) => !(err instanceof ApiError && err.status < 500) && n < 2,
  });

  // License names for the license grouping.
  const licenses = useAllLicenses(tenantId, false);
  const byId = useMemo(() => new Map((licenses.data?.licenses ?? []).map((l) => [l.id, l])), [licenses.data]);

  const data = rangeProblem ? undefined : report.data;
  const group = groups.find((g) => g.id === (data?.group_by ?? groupBy))!;
  const nameOf = (key: string): string => {
    if (key === OTHER) return "Other";
    if (key === "") return `(no ${group.noun} given)`;
    if (group.id === "license") return `${licenseName(byId, key)} (${key.slice(0, 8)}…)`;
    return key;
  };

  // A 4xx is the request's fault: trying it again would not help.
  const refused = report.error instanceof ApiError && report.error.status >= 400 && report.error.status < 500;
  const tooLarge = refused && (report.error as ApiError).code === "report_too_large";

  return (
    <section aria-labelledby="usage-title">
      <h1 id="usage-title">Usage</h1>
      <p className="muted" id="usage-utc">
        Times are UTC. Buckets are whole UTC hours or days; a session still open counts until now.
      </p>
      <div className="toolbar" role="group" aria-label="Report">
        <Field label="Group by">
          {(id) => (
            <select id={id} value={groupBy} onChange={(e) => change(setGroupBy)(e.target.value as GroupBy)}>
              {groups.map((g) => (
                <option key={g.id} value={g.id}>
                  {g.label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Granularity">
          {(id) => (
            <select id={id} value={granularity} onChange={(e) => change(setGranularity)(e.target.value as Granularity)}>
              <option value="hour">Hour</option>
              <option value="day">Day</option>
            </select>
          )}
        </Field>
        <Field label="From">
          {(id) => (
            <input
              id={id}
              type="datetime-local"
              value={fromText}
              onChange={(e) => change(setFromText)(e.target.value)}
              aria-describedby="usage-utc"
              required
            />
          )}
        </Field>
        <Field label="To">
          {(id) => (
            <input
              id={id}
              type="datetime-local"
              value={toText}
              onChange={(e) => change(setToText)(e.target.value)}
              aria-describedby="usage-utc"
              required
            />
          )}
        </Field>
        {report.isFetching && !report.isPending && (
          <span className="muted" role="status">
            Updating…
          </span>
        )}
      </div>

      {rangeProblem ? (
        <ErrorBanner error={new Error(rangeProblem)} />
      ) : (
        report.error && (
          <>
            <ErrorBanner error={report.error} retry={refused ? undefined : () => void report.refetch()} />
            {tooLarge && granularity === "hour" && (
              <p>
                <button type="button" onClick={() => change(setGranularity)("day")}>
                  Use daily buckets
                </button>
              </p>
            )}
          </>
        )
      )}

      {!rangeProblem && !data && !report.error && <Loading what="the report" />}

      {data &&
        (data.buckets.length === 0 ? (
          <Empty title="No usage in this range">
            <p>No seat was held or denied between {formatTime(data.from)} and {formatTime(data.to)}.</p>
          </Empty>
        ) : (
          <Report
            buckets={data.buckets}
            window={{ from: data.from, to: data.to }}
            granularity={data.granularity}
            groupBy={data.group_by}
            group={group}
            nameOf={nameOf}
            licenseById={byId}
            allRows={allRows}
            onAllRows={() => setAllRows(true)}
          />
        ))}
    </section>
  );
}

function Report(props: {
  buckets: Bucket[];
  window: Window;
  granularity: Granularity;
  groupBy: GroupBy;
  group: { label: string; noun: string };
  nameOf(key: string): string;
  licenseById: ReadonlyMap<string, License>;
  allRows: boolean;
  onAllRows(): void;
}) {
  const { buckets, window: w, granularity, groupBy, nameOf } = props;
  const series = useMemo(() => topSeries(buckets, topKeys), [buckets]);
  const hours = useMemo(() => stack(buckets, series, w, granularity, "seat_hours"), [buckets, series, w, granularity]);
  const peaks = useMemo(() => stack(buckets, series, w, granularity, "peak_seats"), [buckets, series, w, granularity]);
  const keys = rankKeys(buckets);
  const totalHours = round(keys.reduce((s, k) => s + k.seatHours, 0));
  const totalDenials = keys.reduce((s, k) => s + k.denials, 0);
  const shown = props.allRows ? buckets : buckets.slice(0, rowsShown);
  const per = granularity;
  const others = keys.length - Math.min(keys.length, topKeys);

  return (
    <>
      <p>
        {formatTime(w.from)} to {formatTime(w.to)}, by {per}: <strong>{formatHours(totalHours)}</strong> seat-hours and{" "}
        <strong>{totalDenials}</strong> {totalDenials === 1 ? "denial" : "denials"} over {keys.length}{" "}
        {keys.length === 1 ? props.group.noun : `${props.group.noun}s`}
        {others > 0 ? ` (the top ${topKeys} charted, ${others} more as “Other”)` : ""}.
      </p>
      <div className="usage-charts">
        <Chart
          id="usage-hours"
          caption={`Seat-hours per ${per} by ${props.group.noun}`}
          summary={`Stacked bars: each ${per}'s seat-hours, split by ${props.group.noun}.`}
        >
          <BarChart data={hours} accessibilityLayer={false} margin={{ top: 10, right: 16, bottom: 0, left: 0 }}>
            {axes(granularity, true)}
            <Tooltip labelFormatter={(s) => formatTime(String(s))} formatter={(v) => formatHours(Number(v))} />
            <Legend />
            {series.map((s, i) => (
              <Bar
                key={s.id}
                dataKey={s.id}
                name={nameOf(s.key)}
                stackId="hours"
                fill={colourOf(s, i)}
                isAnimationActive={false}
              />
            ))}
          </BarChart>
        </Chart>
        <Chart
          id="usage-peak"
          caption={`Peak seats per ${per} by ${props.group.noun}`}
          summary={`Lines: each ${props.group.noun}'s most seats held at once in the ${per}; “Other” is the highest of the rest.`}
        >
          <LineChart data={peaks} accessibilityLayer={false} margin={{ top: 10, right: 16, bottom: 0, left: 0 }}>
            {axes(granularity, false)}
            <Tooltip labelFormatter={(s) => formatTime(String(s))} />
            <Legend />
            {series.map((s, i) => (
              <Line
                key={s.id}
                dataKey={s.id}
                name={nameOf(s.key)}
                type="stepAfter"
                stroke={colourOf(s, i)}
                strokeWidth={2}
                strokeDasharray={s.key === OTHER ? "1 3" : dashes[i] || undefined}
                dot={false}
                isAnimationActive={false}
              />
            ))}
          </LineChart>
        </Chart>
      </div>

      <h2 id="usage-rows">Rows</h2>
      <div className="toolbar">
        <button
          type="button"
          onClick={() => downloadCSV(usageFilename(groupBy, granularity, w), usageHeader, usageRows(buckets))}
        >
          Export CSV
        </button>
        <span className="muted">
          {buckets.length} {buckets.length === 1 ? "row" : "rows"}, as the API returned them.
        </span>
      </div>
      <table aria-label="Usage report rows">
        <thead>
          <tr>
            <th scope="col">{props.group.label}</th>
            <th scope="col">Start (UTC)</th>
            <th scope="col" className="num">
              Peak seats
            </th>
            <th scope="col" className="num">
              Seat-hours
            </th>
            <th scope="col" className="num">
              Denials
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map((b) => (
            <tr key={`${b.key}\u0000${b.start}`}>
              <td>
                <KeyCell groupBy={groupBy} k={b.key} nameOf={nameOf} licenseById={props.licenseById} />
              </td>
              <td>{formatTime(b.start)}</td>
              <td className="num">{b.peak_seats}</td>
              <td className="num">{formatHours(b.seat_hours)}</td>
              <td className="num">{b.denials}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length < buckets.length && (
        <p>
          <button type="button" onClick={props.onAllRows}>
            Show all {buckets.length} rows
          </button>
        </p>
      )}
    </>
  );
}

function KeyCell(props: { groupBy: GroupBy; k: string; nameOf(key: string): string; licenseById: ReadonlyMap<string, License> }) {
  if (props.groupBy !== "license") return <>{props.nameOf(props.k)}</>;
  return (
    <>
      {licenseName(props.licenseById, props.k)} <code className="muted">{props.k}</code>
    </>
  );
}

function colourOf(s: Series, i: number): string {
  return s.key === OTHER ? otherColour : (palette[i % palette.length] ?? otherColour);
}

function axes(granularity: Granularity, decimals: boolean) {
  return [
    <CartesianGrid key="grid" stroke="#d5dae0" vertical={false} />,
    <XAxis
      key="x"
      dataKey="start"
      tickFormatter={(s: string) => tickOf(s, granularity)}
      tick={{ fill: "#4f5660", fontSize: 12 }}
      minTickGap={12}
    />,
    <YAxis
      key="y"
      allowDecimals={decimals}
      tick={{ fill: "#4f5660", fontSize: 12 }}
      tickFormatter={(x: number) => (x >= 100 ? x.toFixed(0) : String(Number(x.toPrecision(2))))}
      width={52}
    />,
  ];
}

function Chart(props: { id: string; caption: string; summary: string; children: ReactElement }) {
  return (
    <figure className="usage-chart" aria-labelledby={`${props.id}-caption`}>
      <figcaption id={`${props.id}-caption`}>{props.caption}</figcaption>
      <div className="chart usage-chart-area" role="img" aria-label={`${props.caption} chart`} aria-describedby={`${props.id}-summary`}>
        <ResponsiveContainer width="100%" height="100%">
          {props.children}
        </ResponsiveContainer>
      </div>
      <p id={`${props.id}-summary`} className="muted usage-chart-summary">
        {props.summary} The figures are in the rows table below.
      </p>
    </figure>
  );
}

