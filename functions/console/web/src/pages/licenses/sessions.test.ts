import { describe, expect, it } from "vitest";
import { expiryText, processesText, seatText, type Session } from "./sessions";

const now = new Date("2026-11-01T12:00:00.000Z");

const held: Session = {
  session_digest: "d1",
  fingerprint: "ws-ada",
  hostname: "ada-laptop",
  user: "ada",
  os: "linux",
  repository: "",
  acquired_at: "2026-11-01T11:00:00.000Z",
  expires_at: "2026-11-01T12:02:00.000Z",
  holders: [
    { instance_id: "a", expires_at: "2026-11-01T12:01:00.000Z" },
    { instance_id: "b", expires_at: "2026-11-01T12:02:00.000Z" },
  ],
  lingering: false,
  seat_class: "entitled",
  borrowed: false,
};

const lingering: Session = { ...held, holders: [], lingering: true, expires_at: "2026-11-01T12:05:00.000Z" };

describe("a session's row", () => {
  it("counts the processes of a held session and gives its expiry alone", () => {
    expect(processesText(held)).toBe("2");
    expect(expiryText(held, now)).toEqual({ lead: "", when: "in 2 min" });
  });

  it("says whether the seat is one of the license's or beyond them", () => {
    expect(seatText(held)).toBe("Entitled");
    expect(seatText({ seat_class: "overage" })).toBe("Overage");
  });

  it("says a session held by nobody but not lingering has 0 processes", () => {
    expect(processesText({ holders: [], lingering: false, borrowed: false })).toBe("0");
  });

  it("says a lingering session was released, and when its seat is free", () => {
    expect(processesText(lingering)).toBe("Released — lingering");
    expect(expiryText(lingering, now)).toEqual({ lead: "Seat free ", when: "in 5 min" });
  });

  it("says the seat of a lingering session past its expiry is free now", () => {
    expect(expiryText({ ...lingering, expires_at: "2026-11-01T11:59:57.000Z" }, now)).toEqual({
      lead: "Seat free ",
      when: "now",
    });
    // A held session past its expiry keeps saying how long ago.
    expect(expiryText({ ...held, expires_at: "2026-11-01T11:59:57.000Z" }, now).when).toBe("3 s ago");
  });

  it("says a borrowed session is offline, and when its borrow ends", () => {
    const borrowed: Session = { ...held, holders: [], borrowed: true, expires_at: "2026-11-08T12:00:00.000Z" };
    expect(processesText(borrowed)).toBe("Borrowed — offline");
    expect(expiryText(borrowed, now)).toEqual({ lead: "Borrowed until ", when: "in 7 d" });
    expect(expiryText({ ...borrowed, expires_at: "2026-11-01T11:59:00.000Z" }, now)).toEqual({
      lead: "Borrow ended, seat free ",
      when: "now",
    });
  });
});
