/**
 * MIDI keyboards in the browser guest, through Web MIDI where the browser has it (Chrome, Edge,
 * Firefox; not Safari). Web MIDI hands over whole messages (running status already resolved),
 * so reading them is small: note on/off and the sustain pedal, routed as the app does —
 * channel 10 plays the drums, every other channel the piano.
 */
import type { MidiView } from "../bindings/MidiView";
import type { PlayInput } from "../bindings/PlayInput";

/** What one MIDI message plays, if anything. */
export function midiInput(data: ArrayLike<number>): PlayInput | undefined {
  if (data.length < 3) return undefined;
  const status = data[0] ?? 0;
  const a = data[1] ?? 0;
  const b = data[2] ?? 0;
  if (a > 127 || b > 127) return undefined;
  const kind = status & 0xf0;
  const instrument = (status & 0x0f) === 9 ? "drums" : "piano";
  if (kind === 0x90 && b > 0) return { type: "noteOn", instrument, note: a, velocity: b };
  if (kind === 0x80 || (kind === 0x90 && b === 0)) return { type: "noteOff", instrument, note: a };
  if (kind === 0xb0 && a === 64 && instrument === "piano") return { type: "sustain", on: b >= 64 };
  return undefined;
}

/** The page's MIDI inputs: every connected one plays unless unticked in Settings. */
export class WebMidi {
  private access: MIDIAccess | undefined;
  private error: string | null = null;
  private readonly off = new Set<string>();
  private listeners: Array<(m: MidiView) => void> = [];

  constructor(private readonly play: (input: PlayInput) => void) {}

  private started: Promise<void> | undefined;

  /**
   * Asks the browser for MIDI (it may ask the musician first): once, when Settings opens, not
   * at page load. Resolves within `withinMs` whatever the answer (a prompt left open is no
   * answer yet; the devices appear when it is given).
   */
  start(withinMs = 3_000): Promise<void> {
    this.started ??= this.request();
    return Promise.race([this.started, new Promise<void>((r) => setTimeout(r, withinMs))]);
  }

  private async request(): Promise<void> {
    if (typeof navigator.requestMIDIAccess !== "function") {
      this.error = "This browser has no MIDI: use Chrome, Edge or Firefox for a MIDI keyboard, or the computer keyboard.";
      return;
    }
    try {
      this.access = await navigator.requestMIDIAccess();
    } catch {
      this.error = "MIDI was not allowed: allow it for this page in the browser's site settings to play a MIDI keyboard.";
      return;
    }
    this.access.onstatechange = () => this.wire();
    this.wire();
  }

  view(): MidiView {
    const devices = [...(this.access?.inputs.values() ?? [])].map((i) => ({
      name: i.name ?? "MIDI input",
      chosen: !this.off.has(i.name ?? ""),
      connected: i.state === "connected",
    }));
    return { error: this.error, devices };
  }

  choose(name: string, chosen: boolean): MidiView {
    if (chosen) this.off.delete(name);
    else this.off.add(name);
    this.wire();
    return this.view();
  }

  onChange(f: (m: MidiView) => void): () => void {
    this.listeners.push(f);
    return () => (this.listeners = this.listeners.filter((g) => g !== f));
  }

  private wire(): void {
    for (const input of this.access?.inputs.values() ?? []) {
      input.onmidimessage = this.off.has(input.name ?? "")
        ? null
        : (e: MIDIMessageEvent) => {
            const played = e.data ? midiInput(e.data) : undefined;
            if (played) this.play(played);
          };
    }
    const view = this.view();
    for (const f of this.listeners) f(view);
  }
}
