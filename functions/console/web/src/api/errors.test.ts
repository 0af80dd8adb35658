import { describe, expect, it } from "vitest";
import { ApiError, describeError, fromResponse, messageOf, retryAfterOf } from "./errors";

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });

describe("describeError", () => {
  it("uses the words of a known code, whatever the status", () => {
    expect(describeError(409, "slug_taken")).toBe("Another tenant already uses that slug. Choose another.");
    expect(describeError(400, "report_too_large", "the report would have more than 10000 rows")).toBe(
      "That report covers too much. Choose a shorter range or daily buckets.",
    );
  });
  it("falls back to the status for an unknown code", () => {
    expect(describeError(404, "gizmo_not_found")).toBe(describeError(404, "not_found"));
    expect(describeError(503, "")).toBe(describeError(503, "unavailable"));
    expect(describeError(429, "brand_new_code")).toBe("Too many requests. Wait a moment and try again.");
  });
  it("says the status when neither is known", () => {
    expect(describeError(418, "teapot")).toBe("The request failed (HTTP 418).");
  });
  it("does not take an object's own properties for codes", () => {
    for (const code of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
      expect(describeError(400, code)).toBe("That request was not valid.");
      expect(describeError(418, code)).toBe("The request failed (HTTP 418).");
    }
  });
  it("adds why a webhook URL was refused, without the field's preamble", () => {
    expect(
      describeError(422, "invalid_webhook_url", 'field "url" is not a webhook URL this service may call: the host resolves to a private address'),
    ).toBe(
      "The service may not call that URL: it must be https, and its host must resolve to a public address. Reason: the host resolves to a private address.",
    );
    expect(describeError(422, "invalid_webhook_url")).toBe(
      "The service may not call that URL: it must be https, and its host must resolve to a public address.",
    );
  });
  it("adds the detail of invalid_request, capitalised, ending in one full stop", () => {
    expect(describeError(400, "invalid_request", "limit must be between 1 and 200")).toBe(
      "Some of what you entered is not valid. Limit must be between 1 and 200.",
    );
    expect(describeError(400, "invalid_request", "to must be after from.")).toBe(
      "Some of what you entered is not valid. To must be after from.",
    );
    expect(describeError(400, "invalid_request")).toBe("Some of what you entered is not valid.");
  });
  it("adds no detail for other codes (their messages are for developers)", () => {
    expect(describeError(403, "forbidden", "needs role admin of tenant x")).toBe(describeError(403, "forbidden"));
  });
});

describe("fromResponse", () => {
  it("reads the envelope's code and message", async () => {
    const e = await fromResponse(json(400, { error: { code: "invalid_request", message: "seats must be at least 1" } }));
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.detail, e.retryAfter]).toEqual([400, "invalid_request", "seats must be at least 1", null]);
    expect(e.message).toBe("Some of what you entered is not valid. Seats must be at least 1.");
  });
  it("reads Retry-After seconds", async () => {
    const e = await fromResponse(json(429, { error: { code: "rate_limited", message: "slow down" } }, { "Retry-After": "7" }));
    expect(e.retryAfter).toBe(7);
    expect(e.message).toBe("Too many requests. Wait a moment and try again.");
  });
  it("falls back to the status on a body that is not JSON", async () => {
    const html = new Response("<html><body>502 Bad Gateway</body></html>", { status: 502, headers: { "Content-Type": "text/html" } });
    const e = await fromResponse(html);
    expect([e.status, e.code, e.detail]).toEqual([502, "", ""]);
    expect(e.message).toBe(describeError(503, "unavailable"));
  });
  it("falls back to the status on an empty body", async () => {
    const e = await fromResponse(new Response(null, { status: 500 }));
    expect([e.code, e.message]).toEqual(["", describeError(500, "internal")]);
  });
  it("ignores JSON that is not the envelope", async () => {
    for (const body of [[1, 2], "oops", null, { error: "bad gateway" }, { error: { code: 7, message: ["x"] } }, { message: "x" }]) {
      const e = await fromResponse(json(404, body));
      expect([e.code, e.detail, e.message]).toEqual(["", "", describeError(404, "not_found")]);
    }
  });
  it("leaves the body readable", async () => {
    const res = json(409, { error: { code: "member_exists", message: "m" } });
    await fromResponse(res);
    expect(await res.json()).toEqual({ error: { code: "member_exists", message: "m" } });
  });
});

describe("retryAfterOf", () => {
  const now = new Date("2026-05-31T12:00:00Z");
  it("reads seconds and HTTP dates", () => {
    expect(retryAfterOf("0", now)).toBe(0);
    expect(retryAfterOf(" 120 ", now)).toBe(120);
    expect(retryAfterOf("Sun, 31 May 2026 12:00:30 GMT", now)).toBe(30);
    expect(retryAfterOf("Sun, 31 May 2026 11:00:00 GMT", now)).toBe(0);
  });
  it("is null when absent or unreadable", () => {
    for (const v of [null, "", "soon", "1.5", "-3", "2026-05-31"]) expect(retryAfterOf(v, now)).toBeNull();
  });
});

describe("messageOf", () => {
  it("says what to show for anything thrown", () => {
    expect(messageOf(new ApiError(404, "license_not_found", ""))).toBe("That license does not exist (or was deleted).");
    expect(messageOf(new TypeError("Failed to fetch"))).toBe(
      "The service could not be reached. Check your connection and try again.",
    );
    expect(messageOf(new Error("To must be after From."))).toBe("To must be after From.");
    expect(messageOf("a string")).toBe("Something went wrong.");
  });
});
