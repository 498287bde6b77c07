import { describe, expect, it } from "vitest";
import { believable, clockReading, nearestRoot, smoothOffset, velocityGain } from "./sound";

describe("the browser guest's sound", () => {
  it("voices like the app's engine", () => {
    expect(velocityGain(127)).toBeCloseTo(1);
    expect(velocityGain(0)).toBeCloseTo(velocityGain(1));
    expect(nearestRoot([21, 24, 27], 25)).toBe(24);
    expect(nearestRoot([], 60)).toBeUndefined();
  });
  it("smooths the clock offset through block-sized jitter and resets on a jump", () => {
    let s: number | undefined;
    const readings = Array.from({ length: 200 }, (_, i) => 5 + ((i % 2) * 0.01 - 0.005));
    for (const r of readings) s = smoothOffset(s, r);
    expect(Math.abs((s ?? 0) - 5)).toBeLessThan(0.001);
    expect(smoothOffset(s, 5.5)).toBe(5.5);
    expect(smoothOffset(s, Number.NaN)).toBe(s);
  });
  it("reads the clocks from a believable output timestamp, and from currentTime otherwise", () => {
    // Chromium/Firefox: the frame at 9.10 s reached the speakers 12 ms after it was current.
    const good = clockReading({ contextTime: 9.1, performanceTime: 10_050 }, 9.125, 10_070, 1_000);
    expect(good).toBeCloseTo(9.1 - 11.05, 6);
    // WebKitGTK 2.50 (as measured): performanceTime ≈ now + contextTime.
    const webkit = clockReading({ contextTime: 9.1225, performanceTime: 19_192 }, 9.1254, 10_070, 1_000);
    expect(webkit).toBeCloseTo(9.1254 - 11.07, 6);
    expect(believable({ contextTime: 9.1, performanceTime: 10_050 }, 9.125, 10_070)).toBe(true);
    expect(believable({ contextTime: 9.1225, performanceTime: 19_192 }, 9.1254, 10_070)).toBe(false);
    expect(clockReading(undefined, 2, 3_000, 0)).toBeCloseTo(-1, 6);
    expect(clockReading({ contextTime: 0, performanceTime: 0 }, 2, 3_000, 0)).toBeCloseTo(-1, 6);
  });
});
