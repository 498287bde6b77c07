/**
 * The computer keyboard as an instrument, laid out the way DAWs do (see shared/UX.md):
 *
 * - Piano: `A W S E D F T G Y H U J K O L P ;` play C C# D D# E F F# G G# A A# B C C# D D# E
 *   from the current octave; `Z`/`X` octave down/up; `C`/`V` velocity down/up; `Space` sustain.
 * - Drums (while the drum panel has focus, or with Shift held): a 4×4 grid on
 *   `1 2 3 4 / Q W E R / A S D F / Z X C V`, General MIDI sounds.
 * - Key repeat never retriggers a note; typing in a text field never plays.
 *
 * Keys are read by `KeyboardEvent.code` (the physical key), so the layout works on AZERTY and
 * QWERTZ keyboards too: the keys are where a QWERTY player's fingers expect them.
 */

export type Instrument = "piano" | "drums";

/** What a key press or release does. */
export type KeyAction =
  | { type: "noteOn"; instrument: Instrument; note: number; velocity: number }
  | { type: "noteOff"; instrument: Instrument; note: number }
  | { type: "sustain"; on: boolean }
  | { type: "octave"; base: number }
  | { type: "velocity"; velocity: number };

/** Piano keys: physical key → semitones above the current octave's C. */
export const PIANO_KEYS: ReadonlyMap<string, number> = new Map([
  ["KeyA", 0], ["KeyW", 1], ["KeyS", 2], ["KeyE", 3], ["KeyD", 4], ["KeyF", 5], ["KeyT", 6],
  ["KeyG", 7], ["KeyY", 8], ["KeyH", 9], ["KeyU", 10], ["KeyJ", 11], ["KeyK", 12], ["KeyO", 13],
  ["KeyL", 14], ["KeyP", 15], ["Semicolon", 16],
]);

/** A drum pad: its key, its label and its General MIDI note. */
export interface DrumPad {
  code: string;
  label: string;
  key: string;
  note: number;
}

/** The 4×4 drum grid, row by row. */
export const DRUM_PADS: readonly DrumPad[] = [
  { code: "Digit1", key: "1", label: "Kick", note: 36 },
  { code: "Digit2", key: "2", label: "Snare", note: 38 },
  { code: "Digit3", key: "3", label: "Clap", note: 39 },
  { code: "Digit4", key: "4", label: "Rim", note: 37 },
  { code: "KeyQ", key: "Q", label: "Closed hat", note: 42 },
  { code: "KeyW", key: "W", label: "Pedal hat", note: 44 },
  { code: "KeyE", key: "E", label: "Open hat", note: 46 },
  { code: "KeyR", key: "R", label: "Ride", note: 51 },
  { code: "KeyA", key: "A", label: "Low tom", note: 45 },
  { code: "KeyS", key: "S", label: "Mid tom", note: 47 },
  { code: "KeyD", key: "D", label: "High tom", note: 50 },
  { code: "KeyF", key: "F", label: "Crash", note: 49 },
  { code: "KeyZ", key: "Z", label: "Floor tom", note: 41 },
  { code: "KeyX", key: "X", label: "Ride bell", note: 53 },
  { code: "KeyC", key: "C", label: "Tambourine", note: 54 },
  { code: "KeyV", key: "V", label: "Cowbell", note: 56 },
];

const DRUM_BY_CODE: ReadonlyMap<string, DrumPad> = new Map(DRUM_PADS.map((p) => [p.code, p]));

/** Lowest and highest octave base (the C the `A` key plays): C1 and C7. */
export const MIN_BASE = 24;
export const MAX_BASE = 96;
/** Velocity steps of `C`/`V`, and the default velocity. */
export const VELOCITY_STEP = 16;
export const DEFAULT_VELOCITY = 96;

/** The parts of a `KeyboardEvent` the player looks at. */
export interface KeyInput {
  code: string;
  repeat: boolean;
  shiftKey: boolean;
  ctrlKey?: boolean;
  altKey?: boolean;
  metaKey?: boolean;
}

/** Where keyboard focus is, as far as playing is concerned. */
/** Where the focus is: a text field (no keys play), the drums, a control reached with the
 * keyboard (Space and Enter are its own; the other keys still play the piano), or anywhere else
 * (the piano). */
export type Focus = "piano" | "drums" | "text" | "control";

/** Turns key presses into musical actions, remembering which note each held key started. */
export class KeyboardPlayer {
  /** MIDI note the `A` key plays (C4 by default). */
  base = 60;
  velocity = DEFAULT_VELOCITY;
  /** Key code → the note it started, so the release matches even after an octave change. */
  private held = new Map<string, { instrument: Instrument; note: number }>();

  /** A key went down. Returns what to play (nothing for unmapped keys, repeats and typing). */
  keyDown(e: KeyInput, focus: Focus): KeyAction[] {
    if (focus === "text" || e.ctrlKey || e.altKey || e.metaKey) return [];
    if (focus === "control" && (e.code === "Space" || e.code === "Enter" || e.code === "NumpadEnter")) return [];
    if (e.repeat || this.held.has(e.code)) return [];
    if (focus === "drums" || e.shiftKey) {
      const pad = DRUM_BY_CODE.get(e.code);
      if (!pad) return [];
      this.held.set(e.code, { instrument: "drums", note: pad.note });
      return [{ type: "noteOn", instrument: "drums", note: pad.note, velocity: this.velocity }];
    }
    const offset = PIANO_KEYS.get(e.code);
    if (offset !== undefined) {
      const note = this.base + offset;
      if (note > 127) return [];
      this.held.set(e.code, { instrument: "piano", note });
      return [{ type: "noteOn", instrument: "piano", note, velocity: this.velocity }];
    }
    switch (e.code) {
      case "Space":
        this.held.set(e.code, { instrument: "piano", note: -1 });
        return [{ type: "sustain", on: true }];
      case "KeyZ":
        this.base = Math.max(MIN_BASE, this.base - 12);
        return [{ type: "octave", base: this.base }];
      case "KeyX":
        this.base = Math.min(MAX_BASE, this.base + 12);
        return [{ type: "octave", base: this.base }];
      case "KeyC":
        this.velocity = Math.max(1, this.velocity - VELOCITY_STEP);
        return [{ type: "velocity", velocity: this.velocity }];
      case "KeyV":
        this.velocity = Math.min(127, this.velocity + VELOCITY_STEP);
        return [{ type: "velocity", velocity: this.velocity }];
      default:
        return [];
    }
  }

  /** A key came up: releases what that key started (drum hits need no release). */
  keyUp(e: Pick<KeyInput, "code">): KeyAction[] {
    const started = this.held.get(e.code);
    if (!started) return [];
    this.held.delete(e.code);
    if (e.code === "Space") return [{ type: "sustain", on: false }];
    if (started.instrument === "drums") return [];
    return [{ type: "noteOff", instrument: "piano", note: started.note }];
  }

  /** The window lost focus: release everything held, so nothing sticks. */
  releaseAll(): KeyAction[] {
    const actions = [...this.held.keys()].flatMap((code) => this.keyUp({ code }));
    this.held.clear();
    return actions;
  }

  /** The label printed on a piano key for the current octave, e.g. "A" on C4. */
  labelFor(note: number): string | undefined {
    for (const [code, offset] of PIANO_KEYS) {
      if (this.base + offset === note) return code === "Semicolon" ? ";" : code.replace("Key", "");
    }
    return undefined;
  }
}
