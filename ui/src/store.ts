/**
 * The UI's state, in one place: the jam we are in, who is in it, the shared groove, the
 * player's mix. Views read it and change it through its methods; they hear of changes by
 * subscribing to its topics, and of what the room does through the room events the Rust side
 * sends (already parsed and typed).
 */
import type { JamView, RoomEvent } from "./api";
import { Activity } from "./activity";
import { RelayClock, emptyPattern, type Pattern, type Tempo } from "./groove";
import { KeyboardPlayer } from "./keyboard";
import { PALETTE, Roster } from "./room";
import { History } from "./sparkline";
import type { OwnSoundView } from "./bindings/OwnSoundView";
import { DEFAULT_KEYS, DEFAULT_KIT, Sounds } from "./sounds";

/** What views can wait for besides room events. */
export interface Topics {
  /** We entered a room (hosted or joined). */
  entered: JamView;
  /** We are back on the start screen. */
  left: void;
  /** The Rust side has left the jam (its take, if hosted, is complete). */
  departed: void;
  /** The tempo changed (ours or the room's). */
  tempo: Tempo;
  /** The pattern changed (ours or the room's). */
  pattern: Pattern;
  /** Who is in the room changed. */
  roster: void;
  /** Our sound, kit or favourites changed. */
  sound: void;
}

type RoomEventOf<T extends RoomEvent["type"]> = Extract<RoomEvent, { type: T }>;

export class Store {
  /** The jam we are in, if any. */
  jam: JamView | undefined;
  /** Our id in the room, once joined. */
  myId: string | undefined;
  readonly roster = new Roster();
  readonly activity = new Activity();
  readonly clock = new RelayClock();
  readonly delays = new History();
  readonly player = new KeyboardPlayer();
  tempo: Tempo = { bpm: 120, beatsPerBar: 4, anchorMs: 0 };
  pattern: Pattern = emptyPattern();
  /** Remembered volumes by participant name (0–2). */
  volumes: Record<string, number> = {};
  /** Participants muted here, by id. */
  readonly muted = new Set<string>();
  /** The MIDI output each player's part also plays through, by name ("Ann through my synth"). */
  readonly through = new Map<string, string>();
  /** Our keys sound, our kit and our favourite keys sounds (palette ids). */
  instrument: string = DEFAULT_KEYS;
  kit: string = DEFAULT_KIT;
  favourites: string[] = [];
  /** Everyone else's sounds, as the room told us. */
  readonly sounds = new Sounds();

  private topics = new Map<keyof Topics, Set<(value: never) => void>>();
  private roomHandlers = new Map<RoomEvent["type"], Set<(e: never) => void>>();

  /** True while we only listen. */
  get listener(): boolean {
    return this.jam?.listener === true;
  }

  /** Our colour in the room (the first colour before one is given). */
  myColour(): string {
    return this.myId ? this.roster.colour(this.myId) : PALETTE[0];
  }

  nameOf(id: string): string {
    return this.roster.list().find((p) => p.id === id)?.name ?? "someone";
  }

  on<K extends keyof Topics>(topic: K, f: (value: Topics[K]) => void): void {
    const set = this.topics.get(topic) ?? new Set();
    set.add(f as (value: never) => void);
    this.topics.set(topic, set);
  }

  emit<K extends keyof Topics>(topic: K, value: Topics[K]): void {
    for (const f of this.topics.get(topic) ?? []) (f as (value: Topics[K]) => void)(value);
  }

  /** Calls `f` with every room event of type `type`. */
  onRoom<T extends RoomEvent["type"]>(type: T, f: (e: RoomEventOf<T>) => void): void {
    const set = this.roomHandlers.get(type) ?? new Set();
    set.add(f as (e: never) => void);
    this.roomHandlers.set(type, set);
  }

  /** Hands a room event from the Rust side to the views that wait for its type. */
  dispatch(e: RoomEvent): void {
    for (const f of this.roomHandlers.get(e.type) ?? []) (f as (e: RoomEvent) => void)(e);
  }

  /** My own sound (app only), once one is loaded. */
  ownSound: OwnSoundView | null = null;

  setOwnSound(view: OwnSoundView | null): void {
    this.ownSound = view;
    this.emit("sound", undefined);
  }

  setSound(instrument: string, kit: string, favourites: string[]): void {
    this.instrument = instrument;
    this.kit = kit;
    this.favourites = favourites;
    this.emit("sound", undefined);
  }

  setTempo(t: Tempo): void {
    this.tempo = t;
    this.emit("tempo", t);
  }

  setPattern(p: Pattern): void {
    this.pattern = p;
    this.emit("pattern", p);
  }
}
