/**
 * The piano and the drum pads: drawn, played with the mouse and the computer keyboard, and lit
 * in each player's colour when anyone plays (our own notes at once, others' when they sound).
 */
import { api, errorMessage, type PlayInput } from "../api";
import { $, isTextField, showRoomError } from "../dom";
import type { Focus, KeyAction } from "../keyboard";
import { DRUM_PADS } from "../keyboard";
import { pianoKeys } from "../piano";
import type { Store } from "../store";

type Instrument = "piano" | "drums";

/** A phone held upright, or a narrow window: the touch layout (see styles.css). */
const NARROW: MediaQueryList | { matches: boolean } =
  typeof matchMedia === "function" ? matchMedia("(max-width: 700px)") : { matches: false };

function keyElement(instrument: Instrument, note: number): HTMLElement | null {
  return document.querySelector<HTMLElement>(`#${instrument} [data-note="${note}"]`);
}

/** Lights a key or pad in a player's colour, with their initial as a second cue (colour is never
 * the only one); drums (and notes with a length) go out by themselves. */
export function light(instrument: Instrument, note: number, colour: string, who: string, forMs?: number | null, name = ""): void {
  const el = keyElement(instrument, note);
  if (!el) return;
  el.style.setProperty("--lit", colour);
  el.classList.add("lit");
  el.dataset.litInitial = [...name.trim()][0]?.toUpperCase() ?? "";
  el.dataset.litBy = who;
  el.dataset.lastColour = colour;
  el.dataset.lastBy = who;
  const until = forMs ?? (instrument === "drums" ? 180 : undefined);
  if (until !== undefined) {
    const stamp = String(performance.now());
    el.dataset.litStamp = stamp;
    setTimeout(() => {
      if (el.dataset.litStamp === stamp) unlight(instrument, note);
    }, until);
  }
}

export function unlight(instrument: Instrument, note: number, onlyIfLitBy?: string): void {
  const el = keyElement(instrument, note);
  if (!el || (onlyIfLitBy !== undefined && el.dataset.litBy !== onlyIfLitBy)) return;
  el.classList.remove("lit");
  delete el.dataset.litBy;
  delete el.dataset.litStamp;
}

/** Puts out everything lit (by `who`, or by anyone). */
export function unlightAll(who?: string): void {
  const selector = who === undefined ? ".key.lit, .pad.lit" : `[data-lit-by="${CSS.escape(who)}"]`;
  for (const el of document.querySelectorAll<HTMLElement>(selector)) {
    el.classList.remove("lit");
    delete el.dataset.litBy;
  }
}

export function describe(input: PlayInput): string {
  switch (input.type) {
    case "noteOn":
      return `${input.instrument} ${input.note} on (${input.velocity})`;
    case "noteOff":
      return `${input.instrument} ${input.note} off`;
    case "sustain":
      return `sustain ${input.on ? "down" : "up"}`;
    case "pitchBend":
      return `pitch bend ${input.value}`;
    case "modulation":
      return `modulation ${input.value}`;
  }
}

export class Instruments {
  constructor(private readonly store: Store) {}

  mount(): void {
    this.renderPiano();
    if ("addEventListener" in NARROW) NARROW.addEventListener("change", () => this.renderPiano());
    this.renderDrums();
    window.addEventListener("keydown", (e) => {
      const focus = this.focusOf(e.target);
      if (focus !== "text" && focus !== "control" && e.code === "Space") e.preventDefault();
      const actions = this.store.player.keyDown(e, focus);
      if (actions.length > 0) e.preventDefault();
      this.apply(actions);
    });
    window.addEventListener("keyup", (e) => this.apply(this.store.player.keyUp(e)));
    window.addEventListener("blur", () => this.releaseAll());
    $("oct-down").addEventListener("click", () => this.apply(this.store.player.keyDown({ code: "KeyZ", repeat: false, shiftKey: false }, "piano")));
    $("oct-up").addEventListener("click", () => this.apply(this.store.player.keyDown({ code: "KeyX", repeat: false, shiftKey: false }, "piano")));
    this.store.onRoom("played", (e) => {
      const colour = this.store.roster.colour(e.senderId);
      const input = e.input;
      this.store.activity.record("in", `${this.store.nameOf(e.senderId)}: ${describe(input)}`, performance.now());
      const later = (f: () => void) => (e.inMs > 1 ? setTimeout(f, e.inMs) : f());
      switch (input.type) {
        case "noteOn":
          flashParticipant(e.senderId);
          later(() => light(input.instrument, input.note, colour, e.senderId, e.durationMs, this.store.nameOf(e.senderId)));
          break;
        case "noteOff":
          later(() => unlight(input.instrument, input.note, e.senderId));
          break;
        case "sustain":
          break;
      }
    });
    this.store.onRoom("joined", (e) => {
      unlightAll();
      for (const held of e.heldNotes) {
        light("piano", held.note, this.store.roster.colour(held.userId), held.userId, undefined, this.store.nameOf(held.userId));
      }
    });
    this.store.onRoom("userLeft", (e) => unlightAll(e.userId));
    this.store.on("entered", () => this.applyListenerMode());
    this.store.on("left", () => {
      this.releaseAll();
      this.applyListenerMode();
      unlightAll();
    });
  }

  releaseAll(): void {
    this.apply(this.store.player.releaseAll());
  }

  private focusOf(target: EventTarget | null): Focus {
    const el = target instanceof HTMLElement ? target : null;
    if (isTextField(el)) return "text";
    if (el?.closest("#drums")) return "drums";
    // A control reached with the keyboard (a sequencer step, a button, a checkbox) gets Space
    // and Enter; one clicked with the mouse leaves them to the keys (Space: sustain).
    if (el && !el.closest("#piano") && el.matches("button, input, [tabindex]") && focusVisible(el)) return "control";
    return "piano";
  }

  /** Plays something of ours: lit at once, sounded by the Rust side at once, sent to the room. */
  play(input: PlayInput): void {
    const store = this.store;
    if (store.listener) return;
    if (input.type === "noteOn") {
      light(input.instrument, input.note, store.myColour(), store.myId ?? "me", undefined, store.myId ? store.nameOf(store.myId) : "");
    }
    if (input.type === "noteOff" && input.instrument === "piano") unlight("piano", input.note);
    if (input.type === "sustain") $("sustain-mark").hidden = !input.on;
    if (store.jam) store.activity.record("out", describe(input), performance.now());
    api.play(input).catch((e) => showRoomError(errorMessage(e)));
  }

  private apply(actions: KeyAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case "noteOn":
          this.play({ type: "noteOn", instrument: a.instrument, note: a.note, velocity: a.velocity });
          break;
        case "noteOff":
          this.play({ type: "noteOff", instrument: a.instrument, note: a.note });
          break;
        case "sustain":
          this.play({ type: "sustain", on: a.on });
          break;
        case "octave":
          this.renderPiano();
          break;
        case "velocity":
          $("velocity").textContent = String(a.velocity);
          break;
      }
    }
  }

  private renderPiano(): void {
    const player = this.store.player;
    const piano = $("piano");
    // A phone (or a narrow window) gets one octave and a half: keys wide enough for fingers.
    const keys = pianoKeys(player.base - (NARROW.matches ? 0 : 12), NARROW.matches ? 1 : 3);
    piano.replaceChildren();
    piano.style.setProperty("--whites", String(keys.filter((k) => !k.black).length));
    for (const key of keys) {
      const el = document.createElement("button");
      el.className = key.black ? "key black" : "key white";
      el.dataset.note = String(key.note);
      el.style.setProperty("--i", String(key.whiteIndex));
      // Named by its note ("C4"), which a C shows and the others carry unseen; the computer
      // key that plays it is a shortcut, shown but not part of the name.
      const letter = document.createElement("span");
      letter.className = "letter";
      letter.setAttribute("aria-hidden", "true");
      const shortcut = player.labelFor(key.note) ?? "";
      letter.textContent = shortcut;
      if (shortcut) el.setAttribute("aria-keyshortcuts", shortcut);
      el.append(letter);
      const name = document.createElement("span");
      name.className = key.note % 12 === 0 ? "octave" : "visually-hidden";
      name.textContent = key.name;
      el.append(name);
      // Enter or Space on a focused key (keyboard users): a short note.
      el.addEventListener("click", (e) => {
        if (e.detail !== 0) return;
        this.play({ type: "noteOn", instrument: "piano", note: key.note, velocity: player.velocity });
        setTimeout(() => this.play({ type: "noteOff", instrument: "piano", note: key.note }), 300);
      });
      el.addEventListener("pointerdown", (e) => {
        e.preventDefault();
        el.setPointerCapture?.(e.pointerId);
        el.dataset.down = "1";
        this.play({ type: "noteOn", instrument: "piano", note: key.note, velocity: player.velocity });
      });
      const up = () => {
        if (el.dataset.down !== "1") return;
        delete el.dataset.down;
        this.play({ type: "noteOff", instrument: "piano", note: key.note });
      };
      el.addEventListener("pointerup", up);
      el.addEventListener("pointercancel", up);
      el.addEventListener("lostpointercapture", up);
      piano.append(el);
    }
    $("octave-label").textContent = `▸ ${keys[0]?.name}–${keys[keys.length - 1]?.name}`;
    this.applyListenerMode();
  }

  private renderDrums(): void {
    const drums = $("drums");
    for (const pad of DRUM_PADS) {
      const el = document.createElement("button");
      el.className = "pad";
      el.dataset.note = String(pad.note);
      el.setAttribute("aria-keyshortcuts", `Shift+${pad.key}`);
      const label = document.createElement("span");
      label.textContent = pad.label;
      const key = document.createElement("kbd");
      key.setAttribute("aria-hidden", "true");
      key.textContent = pad.key;
      el.append(label, key);
      const hit = () => this.play({ type: "noteOn", instrument: "drums", note: pad.note, velocity: this.store.player.velocity });
      el.addEventListener("pointerdown", (e) => {
        e.preventDefault();
        hit();
      });
      // Enter or Space on a focused pad (keyboard users) arrives as a click without a pointer.
      el.addEventListener("click", (e) => {
        if (e.detail === 0) hit();
      });
      drums.append(el);
    }
  }

  /** A listener's instruments are dimmed and disabled (the Rust side refuses their notes too). */
  applyListenerMode(): void {
    const listening = this.store.listener;
    $("stage").classList.toggle("listening", listening);
    for (const el of document.querySelectorAll<HTMLButtonElement>("#stage button")) el.disabled = listening;
    for (const id of ["bpm", "beats-per-bar", "chat-input"]) ($(id) as HTMLInputElement).disabled = listening;
  }
}

/** Flashes a participant's row when they play. */
export function flashParticipant(id: string): void {
  const row = document.querySelector<HTMLElement>(`#participants [data-id="${CSS.escape(id)}"]`);
  if (!row) return;
  row.classList.add("active");
  setTimeout(() => row.classList.remove("active"), 150);
}

/** Whether `el` has the keyboard's focus ring (`:focus-visible`; false where unsupported). */
function focusVisible(el: HTMLElement): boolean {
  try {
    return el.matches(":focus-visible");
  } catch {
    return false;
  }
}
