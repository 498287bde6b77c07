import { describe, expect, it } from "vitest";
import { midiInput } from "./midi";

describe("MIDI in the browser guest", () => {
  it("plays notes on the piano, channel 10 on the drums, and the pedal", () => {
    expect(midiInput([0x90, 60, 100])).toEqual({ type: "noteOn", instrument: "piano", note: 60, velocity: 100 });
    expect(midiInput([0x99, 38, 90])).toEqual({ type: "noteOn", instrument: "drums", note: 38, velocity: 90 });
    expect(midiInput([0x90, 60, 0])).toEqual({ type: "noteOff", instrument: "piano", note: 60 });
    expect(midiInput([0x80, 60, 40])).toEqual({ type: "noteOff", instrument: "piano", note: 60 });
    expect(midiInput([0xb0, 64, 127])).toEqual({ type: "sustain", on: true });
    expect(midiInput([0xb0, 64, 0])).toEqual({ type: "sustain", on: false });
  });
  it("ignores what it doesn't play and what is out of range", () => {
    expect(midiInput([0xb0, 7, 100])).toBeUndefined();
    expect(midiInput([0xe0, 0, 64])).toBeUndefined();
    expect(midiInput([0x90, 200, 100])).toBeUndefined();
    expect(midiInput([0x90, 60])).toBeUndefined();
    expect(midiInput([])).toBeUndefined();
  });
});
