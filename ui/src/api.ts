/** Typed calls into the app's Rust side (src-tauri/src/commands.rs). */
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Participant } from "./room";
import type { Pattern, Tempo } from "./groove";

/** Every command error: a stable `kind` and a sentence for people. */
export interface AppError {
  kind: string;
  message: string;
}

export function errorMessage(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) return String((e as AppError).message);
  return String(e);
}

export interface Settings {
  name: string;
  lastInvite: string;
  hostPort: number;
  audioDevice: string;
  bufferFrames: number;
  midiInputs: string[];
  playout: "tight" | "fixed" | "live";
  fixedDelayMs: number;
  click: boolean;
  volumes: Record<string, number>;
  recordTakes: boolean;
}

export interface TakeView {
  id: number;
  room: string;
  startedMs: number;
  durationMs: number;
  participants: string[];
  eventCount: number;
}

export interface TakePlayer {
  name: string;
  role: "player" | "listener";
  joinedMs: number;
  leftMs: number | null;
  events: number;
}

export interface RelayFigures {
  connections: number;
  rooms: number;
  eventsIn: number;
  eventsOut: number;
  slowConsumers: number;
  rateLimited: number;
  recorded: number | null;
  recordDropped: number | null;
}

export interface AudioView {
  device: string | null;
  sampleRate: number | null;
  bufferFrames: number | null;
  error: string | null;
  devices: string[];
}

export interface MidiView {
  error: string | null;
  devices: { name: string; chosen: boolean; connected: boolean }[];
}

export interface StartupView {
  settings: Settings;
  audio: AudioView;
  midi: MidiView;
  tempo: Tempo;
  pattern: Pattern;
}

export interface JamView {
  room: string;
  invite: string;
  addresses: string[];
  isHost: boolean;
  listener: boolean;
}

export interface Welcome {
  roomCode: string;
  userId: string;
  participants: Participant[];
  state: { tempo: unknown; pattern: unknown; heldNotes: { userId: string; note: number; velocity: number }[]; sustain: string[] };
  serverTime: number;
  recording?: boolean;
}

export interface ParticipantFigures {
  id: string;
  delayMs: number;
  oneWayMs: number;
  jitterMs: number;
  eventsPerS: number;
}

export type RoomEvent =
  | { type: "joined"; welcome: Welcome }
  | { type: "userJoined"; participant: Participant }
  | { type: "userLeft"; userId: string }
  | { type: "remote"; senderId: string; event: string; payload: unknown; inMs: number; synthetic: boolean }
  | { type: "figures"; rttMs: number | null; participants: ParticipantFigures[] };

export interface StatusView {
  state: "connecting" | "connected" | "reconnecting" | "ended";
  retryInMs: number | null;
  reason: string | null;
  /** The host ended the jam (only the relay can say so, on the host's word). */
  jamEnded: boolean;
}

export type PlayInput =
  | { type: "noteOn"; instrument: "piano" | "drums"; note: number; velocity: number }
  | { type: "noteOff"; instrument: "piano" | "drums"; note: number }
  | { type: "sustain"; on: boolean };

function channel(onEvent: (e: RoomEvent) => void): Channel<RoomEvent> {
  const ch = new Channel<RoomEvent>();
  ch.onmessage = onEvent;
  return ch;
}

export const api = {
  startup: () => invoke<StartupView>("startup"),
  host: (name: string, password: string, port: number, record: boolean, onEvent: (e: RoomEvent) => void) =>
    invoke<JamView>("host_jam", { request: { name, password: password || null, port, record }, onEvent: channel(onEvent) }),
  join: (name: string, invite: string, listener: boolean, password: string, onEvent: (e: RoomEvent) => void) =>
    invoke<JamView>("join_jam", { request: { name, invite, listener, password: password || null }, onEvent: channel(onEvent) }),
  leave: () => invoke<void>("leave_jam"),
  retryNow: () => invoke<void>("retry_now"),
  play: (input: PlayInput) => invoke<void>("play", { input }),
  setTempo: (bpm: number, beatsPerBar: number) => invoke<Tempo>("set_tempo", { bpm, beatsPerBar }),
  setPattern: (pattern: Pattern) => invoke<void>("set_pattern", { pattern }),
  setClick: (on: boolean) => invoke<void>("set_click", { on }),
  sendChat: (text: string) => invoke<void>("send_chat", { text }),
  setVolume: (participantId: string, name: string, gain: number, muted: boolean) =>
    invoke<void>("set_volume", { participantId, name, gain, muted }),
  clockNow: () => invoke<{ nowMs: number; tempo: Tempo }>("clock_now"),
  setAudio: (device: string, bufferFrames: number) => invoke<AudioView>("set_audio", { device, bufferFrames }),
  setMidiInput: (name: string, chosen: boolean) => invoke<MidiView>("set_midi_input", { name, chosen }),
  midiStatus: () => invoke<MidiView>("midi_status"),
  setPlayout: (mode: string, fixedDelayMs: number) => invoke<void>("set_playout", { mode, fixedDelayMs }),
  listTakes: () => invoke<TakeView[]>("list_takes"),
  takeDetails: (id: number) => invoke<TakePlayer[]>("take_details", { id }),
  exportTake: (id: number) => invoke<string>("export_take", { id }),
  deleteTake: (id: number) => invoke<void>("delete_take", { id }),
  replayTake: (id: number) => invoke<number>("replay_take", { id }),
  relayFigures: () => invoke<RelayFigures | null>("relay_figures"),
  remember: (name: string, lastInvite: string) => invoke<void>("remember", { name, lastInvite }),
  onStatus: (f: (s: StatusView) => void): Promise<UnlistenFn> => listen<StatusView>("jam-status", (e) => f(e.payload)),
  onMidiDevices: (f: (m: MidiView) => void): Promise<UnlistenFn> => listen<MidiView>("midi-devices", (e) => f(e.payload)),
};
