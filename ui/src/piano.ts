/** The on-screen piano's layout: which keys, black or white, and where black keys sit. */

const BLACK = new Set([1, 3, 6, 8, 10]);
const NAMES = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];

export interface PianoKey {
  note: number;
  black: boolean;
  /** For black keys: the index of the white key to whose right edge it is centred. */
  whiteIndex: number;
  /** e.g. "C4" (MIDI 60 is C4). */
  name: string;
}

export function noteName(note: number): string {
  return `${NAMES[note % 12]}${Math.floor(note / 12) - 1}`;
}

/** `octaves` octaves from C of `lowest` (rounded down to a C), plus the top C. */
export function pianoKeys(lowest: number, octaves: number): PianoKey[] {
  const start = lowest - (lowest % 12);
  const keys: PianoKey[] = [];
  let whites = 0;
  for (let note = start; note <= Math.min(127, start + 12 * octaves); note++) {
    const black = BLACK.has(note % 12);
    keys.push({ note, black, whiteIndex: black ? whites - 1 : whites, name: noteName(note) });
    if (!black) whites++;
  }
  return keys;
}
