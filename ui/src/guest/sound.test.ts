import { describe, expect, it } from "vitest";
import { nearestRoot, smoothOffset, velocityGain } from "./sound";

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
});
