import { describe, expect, it } from "vitest";
import { describeTake, duration } from "./takes";

describe("takes list", () => {
  it("shows lengths as m:ss or h:mm:ss", () => {
    expect(duration(0)).toBe("0:00");
    expect(duration(61_400)).toBe("1:01");
    expect(duration(3_725_000)).toBe("1:02:05");
  });

  it("describes a take with its date, length, players, events and room", () => {
    const line = describeTake(
      { id: 3, room: "K7M2QX", startedMs: Date.UTC(2026, 10, 22, 14, 5), durationMs: 192_000, participants: ["Ann", "Ben"], eventCount: 1204 },
      "en-GB",
    );
    expect(line).toContain("3:12 · Ann, Ben · 1,204 events · K7M2QX");
    expect(line).toContain("22 Nov");
  });
});
