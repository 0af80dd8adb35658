import { describe, expect, it } from "vitest";
import { toCSV } from "./csv";

describe("toCSV", () => {
  it("writes a header and rows with CRLF line ends, the last line ended too", () => {
    expect(toCSV(["key", "start", "peak_seats"], [["ada", "2026-05-31T10:00:00Z", 2], ["bob", "2026-05-31T11:00:00Z", 0]])).toBe(
      "key,start,peak_seats\r\nada,2026-05-31T10:00:00Z,2\r\nbob,2026-05-31T11:00:00Z,0\r\n",
    );
    expect(toCSV(["a"], [])).toBe("a\r\n");
  });
  it("quotes fields with commas, quotes or line breaks, doubling quotes (RFC 4180)", () => {
    expect(toCSV(["v"], [["a,b"], ['say "hi"'], ["two\nlines"], ["cr\rhere"], ["plain"]])).toBe(
      'v\r\n"a,b"\r\n"say ""hi"""\r\n"two\nlines"\r\n"cr\rhere"\r\nplain\r\n',
    );
  });
  it("writes null and undefined as empty, numbers and booleans as they print", () => {
    expect(toCSV(["a", "b", "c", "d", "e"], [[null, undefined, 0.25, true, 0]])).toBe("a,b,c,d,e\r\n,,0.25,true,0\r\n");
  });
  it("defuses text a spreadsheet would run as a formula", () => {
    const rows = [["=HYPERLINK(\"http://x\")"], ["+1+1"], ["-2+3"], ["@SUM(A1)"], ["\tTAB"], ["\r=1"]];
    expect(toCSV(["v"], rows)).toBe(
      'v\r\n"\'=HYPERLINK(""http://x"")"\r\n\'+1+1\r\n\'-2+3\r\n\'@SUM(A1)\r\n\'\tTAB\r\n"\'\r=1"\r\n',
    );
  });
  it("leaves numbers alone, negative ones too, and text with a formula character later on", () => {
    expect(toCSV(["v"], [[-5], [-0.5], ["a=b"], ["ada@example.com"], ["1-2"]])).toBe(
      "v\r\n-5\r\n-0.5\r\na=b\r\nada@example.com\r\n1-2\r\n",
    );
  });
  it("defuses the header too", () => {
    expect(toCSV(["=cmd"], [])).toBe("'=cmd\r\n");
  });
});
