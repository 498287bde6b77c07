import { describe, expect, it } from "vitest";
import { describePlayer, describeTake, duration } from "./takes";

describe("takes list", () => {
  it("shows lengths as m:ss or h:mm:ss", () => {
    expect(duration(0)).toBe("0:00");
    expect(duration(61_400)).toBe("1:01");
    expect(duration(3_725_000)).toBe("1:02:05");
  });

  it("describes a take with its date, length, players, events and room", () => {
    const line = describeTake(
      { id: 3, room: "K7M2QXH4", startedMs: Date.UTC(2026, 10, 22, 14, 5), durationMs: 192_000, participants: ["Ann", "Ben"], eventCount: 1204 },
      "en-GB",
    );
    expect(line).toContain("3:12 · Ann, Ben · 1,204 events · K7M2QXH4");
    expect(line).toContain("22 Nov");
  });
});

describe("a take's players", () => {
  it("says when each was there and how much they played", () => {
    const start = 1_000_000;
    expect(describePlayer({ name: "Ann", role: "player", joinedMs: start, leftMs: start + 192_000, events: 1204 }, start)).toBe(
      "Ann (player) · 0:00–3:12 · 1,204 events",
    );
    expect(describePlayer({ name: "Lis", role: "listener", joinedMs: start + 5_000, leftMs: null, events: 0 }, start)).toBe(
      "Lis (listener) · 0:05–end · listened",
    );
  });
});
