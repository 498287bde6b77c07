/**
 * The palette as the pickers show it: keys sounds grouped by family, the kits, names by id,
 * search, favourites and what the player list says of each player's sound. Generated from
 * Rust (`INSTRUMENTS` in ./bindings/protocol): the ids are the ones on the wire.
 */
import type { InstrumentView } from "./bindings/InstrumentView";
import type { MemberInstrument } from "./bindings/MemberInstrument";
import { INSTRUMENTS } from "./bindings/protocol";

export type { InstrumentView, MemberInstrument };

/** The keys sound and kit everyone plays until they choose (the first of each list). */
export const DEFAULT_KEYS = INSTRUMENTS.find((i) => !i.kit)?.id ?? "grand-piano";
export const DEFAULT_KIT = INSTRUMENTS.find((i) => i.kit)?.id ?? "standard-kit";
/** Most favourites (switched with Alt+1…4). */
export const MAX_FAVOURITES = 4;

export const KEYS_SOUNDS: readonly InstrumentView[] = INSTRUMENTS.filter((i) => !i.kit);
export const KITS: readonly InstrumentView[] = INSTRUMENTS.filter((i) => i.kit);

/** A sound's name ("Finger bass"); an id this version doesn't know shows as the default's. */
export function soundName(id: string): string {
  return INSTRUMENTS.find((i) => i.id === id)?.name ?? INSTRUMENTS.find((i) => i.id === DEFAULT_KEYS)?.name ?? id;
}

/** The keys sounds whose name or family holds every word of `query`, grouped by family in palette order. */
export function groups(query: string): { family: string; sounds: InstrumentView[] }[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const out: { family: string; sounds: InstrumentView[] }[] = [];
  for (const s of KEYS_SOUNDS) {
    const text = `${s.name} ${s.family}`.toLowerCase();
    if (!words.every((w) => text.includes(w))) continue;
    const last = out[out.length - 1];
    if (last && last.family === s.family) last.sounds.push(s);
    else out.push({ family: s.family, sounds: [s] });
  }
  return out;
}

/** Adds `id` to the favourites, or takes it out if it is one; the oldest goes when full. */
export function toggleFavourite(favourites: readonly string[], id: string): string[] {
  if (favourites.includes(id)) return favourites.filter((f) => f !== id);
  return [...favourites, id].slice(-MAX_FAVOURITES);
}

/** The favourite Alt+`digit` chooses (digits 1–4), if there is one. */
export function favouriteFor(favourites: readonly string[], digit: number): string | undefined {
  return Number.isInteger(digit) && digit >= 1 ? favourites[digit - 1] : undefined;
}

/** Each member's sounds, as the room told us (members who said nothing play the defaults). */
export class Sounds {
  private chosen = new Map<string, { keys: string; drums: string }>();

  reset(list: readonly MemberInstrument[]): void {
    this.chosen.clear();
    for (const m of list) this.set(m.userId, m.keys, m.drums);
  }

  set(userId: string, keys: string, drums: string): void {
    this.chosen.set(userId, { keys, drums });
  }

  forget(userId: string): void {
    this.chosen.delete(userId);
  }

  of(userId: string): { keys: string; drums: string } {
    return this.chosen.get(userId) ?? { keys: DEFAULT_KEYS, drums: DEFAULT_KIT };
  }

  /** What the player list says under a name: "Finger bass", or "Finger bass · Brush kit". */
  label(userId: string): string {
    const { keys, drums } = this.of(userId);
    return drums === DEFAULT_KIT ? soundName(keys) : `${soundName(keys)} · ${soundName(drums)}`;
  }
}
