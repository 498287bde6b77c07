/**
 * The browser guest's side of the views' `Api`: the same calls as the desktop app's Rust side,
 * answered in the page. The transport is a WebSocket to the relay that served the page,
 * speaking protocol v1; every frame is built and read by the app's own Rust, compiled to
 * WebAssembly (`crates/jam-web`): validation, clock sync and the per-sender playout. Sound is
 * WebAudio (`./sound`). What only the app can do (host, takes, audio devices) says so.
 */
import type { Api, JamView, RoomEvent, StartupView } from "../api";
import { showRoomError } from "../dom";
import type { PlayInput } from "../bindings/PlayInput";
import type { Settings } from "../bindings/Settings";
import { INSTRUMENTS } from "../bindings/protocol";
import { DEFAULT_KEYS, DEFAULT_KIT, MAX_FAVOURITES } from "../sounds";
import { emptyPattern } from "../groove";
import type { Tempo } from "../bindings/Tempo";
import type { Timing } from "../bindings/Timing";
import type { Guest } from "../wasm/jam_web";
import { codeOf, hostOf, inviteForPage } from "./invite";
import { WebMidi } from "./midi";
import { Sampler } from "./sound";

/** Clock pings before joining, one after the other (the app's eight). */
const SYNC_PINGS = 8;
/** How long each may take before we join anyway. */
const SYNC_PING_WITHIN_MS = 2_000;
/** How often the sequencer is scheduled, and how far ahead (the app's groove task). */
const GROOVE_EVERY_MS = 25;
const GROOVE_AHEAD_MS = 120;
/** Clock pings once joined. */
const PING_EVERY_MS = 2_000;
/** Clock pings sent quickly after joining (the app's `LEARNING_PINGS`), and their spacing. */
const LEARNING_PINGS = 10;
const LEARNING_PING_EVERY_MS = 100;
/** The join must be answered within this. */
const JOIN_WITHIN_MS = 10_000;
const NAME_KEY = "jamwire.name";
const VOLUMES_KEY = "jamwire.volumes";
const MY_SOURCE = "local";
const SOUND_KEY = "jamwire.sound";
/** The channel previews play on. */
const PREVIEW_SOURCE = "~preview";

/** Our sounds and favourites, remembered in this browser (unknown ids are the defaults). */
function mySound(): { instrument: string; kit: string; favourites: string[] } {
  let saved: { instrument?: unknown; kit?: unknown; favourites?: unknown } = {};
  try {
    saved = JSON.parse(localStorage.getItem(SOUND_KEY) ?? "{}") ?? {};
  } catch {
    saved = {};
  }
  const known = (id: unknown, kit: boolean) => typeof id === "string" && INSTRUMENTS.some((i) => i.id === id && i.kit === kit);
  const favourites = Array.isArray(saved.favourites) ? saved.favourites.filter((f) => known(f, false)) : [];
  return {
    instrument: known(saved.instrument, false) ? (saved.instrument as string) : DEFAULT_KEYS,
    kit: known(saved.kit, true) ? (saved.kit as string) : DEFAULT_KIT,
    favourites: [...new Set(favourites as string[])].slice(0, MAX_FAVOURITES),
  };
}

function saveSound(sound: { instrument: string; kit: string; favourites: string[] }): void {
  localStorage.setItem(SOUND_KEY, JSON.stringify(sound));
}

/** What the guest's start-up says is remembered. */
function guestSettings(): Settings {
  return {
        name: localStorage.getItem(NAME_KEY) ?? "",
        lastInvite: inviteForPage(location.protocol, location.host, location.pathname),
        hostPort: 7878,
        audioDevice: "",
        bufferFrames: 128,
        midiInputs: [],
        playout: timing.mode,
        fixedDelayMs: timing.fixedMs,
        click: false,
        volumes: readVolumes(),
        recordTakes: false,
        portMapping: false,
        hostOnRelay: false,
        relayServer: "",
        instrument: "grand-piano",
        kit: "standard-kit",
        favourites: [],
        ownSound: null,
        playOwnSound: false,
        midiOut: false,
        midiOutPort: "",
        midiOutOffsetMs: 0,
        midiClock: false,
      };
}

/** A settings view for the sound pickers (the rest of what the app remembers has no meaning here). */
function soundSettings(): Settings {
  const base = guestSettings();
  return { ...base, ...mySound() };
}
const GROOVE_SOURCE = "groove";

/** The page's clock, ms: near the epoch, monotonic. */
const pageNow = () => performance.timeOrigin + performance.now();

interface Joined {
  ws: WebSocket;
  guest: Guest;
  members: Set<string>;
  timers: number[];
  onEvent: (e: RoomEvent) => void;
  tempo: Tempo;
  /** Listening only: our keys sound here, and are not sent (the relay would refuse them). */
  listener: boolean;
}

let wasm: Promise<typeof import("../wasm/jam_web")> | undefined;
function loadWasm(): Promise<typeof import("../wasm/jam_web")> {
  wasm ??= import("../wasm/jam_web").then(async (m) => {
    await m.default();
    return m;
  });
  return wasm;
}

let sampler: Sampler | undefined;
/** The sampler, its samples loading (started once, at start-up). */
function sound(): Sampler {
  if (!sampler) {
    sampler = new Sampler();
    // Time from a sound being chosen to its being playable (read by the browser test).
    sampler.onPrepared = (id, ms) => document.body.setAttribute(`data-sound-${id}-ms`, String(Math.round(ms)));
    void sampler.load().then(
      // Time from opening the link to being able to sound (read by the browser test).
      () => void (document.body.dataset.soundReadyMs = String(Math.round(performance.now()))),
      (e) => console.warn("samples failed to load", e),
    );
    // A browser starts audio only after a gesture: the first key or click resumes it.
    const resume = () => void sampler?.ctx.resume();
    for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, resume, { capture: true });
  }
  return sampler;
}

let room: Joined | undefined;
let timing: { mode: Timing; fixedMs: number } = { mode: "tight", fixedMs: 40 };
/** Our metronome click (not shared), kept across reconnections. */
let click = false;

function socketUrl(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`;
}

function readVolumes(): Record<string, number> {
  try {
    const v = JSON.parse(localStorage.getItem(VOLUMES_KEY) ?? "{}") as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, number>) : {};
  } catch {
    return {};
  }
}

function send(frame: string | null | undefined): void {
  if (frame && room && room.ws.readyState === WebSocket.OPEN) room.ws.send(frame);
}

/** Hands every output of one frame to the page: sounds to the sampler, the rest to the views. */
function deliver(r: Joined, outputs: GuestOutput[]): void {
  const s = sound();
  for (const o of outputs) {
    switch (o.type) {
      case "sound":
        s.play(o.senderId, o.input, s.contextTimeAt(o.playAtMs), o.durationMs);
        break;
      case "program":
        s.setProgram(o.senderId, o.keys, o.drums, s.contextTimeAt(o.playAtMs));
        break;
      case "clock":
        break;
      case "refused":
        showRoomError(o.message);
        break;
      case "ended":
        stop(r, `${o.host} ended the jam.`, true);
        break;
      default:
        if (o.type === "userJoined") r.members.add(o.participant.id);
        if (o.type === "userLeft") {
          r.members.delete(o.userId);
          s.forget(o.userId);
        }
        if (o.type === "tempoChanged") r.tempo = o.tempo;
        if (o.type === "joined") {
          r.tempo = o.tempo;
          for (const id of r.members) s.forget(id);
          r.members = new Set(o.participants.map((p) => p.id).filter((id) => id !== o.userId));
          for (const i of o.instruments) s.setProgram(i.userId, i.keys, i.drums, 0);
          // The room forgot our sound if we were away: tell it (the defaults need no word).
          const mine = mySound();
          if (!r.listener && (mine.instrument !== DEFAULT_KEYS || mine.kit !== DEFAULT_KIT)) send(r.guest.instrument_frame(mine.instrument, mine.kit));
          for (const h of o.heldNotes) s.play(h.userId, { type: "noteOn", instrument: "piano", note: h.note, velocity: h.velocity }, 0);
        }
        r.onEvent(o);
    }
  }
}

/** What `Guest.receive` returns: the app's room events plus what only the page needs. */
type GuestOutput =
  | RoomEvent
  | { type: "sound"; senderId: string; input: PlayInput; durationMs: number | null; playAtMs: number }
  | { type: "program"; senderId: string; keys: string; drums: string; playAtMs: number }
  | { type: "clock"; rttMs: number | null }
  | { type: "refused"; code: string; message: string }
  | { type: "ended"; host: string };

type JoinRequest = { name: string; invite: string; listener: boolean; password: string | null };

/** Waits between reconnection attempts, ms (then the last, until the jam is given up). */
const RETRY_MS = [1_000, 2_000, 4_000, 8_000, 10_000];
/** Reconnection is given up after this long without getting back in. */
const GIVE_UP_MS = 120_000;

function stop(r: Joined, reason: string, jamEnded: boolean): void {
  if (room !== r) return;
  room = undefined;
  for (const t of r.timers) clearInterval(t);
  for (const id of r.members) sampler?.forget(id);
  r.ws.onclose = null;
  r.ws.close();
  r.onEvent({ type: "status", status: { state: "ended", retryInMs: null, reason, jamEnded } });
}

/**
 * Opens the socket, learns the clock (eight pings, one after the other, as the app does),
 * joins; resolves once welcomed, with the connection now the page's `room`.
 */
async function connect(request: JoinRequest, onEvent: (e: RoomEvent) => void): Promise<Joined> {
  const { Guest } = await loadWasm();
  const guest = new Guest();
  guest.set_playout(timing.mode, timing.fixedMs);
  guest.set_click(click);
  // Throws the sentence to show for a bad name or code.
  const joinFrame = guest.join_frame(codeOf(request.invite), request.name, request.listener, request.password ?? undefined);
  const s = sound();
  guest.set_output_lead_ms(s.leadMs());
  const ws = new WebSocket(socketUrl());
  const r: Joined = { ws, guest, members: new Set(), timers: [], onEvent, tempo: { bpm: 120, beatsPerBar: 4, anchorMs: 0 }, listener: request.listener };
  try {
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`Couldn't reach the relay at ${location.host}. Is the jam still on?`));
    });
    const pongs: Array<() => void> = [];
    let welcome: (() => void) | undefined;
    let refusal: ((e: Error) => void) | undefined;
    ws.onclose = () => refusal?.(new Error("The relay closed the connection before letting us in."));
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") return;
      guest.set_output_lead_ms(s.leadMs());
      const outputs = JSON.parse(guest.receive(m.data, pageNow())) as GuestOutput[];
      for (const o of outputs) {
        if (o.type === "clock") pongs.shift()?.();
        if (o.type === "joined" && welcome) {
          room = r;
          welcome();
          welcome = undefined;
        } else if (o.type === "refused" && welcome && refusal) {
          refusal(new Error(o.message));
          welcome = undefined;
          return;
        }
      }
      if (room === r) deliver(r, outputs);
    };
    for (let i = 0; i < SYNC_PINGS; i++) {
      const answered = new Promise<void>((resolve) => {
        pongs.push(resolve);
        setTimeout(resolve, SYNC_PING_WITHIN_MS);
      });
      ws.send(guest.ping_frame(pageNow()));
      await answered;
    }
    await new Promise<void>((resolve, reject) => {
      welcome = resolve;
      refusal = reject;
      setTimeout(() => reject(new Error("The relay didn't answer the join. Try again.")), JOIN_WITHIN_MS);
      ws.send(joinFrame);
    });
  } catch (e) {
    ws.onclose = null;
    ws.close();
    throw e;
  }
  ws.onclose = () => void reconnect(r, request);
  // As the app does: ten quick pings in the first second (spread out, so one slow moment on
  // the network does not spoil them all) finish learning the clock before anyone plays, then
  // one every two seconds. With only the latter, the estimate kept improving for half a minute
  // in 0.5 ms slews, each making a sender's notes look later than any before: small flams.
  for (let i = 1; i <= LEARNING_PINGS; i++) r.timers.push(window.setTimeout(() => send(guest.ping_frame(pageNow())), i * LEARNING_PING_EVERY_MS));
  r.timers.push(window.setInterval(() => send(guest.ping_frame(pageNow())), PING_EVERY_MS));
  // The room's sequencer and our click, from the shared tempo and pattern (the app's groove).
  r.timers.push(
    window.setInterval(() => {
      const hits = JSON.parse(guest.groove_due(pageNow(), GROOVE_AHEAD_MS)) as Array<{ note: number; velocity: number; playAtMs: number }>;
      for (const h of hits) s.play(GROOVE_SOURCE, { type: "noteOn", instrument: "drums", note: h.note, velocity: h.velocity }, s.contextTimeAt(h.playAtMs));
    }, GROOVE_EVERY_MS),
  );
  r.timers.push(
    window.setInterval(() => {
      guest.set_output_lead_ms(s.leadMs());
      r.onEvent(JSON.parse(guest.figures(JSON.stringify([...r.members]))) as RoomEvent);
    }, 1_000),
  );
  onEvent({ type: "status", status: { state: "connected", retryInMs: null, reason: null, jamEnded: false } });
  return r;
}

/** Wakes a reconnection's wait early ("Try now"). */
let retryNow: (() => void) | undefined;

/** The connection dropped: try to get back in, with growing waits, as the app does. */
async function reconnect(lost: Joined, request: JoinRequest): Promise<void> {
  if (room !== lost) return;
  for (const t of lost.timers) clearInterval(t);
  for (const id of lost.members) sampler?.forget(id);
  const started = performance.now();
  for (let attempt = 0; room === lost; attempt++) {
    const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)] ?? 10_000;
    const reason = "the connection to the relay dropped";
    lost.onEvent({ type: "status", status: { state: "reconnecting", retryInMs: wait, reason, jamEnded: false } });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      retryNow = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    retryNow = undefined;
    if (room !== lost) return; // left meanwhile
    try {
      await connect(request, lost.onEvent);
      return;
    } catch (e) {
      const refused = e instanceof Error && !e.message.startsWith("Couldn't reach");
      if (refused || performance.now() - started > GIVE_UP_MS) {
        stop(lost, refused ? e.message : "Couldn't get back into the jam. Open the link again to rejoin.", false);
        return;
      }
    }
  }
}

/** Joins from the start screen; resolves with the room's view. */
async function join(request: JoinRequest, onEvent: (e: RoomEvent) => void): Promise<JamView> {
  const other = hostOf(request.invite);
  if (other && other !== location.host.toLowerCase()) {
    throw new Error(`In the browser you can join jams on ${location.host} only. Open the browser link of the invite you were sent.`);
  }
  localStorage.setItem(NAME_KEY, request.name);
  await sound().ctx.resume();
  if (room) stop(room, "You joined another jam.", false);
  const r = await connect(request, onEvent);
  const code = r.guest.room_code() ?? codeOf(request.invite);
  return {
    room: code,
    invite: inviteForPage(location.protocol, location.host, `/join/${code}`),
    addresses: [],
    isHost: false,
    listener: request.listener,
    reach: null,
    browserLink: `${location.origin}/join/${code}`,
  };
}

/** MIDI keyboards through Web MIDI; what they play goes the way the computer keyboard's does. */
const midi = new WebMidi((input) => void guestApi.play(input));

const appOnly = (what: string) => () => Promise.reject(new Error(`${what} needs the Jamwire app.`));

export const guestApi: Api = {
  startup: async () => {
    sound();
    void loadWasm();
    const startup: StartupView = {
      settings: soundSettings(),
      audio: { device: "This browser's audio output", sampleRate: sound().ctx.sampleRate, bufferFrames: null, error: null, devices: [] },
      midi: midi.view(),
      midiOut: { virtualPorts: false, outputs: [], error: "MIDI out needs the Jamwire app." },
      tempo: { bpm: 120, beatsPerBar: 4, anchorMs: 0 },
      pattern: emptyPattern(),
      lanJams: [],
      about: { version: "browser guest", protocol: 1 },
    };
    return startup;
  },
  host: appOnly("Hosting a jam"),
  join: (request, onEvent) => join(request, onEvent),
  leave: async () => {
    if (!room) return;
    send(room.guest.leave_frame());
    const r = room;
    stop(r, "You left the jam.", false);
  },
  retryNow: async () => retryNow?.(),
  play: async (input) => {
    const s = sound();
    void s.ctx.resume();
    s.play(MY_SOURCE, input, s.ctx.currentTime);
    if (room && !room.listener) send(room.guest.play_frame(JSON.stringify(input), pageNow()));
  },
  setTempo: async (bpm, beatsPerBar) => {
    if (!room) throw new Error("Join a jam to set its tempo.");
    send(room.guest.tempo_frame(bpm, beatsPerBar, pageNow()));
    room.tempo = JSON.parse(room.guest.tempo()) as Tempo;
    return room.tempo;
  },
  setPattern: async (pattern) => {
    if (room) send(room.guest.pattern_frame(JSON.stringify(pattern), pageNow()));
  },
  setClick: async (on) => {
    click = on;
    room?.guest.set_click(on);
  },
  sendChat: async (text) => {
    if (!room) throw new Error("Join a jam to chat.");
    send(room.guest.chat_frame(text));
  },
  setVolume: async (participantId, name, gain, muted) => {
    sound().setVolume(participantId, gain, muted);
    const volumes = readVolumes();
    volumes[name] = gain;
    localStorage.setItem(VOLUMES_KEY, JSON.stringify(volumes));
  },
  clockNow: async () => ({
    nowMs: room ? room.guest.relay_now_ms(pageNow()) : pageNow(),
    tempo: room?.tempo ?? { bpm: 120, beatsPerBar: 4, anchorMs: 0 },
  }),
  setAudio: appOnly("Choosing the audio device"),
  setInstrument: async (keys, drums) => {
    const known = (id: string, kit: boolean) => INSTRUMENTS.some((i) => i.id === id && i.kit === kit);
    if (!known(keys, false) || !known(drums, true)) throw new Error("That isn't one of Jamwire's instruments.");
    const s = sound();
    await Promise.all([s.prepare(keys), s.prepare(drums)]);
    s.setProgram(MY_SOURCE, keys, drums, s.ctx.currentTime);
    saveSound({ ...mySound(), instrument: keys, kit: drums });
    if (room && !room.listener) send(room.guest.instrument_frame(keys, drums));
    return soundSettings();
  },
  previewInstrument: async (id) => {
    const entry = INSTRUMENTS.find((i) => i.id === id);
    if (!entry) throw new Error("That isn't one of Jamwire's instruments.");
    const s = sound();
    void s.ctx.resume();
    await s.prepare(id);
    const now = s.ctx.currentTime + 0.03;
    s.forget(PREVIEW_SOURCE);
    s.setProgram(PREVIEW_SOURCE, entry.kit ? DEFAULT_KEYS : id, entry.kit ? id : DEFAULT_KIT, 0);
    const notes: [number, number, number | null][] = entry.kit
      ? [[0, 36, null], [0.15, 42, null], [0.3, 38, null], [0.45, 42, null], [0.6, 36, null]]
      : [[0, 60, 180], [0.18, 64, 180], [0.36, 67, 180], [0.54, 72, 600]];
    for (const [at, note, ms] of notes) {
      s.play(PREVIEW_SOURCE, { type: "noteOn", instrument: entry.kit ? "drums" : "piano", note, velocity: 100 }, now + at, ms);
    }
  },
  chooseOwnSound: appOnly("Your own sound"),
  ownSoundPresets: appOnly("Your own sound"),
  loadOwnSound: appOnly("Your own sound"),
  playOwnSound: appOnly("Your own sound"),
  ownSound: async () => null,
  setFavourites: async (ids) => {
    const favourites = [...new Set(ids.filter((f) => INSTRUMENTS.some((i) => i.id === f && !i.kit)))].slice(0, MAX_FAVOURITES);
    saveSound({ ...mySound(), favourites });
    return soundSettings();
  },
  setMidiInput: async (name, chosen) => midi.choose(name, chosen),
  midiStatus: async () => {
    await midi.start();
    return midi.view();
  },
  setPlayout: async (mode, fixedDelayMs) => {
    timing = { mode, fixedMs: fixedDelayMs };
    room?.guest.set_playout(mode, fixedDelayMs);
  },
  listTakes: async () => [],
  takeDetails: async () => [],
  exportTake: appOnly("Takes"),
  exportStems: appOnly("Takes"),
  setMidiOut: appOnly("MIDI out"),
  playThrough: appOnly("MIDI out"),
  midiOutStatus: async () => ({ virtualPorts: false, outputs: [], error: "MIDI out needs the Jamwire app." }),
  deleteTake: appOnly("Takes"),
  replayTake: appOnly("Takes"),
  relayFigures: async () => null,
  remember: async (name) => localStorage.setItem(NAME_KEY, name),
  setPortMapping: async () => undefined,
  onMidiDevices: async (f) => midi.onChange(f),
  lanJams: async () => [],
  onLanJams: async () => () => undefined,
  openedInvite: async () => {
    const invite = inviteForPage(location.protocol, location.host, location.pathname);
    return invite ? { invite, problem: null } : null;
  },
  onInviteOpened: async () => () => undefined,
};
