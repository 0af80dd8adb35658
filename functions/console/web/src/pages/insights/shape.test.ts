import { describe, expect, it } from "vitest";
import {
  OTHER,
  bucketStarts,
  defaultRange,
  expiringWithin,
  fromInputUTC,
  lastHours,
  rankKeys,
  stack,
  sumBy,
  thisWeek,
  tickOf,
  toInputUTC,
  topSeries,
  usageFilename,
  usageHeader,
  usageRows,
  weekStart,
  type Bucket,
} from "./shape";
import { toCSV } from "../../lib/csv";

const b = (key: string, start: string, peak: number, hours: number, denials = 0): Bucket => ({
  key,
  start,
  peak_seats: peak,
  seat_hours: hours,
  denials,
});

describe("weekStart", () => {
  it("is Monday 00:00 UTC of the ISO week", () => {
    // 2026-06-03 is a Wednesday.
    expect(weekStart(new Date("2026-06-03T15:30:00Z")).toISOString()).toBe("2026-06-01T00:00:00.000Z");
    expect(weekStart(new Date("2026-06-01T00:00:00Z")).toISOString()).toBe("2026-06-01T00:00:00.000Z");
    expect(weekStart(new Date("2026-05-31T23:59:59.999Z")).toISOString()).toBe("2026-05-25T00:00:00.000Z"); // a Sunday
  });
  it("crosses months and years", () => {
    expect(weekStart(new Date("2027-01-01T08:00:00Z")).toISOString()).toBe("2026-12-28T00:00:00.000Z"); // a Friday
  });
});

describe("report windows", () => {
  const now = new Date("2026-06-03T15:30:00Z");
  it("thisWeek runs from Monday to the end of today", () => {
    expect(thisWeek(now)).toEqual({ from: "2026-06-01T00:00:00.000Z", to: "2026-06-04T00:00:00.000Z" });
    const monday = new Date("2026-06-01T00:00:00Z");
    expect(thisWeek(monday)).toEqual({ from: "2026-06-01T00:00:00.000Z", to: "2026-06-02T00:00:00.000Z" });
  });
  it("lastHours ends with the end of the current hour", () => {
    expect(lastHours(24, now)).toEqual({ from: "2026-06-02T16:00:00.000Z", to: "2026-06-03T16:00:00.000Z" });
  });
  it("defaultRange is the last 7 days by day, ending with today", () => {
    expect(defaultRange(now)).toEqual({ from: "2026-05-28T00:00:00.000Z", to: "2026-06-04T00:00:00.000Z" });
  });
});

describe("bucketStarts", () => {
  it("lists every bucket of the window, aligned to UTC", () => {
    expect(bucketStarts({ from: "2026-06-01T10:00:00Z", to: "2026-06-01T13:00:00Z" }, "hour")).toEqual([
      "2026-06-01T10:00:00.000Z",
      "2026-06-01T11:00:00.000Z",
      "2026-06-01T12:00:00.000Z",
    ]);
  });
  it("covers a window that does not start or end on the grid", () => {
    expect(bucketStarts({ from: "2026-06-01T10:30:00Z", to: "2026-06-01T12:15:00Z" }, "hour")).toEqual([
      "2026-06-01T10:00:00.000Z",
      "2026-06-01T11:00:00.000Z",
      "2026-06-01T12:00:00.000Z",
    ]);
    expect(bucketStarts({ from: "2026-05-30T22:00:00+02:00", to: "2026-06-01T00:00:00Z" }, "day")).toEqual([
      "2026-05-30T00:00:00.000Z",
      "2026-05-31T00:00:00.000Z",
    ]);
  });
  it("is empty for an empty, reversed or unreadable window, and bounded", () => {
    expect(bucketStarts({ from: "2026-06-01T10:00:00Z", to: "2026-06-01T10:00:00Z" }, "hour")).toEqual([]);
    expect(bucketStarts({ from: "2026-06-02T00:00:00Z", to: "2026-06-01T00:00:00Z" }, "day")).toEqual([]);
    expect(bucketStarts({ from: "soon", to: "2026-06-01T00:00:00Z" }, "day")).toEqual([]);
    expect(bucketStarts({ from: "2000-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z" }, "hour", 5)).toHaveLength(5);
  });
});

describe("topSeries and stack", () => {
  const w = { from: "2026-06-01T00:00:00Z", to: "2026-06-04T00:00:00Z" };
  const report = [
    b("ada", "2026-06-01T00:00:00Z", 2, 10),
    b("ada", "2026-06-03T00:00:00Z", 1, 5),
    b("bob", "2026-06-01T00:00:00Z", 1, 8, 2),
    b("carol", "2026-06-02T00:00:00Z", 3, 0.1),
    b("dan", "2026-06-02T00:00:00Z", 1, 0.2),
    b("eve.example/x", "2026-06-03T00:00:00Z", 4, 0.3),
  ];

  it("ranks keys by seat-hours, then peak, denials and key", () => {
    expect(rankKeys(report).map((k) => k.key)).toEqual(["ada", "bob", "eve.example/x", "dan", "carol"]);
    expect(rankKeys([b("z", "2026-06-01T00:00:00Z", 1, 1), b("a", "2026-06-01T00:00:00Z", 1, 1)]).map((k) => k.key)).toEqual([
      "a",
      "z",
    ]);
    expect(rankKeys(report)[0]).toEqual({ key: "ada", seatHours: 15, peak: 2, denials: 0 });
  });

  it("keeps the top n keys and groups the rest as other", () => {
    const s = topSeries(report, 2);
    expect(s).toEqual([
      { id: "s0", key: "ada", seatHours: 15 },
      { id: "s1", key: "bob", seatHours: 8 },
      { id: "other", key: OTHER, seatHours: 0.6 },
    ]);
  });

  it("has no other series when every key fits", () => {
    expect(topSeries(report, 8).map((s) => s.id)).toEqual(["s0", "s1", "s2", "s3", "s4"]);
    expect(topSeries([], 8)).toEqual([]);
  });

  it("fills every bucket and sums seat-hours of other", () => {
    const s = topSeries(report, 2);
    expect(stack(report, s, w, "day", "seat_hours")).toEqual([
      { start: "2026-06-01T00:00:00.000Z", s0: 10, s1: 8, other: 0 },
      { start: "2026-06-02T00:00:00.000Z", s0: 0, s1: 0, other: 0.3 },
      { start: "2026-06-03T00:00:00.000Z", s0: 5, s1: 0, other: 0.3 },
    ]);
  });

  it("takes the highest peak of other's keys, not their sum", () => {
    const s = topSeries(report, 2);
    expect(stack(report, s, w, "day", "peak_seats").map((r) => r.other)).toEqual([0, 3, 4]);
  });

  it("never uses a key as a data key (dots would be read as a path)", () => {
    const s = topSeries(report, 8);
    const rows = stack(report, s, w, "day", "seat_hours");
    expect(Object.keys(rows[0]!)).toEqual(["start", "s0", "s1", "s2", "s3", "s4"]);
    expect(rows[2]![s.find((x) => x.key === "eve.example/x")!.id]).toBe(0.3);
  });

  it("puts a bucket off the grid in the bucket it falls in, and drops those outside", () => {
    const s = topSeries([b("ada", "2026-06-01T00:00:00Z", 1, 1)], 8);
    const odd = [
      b("ada", "2026-06-01T06:00:00Z", 2, 0.1),
      b("ada", "2026-06-01T00:00:00Z", 1, 0.2),
      b("ada", "2026-05-31T00:00:00Z", 9, 9),
      b("ada", "2026-06-04T00:00:00Z", 9, 9),
      b("ada", "garbage", 9, 9),
    ];
    expect(stack(odd, s, w, "day", "seat_hours").map((r) => r.s0)).toEqual([0.3, 0, 0]);
    expect(stack(odd, s, w, "day", "peak_seats").map((r) => r.s0)).toEqual([2, 0, 0]);
  });
});

describe("sumBy", () => {
  it("sums per key, largest first, leaving out zeros", () => {
    const r = [
      b("L1", "2026-06-01T10:00:00Z", 1, 1, 2),
      b("L2", "2026-06-01T10:00:00Z", 1, 1, 0),
      b("L3", "2026-06-01T11:00:00Z", 1, 1, 5),
      b("L1", "2026-06-01T12:00:00Z", 1, 1, 1),
    ];
    expect(sumBy(r, "denials")).toEqual({
      byKey: [
        { key: "L3", value: 5 },
        { key: "L1", value: 3 },
      ],
      total: 8,
    });
    expect(sumBy([], "denials")).toEqual({ byKey: [], total: 0 });
  });
  it("rounds floating-point sums", () => {
    expect(sumBy([b("a", "x", 1, 0.1), b("a", "y", 1, 0.2)], "seat_hours").total).toBe(0.3);
  });
});

describe("expiringWithin", () => {
  const now = new Date("2026-06-01T12:00:00Z");
  const l = (id: string, expires_at: string | null) => ({ id, expires_at });
  it("keeps licenses expiring after now and within the days, soonest first", () => {
    const all = [
      l("never", null),
      l("past", "2026-06-01T11:59:59Z"),
      l("late", "2026-07-01T12:00:00Z"),
      l("too-late", "2026-07-01T12:00:01Z"),
      l("soon", "2026-06-02T00:00:00Z"),
    ];
    expect(expiringWithin(all, now, 30).map((x) => x.id)).toEqual(["soon", "late"]);
  });
});

describe("the report's CSV", () => {
  it("is exactly the header and one line per bucket, in the API's order", () => {
    const r = [b("=cmd", "2026-06-01T10:00:00Z", 2, 1.5, 1), b("ada, the first", "2026-06-01T09:00:00Z", 1, 0.25, 0)];
    expect(toCSV(usageHeader, usageRows(r))).toBe(
      "key,start,peak_seats,seat_hours,denials\r\n'=cmd,2026-06-01T10:00:00Z,2,1.5,1\r\n\"ada, the first\",2026-06-01T09:00:00Z,1,0.25,0\r\n",
    );
  });
  it("is named after the report", () => {
    expect(usageFilename("user", "hour", { from: "2026-05-25T00:00:00Z", to: "2026-06-01T13:30:00.000Z" })).toBe(
      "usage-user-hour-2026-05-25T0000Z-2026-06-01T1330Z.csv",
    );
  });
});

describe("datetime-local values, read as UTC", () => {
  it("round-trips minutes", () => {
    expect(toInputUTC("2026-06-01T13:45:10Z")).toBe("2026-06-01T13:45");
    expect(toInputUTC(new Date("2026-06-01T00:00:00Z"))).toBe("2026-06-01T00:00");
    expect(fromInputUTC("2026-06-01T13:45")).toBe("2026-06-01T13:45:00.000Z");
    expect(fromInputUTC("2026-06-01T13:45:30")).toBe("2026-06-01T13:45:30.000Z");
  });
  it("refuses what is not a full value", () => {
    for (const v of ["", "2026-06-01", "2026-06-01T13", "13:45", "2026-06-01T13:45Z", "soon"]) expect(fromInputUTC(v)).toBeNull();
    expect(toInputUTC("nonsense")).toBe("");
  });
});

describe("tickOf", () => {
  it("labels hours, days, and the hour a day starts", () => {
    expect(tickOf("2026-06-01T13:00:00Z", "hour")).toBe("13:00");
    expect(tickOf("2026-06-01T00:00:00Z", "hour")).toBe("06-01 00:00");
    expect(tickOf("2026-06-01T00:00:00Z", "day")).toBe("06-01");
    expect(tickOf("nope", "day")).toBe("");
  });
});
