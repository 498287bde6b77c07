/**
 * The app's Rust side, as typed calls (`src-tauri/src/commands/`). Every type here is generated
 * from Rust (`./bindings`, by `crates/jam-play/tests/bindings.rs`): nothing is retyped, and the
 * UI never decodes a protocol payload — room events arrive parsed and typed.
 */
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AudioView } from "./bindings/AudioView";
import { guestApi } from "./guest/api";
import type { ClockView } from "./bindings/ClockView";
import type { ErrorView } from "./bindings/ErrorView";
import type { FontPresetView } from "./bindings/FontPresetView";
import type { OwnSoundView } from "./bindings/OwnSoundView";
import type { HostRequest } from "./bindings/HostRequest";
import type { JamView } from "./bindings/JamView";
import type { JoinRequest } from "./bindings/JoinRequest";
import type { LanJamView } from "./bindings/LanJamView";
import type { MidiOutView } from "./bindings/MidiOutView";
import type { MidiView } from "./bindings/MidiView";
import type { OpenedInvite } from "./bindings/OpenedInvite";
import type { Pattern } from "./bindings/Pattern";
import type { PlayInput } from "./bindings/PlayInput";
import type { RelayFiguresView } from "./bindings/RelayFiguresView";
import type { RoomEvent } from "./bindings/RoomEvent";
import type { Settings } from "./bindings/Settings";
import type { StartupView } from "./bindings/StartupView";
import type { TakePlayerView } from "./bindings/TakePlayerView";
import type { TakeView } from "./bindings/TakeView";
import type { Tempo } from "./bindings/Tempo";
import type { Timing } from "./bindings/Timing";

export type {
  AudioView,
  FontPresetView,
  OwnSoundView,
  ClockView,
  ErrorView,
  JamView,
  LanJamView,
  MidiOutView,
  MidiView,
  OpenedInvite,
  PlayInput,
  RelayFiguresView,
  RoomEvent,
  StartupView,
  TakePlayerView,
  TakeView,
  Timing,
};

/** The sentence of an error from a command (or of anything thrown). */
export function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) return String((e as ErrorView).message);
  return String(e);
}

/** The stable kind of an error from a command, if it is one. */
export function errorKind(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "kind" in e) return String((e as ErrorView).kind);
  return undefined;
}

function channel(onEvent: (e: RoomEvent) => void): Channel<RoomEvent> {
  const ch = new Channel<RoomEvent>();
  ch.onmessage = onEvent;
  return ch;
}

const tauriApi = {
  startup: () => invoke<StartupView>("startup"),
  host: (request: HostRequest, onEvent: (e: RoomEvent) => void) =>
    invoke<JamView>("host_jam", { request, onEvent: channel(onEvent) }),
  join: (request: JoinRequest, onEvent: (e: RoomEvent) => void) =>
    invoke<JamView>("join_jam", { request, onEvent: channel(onEvent) }),
  leave: () => invoke<void>("leave_jam"),
  retryNow: () => invoke<void>("retry_now"),
  play: (input: PlayInput) => invoke<void>("play", { input }),
  setTempo: (bpm: number, beatsPerBar: number) => invoke<Tempo>("set_tempo", { bpm, beatsPerBar }),
  setPattern: (pattern: Pattern) => invoke<void>("set_pattern", { pattern }),
  setClick: (on: boolean) => invoke<void>("set_click", { on }),
  setInstrument: (keys: string, drums: string) => invoke<Settings>("set_instrument", { keys, drums }),
  previewInstrument: (id: string) => invoke<void>("preview_instrument", { id }),
  setFavourites: (ids: string[]) => invoke<Settings>("set_favourites", { ids }),
  chooseOwnSound: (folder: boolean) => invoke<string | null>("choose_own_sound", { folder }),
  ownSoundPresets: (path: string) => invoke<FontPresetView[]>("own_sound_presets", { path }),
  loadOwnSound: (path: string, preset: [number, number] | null, heardAs: string | null) =>
    invoke<OwnSoundView>("load_own_sound", { path, preset, heardAs }),
  playOwnSound: (on: boolean, heardAs: string | null) => invoke<Settings>("play_own_sound", { on, heardAs }),
  ownSound: () => invoke<OwnSoundView | null>("own_sound"),
  sendChat: (text: string) => invoke<void>("send_chat", { text }),
  setVolume: (participantId: string, name: string, gain: number, muted: boolean) =>
    invoke<void>("set_volume", { participantId, name, gain, muted }),
  clockNow: () => invoke<ClockView>("clock_now"),
  setAudio: (device: string, bufferFrames: number) => invoke<AudioView>("set_audio", { device, bufferFrames }),
  setMidiInput: (name: string, chosen: boolean) => invoke<MidiView>("set_midi_input", { name, chosen }),
  midiStatus: () => invoke<MidiView>("midi_status"),
  setMidiOut: (on: boolean, port: string, offsetMs: number, clock: boolean) =>
    invoke<MidiOutView>("set_midi_out", { on, port, offsetMs, clock }),
  midiOutStatus: () => invoke<MidiOutView>("midi_out_status"),
  playThrough: (participantId: string, name: string, port: string) =>
    invoke<void>("play_through", { participantId, name, port }),
  setPlayout: (mode: Timing, fixedDelayMs: number) => invoke<void>("set_playout", { mode, fixedDelayMs }),
  listTakes: () => invoke<TakeView[]>("list_takes"),
  takeDetails: (id: number) => invoke<TakePlayerView[]>("take_details", { id }),
  exportTake: (id: number) => invoke<string>("export_take", { id }),
  exportStems: (id: number) => invoke<string>("export_stems", { id }),
  deleteTake: (id: number) => invoke<void>("delete_take", { id }),
  replayTake: (id: number) => invoke<number>("replay_take", { id }),
  relayFigures: () => invoke<RelayFiguresView | null>("relay_figures"),
  remember: (name: string, lastInvite: string) => invoke<void>("remember", { name, lastInvite }),
  setPortMapping: (on: boolean) => invoke<void>("set_port_mapping", { on }),
  onMidiDevices: (f: (m: MidiView) => void): Promise<UnlistenFn> => listen<MidiView>("midi-devices", (e) => f(e.payload)),
  lanJams: () => invoke<LanJamView[]>("lan_jams"),
  onLanJams: (f: (jams: LanJamView[]) => void): Promise<UnlistenFn> => listen<LanJamView[]>("lan-jams", (e) => f(e.payload)),
  /** The invite link the app was started with (`jamwire jam://…`), given once. */
  openedInvite: () => invoke<OpenedInvite | null>("opened_invite"),
  /** Invite links opened while the app runs (clicked in a chat or a browser). */
  onInviteOpened: (f: (opened: OpenedInvite) => void): Promise<UnlistenFn> =>
    listen<OpenedInvite>("invite-opened", (e) => f(e.payload)),
};

/** What the views call: the app's Rust side, or the browser guest's stand-in for it. */
export type Api = typeof tauriApi;

/** True in the desktop app (Tauri's IPC is there); false in a browser guest's page. */
export const inApp: boolean = typeof globalThis === "object" && "__TAURI_INTERNALS__" in globalThis;

/** The transport behind the views: Tauri IPC in the app, a WebSocket in the browser. */
export const api: Api = inApp ? tauriApi : guestApi;
