import { describe, expect, it } from "vitest";
import type { Schemas } from "../../api/client";
import {
  actorName,
  isOwnApiKey,
  isSelf,
  matchesWorkstation,
  repositoryChanges,
  repositoryCreate,
  repositoryForm,
  sessionLine,
  sessionsPhrase,
  slugFrom,
  validSlug,
  workstationName,
} from "./logic";

const ws = { hostname: "laptop-1", fingerprint: "fp-9f3a", last_user: "Ada" };

describe("workstations", () => {
  it("names a workstation by hostname, else fingerprint", () => {
    expect(workstationName(ws)).toBe("laptop-1");
    expect(workstationName({ hostname: " ", fingerprint: "fp-1" })).toBe("fp-1");
  });

  it("searches hostname, fingerprint and last user, every word, any case", () => {
    expect(matchesWorkstation(ws, "")).toBe(true);
    expect(matchesWorkstation(ws, "  ")).toBe(true);
    expect(matchesWorkstation(ws, "LAPTOP")).toBe(true);
    expect(matchesWorkstation(ws, "9f3a")).toBe(true);
    expect(matchesWorkstation(ws, "ada")).toBe(true);
    expect(matchesWorkstation(ws, "ada laptop")).toBe(true);
    expect(matchesWorkstation(ws, "ada desktop")).toBe(false);
    expect(matchesWorkstation(ws, "grace")).toBe(false);
  });

  it("describes the sessions that blocking ends", () => {
    expect(sessionsPhrase(1)).toBe("its 1 live session");
    expect(sessionsPhrase(3)).toBe("its 3 live sessions");
    expect(sessionLine({ user: "ada", hostname: "h", fingerprint: "f", repository: "github.com/a/b" })).toBe(
      "ada on h (github.com/a/b)",
    );
    expect(sessionLine({ user: "", hostname: "", fingerprint: "f", repository: "" })).toBe("unknown user on f");
  });
});

describe("tenants", () => {
  it("suggests a slug the API accepts", () => {
    expect(slugFrom("Acme Corp")).toBe("acme-corp");
    expect(slugFrom("  Ünïcode & Co. ")).toBe("unicode-co");
    expect(slugFrom("---")).toBe("");
    const long = slugFrom("a".repeat(62) + " b c");
    expect(long.length).toBeLessThanOrEqual(63);
    expect(validSlug(long)).toBe(true);
    for (const s of ["acme-corp", "unicode-co", "a", "a1"]) expect(validSlug(s)).toBe(true);
    for (const s of ["", "-a", "a-", "A", "a_b", "a".repeat(64)]) expect(validSlug(s)).toBe(false);
  });
});

describe("repositories", () => {
  const repo: Schemas["Repository"] = {
    id: "r1",
    tenant_id: "t1",
    name: "widgets",
    remote_url: "github.com/acme/widgets",
    provider: "github",
    default_branch: "main",
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:00Z",
  };

  it("creates with name and remote, and the optional fields only when given", () => {
    expect(repositoryCreate({ name: " w ", remote_url: " git@github.com:a/w.git ", provider: "", default_branch: " " })).toEqual({
      name: "w",
      remote_url: "git@github.com:a/w.git",
    });
    expect(repositoryCreate({ name: "w", remote_url: "r", provider: "github", default_branch: "main" })).toEqual({
      name: "w",
      remote_url: "r",
      provider: "github",
      default_branch: "main",
    });
  });

  it("patches only what changed (never the normalised remote sent back)", () => {
    expect(repositoryChanges(repo, repositoryForm(repo))).toBeNull();
    expect(repositoryChanges(repo, { ...repositoryForm(repo), name: "gadgets " })).toEqual({ name: "gadgets" });
    expect(repositoryChanges(repo, { ...repositoryForm(repo), provider: "" })).toEqual({ provider: "" });
    expect(repositoryChanges(repo, { ...repositoryForm(repo), remote_url: "https://github.com/acme/w2" })).toEqual({
      remote_url: "https://github.com/acme/w2",
    });
  });
});

describe("people", () => {
  it("recognises the caller", () => {
    expect(isOwnApiKey("api_key:k1", "k1")).toBe(true);
    expect(isOwnApiKey("api_key:k1", "k2")).toBe(false);
    expect(isOwnApiKey(undefined, "k1")).toBe(false);
    expect(isSelf("Ada@Example.com", "ada@example.com")).toBe(true);
    expect(isSelf("", "ada@example.com")).toBe(false);
    expect(isSelf(undefined, "ada@example.com")).toBe(false);
  });

  it("names actors as people read them", () => {
    expect(actorName("user:ada@example.com")).toBe("ada@example.com");
    expect(actorName("bootstrap")).toBe("bootstrap token");
    expect(actorName("api_key:0123456789abcdef")).toBe("API key 01234567…");
    expect(actorName("")).toBe("—");
  });
});
