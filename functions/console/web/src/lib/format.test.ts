import { describe, expect, it } from "vitest";
import { formatDuration, formatHours, formatRelative, formatTime, percent } from "./format";

describe("formatTime", () => {
  it("writes UTC to the second", () => {
    expect(formatTime("2026-05-31T14:25:10.123Z")).toBe("2026-05-31 14:25:10 UTC");
    expect(formatTime("2026-05-31T16:25:10+02:00")).toBe("2026-05-31 14:25:10 UTC");
    expect(formatTime("2026-05-31T14:25:10Z")).toBe("2026-05-31 14:25:10 UTC");
  });
  it("writes a dash for nothing or nonsense", () => {
    for (const v of [null, undefined, "", "yesterday"]) expect(formatTime(v)).toBe("—");
  });
});

describe("formatRelative", () => {
  const now = new Date("2026-05-31T12:00:00Z");
  it("picks the largest whole unit, in the future and the past", () => {
    expect(formatRelative("2026-05-31T12:05:30Z", now)).toBe("in 5 min");
    expect(formatRelative("2026-05-31T09:00:00Z", now)).toBe("3 h ago");
    expect(formatRelative("2026-06-30T12:00:00Z", now)).toBe("in 30 d");
    expect(formatRelative("2026-05-31T11:59:15Z", now)).toBe("45 s ago");
    expect(formatRelative("2026-05-31T13:59:59Z", now)).toBe("in 1 h");
  });
  it("says now within a second", () => {
    expect(formatRelative("2026-05-31T12:00:00Z", now)).toBe("now");
    expect(formatRelative("2026-05-31T12:00:00.999Z", now)).toBe("now");
    expect(formatRelative("2026-05-31T11:59:59.500Z", now)).toBe("now");
  });
  it("writes a dash for nonsense", () => {
    expect(formatRelative("not a time", now)).toBe("—");
  });
});

describe("formatDuration", () => {
  it("uses the largest unit that divides", () => {
    expect(formatDuration(86_400)).toBe("1 d");
    expect(formatDuration(172_800)).toBe("2 d");
    expect(formatDuration(7_200)).toBe("2 h");
    expect(formatDuration(90_000)).toBe("25 h");
    expect(formatDuration(300)).toBe("5 min");
    expect(formatDuration(90)).toBe("90 s");
    expect(formatDuration(1)).toBe("1 s");
  });
  it("writes zero as seconds", () => {
    expect(formatDuration(0)).toBe("0 s");
  });
  it("writes a dash for what is not a number", () => {
    expect(formatDuration(Number.NaN)).toBe("—");
  });
});

describe("formatHours", () => {
  it("keeps 3 to 4 significant digits", () => {
    expect(formatHours(0)).toBe("0.00");
    expect(formatHours(0.25)).toBe("0.25");
    expect(formatHours(1.005)).toBe("1.00"); // binary 1.00499…
    expect(formatHours(9.5)).toBe("9.50");
    expect(formatHours(12.345)).toBe("12.3");
    expect(formatHours(99.9)).toBe("99.9");
    expect(formatHours(100)).toBe("100");
    expect(formatHours(1234.56)).toBe("1235");
  });
  it("chooses the step on the rounded value", () => {
    expect(formatHours(9.999)).toBe("10.0");
    expect(formatHours(99.96)).toBe("100");
    expect(formatHours(9.994)).toBe("9.99");
  });
  it("writes a dash for what is not a number", () => {
    expect(formatHours(Number.POSITIVE_INFINITY)).toBe("—");
  });
});

describe("percent", () => {
  it("rounds used over total", () => {
    expect(percent(3, 10)).toBe(30);
    expect(percent(1, 3)).toBe(33);
    expect(percent(2, 3)).toBe(67);
    expect(percent(12, 10)).toBe(120);
  });
  it("is 0 of nothing", () => {
    expect(percent(5, 0)).toBe(0);
    expect(percent(0, -1)).toBe(0);
  });
});
