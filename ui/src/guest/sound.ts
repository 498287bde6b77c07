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
/** The most sounds at once (the app's voice pool is 192); the oldest is cut past it. */
export const MAX_VOICES = 192;
/** An output latency beyond this (ms) is a browser's reporting error, not a latency. */
const MAX_LATENCY_MS = 500;
/** How often a departed participant's channel looks for its last sound to have ended. */
const RETIRE_EVERY_MS = 250;

/** The app's velocity curve. */
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
}

interface Channel {
  gain: GainNode;
  sustain: boolean;
  /** The context time of the latest sound scheduled on it. */
  lastAt: number;
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

  constructor() {
    // On iPhones and iPads the ring/silent switch mutes web audio unless the page says it
    // plays media (Safari 16.4+'s Audio Session API; absent elsewhere, and harmless).
    const session = (navigator as { audioSession?: { type: string } }).audioSession;
    if (session) session.type = "playback";
    this.ctx = new AudioContext({ latencyHint: "interactive" });
    this.master = this.ctx.createGain();
    const limiter = this.ctx.createDynamicsCompressor();
    limiter.threshold.value = -3;
    limiter.ratio.value = 20;
    this.master.connect(limiter).connect(this.ctx.destination);
    // A source that never ends, through the limiter: a compressor that has had no input yet
    // starts from its reset state, and Firefox's then turned the first note down to a fifth
    // (recovering over its release: the first accent of a groove peaked at 0.08 instead of
    // 0.37). It also keeps the output running through silences.
    const keepAlive = this.ctx.createConstantSource();
    keepAlive.offset.value = 1e-5; // −100 dBFS: inaudible, and not the silence a browser stops for
    keepAlive.connect(this.master);
    keepAlive.start();
  }

  /** The smoothed offset from the page's clock to the context's, s (see `contextTimeAt`). */
  private clockOffset: number | undefined;

  /** Fetches and decodes every sample the relay has, six at a time. */
  async load(base = "/samples"): Promise<void> {
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
    for (const v of this.voices) if (v.channel === c && v.piano && (v.held || c.sustain)) this.release(v, after, PIANO_RELEASE_S);
    // Disconnected once every sound routed through it has ended (a release takes 0.35 s; a
    // long drum may ring on, and is waited for).
    const retire = () => {
      if (this.voices.some((v) => v.channel === c)) {
        setTimeout(retire, RETIRE_EVERY_MS);
        return;
      }
      c.gain.disconnect();
    };
    setTimeout(retire, (after - this.ctx.currentTime + PIANO_RELEASE_S) * 1000 + RETIRE_EVERY_MS);
  }

  /** Plays one input of `sender` at context time `when` (now, if that is past). */
  play(sender: string, input: PlayInput, when: number, durationMs: number | null = null): void {
    const at = Math.max(when, this.ctx.currentTime);
    const channel = this.channel(sender);
    channel.lastAt = Math.max(channel.lastAt, at);
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
        if (!channel.sustain) this.release(v, at, PIANO_RELEASE_S);
      }
      return;
    }
    const piano = input.instrument === "piano";
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
    const gain = this.ctx.createGain();
    gain.gain.value = level;
    source.connect(gain).connect(channel.gain);
    source.start(at);
    const voice: Voice = { source, gain, sender, channel, note: input.note, piano, held: piano };
    source.onended = () => {
      gain.disconnect();
      this.voices = this.voices.filter((v) => v !== voice);
    };
    this.voices.push(voice);
    if (this.voices.length > MAX_VOICES) {
      const oldest = this.voices.shift();
      if (oldest) this.release(oldest, this.ctx.currentTime, RESTRIKE_RELEASE_S);
    }
    if (piano && durationMs !== null && Number.isFinite(durationMs)) {
      const end = at + Math.min(Math.max(durationMs, 0), 60_000) / 1000;
      voice.held = false;
      this.release(voice, end, PIANO_RELEASE_S);
    }
  }

  private release(v: Voice, at: number, seconds: number): void {
    const g = v.gain.gain;
    const start = Math.max(at, this.ctx.currentTime);
    g.cancelScheduledValues(start);
    g.setValueAtTime(g.value, start);
    g.setTargetAtTime(0, start, seconds / 5);
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
      c = { gain, sustain: false, lastAt: 0 };
      this.channels.set(sender, c);
    }
    return c;
  }
}
