import { describe, expect, it } from "vitest";
import { RelayClock, emptyPattern, isOn, position, toggleStep } from "./groove";
import { pianoKeys, noteName } from "./piano";
import { Activity } from "./activity";

describe("shared time", () => {
  it("gives the same beat and column to two machines at the same relay time", () => {
    const tempo = { bpm: 120, beatsPerBar: 4, anchorMs: 1_000 };
    expect(position(tempo, 1_000)).toEqual({ beat: 0, column: 0 });
    expect(position(tempo, 1_499)).toEqual({ beat: 0, column: 3 });
    expect(position(tempo, 1_500)).toEqual({ beat: 1, column: 4 });
    expect(position(tempo, 1_000 + 2_000 * 3 + 125 * 5)).toEqual({ beat: 1, column: 5 });
    // Before the anchor too (a tempo set for the next beat).
    expect(position(tempo, 999)).toEqual({ beat: 3, column: 15 });
  });

  it("follows relay time between samples", () => {
    const clock = new RelayClock();
    clock.sample(50_000, 1_000, 4);
    expect(clock.now(1_000)).toBe(50_002);
    expect(clock.now(1_500)).toBe(50_502);
  });
});

describe("sequencer pattern", () => {
  it("toggles steps without touching the others", () => {
    let p = emptyPattern();
    p = toggleStep(p, 36, 0);
    p = toggleStep(p, 36, 8);
    p = toggleStep(p, 38, 4);
    p = toggleStep(p, 36, 8);
    expect(isOn(p, 36, 0)).toBe(true);
    expect(isOn(p, 36, 8)).toBe(false);
    expect(isOn(p, 38, 4)).toBe(true);
    expect(p.rows.find((r) => r.note === 36)?.on).toBe("x...............");
    expect(toggleStep(p, 36, 16)).toBe(p);
  });
});

describe("piano layout", () => {
  it("has three octaves plus the top C with black keys between the right whites", () => {
    const keys = pianoKeys(48, 3);
    expect(keys).toHaveLength(37);
    expect(keys.filter((k) => !k.black)).toHaveLength(22);
    expect(keys[0]?.name).toBe("C3");
    expect(keys.find((k) => k.note === 60)?.name).toBe("C4");
    const cSharp = keys.find((k) => k.note === 49);
    expect(cSharp).toMatchObject({ black: true, whiteIndex: 0 });
    expect(keys.find((k) => k.note === 54)).toMatchObject({ black: true, whiteIndex: 3 });
    expect(noteName(69)).toBe("A4");
  });
});

describe("activity", () => {
  it("counts the last second each way and keeps the latest lines first", () => {
    const a = new Activity(3);
    for (let i = 0; i < 5; i++) a.record("in", `e${i}`, 100 * i);
    a.record("out", "mine", 450);
    expect(a.perSecond("in", 1_050)).toBe(4);
    expect(a.perSecond("out", 1_050)).toBe(1);
    expect(a.perSecond("in", 5_000)).toBe(0);
    expect(a.last.map((l) => l.text)).toEqual(["mine", "e4", "e3"]);
  });
});
