/**
 * The browser guest's sound: the app's samples (served by the relay, decoded once) played with
 * WebAudio, each sound started sample-accurately with `AudioBufferSourceNode.start(when)` at
 * the time the playout chose. The voicing follows the app's renderer (`jam-audio`): the nearest
 * recorded piano note re-pitched, two velocity layers split at 80, the same velocity curve and
 * levels, 0.35 s piano release, a re-struck key damping the previous one, the sustain pedal.
 */
import type { PlayInput } from "../bindings/PlayInput";

const SOFT_VELOCITY = 48;
const HARD_VELOCITY = 112;
const LAYER_SPLIT = 80;
const PIANO_LEVEL = 1.6;
const DRUM_LEVEL = 0.7;
const PIANO_RELEASE_S = 0.35;
const RESTRIKE_RELEASE_S = 0.08;
const CHOKE_RELEASE_S = 0.04;
/** The keys sound and kit the built-in samples play (the palette's first of each). */
const BUILTIN_KEYS = "grand-piano";
const BUILTIN_KIT = "standard-kit";
/** Programs remembered per player (the latest few: enough for changes in flight). */
const MAX_PROGRAMS = 8;
/** The most sounds at once (the app's voice pool is 192); the oldest is cut past it. */
export const MAX_VOICES = 192;
/** An output latency beyond this (ms) is a browser's reporting error, not a latency. */
const MAX_LATENCY_MS = 500;
/** How often a departed participant's channel looks for its last sound to have ended. */
const RETIRE_EVERY_MS = 250;

/** The app's velocity curve. */
/** Below this level (of full scale) the limiter leaves the signal as it is. */
export const LIMIT_KNEE = 0.7;

/**
 * The guest's limiter as a wave-shaping curve over −1…1 (`points` of it): unchanged below
 * [`LIMIT_KNEE`], above it a tanh bend that never reaches full scale (1 maps to 0.93), odd
 * (the same for both halves of a wave). Between the points the browser interpolates linearly,
 * which below the knee is exact.
 */
export function limiterCurve(points = 4097): Float32Array<ArrayBuffer> {
  const curve = new Float32Array(points);
  const room = 1 - LIMIT_KNEE;
  for (let i = 0; i < points; i++) {
    const x = (2 * i) / (points - 1) - 1;
    const level = Math.abs(x);
    const shaped = level <= LIMIT_KNEE ? level : LIMIT_KNEE + room * Math.tanh((level - LIMIT_KNEE) / room);
    curve[i] = Math.sign(x) * shaped;
  }
  return curve;
}

export function velocityGain(velocity: number): number {
  const v = Math.min(Math.max(velocity, 1), 127) / 127;
  return 0.01 + 0.99 * v * v;
}

/** The recorded piano note nearest `note` (ties to the lower), from ascending `roots`. */
export function nearestRoot(roots: number[], note: number): number | undefined {
  let best: number | undefined;
  for (const r of roots) if (best === undefined || Math.abs(r - note) < Math.abs(best - note)) best = r;
  return best;
}

/** One smoothing step of the page-to-context clock offset (s): 5 %, reset beyond 20 ms. */
export function smoothOffset(smoothed: number | undefined, reading: number): number {
  if (!Number.isFinite(reading)) return smoothed ?? 0;
  if (smoothed === undefined || Math.abs(reading - smoothed) > 0.02) return reading;
  return smoothed + 0.05 * (reading - smoothed);
}

/**
 * One reading of the offset from the page's clock to the context's, s: from the output
 * timestamp (when the sample at `contextTime` reached the speakers, on the page's
 * `performance.now()` clock) where the browser's is believable, else from `currentTime` now.
 * Believable means it agrees with `currentTime` to within [`TIMESTAMP_SLACK_MS`]: the frame
 * at `contextTime` was presented `currentTime − contextTime` before now, give or take the
 * output latency. WebKitGTK 2.50's `performanceTime` is off by the context's age (it reads
 * about `now + contextTime`); trusting it put every sound in the past, so each played on
 * arrival, ±5 ms.
 */
export function clockReading(
  ts: { contextTime?: number; performanceTime?: number } | undefined,
  currentTime: number,
  nowMs: number,
  timeOriginMs: number,
): number {
  if (ts && believable(ts, currentTime, nowMs)) return ts.contextTime - (ts.performanceTime + timeOriginMs) / 1000;
  return currentTime - (timeOriginMs + nowMs) / 1000;
}

/** Whether an output timestamp agrees with `currentTime` at page time `nowMs` (see `clockReading`). */
export function believable(
  ts: { contextTime?: number; performanceTime?: number },
  currentTime: number,
  nowMs: number,
): ts is { contextTime: number; performanceTime: number } {
  const { contextTime, performanceTime } = ts;
  if (contextTime === undefined || performanceTime === undefined || !(performanceTime > 0)) return false;
  return Math.abs(performanceTime - (nowMs - (currentTime - contextTime) * 1000)) <= TIMESTAMP_SLACK_MS;
}

/** How far an output timestamp may disagree with `currentTime` and be used, ms (a generous output latency). */
const TIMESTAMP_SLACK_MS = 150;

interface Voice {
  source: AudioBufferSourceNode;
  gain: GainNode;
  sender: string;
  /** The participant's channel it sounds through. */
  channel: Channel;
  note: number;
  piano: boolean;
  /** Released by its key (or waiting for the pedal). */
  held: boolean;
  /** How long its release takes, s. */
  releaseS: number;
  /** A kit's exclusive class (hi-hats cut each other); 0 for none. */
  exclusive: number;
}

interface Channel {
  gain: GainNode;
  sustain: boolean;
  /** The context time of the latest sound scheduled on it. */
  lastAt: number;
  /** The player's sounds from context time `at` on, oldest first. */
  programs: { at: number; keys: string; drums: string }[];
  /** The pitch wheel (its offset, cents) and the vibrato (its depth, cents), into every keys voice's detune. */
  bend: ConstantSourceNode;
  vibrato: GainNode;
  lfo: OscillatorNode;
}

/** The pitch wheel's range, semitones (General MIDI's default; every palette sound's). */
export const BEND_RANGE = 2;
/** The modulation wheel's vibrato: its rate and, at full depth, its swing either way (cents). */
export const VIBRATO_HZ = 5.5;
export const VIBRATO_CENTS = 50;

/** Cents a pitch-wheel value (−8192–8191) bends by. */
export function bendCents(value: number): number {
  const v = Math.min(Math.max(Number.isFinite(value) ? value : 0, -8192), 8191);
  return (v / 8192) * BEND_RANGE * 100;
}

/** One zone of a palette instrument, as `assets/palette/palette.json` says (see `jam-audio`). */
export interface PaletteZone {
  sample: string;
  keys: [number, number];
  root: number;
  tune: number;
  tracking: number;
  loop?: [number, number] | null;
  attack: number;
  hold: number;
  decay: number;
  sustain: number;
  release: number;
  level: number;
  pan: number;
  exclusive?: number;
}

/** One palette instrument. */
export interface PaletteEntry {
  id: string;
  kind: "melodic" | "kit";
  gain: number;
  zones: PaletteZone[];
}

/** A zone's recording, decoded, with the rate it was recorded at (for its loop points). */
interface ZoneSample {
  buffer: AudioBuffer;
  rate: number;
}

/** The zone that plays `note`: the one whose keys hold it, else the nearest (as the app's engine chooses). */
export function zoneFor(zones: readonly PaletteZone[], note: number): PaletteZone | undefined {
  const inside = zones.find((z) => z.keys[0] <= note && note <= z.keys[1]);
  if (inside) return inside;
  let best: PaletteZone | undefined;
  let bestGap = Infinity;
  for (const z of zones) {
    const gap = Math.max(z.keys[0] - note, note - z.keys[1], 0);
    if (gap < bestGap) {
      best = z;
      bestGap = gap;
    }
  }
  return best;
}

/** The sample rate in a FLAC file's STREAMINFO (bytes 18–20), if it is a FLAC file. */
export function flacRate(bytes: Uint8Array): number | undefined {
  if (bytes.length < 21 || bytes[0] !== 0x66 || bytes[1] !== 0x4c || bytes[2] !== 0x61 || bytes[3] !== 0x43) return undefined;
  const rate = ((bytes[18] ?? 0) << 12) | ((bytes[19] ?? 0) << 4) | ((bytes[20] ?? 0) >> 4);
  return rate >= 8_000 && rate <= 192_000 ? rate : undefined;
}

/**
 * How a zone's note sounds, as the app's engine plays it: the pitch (semitones from the
 * recording), the gain, and the envelope's times (linear attack, hold, exponential decay to
 * the sustain level — a SoundFont decay time is for a 100 dB fall — and a release that falls
 * 80 dB in 0.8 of the zone's release time).
 */
export function zoneVoicing(zone: PaletteZone, instrumentGain: number, note: number, velocity: number) {
  const semitones = ((note - zone.root) * zone.tracking) / 100 + zone.tune / 100;
  const sustain = Math.min(Math.max(zone.sustain, 0), 1);
  const decayToSustainS = sustain > 1e-5 ? (zone.decay * Math.log10(1 / sustain)) / 5 : zone.decay;
  return {
    rate: 2 ** (semitones / 12),
    gain: instrumentGain * zone.level * velocityGain(velocity),
    attackS: Math.max(zone.attack, 0),
    holdS: Math.max(zone.hold, 0),
    decayS: Math.max(decayToSustainS, 0),
    sustain: Math.max(sustain, 1e-5),
    releaseS: Math.max(zone.release, 0.01) * 0.8,
  };
}

/** Where a sample list comes from (the relay's `/samples/index.json`). */
export interface SampleIndex {
  drums: string[];
  piano: string[];
}

export class Sampler {
  readonly ctx: AudioContext;
  private readonly master: GainNode;
  private readonly drums = new Map<number, AudioBuffer>();
  private readonly piano = new Map<number, { soft: AudioBuffer; hard: AudioBuffer }>();
  private roots: number[] = [];
  private readonly channels = new Map<string, Channel>();
  private voices: Voice[] = [];
  /** Where the samples come from (`load`'s base). */
  private base = "/samples";
  /** The palette's manifest, fetched the first time a player chooses a sound from it. */
  private manifest: Promise<Map<string, PaletteEntry>> | undefined;
  /** Palette instruments fetched and decoded, by id (only those someone plays). */
  private readonly instruments = new Map<string, { entry: PaletteEntry; samples: Map<string, ZoneSample> }>();
  private readonly fetching = new Map<string, Promise<void>>();
  /** Told when a palette sound has become playable, and how long that took, ms. */
  onPrepared: ((id: string, ms: number) => void) | undefined;

  constructor() {
    // On iPhones and iPads the ring/silent switch mutes web audio unless the page says it
    // plays media (Safari 16.4+'s Audio Session API; absent elsewhere, and harmless).
    const session = (navigator as { audioSession?: { type: string } }).audioSession;
    if (session) session.type = "playback";
    // The smallest buffer the browser allows: Chromium on PulseAudio heard every note 8 ms
    // later with "interactive" (docs/PERFORMANCE.md, the browser guest at both ends).
    this.ctx = new AudioContext({ latencyHint: 0 });
    this.master = this.ctx.createGain();
    // A limiter with no lookahead: a DynamicsCompressorNode delays everything by its 6 ms
    // lookahead, which the output timestamp doesn't know of, so every note was heard 6 ms after
    // its place. The curve leaves the signal unchanged below LIMIT_KNEE and bends it smoothly
    // towards full scale above, so a pile of notes never clips.
    const limiter = this.ctx.createWaveShaper();
    limiter.curve = limiterCurve();
    this.master.connect(limiter).connect(this.ctx.destination);
    // A source that never ends: it keeps the output running through silences (a browser
    // suspends an output that plays nothing, and waking it costs the next note its place).
    const keepAlive = this.ctx.createConstantSource();
    keepAlive.offset.value = 1e-5; // −100 dBFS: inaudible, and not the silence a browser stops for
    keepAlive.connect(this.master);
    keepAlive.start();
  }

  /** The smoothed offset from the page's clock to the context's, s (see `contextTimeAt`). */
  private clockOffset: number | undefined;

  /** Fetches and decodes every sample the relay has, six at a time. */
  async load(base = "/samples"): Promise<void> {
    this.base = base;
    const index = (await (await fetch(`${base}/index.json`)).json()) as SampleIndex;
    const jobs: Array<() => Promise<void>> = [];
    const fetchBuffer = async (path: string) => this.ctx.decodeAudioData(await (await fetch(`${base}/${path}`)).arrayBuffer());
    for (const file of index.drums ?? []) {
      const note = Number.parseInt(file, 10);
      if (Number.isInteger(note)) jobs.push(async () => void this.drums.set(note, await fetchBuffer(`drums/${file}`)));
    }
    const notes = new Set((index.piano ?? []).map((f) => Number.parseInt(f, 10)).filter(Number.isInteger));
    for (const note of notes) {
      const n = String(note).padStart(3, "0");
      jobs.push(async () => {
        const [soft, hard] = await Promise.all([fetchBuffer(`piano/${n}-soft.flac`), fetchBuffer(`piano/${n}-hard.flac`)]);
        this.piano.set(note, { soft, hard });
      });
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let job = jobs[next++]; job; job = jobs[next++]) await job();
      }),
    );
    this.roots = [...this.piano.keys()].sort((a, b) => a - b);
  }

  get loaded(): boolean {
    return this.roots.length > 0 || this.drums.size > 0;
  }

  /** The longest output latency seen so far, ms (see `leadMs`). */
  private latencyMs = 0;

  /**
   * How far ahead a sound must be handed over to play when asked, ms: the longest output
   * latency seen so far plus a render block, as the app's engine publishes its lead. Only ever
   * grows: Chromium's `outputLatency` flips between two values (32 and 40 ms here) from one
   * second to the next, and following it moved every sender's delay by 8 ms each time — a flam
   * whenever a note arrived near its slot. The latency is the larger of what the context
   * reports and what its output timestamp shows (how far rendering runs ahead of the speakers).
   */
  leadMs(): number {
    const reported = ((this.ctx.baseLatency ?? 0) + ((this.ctx as { outputLatency?: number }).outputLatency ?? 0)) * 1000;
    const ts = this.ctx.getOutputTimestamp?.();
    const now = performance.now();
    const measured = ts && believable(ts, this.ctx.currentTime, now) ? (this.ctx.currentTime - ts.contextTime) * 1000 : 0;
    const latency = Math.max(reported, measured);
    if (Number.isFinite(latency) && latency < MAX_LATENCY_MS) this.latencyMs = Math.max(this.latencyMs, latency);
    return this.latencyMs + (128 / this.ctx.sampleRate) * 1000;
  }

  /**
   * The context time at page time `pageMs` (`performance.timeOrigin + performance.now()`).
   * Each reading of the two clocks (`getOutputTimestamp`, or `currentTime` now) is only as
   * fine as the browser's render blocks — Firefox's are ~10 ms apart — so, as the app's engine
   * does with its callbacks, the offset between them is smoothed: 5 % per reading, reset when
   * a reading is more than 20 ms away (the output restarted or the clocks jumped).
   */
  contextTimeAt(pageMs: number): number {
    const reading = clockReading(this.ctx.getOutputTimestamp?.(), this.ctx.currentTime, performance.now(), performance.timeOrigin);
    this.clockOffset = smoothOffset(this.clockOffset, reading);
    return pageMs / 1000 + this.clockOffset;
  }

  /**
   * Makes palette sound `id` playable: the manifest (once), then that instrument's recordings
   * only — the guest fetches the sounds in use in its room, not the palette's 21 MB. Resolves
   * when it can be played; the built-in piano and kit need nothing.
   */
  prepare(id: string): Promise<void> {
    if (id === BUILTIN_KEYS || id === BUILTIN_KIT || this.instruments.has(id)) return Promise.resolve();
    let job = this.fetching.get(id);
    if (!job) {
      job = this.fetchInstrument(id).catch(() => {
        // Unreachable samples: the built-in piano and kit play instead.
        this.fetching.delete(id);
      });
      this.fetching.set(id, job);
    }
    return job;
  }

  private async fetchInstrument(id: string): Promise<void> {
    const started = performance.now();
    this.manifest ??= fetch(`${this.base}/palette/palette.json`)
      .then((r) => (r.ok ? r.json() : { instruments: [] }))
      .then((m: { instruments?: PaletteEntry[] }) => new Map((m.instruments ?? []).map((e) => [e.id, e])));
    const entry = (await this.manifest).get(id);
    if (!entry || entry.zones.length === 0) return;
    const samples = new Map<string, ZoneSample>();
    const files = [...new Set(entry.zones.map((z) => z.sample))];
    let next = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let file = files[next++]; file !== undefined; file = files[next++]) {
          // Only files in the palette's own folder (a manifest is not trusted with paths).
          if (!/^samples\/[0-9]{4}\.flac$/.test(file)) continue;
          const bytes = await (await fetch(`${this.base}/palette/${file}`)).arrayBuffer();
          const rate = flacRate(new Uint8Array(bytes, 0, Math.min(bytes.byteLength, 32)));
          const buffer = await this.ctx.decodeAudioData(bytes);
          samples.set(file, { buffer, rate: rate ?? buffer.sampleRate });
        }
      }),
    );
    this.instruments.set(id, { entry, samples });
    this.onPrepared?.(id, performance.now() - started);
  }

  /**
   * From context time `when` on, `sender`'s notes play `keys` and their drums `drums`
   * (fetched now if they are not yet: until they are, the built-in piano and kit play).
   */
  setProgram(sender: string, keys: string, drums: string, when: number): void {
    const c = this.channel(sender);
    c.programs.push({ at: when, keys, drums });
    c.programs.sort((a, b) => a.at - b.at);
    if (c.programs.length > MAX_PROGRAMS) c.programs.splice(0, c.programs.length - MAX_PROGRAMS);
    void this.prepare(keys);
    void this.prepare(drums);
  }

  /** What `channel` plays at context time `at`. */
  private programAt(c: Channel, at: number): { keys: string; drums: string } {
    let found = { keys: BUILTIN_KEYS, drums: BUILTIN_KIT };
    for (const p of c.programs) if (p.at <= at + 1e-6) found = p;
    return found;
  }

  /** A participant's volume (0–2) and mute. */
  setVolume(sender: string, gain: number, muted: boolean): void {
    this.channel(sender).gain.gain.value = muted ? 0 : Math.min(Math.max(gain, 0), 2);
  }

  /**
   * Forgets a participant who left: what they played before leaving still plays (a note
   * arrives some tens of ms before it sounds, and their leaving right after it must not cut
   * it), then their held and pedalled notes are released — nobody hears a stuck note.
   */
  forget(sender: string): void {
    const c = this.channels.get(sender);
    if (!c) return;
    this.channels.delete(sender);
    const after = Math.max(this.ctx.currentTime, c.lastAt);
    for (const v of this.voices) if (v.channel === c && v.piano && (v.held || c.sustain)) this.release(v, after, v.releaseS);
    // Disconnected once every sound routed through it has ended (a release takes 0.35 s; a
    // long drum may ring on, and is waited for).
    const retire = () => {
      if (this.voices.some((v) => v.channel === c)) {
        setTimeout(retire, RETIRE_EVERY_MS);
        return;
      }
      c.gain.disconnect();
      c.bend.stop();
      c.lfo.stop();
      c.bend.disconnect();
      c.vibrato.disconnect();
    };
    setTimeout(retire, (after - this.ctx.currentTime + PIANO_RELEASE_S) * 1000 + RETIRE_EVERY_MS);
  }

  /** Plays one input of `sender` at context time `when` (now, if that is past). */
  play(sender: string, input: PlayInput, when: number, durationMs: number | null = null): void {
    const at = Math.max(when, this.ctx.currentTime);
    const channel = this.channel(sender);
    channel.lastAt = Math.max(channel.lastAt, at);
    if (input.type === "pitchBend") {
      channel.bend.offset.setValueAtTime(bendCents(input.value), at);
      return;
    }
    if (input.type === "modulation") {
      channel.vibrato.gain.setValueAtTime((Math.min(Math.max(input.value, 0), 127) / 127) * VIBRATO_CENTS, at);
      return;
    }
    if (input.type === "sustain") {
      channel.sustain = input.on;
      if (!input.on) for (const v of this.voices) if (v.sender === sender && v.piano && !v.held) this.release(v, at, PIANO_RELEASE_S);
      return;
    }
    if (input.type === "noteOff") {
      if (input.instrument !== "piano") return;
      for (const v of this.voices) {
        if (v.sender !== sender || !v.piano || v.note !== input.note || !v.held) continue;
        v.held = false;
        if (!channel.sustain) this.release(v, at, v.releaseS);
      }
      return;
    }
    const piano = input.instrument === "piano";
    const program = this.programAt(channel, at);
    const chosen = this.instruments.get(piano ? program.keys : program.drums);
    if (chosen) {
      this.playZone(sender, channel, chosen, piano, input.note, input.velocity, at, durationMs);
      return;
    }
    let buffer: AudioBuffer | undefined;
    let rate = 1;
    let level: number;
    if (piano) {
      const root = nearestRoot(this.roots, input.note);
      const zone = root === undefined ? undefined : this.piano.get(root);
      if (!zone || root === undefined) return;
      const hard = input.velocity >= LAYER_SPLIT;
      buffer = hard ? zone.hard : zone.soft;
      rate = 2 ** ((input.note - root) / 12);
      level = (PIANO_LEVEL * velocityGain(input.velocity)) / velocityGain(hard ? HARD_VELOCITY : SOFT_VELOCITY);
      for (const v of this.voices) if (v.sender === sender && v.piano && v.note === input.note) this.release(v, at, RESTRIKE_RELEASE_S);
    } else {
      buffer = this.drums.get(input.note);
      level = DRUM_LEVEL * velocityGain(input.velocity);
    }
    if (!buffer) return;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.playbackRate.value = rate;
    if (piano) this.bendable(channel, source);
    const gain = this.ctx.createGain();
    gain.gain.value = level;
    source.connect(gain).connect(channel.gain);
    source.start(at);
    const voice: Voice = { source, gain, sender, channel, note: input.note, piano, held: piano, releaseS: PIANO_RELEASE_S, exclusive: 0 };
    this.track(voice, [gain], at, durationMs);
  }

  /**
   * Keeps a started voice until it ends (then disconnects `nodes`), cuts the oldest past
   * [`MAX_VOICES`], and releases a keys note that has a length of its own at its end.
   */
  private track(voice: Voice, nodes: AudioNode[], at: number, durationMs: number | null): void {
    voice.source.onended = () => {
      for (const n of nodes) n.disconnect();
      this.voices = this.voices.filter((v) => v !== voice);
    };
    this.voices.push(voice);
    if (this.voices.length > MAX_VOICES) {
      const oldest = this.voices.shift();
      if (oldest) this.release(oldest, this.ctx.currentTime, RESTRIKE_RELEASE_S);
    }
    if (voice.piano && durationMs !== null && Number.isFinite(durationMs)) {
      voice.held = false;
      this.release(voice, at + Math.min(Math.max(durationMs, 0), 60_000) / 1000, voice.releaseS);
    }
  }

  /** A note of a palette instrument: its zone's recording, loop, pan and envelope, as the app's engine plays it. */
  private playZone(
    sender: string,
    channel: Channel,
    chosen: { entry: PaletteEntry; samples: Map<string, ZoneSample> },
    piano: boolean,
    note: number,
    velocity: number,
    at: number,
    durationMs: number | null,
  ): void {
    const zone = zoneFor(chosen.entry.zones, note);
    if (!zone) return;
    const kit = !piano;
    if (kit && !(zone.keys[0] <= note && note <= zone.keys[1])) return; // a kit plays only the drums it has
    const sample = chosen.samples.get(zone.sample);
    if (!sample) return;
    const exclusive = zone.exclusive ?? 0;
    for (const v of this.voices) {
      if (v.sender !== sender || v.piano !== piano) continue;
      if ((piano && v.note === note) || (exclusive !== 0 && v.exclusive === exclusive)) {
        this.release(v, at, kit ? CHOKE_RELEASE_S : RESTRIKE_RELEASE_S);
      }
    }
    const voicing = zoneVoicing(zone, chosen.entry.gain, note, velocity);
    const source = this.ctx.createBufferSource();
    source.buffer = sample.buffer;
    source.playbackRate.value = voicing.rate;
    if (zone.loop && zone.loop[1] > zone.loop[0]) {
      source.loop = true;
      source.loopStart = zone.loop[0] / sample.rate;
      source.loopEnd = zone.loop[1] / sample.rate;
    }
    if (piano) this.bendable(channel, source);
    const gain = this.ctx.createGain();
    const g = gain.gain;
    // Attack, hold, then the decay to the sustain level.
    const peakAt = at + voicing.attackS;
    if (voicing.attackS > 0) {
      g.setValueAtTime(0, at);
      g.linearRampToValueAtTime(voicing.gain, peakAt);
    } else {
      g.setValueAtTime(voicing.gain, at);
    }
    const decayFrom = peakAt + voicing.holdS;
    g.setValueAtTime(voicing.gain, decayFrom);
    if (voicing.decayS > 0 && voicing.sustain < 1) g.exponentialRampToValueAtTime(voicing.gain * voicing.sustain, decayFrom + voicing.decayS);
    const pan = this.ctx.createStereoPanner();
    pan.pan.value = Math.min(Math.max(zone.pan, -1), 1);
    source.connect(gain).connect(pan).connect(channel.gain);
    source.start(at);
    const voice: Voice = { source, gain, sender, channel, note, piano, held: piano, releaseS: voicing.releaseS, exclusive };
    this.track(voice, [pan, gain], at, durationMs);
  }

  /** Puts a keys voice under its player's wheels. */
  private bendable(channel: Channel, source: AudioBufferSourceNode): void {
    channel.bend.connect(source.detune);
    channel.vibrato.connect(source.detune);
  }

  private release(v: Voice, at: number, seconds: number): void {
    const g = v.gain.gain;
    const start = Math.max(at, this.ctx.currentTime);
    // Where the envelope is at `start`, kept (Firefox lacks `cancelAndHoldAtTime`).
    const hold = (g as AudioParam & { cancelAndHoldAtTime?: (t: number) => AudioParam }).cancelAndHoldAtTime;
    if (hold) hold.call(g, start);
    else {
      g.cancelScheduledValues(start);
      g.setValueAtTime(g.value, start);
    }
    // 80 dB down in `seconds` (e^−9.2).
    g.setTargetAtTime(0, start, seconds / 9.2);
    try {
      v.source.stop(start + seconds);
    } catch {
      // Already stopped.
    }
  }

  private channel(sender: string): Channel {
    let c = this.channels.get(sender);
    if (!c) {
      const gain = this.ctx.createGain();
      gain.connect(this.master);
      const bend = this.ctx.createConstantSource();
      bend.offset.value = 0;
      bend.start();
      const lfo = this.ctx.createOscillator();
      lfo.frequency.value = VIBRATO_HZ;
      const vibrato = this.ctx.createGain();
      vibrato.gain.value = 0;
      lfo.connect(vibrato);
      lfo.start();
      c = { gain, sustain: false, lastAt: 0, programs: [], bend, vibrato, lfo };
      this.channels.set(sender, c);
    }
    return c;
  }
}
