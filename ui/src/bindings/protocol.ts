// Generated from jam-protocol by crates/jam-play/tests/bindings.rs. Do not edit.

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
