// Generated from jam-protocol by crates/jam-play/tests/bindings.rs. Do not edit.

import type { InstrumentView } from "./InstrumentView";

/** Longest display name, in characters. */
export const MAX_NAME_CHARS = 32;
/** Longest chat line, in characters. */
export const MAX_CHAT_CHARS = 500;
/** The symbols a room code is made of. */
export const ROOM_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/** Symbols in a room code. */
export const ROOM_CODE_LEN = 8;
/** Slowest and fastest tempo, BPM. */
export const MIN_BPM = 20;
export const MAX_BPM = 400;
/** Most beats in a bar. */
export const MAX_BEATS_PER_BAR = 16;
/** Steps in a sequencer pattern, steps per beat, most rows. */
export const STEPS = 16;
export const STEPS_PER_BEAT = 4;
export const MAX_ROWS = 16;
/** The longest fixed playout delay, ms. */
export const MAX_FIXED_DELAY_MS = 500;
/** The sounds a player can choose (ids on the wire), keys sounds first, then kits. */
export const INSTRUMENTS: readonly InstrumentView[] = [
  {
    "id": "grand-piano",
    "name": "Grand piano",
    "family": "Piano",
    "kit": false
  },
  {
    "id": "bright-piano",
    "name": "Bright piano",
    "family": "Piano",
    "kit": false
  },
  {
    "id": "tine-piano",
    "name": "Electric piano (tine)",
    "family": "Piano",
    "kit": false
  },
  {
    "id": "fm-piano",
    "name": "Electric piano (FM)",
    "family": "Piano",
    "kit": false
  },
  {
    "id": "vibraphone",
    "name": "Vibraphone",
    "family": "Mallets",
    "kit": false
  },
  {
    "id": "marimba",
    "name": "Marimba",
    "family": "Mallets",
    "kit": false
  },
  {
    "id": "drawbar-organ",
    "name": "Drawbar organ",
    "family": "Organ",
    "kit": false
  },
  {
    "id": "church-organ",
    "name": "Church organ",
    "family": "Organ",
    "kit": false
  },
  {
    "id": "nylon-guitar",
    "name": "Nylon guitar",
    "family": "Guitar",
    "kit": false
  },
  {
    "id": "steel-guitar",
    "name": "Steel guitar",
    "family": "Guitar",
    "kit": false
  },
  {
    "id": "clean-guitar",
    "name": "Clean electric guitar",
    "family": "Guitar",
    "kit": false
  },
  {
    "id": "overdriven-guitar",
    "name": "Overdriven guitar",
    "family": "Guitar",
    "kit": false
  },
  {
    "id": "finger-bass",
    "name": "Finger bass",
    "family": "Bass",
    "kit": false
  },
  {
    "id": "picked-bass",
    "name": "Picked bass",
    "family": "Bass",
    "kit": false
  },
  {
    "id": "fretless-bass",
    "name": "Fretless bass",
    "family": "Bass",
    "kit": false
  },
  {
    "id": "synth-bass",
    "name": "Synth bass",
    "family": "Bass",
    "kit": false
  },
  {
    "id": "strings",
    "name": "String ensemble",
    "family": "Strings",
    "kit": false
  },
  {
    "id": "slow-strings",
    "name": "Slow strings",
    "family": "Strings",
    "kit": false
  },
  {
    "id": "choir",
    "name": "Choir",
    "family": "Voices",
    "kit": false
  },
  {
    "id": "trumpet",
    "name": "Trumpet",
    "family": "Brass & wind",
    "kit": false
  },
  {
    "id": "brass",
    "name": "Brass section",
    "family": "Brass & wind",
    "kit": false
  },
  {
    "id": "alto-sax",
    "name": "Alto sax",
    "family": "Brass & wind",
    "kit": false
  },
  {
    "id": "flute",
    "name": "Flute",
    "family": "Brass & wind",
    "kit": false
  },
  {
    "id": "square-lead",
    "name": "Square lead",
    "family": "Synth",
    "kit": false
  },
  {
    "id": "saw-lead",
    "name": "Saw lead",
    "family": "Synth",
    "kit": false
  },
  {
    "id": "warm-pad",
    "name": "Warm pad",
    "family": "Synth",
    "kit": false
  },
  {
    "id": "standard-kit",
    "name": "Standard kit",
    "family": "Drums",
    "kit": true
  },
  {
    "id": "room-kit",
    "name": "Room kit",
    "family": "Drums",
    "kit": true
  },
  {
    "id": "electronic-kit",
    "name": "Electronic kit",
    "family": "Drums",
    "kit": true
  },
  {
    "id": "brush-kit",
    "name": "Brush kit",
    "family": "Drums",
    "kit": true
  }
];
