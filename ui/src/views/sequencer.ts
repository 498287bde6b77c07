/**
 * The shared groove: the 16-step sequencer, the tempo fields, the beat dots and the local click.
 * The playhead and the beat are drawn from relay time, the same rule the Rust side plays by.
 */
import { api, errorMessage } from "../api";
import { $, input, select, showRoomError } from "../dom";
import { SEQUENCER_ROWS, STEPS, emptyPattern, isOn, position, toggleStep, type Pattern, type Tempo } from "../groove";
import { MAX_BPM, MIN_BPM } from "../bindings/protocol";
import type { Store } from "../store";

export class Sequencer {
  private lastBeat = -1;
  private lastColumn = -1;
  private drawnTempo: Tempo | undefined;

  constructor(private readonly store: Store) {}

  mount(): void {
    this.render();
    requestAnimationFrame(() => this.draw());
    setInterval(() => void this.syncClock(), 1_000);
    void this.syncClock();
    this.store.on("pattern", () => this.render());
    this.store.on("tempo", (t) => this.showTempo(t));
    this.store.on("entered", () => this.render());
    this.store.onRoom("joined", (e) => {
      this.store.setTempo(e.tempo);
      this.store.setPattern(e.pattern.rows.length ? e.pattern : emptyPattern());
    });
    this.store.onRoom("tempoChanged", (e) => this.store.setTempo(e.tempo));
    this.store.onRoom("patternChanged", (e) => this.store.setPattern(e.pattern));
    $("bpm").addEventListener("change", () => this.changeTempo());
    $("bpm").addEventListener("keydown", (e) => {
      if (e.key === "Enter") input("bpm").blur();
    });
    $("beats-per-bar").addEventListener("change", () => this.changeTempo());
    $("click-toggle").addEventListener("change", () =>
      api.setClick(input("click-toggle").checked).catch((e) => showRoomError(errorMessage(e))),
    );
    $("seq-toggle").addEventListener("click", () => this.change({ ...this.store.pattern, running: !this.store.pattern.running }));
    $("seq-clear").addEventListener("click", () => this.change({ ...emptyPattern(), running: this.store.pattern.running }));
  }

  private render(): void {
    const pattern = this.store.pattern;
    const grid = $("sequencer");
    grid.replaceChildren();
    for (const row of SEQUENCER_ROWS) {
      const label = document.createElement("span");
      label.className = "seq-label";
      label.textContent = row.label;
      grid.append(label);
      for (let step = 0; step < STEPS; step++) {
        const on = isOn(pattern, row.note, step);
        const cell = document.createElement("button");
        cell.className = `step${step % 4 === 0 ? " beat-start" : ""}${on ? " on" : ""}`;
        cell.dataset.note = String(row.note);
        cell.dataset.step = String(step);
        cell.setAttribute("aria-label", `${row.label} step ${step + 1}`);
        cell.setAttribute("aria-pressed", String(on));
        cell.disabled = this.store.listener;
        cell.addEventListener("click", () => this.change(toggleStep(this.store.pattern, row.note, step)));
        grid.append(cell);
      }
    }
    $("seq-toggle").textContent = pattern.running ? "■ Stop" : "▶ Start";
    this.lastColumn = -1;
  }

  /** Our change: shown at once, undone if the Rust side refuses it. */
  private change(next: Pattern): void {
    if (this.store.listener) return;
    const before = this.store.pattern;
    this.store.setPattern(next);
    api.setPattern(next).catch((e) => {
      this.store.setPattern(before);
      showRoomError(errorMessage(e));
    });
  }

  private draw(): void {
    const tempo = this.store.tempo;
    const { beat, column } = position(tempo, this.store.clock.now(performance.now()));
    if (beat !== this.lastBeat || tempo !== this.drawnTempo) {
      this.lastBeat = beat;
      this.drawnTempo = tempo;
      const dots = $("beat");
      if (dots.childElementCount !== tempo.beatsPerBar) {
        dots.replaceChildren(...Array.from({ length: tempo.beatsPerBar }, () => document.createElement("i")));
      }
      [...dots.children].forEach((d, i) => d.classList.toggle("now", i === beat));
    }
    if (column !== this.lastColumn) {
      this.lastColumn = column;
      for (const el of document.querySelectorAll(".step.playhead")) el.classList.remove("playhead");
      if (this.store.pattern.running) {
        for (const el of document.querySelectorAll(`.step[data-step="${column}"]`)) el.classList.add("playhead");
      }
    }
    requestAnimationFrame(() => this.draw());
  }

  private async syncClock(): Promise<void> {
    try {
      const sent = performance.now();
      const view = await api.clockNow();
      const received = performance.now();
      this.store.clock.sample(view.nowMs, received, received - sent);
      const t = this.store.tempo;
      if (view.tempo.bpm !== t.bpm || view.tempo.beatsPerBar !== t.beatsPerBar || view.tempo.anchorMs !== t.anchorMs) {
        this.store.setTempo(view.tempo);
      }
    } catch {
      // The next sync will do.
    }
  }

  /** Shows a tempo in the fields, unless someone is typing in them. */
  private showTempo(t: Tempo): void {
    const bpm = input("bpm");
    if (document.activeElement !== bpm) bpm.value = String(Math.round(t.bpm * 10) / 10);
    select("beats-per-bar").value = String(t.beatsPerBar);
  }

  private changeTempo(): void {
    const field = input("bpm").value.trim();
    const bpm = Number(field);
    const beats = Number(select("beats-per-bar").value);
    if (field === "") return; // still typing (or cleared): keep the tempo
    if (!(bpm >= MIN_BPM && bpm <= MAX_BPM)) {
      input("bpm").value = String(Math.round(this.store.tempo.bpm * 10) / 10);
      showRoomError(`The tempo must be between ${MIN_BPM} and ${MAX_BPM} BPM.`);
      return;
    }
    api.setTempo(bpm, beats).then(
      (t) => this.store.setTempo(t),
      (e) => showRoomError(errorMessage(e)),
    );
  }
}
