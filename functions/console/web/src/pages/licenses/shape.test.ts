import { describe, expect, it } from "vitest";
import { csvFilename, csvOf, peakOf, shapeUsage, tickOf, totalOf, windowOf, type Bucket } from "./shape";

const L = "11111111-1111-4111-8111-111111111111";
const other = "22222222-2222-4222-8222-222222222222";

describe("windowOf", () => {
  const now = new Date("2026-05-31T14:25:10.123Z");
  it("ends with the current hour and spans 24 hours", () => {
    expect(windowOf("24h", now)).toEqual({
      from: "2026-05-30T15:00:00.000Z",
      to: "2026-05-31T15:00:00.000Z",
      granularity: "hour",
    });
  });
  it("ends with the current UTC day for day ranges", () => {
    expect(windowOf("7d", now)).toEqual({
      from: "2026-05-25T00:00:00.000Z",
      to: "2026-06-01T00:00:00.000Z",
      granularity: "day",
    });
    expect(windowOf("30d", now).from).toBe("2026-05-02T00:00:00.000Z");
  });
  it("starts a new bucket exactly on the hour", () => {
    expect(windowOf("24h", new Date("2026-05-31T15:00:00.000Z")).to).toBe("2026-05-31T16:00:00.000Z");
  });
});

describe("shapeUsage", () => {
  const w = { from: "2026-05-31T10:00:00.000Z", to: "2026-05-31T14:00:00.000Z", granularity: "hour" as const };
  const b = (key: string, start: string, peak: number, hours: number, denials: number): Bucket => ({
    key,
    start,
    peak_seats: peak,
    seat_hours: hours,
    denials,
  });

  it("fills every bucket of the window with zeros when there is nothing", () => {
    const pts = shapeUsage([], L, w);
    expect(pts.map((p) => p.start)).toEqual([
      "2026-05-31T10:00:00.000Z",
      "2026-05-31T11:00:00.000Z",
      "2026-05-31T12:00:00.000Z",
      "2026-05-31T13:00:00.000Z",
    ]);
    expect(pts.every((p) => p.peak_seats === 0 && p.seat_hours === 0 && p.denials === 0)).toBe(true);
  });

  it("keeps only this license's buckets, in their place, zeros between", () => {
    const pts = shapeUsage(
      [
        b(L, "2026-05-31T13:00:00.000Z", 3, 2.5, 1),
        b(other, "2026-05-31T11:00:00.000Z", 9, 9, 9),
        b(L, "2026-05-31T11:00:00Z", 2, 1.25, 0),
      ],
      L,
      w,
    );
    expect(pts).toEqual([
      { start: "2026-05-31T10:00:00.000Z", peak_seats: 0, seat_hours: 0, denials: 0 },
      { start: "2026-05-31T11:00:00.000Z", peak_seats: 2, seat_hours: 1.25, denials: 0 },
      { start: "2026-05-31T12:00:00.000Z", peak_seats: 0, seat_hours: 0, denials: 0 },
      { start: "2026-05-31T13:00:00.000Z", peak_seats: 3, seat_hours: 2.5, denials: 1 },
    ]);
  });

  it("drops buckets outside the window", () => {
    const pts = shapeUsage(
      [b(L, "2026-05-31T09:00:00.000Z", 5, 5, 5), b(L, "2026-05-31T14:00:00.000Z", 5, 5, 5)],
      L,
      w,
    );
    expect(totalOf(pts, "denials")).toBe(0);
  });

  it("merges a bucket off the grid into the one it falls in", () => {
    const pts = shapeUsage(
      [b(L, "2026-05-31T12:00:00.000Z", 2, 0.1, 1), b(L, "2026-05-31T12:30:00.000Z", 4, 0.2, 2)],
      L,
      w,
    );
    expect(pts[2]).toEqual({ start: "2026-05-31T12:00:00.000Z", peak_seats: 4, seat_hours: 0.3, denials: 3 });
  });

  it("shapes day buckets of a 7-day window", () => {
    const pts = shapeUsage([b(L, "2026-05-27T00:00:00.000Z", 7, 40, 0)], L, windowOf("7d", new Date("2026-05-31T08:00:00Z")));
    expect(pts).toHaveLength(7);
    expect(pts[2]).toEqual({ start: "2026-05-27T00:00:00.000Z", peak_seats: 7, seat_hours: 40, denials: 0 });
    expect(peakOf(pts, "peak_seats")).toBe(7);
  });

  it("answers nothing for an empty or inverted window", () => {
    expect(shapeUsage([], L, { from: w.to, to: w.from, granularity: "hour" })).toEqual([]);
    expect(shapeUsage([], L, { from: "nonsense", to: w.to, granularity: "hour" })).toEqual([]);
  });
});

describe("csv and labels", () => {
  it("the CSV rows are exactly the chart's points", () => {
    const pts = shapeUsage([{ key: L, start: "2026-05-31T11:00:00.000Z", peak_seats: 2, seat_hours: 1.5, denials: 4 }], L, {
      from: "2026-05-31T10:00:00.000Z",
      to: "2026-05-31T12:00:00.000Z",
      granularity: "hour",
    });
    expect(csvOf(pts, "peak_seats")).toEqual({
      header: ["start", "peak_seats"],
      rows: [
        ["2026-05-31T10:00:00.000Z", 0],
        ["2026-05-31T11:00:00.000Z", 2],
      ],
    });
    expect(csvOf(pts, "seat_hours").rows[1]).toEqual(["2026-05-31T11:00:00.000Z", 1.5]);
    expect(csvOf(pts, "denials").header).toEqual(["start", "denials"]);
  });
  it("names the files by license, metric and range", () => {
    expect(csvFilename(L, "peak_seats", "7d")).toBe(`license-${L}-peak_seats-7d.csv`);
    expect(csvFilename(L, "denials", "24h")).toBe(`license-${L}-denials-24h.csv`);
  });
  it("labels ticks in UTC", () => {
    expect(tickOf("2026-05-31T14:00:00.000Z", "hour")).toBe("14:00");
    expect(tickOf("2026-05-31T00:00:00.000Z", "day")).toBe("05-31");
  });
});
