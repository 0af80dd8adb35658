import { describe, expect, it } from "vitest";
import { signInError, standInAddress, tenantFor, tenantKey, withoutLinkParams } from "./identityPlatform";

function memory() {
  const m = new Map<string, string>();
  return {
    m,
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

describe("tenantFor", () => {
  it("is the platform's tenant, or null for the project's users", () => {
    expect(tenantFor("", "staff-x1", memory())).toBe("staff-x1");
    expect(tenantFor("", "", memory())).toBeNull();
  });
  it("takes a customer's tenant from the address and remembers it for the tab", () => {
    const s = memory();
    expect(tenantFor("?idp_tenant=acme-k2", "staff-x1", s)).toBe("acme-k2");
    expect(s.m.get(tenantKey)).toBe("acme-k2");
    expect(tenantFor("", "staff-x1", s)).toBe("acme-k2");
    expect(tenantFor("?idp_tenant=", "", s)).toBe("acme-k2");
  });
});

describe("standInAddress", () => {
  it("keeps the stand-in's address when the page is on it", () => {
    expect(standInAddress("http://127.0.0.1:8080/dev/idp", "http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/dev/idp");
  });
  it("follows the page between this machine's names", () => {
    expect(standInAddress("http://127.0.0.1:8080/dev/idp", "http://localhost:8080")).toBe("http://localhost:8080/dev/idp");
    expect(standInAddress("http://127.0.0.1:8080/dev/idp/", "http://[::1]:8080")).toBe("http://[::1]:8080/dev/idp");
  });
  it("does not follow the page elsewhere or to another port", () => {
    expect(standInAddress("http://127.0.0.1:8080/dev/idp", "https://console.example.com")).toBe("http://127.0.0.1:8080/dev/idp");
    expect(standInAddress("http://127.0.0.1:8080/dev/idp", "http://localhost:5173")).toBe("http://127.0.0.1:8080/dev/idp");
  });
});

describe("withoutLinkParams", () => {
  it("drops the link's parameters and keeps the rest", () => {
    expect(
      withoutLinkParams("http://127.0.0.1:8080/console/?apiKey=local&oobCode=abc&mode=signIn&lang=en&tenantId=t1"),
    ).toBe("/console/");
    expect(withoutLinkParams("https://c.example/console/?idp_tenant=acme&oobCode=x&mode=signIn&apiKey=k")).toBe(
      "/console/?idp_tenant=acme",
    );
  });
});

describe("signInError", () => {
  it("puts the SDK's codes in words", () => {
    expect(signInError({ code: "auth/invalid-action-code" }).message).toMatch(/expired or was already used/);
    expect(signInError({ code: "auth/invalid-email" }, true).message).toMatch(/not the address/);
    expect(signInError({ code: "auth/invalid-email" }).message).toMatch(/not a valid e-mail/);
    expect(signInError({ code: "auth/weird" }).message).toBe("Signing in failed (auth/weird). Try again.");
    expect(signInError(new Error("x")).message).toBe("Signing in failed. Try again.");
  });
});
