import { describe, expect, it } from "vitest";
import { changedFields, diffDocs, marker, show } from "./diff";

describe("diffDocs", () => {
  it("marks changed fields removed then added, and keeps the others once", () => {
    const before = { id: "L1", seats: 5, status: "active", updated_at: "t1" };
    const after = { id: "L1", seats: 10, status: "active", updated_at: "t2" };
    expect(diffDocs(before, after)).toEqual([
      { kind: "same", field: "id", value: '"L1"' },
      { kind: "removed", field: "seats", value: "5" },
      { kind: "added", field: "seats", value: "10" },
      { kind: "same", field: "status", value: '"active"' },
      { kind: "removed", field: "updated_at", value: '"t1"' },
      { kind: "added", field: "updated_at", value: '"t2"' },
    ]);
    expect(changedFields(diffDocs(before, after))).toEqual(["seats", "updated_at"]);
  });
  it("shows a create as all added and a delete as all removed", () => {
    expect(diffDocs(null, { b: 1, a: "x" })).toEqual([
      { kind: "added", field: "a", value: '"x"' },
      { kind: "added", field: "b", value: "1" },
    ]);
    expect(diffDocs({ a: null }, null)).toEqual([{ kind: "removed", field: "a", value: "null" }]);
    expect(diffDocs(null, null)).toEqual([]);
  });
  it("tells a field set to null from a field that is missing", () => {
    expect(diffDocs({ expires_at: "t" }, { expires_at: null })).toEqual([
      { kind: "removed", field: "expires_at", value: '"t"' },
      { kind: "added", field: "expires_at", value: "null" },
    ]);
    expect(diffDocs({ a: 1, gone: 2 }, { a: 1, new: 3 })).toEqual([
      { kind: "same", field: "a", value: "1" },
      { kind: "removed", field: "gone", value: "2" },
      { kind: "added", field: "new", value: "3" },
    ]);
  });
  it("compares nested values whatever their key order", () => {
    expect(diffDocs({ d: { x: 1, y: [1, { b: 2, a: 1 }] } }, { d: { y: [1, { a: 1, b: 2 }], x: 1 } })).toEqual([
      { kind: "same", field: "d", value: '{"x":1,"y":[1,{"a":1,"b":2}]}' },
    ]);
    expect(changedFields(diffDocs({ d: { x: 1 } }, { d: { x: 2 } }))).toEqual(["d"]);
  });
  it("takes a value that is not an object as a whole", () => {
    expect(diffDocs("a", "b")).toEqual([
      { kind: "removed", field: "(value)", value: '"a"' },
      { kind: "added", field: "(value)", value: '"b"' },
    ]);
    expect(diffDocs([1], [1])).toEqual([{ kind: "same", field: "(value)", value: "[1]" }]);
  });
  it("does not read inherited properties as fields", () => {
    expect(diffDocs({ constructor: 1 }, {})).toEqual([{ kind: "removed", field: "constructor", value: "1" }]);
  });
});

describe("markers", () => {
  it("are text, not only colour", () => {
    expect(marker).toEqual({ same: " ", added: "+", removed: "−" });
  });
});

describe("show", () => {
  it("is compact JSON with sorted keys", () => {
    expect(show({ b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}');
    expect(show(undefined)).toBe("null");
  });
});
