import { describe, expect, it } from "vitest";
import { DRUM_PADS, KeyboardPlayer, MAX_BASE, PIANO_KEYS } from "./keyboard";

const key = (code: string, extra: Partial<{ repeat: boolean; shiftKey: boolean; ctrlKey: boolean }> = {}) => ({
  code,
  repeat: false,
  shiftKey: false,
  ...extra,
});

describe("piano keys", () => {
  it("plays C4 to E5 on the home and top rows", () => {
    const p = new KeyboardPlayer();
    const notes = [...PIANO_KEYS.keys()].map((code) => {
      const [a] = p.keyDown(key(code), "piano");
      p.keyUp({ code });
      return a?.type === "noteOn" ? a.note : undefined;
    });
    expect(notes).toEqual([60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76]);
  });

  it("never retriggers on key repeat and releases the note the key started", () => {
    const p = new KeyboardPlayer();
    expect(p.keyDown(key("KeyA"), "piano")).toEqual([{ type: "noteOn", instrument: "piano", note: 60, velocity: 96 }]);
    expect(p.keyDown(key("KeyA", { repeat: true }), "piano")).toEqual([]);
    // Held: a second down without an up is ignored.
    expect(p.keyDown(key("KeyA"), "piano")).toEqual([]);
    p.keyDown(key("KeyX"), "piano"); // octave up while A is held
    expect(p.keyUp({ code: "KeyA" })).toEqual([{ type: "noteOff", instrument: "piano", note: 60 }]);
    expect(p.keyDown(key("KeyA"), "piano")[0]).toMatchObject({ note: 72 });
  });

  it("changes octave and velocity within bounds, and sustains on space", () => {
    const p = new KeyboardPlayer();
    for (let i = 0; i < 10; i++) p.keyDown(key("KeyX"), "piano");
    expect(p.base).toBe(MAX_BASE);
    for (let i = 0; i < 10; i++) p.keyDown(key("KeyV"), "piano");
    expect(p.velocity).toBe(127);
    for (let i = 0; i < 20; i++) p.keyDown(key("KeyC"), "piano");
    expect(p.velocity).toBe(1);
    expect(p.keyDown(key("Space"), "piano")).toEqual([{ type: "sustain", on: true }]);
    expect(p.keyUp({ code: "Space" })).toEqual([{ type: "sustain", on: false }]);
  });

  it("leaves Space and Enter to a control reached with the keyboard, and still plays the letters", () => {
    const p = new KeyboardPlayer();
    expect(p.keyDown(key("Space"), "control")).toEqual([]);
    expect(p.keyDown(key("Enter"), "control")).toEqual([]);
    expect(p.keyUp({ code: "Space" })).toEqual([]);
    expect(p.keyDown(key("KeyA"), "control")).toEqual([{ type: "noteOn", instrument: "piano", note: 60, velocity: 96 }]);
  });

  it("never plays while typing or with a shortcut modifier", () => {
    const p = new KeyboardPlayer();
    expect(p.keyDown(key("KeyA"), "text")).toEqual([]);
    expect(p.keyDown(key("KeyS", { ctrlKey: true }), "piano")).toEqual([]);
  });

  it("labels keys for the current octave", () => {
    const p = new KeyboardPlayer();
    expect(p.labelFor(60)).toBe("A");
    expect(p.labelFor(76)).toBe(";");
    expect(p.labelFor(59)).toBeUndefined();
  });
});

describe("drum pads", () => {
  it("are a 4x4 grid of distinct General MIDI sounds with the kit's essentials", () => {
    expect(DRUM_PADS).toHaveLength(16);
    expect(new Set(DRUM_PADS.map((p) => p.note)).size).toBe(16);
    for (const gm of [36, 37, 38, 39, 42, 44, 46, 49, 51]) expect(DRUM_PADS.map((p) => p.note)).toContain(gm);
  });

  it("play with the drum panel focused or with shift, and need no release", () => {
    const p = new KeyboardPlayer();
    expect(p.keyDown(key("Digit2"), "drums")).toEqual([{ type: "noteOn", instrument: "drums", note: 38, velocity: 96 }]);
    expect(p.keyUp({ code: "Digit2" })).toEqual([]);
    expect(p.keyDown(key("KeyQ", { shiftKey: true }), "piano")[0]).toMatchObject({ instrument: "drums", note: 42 });
  });

  it("releasing everything on blur leaves no stuck note", () => {
    const p = new KeyboardPlayer();
    p.keyDown(key("KeyA"), "piano");
    p.keyDown(key("KeyD"), "piano");
    p.keyDown(key("Space"), "piano");
    expect(p.releaseAll()).toEqual([
      { type: "noteOff", instrument: "piano", note: 60 },
      { type: "noteOff", instrument: "piano", note: 64 },
      { type: "sustain", on: false },
    ]);
    expect(p.releaseAll()).toEqual([]);
  });
});
