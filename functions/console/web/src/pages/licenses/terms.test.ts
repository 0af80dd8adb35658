import { describe, expect, it } from "vitest";
import {
  autoRenewText,
  borrowText,
  createBodyOf,
  dateToExpiry,
  editValuesOf,
  emptyCreate,
  expiryToDate,
  licenseState,
  matches,
  offOrSeconds,
  patchOf,
  tomorrow,
  type License,
} from "./terms";

const license: License = {
  id: "11111111-1111-4111-8111-111111111111",
  tenant_id: "22222222-2222-4222-8222-222222222222",
  product: "coditect",
  seats: 5,
  seats_used: 2,
  lease_ttl_seconds: 300,
  max_lease_ttl_seconds: 3600,
  status: "active",
  expires_at: "2027-01-01T00:00:00.000Z",
  require_user: false,
  max_seats_per_user: null,
  max_instances_per_seat: null,
  linger_seconds: 0,
  revive_seconds: 0,
  overage: { mode: "none", value: 0 },
  borrow: null,
  auto_renew: null,
  leasing: "per_fingerprint",
  key_prefix: "lk_0123abcd",
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
};

describe("licenseState", () => {
  const now = new Date("2026-06-01T00:00:00Z");
  it("is suspended first, then expired past its expiry, else active", () => {
    expect(licenseState(license, now)).toBe("active");
    expect(licenseState({ ...license, expires_at: null }, now)).toBe("active");
    expect(licenseState({ ...license, expires_at: "2026-05-31T23:59:59Z" }, now)).toBe("expired");
    expect(licenseState({ ...license, status: "suspended", expires_at: "2020-01-01T00:00:00Z" }, now)).toBe("suspended");
  });
});

describe("matches", () => {
  it("finds by product or key prefix, ignoring case and spaces", () => {
    expect(matches(license, "")).toBe(true);
    expect(matches(license, " CODI ")).toBe(true);
    expect(matches(license, "0123AB")).toBe(true);
    expect(matches(license, "other")).toBe(false);
  });
});

describe("borrowText", () => {
  it("is Off without a policy, else its terms", () => {
    expect(borrowText(null)).toBe("Off");
    expect(borrowText({ max_seconds: 604800, min_online_seats: 0 })).toBe("Up to 7 d, any number at once");
    expect(borrowText({ max_seconds: 7200, max_concurrent: 3, min_online_seats: 2 })).toBe(
      "Up to 2 h, 3 at once, 2 seats kept online",
    );
  });
});

describe("the borrow policy in the edit form", () => {
  it("is off as an empty duration, and sent whole when any part changes", () => {
    const off = editValuesOf(license);
    expect(off.borrow_hours).toBe("");
    expect(patchOf(off, off, false)).toEqual({});
    expect(patchOf(off, { ...off, borrow_hours: "168" }, false)).toEqual({
      borrow: { max_seconds: 604800, min_online_seats: 0 },
    });
    const on = editValuesOf({ ...license, borrow: { max_seconds: 86400, max_concurrent: 2, min_online_seats: 1 } });
    expect(on).toMatchObject({ borrow_hours: "24", borrow_max_concurrent: "2", borrow_min_online_seats: "1" });
    expect(patchOf(on, { ...on, borrow_max_concurrent: "" }, false)).toEqual({
      borrow: { max_seconds: 86400, min_online_seats: 1 },
    });
    expect(patchOf(on, { ...on, borrow_hours: "" }, false)).toEqual({ borrow: null });
  });
});

describe("offOrSeconds", () => {
  it("is Off at 0, else the seconds", () => {
    expect(offOrSeconds(0)).toBe("Off");
    expect(offOrSeconds(300)).toBe("300 s");
  });
});

describe("expiry dates", () => {
  it("round-trips a date through the API's time", () => {
    expect(dateToExpiry("2027-03-04")).toBe("2027-03-04T00:00:00Z");
    expect(dateToExpiry("")).toBeNull();
    expect(expiryToDate("2027-03-04T00:00:00.000Z")).toBe("2027-03-04");
    expect(expiryToDate(null)).toBe("");
    expect(expiryToDate("garbage")).toBe("");
  });
  it("tomorrow is the next UTC day", () => {
    expect(tomorrow(new Date("2026-05-31T23:30:00Z"))).toBe("2026-06-01");
  });
});

describe("patchOf", () => {
  const before = editValuesOf(license);
  it("is empty when nothing changed", () => {
    expect(patchOf(before, { ...before }, true)).toEqual({});
  });
  it("sends only what changed", () => {
    expect(patchOf(before, { ...before, lease_ttl_seconds: "600", require_user: true }, false)).toEqual({
      lease_ttl_seconds: 600,
      require_user: true,
    });
  });
  it("clears and sets the per-user limit", () => {
    expect(patchOf(before, { ...before, max_seats_per_user: "2" }, false)).toEqual({ max_seats_per_user: 2 });
    const limited = editValuesOf({ ...license, max_seats_per_user: 2 });
    expect(patchOf(limited, { ...limited, max_seats_per_user: " " }, false)).toEqual({ max_seats_per_user: null });
    expect(patchOf(before, { ...before, max_instances_per_seat: "4" }, false)).toEqual({ max_instances_per_seat: 4 });
    const bounded = editValuesOf({ ...license, max_instances_per_seat: 4 });
    expect(bounded.max_instances_per_seat).toBe("4");
    expect(patchOf(bounded, { ...bounded, max_instances_per_seat: "" }, false)).toEqual({ max_instances_per_seat: null });
  });
  it("sets and turns off linger and revive, never as null", () => {
    expect(before.linger_seconds).toBe("0");
    expect(before.revive_seconds).toBe("0");
    expect(patchOf(before, { ...before, linger_seconds: "300", revive_seconds: "60" }, false)).toEqual({
      linger_seconds: 300,
      revive_seconds: 60,
    });
    const on = editValuesOf({ ...license, linger_seconds: 300, revive_seconds: 60 });
    expect(on.linger_seconds).toBe("300");
    expect(on.revive_seconds).toBe("60");
    expect(patchOf(on, { ...on, linger_seconds: "0" }, false)).toEqual({ linger_seconds: 0 });
    expect(patchOf(on, { ...on, revive_seconds: "0" }, false)).toEqual({ revive_seconds: 0 });
    expect(patchOf(on, { ...on }, false)).toEqual({});
  });
  it("never sends commercial terms for a tenant admin", () => {
    const after = { ...before, seats: "50", status: "suspended" as const, expires: "", max_lease_ttl_seconds: "60", leasing: "per_user" as const };
    expect(patchOf(before, after, false)).toEqual({ leasing: "per_user" });
  });
  it("sends commercial terms for a platform admin", () => {
    const after = { ...before, seats: "50", status: "suspended" as const, expires: "", max_lease_ttl_seconds: "60" };
    expect(patchOf(before, after, true)).toEqual({
      seats: 50,
      status: "suspended",
      expires_at: null,
      max_lease_ttl_seconds: 60,
    });
    expect(patchOf(before, { ...before, expires: "2028-02-03" }, true)).toEqual({ expires_at: "2028-02-03T00:00:00Z" });
  });
});

describe("createBodyOf", () => {
  it("leaves optional fields out when empty", () => {
    expect(createBodyOf({ ...emptyCreate, product: " coditect ", seats: "3" })).toEqual({
      product: "coditect",
      seats: 3,
      leasing: "per_fingerprint",
      require_user: false,
    });
  });
  it("sends every field filled in", () => {
    expect(
      createBodyOf({
        product: "p",
        seats: "10",
        lease_ttl_seconds: "60",
        max_lease_ttl_seconds: "120",
        expires: "2030-01-01",
        leasing: "per_user",
        require_user: true,
        max_seats_per_user: "2",
      }),
    ).toEqual({
      product: "p",
      seats: 10,
      lease_ttl_seconds: 60,
      max_lease_ttl_seconds: 120,
      expires_at: "2030-01-01T00:00:00Z",
      leasing: "per_user",
      require_user: true,
      max_seats_per_user: 2,
    });
  });
});

describe("autoRenewText", () => {
  it("says off, monthly or yearly", () => {
    expect(autoRenewText(null)).toBe("Off");
    expect(autoRenewText(undefined)).toBe("Off");
    expect(autoRenewText({ period: "P1M" })).toBe("Every month, on the expiry day");
    expect(autoRenewText({ period: "P1Y" })).toBe("Every year, on the expiry day");
  });
});
