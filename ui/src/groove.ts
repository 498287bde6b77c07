/**
 * The room's shared time as the UI draws it: the beat indicator and the sequencer's playhead.
 * The same rule as the core's groove (`crates/jam-play/src/groove.rs`): beat `n` is at
 * `anchorMs + n × 60 000 / bpm` of relay time, step `k` (four per beat) shows pattern column
 * `k mod 16`. The pattern layout and its limits are the protocol's (generated bindings).
 */
import type { Pattern } from "./bindings/Pattern";
import type { Tempo } from "./bindings/Tempo";
import { STEPS, STEPS_PER_BEAT } from "./bindings/protocol";

export type { Pattern, Tempo };
export { STEPS };

/** Where relay time `nowMs` falls: the beat in the bar (0-based) and the pattern column. */
export function position(tempo: Tempo, nowMs: number): { beat: number; column: number } {
  const stepMs = 60_000 / tempo.bpm / STEPS_PER_BEAT;
  const k = Math.floor((nowMs - tempo.anchorMs) / stepMs);
  const mod = (a: number, n: number) => ((a % n) + n) % n;
  return { beat: mod(Math.floor(k / STEPS_PER_BEAT), tempo.beatsPerBar), column: mod(k, STEPS) };
}

/** Estimates relay time from a sample taken with `performance.now()`, for smooth drawing. */
export class RelayClock {
  private relayAtSample = 0;
  private perfAtSample = 0;

  sample(relayMs: number, perfMs: number, roundTripMs = 0): void {
    this.relayAtSample = relayMs;
    this.perfAtSample = perfMs - roundTripMs / 2;
  }

  now(perfMs: number): number {
    return this.relayAtSample + (perfMs - this.perfAtSample);
  }
}

/** The rows the sequencer shows, top to bottom (General MIDI drums). */
export const SEQUENCER_ROWS: readonly { note: number; label: string }[] = [
  { note: 49, label: "Crash" },
  { note: 46, label: "Open hat" },
  { note: 42, label: "Closed hat" },
  { note: 39, label: "Clap" },
  { note: 38, label: "Snare" },
  { note: 45, label: "Low tom" },
  { note: 37, label: "Rim" },
  { note: 36, label: "Kick" },
];

/** An empty pattern over the sequencer's rows. */
export function emptyPattern(): Pattern {
  return { running: false, rows: SEQUENCER_ROWS.map((r) => ({ note: r.note, on: ".".repeat(STEPS) })) };
}

/** Whether a step is on. */
export function isOn(pattern: Pattern, note: number, step: number): boolean {
  return pattern.rows.find((r) => r.note === note)?.on[step] === "x";
}

/** A copy of `pattern` with one step flipped (the row is added if the pattern lacked it). */
export function toggleStep(pattern: Pattern, note: number, step: number): Pattern {
  if (step < 0 || step >= STEPS) return pattern;
  const rows = pattern.rows.some((r) => r.note === note)
    ? pattern.rows
    : [...pattern.rows, { note, on: ".".repeat(STEPS) }];
  return {
    ...pattern,
    rows: rows.map((r) => {
      if (r.note !== note) return r;
      const cells = [...r.on];
      cells[step] = cells[step] === "x" ? "." : "x";
      return { note, on: cells.join("") };
    }),
  };
}
