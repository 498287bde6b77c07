import { describe, expect, it } from "vitest";
import { History, SPARK_SAMPLES, sparklinePoints } from "./sparkline";

describe("latency sparkline", () => {
  it("keeps the last minute per player", () => {
    const h = new History();
    let last: number[] = [];
    for (let i = 0; i < 100; i++) last = h.push("A", i);
    expect(last).toHaveLength(SPARK_SAMPLES);
    expect(last[0]).toBe(40);
    expect(h.push("B", 5)).toEqual([5]);
  });

  it("draws newest at the right, scaled to at least the floor", () => {
    expect(sparklinePoints([], 59, 10)).toBe("");
    expect(sparklinePoints([0, 15, 30], 59, 10)).toBe("57,10 58,5 59,0");
    // A spike sets the scale when it exceeds the floor.
    expect(sparklinePoints([60, 30], 59, 10)).toBe("58,0 59,5");
  });
});
