import { describe, expect, it } from "vitest";
import { attemptResult, changedRules, describeEventTypes, draftOf, parseRecipients, webhookState } from "./logic";

describe("describeEventTypes", () => {
  it("calls an empty list all, as the API means it", () => {
    expect(describeEventTypes([])).toBe("all");
    expect(describeEventTypes(["license.created", "seats.exhausted"])).toBe("license.created, seats.exhausted");
  });
});

describe("webhookState", () => {
  it("says why an endpoint is off", () => {
    expect(webhookState({ enabled: true, disabled_reason: null, failing_since: null })).toEqual({ text: "enabled", tone: "ok" });
    expect(webhookState({ enabled: false, disabled_reason: null, failing_since: null })).toEqual({ text: "disabled", tone: "bad" });
    expect(webhookState({ enabled: false, disabled_reason: "failing", failing_since: "2026-05-01T10:00:00Z" })).toEqual({
      text: "disabled: failing since 2026-05-01 10:00:00 UTC",
      tone: "bad",
    });
  });
  it("warns of an enabled endpoint whose deliveries fail", () => {
    expect(webhookState({ enabled: true, disabled_reason: null, failing_since: "2026-05-01T10:00:00Z" }).tone).toBe("warn");
  });
});

describe("parseRecipients", () => {
  it("splits on commas, semicolons and spaces, and drops blanks and repeats", () => {
    expect(parseRecipients(" a@x.io, b@x.io;c@x.io  d@x.io,, A@X.io ")).toEqual(["a@x.io", "b@x.io", "c@x.io", "d@x.io"]);
    expect(parseRecipients("   ")).toEqual([]);
  });
});

describe("changedRules", () => {
  const loaded = {
    "seats.exhausted": { email: true, admins: true, recipients: ["ops@x.io"] },
    "license.created": { email: false, admins: false, recipients: [] },
  };
  it("sends only the types that changed", () => {
    const drafts = {
      "seats.exhausted": draftOf(loaded["seats.exhausted"]),
      "license.created": { email: true, admins: false, recipients: "a@x.io, b@x.io" },
    };
    expect(changedRules(loaded, drafts)).toEqual({
      "license.created": { email: true, admins: false, recipients: ["a@x.io", "b@x.io"] },
    });
  });
  it("treats a recipient's letter case as no change, and an emptied list as one", () => {
    expect(changedRules(loaded, { "seats.exhausted": { email: true, admins: true, recipients: "OPS@x.io" } })).toEqual({});
    expect(changedRules(loaded, { "seats.exhausted": { email: true, admins: true, recipients: "" } })).toEqual({
      "seats.exhausted": { email: true, admins: true, recipients: [] },
    });
  });
  it("ignores a type it does not know", () => {
    expect(changedRules({}, { "no.such": { email: true, admins: true, recipients: "" } })).toEqual({});
  });
});

describe("attemptResult", () => {
  it("prefers the status code, then the error", () => {
    expect(attemptResult({ status_code: 503, error: "" })).toBe("HTTP 503");
    expect(attemptResult({ status_code: null, error: "connection refused" })).toBe("connection refused");
    expect(attemptResult({ status_code: null, error: "" })).toBe("no response");
  });
});
