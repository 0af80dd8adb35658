import { describe, expect, it } from "vitest";
import {
  actionPattern,
  actionsByType,
  anyFilter,
  asTargetType,
  noFilters,
  queryOf,
  sameFilters,
  targetTypeOf,
  targetTypes,
} from "./audit";

describe("the actions offered", () => {
  it("all match the API's pattern and name their target type", () => {
    for (const t of targetTypes) {
      for (const a of actionsByType[t]) {
        expect(a).toMatch(actionPattern);
        expect(targetTypeOf(a)).toBe(t);
      }
    }
  });
  it("include the controls' actions", () => {
    expect(actionsByType.session).toContain("session.revoke");
    expect(actionsByType.license).toEqual(expect.arrayContaining(["license.rotate_key", "license.revoke_sessions"]));
  });
});

describe("queryOf", () => {
  it("sends only the filters set, the free text trimmed", () => {
    expect(queryOf(noFilters)).toEqual({});
    expect(queryOf({ actor: "  user:ada@example.com ", action: "license.update", targetType: "license", targetId: " L1 " })).toEqual({
      actor: "user:ada@example.com",
      action: "license.update",
      target_type: "license",
      target_id: "L1",
    });
    expect(queryOf({ ...noFilters, actor: "   " })).toEqual({});
  });
  it("compares filters as the API would read them", () => {
    expect(sameFilters({ ...noFilters, actor: "ada " }, { ...noFilters, actor: "ada" })).toBe(true);
    expect(sameFilters({ ...noFilters, actor: "ada" }, { ...noFilters, targetId: "ada" })).toBe(false);
    expect(anyFilter({ ...noFilters, targetId: " " })).toBe(false);
    expect(anyFilter({ ...noFilters, targetType: "member" })).toBe(true);
  });
});

describe("target types", () => {
  it("are known or empty", () => {
    expect(asTargetType("license")).toBe("license");
    expect(asTargetType("user")).toBe("");
    expect(targetTypeOf("nonsense")).toBe("");
    expect(targetTypeOf("api_key.revoke")).toBe("api_key");
  });
});
