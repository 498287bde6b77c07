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
    $("sequencer").addEventListener("keydown", (e) => this.onGridKey(e));
    $("seq-toggle").addEventListener("click", () => this.change({ ...this.store.pattern, running: !this.store.pattern.running }));
    $("seq-clear").addEventListener("click", () => this.change({ ...emptyPattern(), running: this.store.pattern.running }));
  }

  /**
   * The grid as ARIA's grid pattern: a header row of step numbers, then a row per sound with its
   * name as the row header and a toggle button per step. One step is in the tab order at a time
   * (the one last focused); the arrow keys, Home and End move between steps, Space or Enter
   * toggles one. A screen reader hears "Snare, step 5, toggle button, pressed".
   */
  private render(): void {
    const pattern = this.store.pattern;
    const grid = $("sequencer");
    const focused = document.activeElement instanceof HTMLElement && grid.contains(document.activeElement)
      ? document.activeElement
      : null;
    const [focusNote, focusStep] = focused
      ? [focused.dataset.note, focused.dataset.step]
      : [grid.dataset.focusNote, grid.dataset.focusStep];
    grid.replaceChildren();
    const header = document.createElement("div");
    header.className = "seq-row seq-head";
    header.setAttribute("role", "row");
    const corner = document.createElement("span");
    corner.setAttribute("role", "columnheader");
    corner.className = "seq-label";
    corner.textContent = "Sound";
    header.append(corner);
    for (let step = 0; step < STEPS; step++) {
      const number = document.createElement("span");
      number.setAttribute("role", "columnheader");
      number.className = `seq-step-number${step % 4 === 0 ? " beat-start" : ""}`;
      number.textContent = String(step + 1);
      header.append(number);
    }
    grid.append(header);
    let roving: HTMLButtonElement | null = null;
    for (const row of SEQUENCER_ROWS) {
      const line = document.createElement("div");
      line.className = "seq-row";
      line.setAttribute("role", "row");
      const label = document.createElement("span");
      label.className = "seq-label";
      label.setAttribute("role", "rowheader");
      label.textContent = row.label;
      line.append(label);
      for (let step = 0; step < STEPS; step++) {
        const on = isOn(pattern, row.note, step);
        const gridcell = document.createElement("span");
        gridcell.setAttribute("role", "gridcell");
        const cell = document.createElement("button");
        cell.className = `step${step % 4 === 0 ? " beat-start" : ""}${on ? " on" : ""}`;
        cell.dataset.note = String(row.note);
        cell.dataset.step = String(step);
        cell.setAttribute("aria-label", `${row.label}, step ${step + 1}`);
        cell.setAttribute("aria-pressed", String(on));
        cell.tabIndex = -1;
        cell.disabled = this.store.listener;
        cell.addEventListener("click", () => this.change(toggleStep(this.store.pattern, row.note, step)));
        cell.addEventListener("focus", () => this.rove(cell));
        if (String(row.note) === focusNote && String(step) === focusStep) roving = cell;
        gridcell.append(cell);
        line.append(gridcell);
      }
      grid.append(line);
    }
    roving ??= grid.querySelector<HTMLButtonElement>("button.step");
    if (roving) {
      roving.tabIndex = 0;
      if (focused) roving.focus();
    }
    $("seq-toggle").textContent = pattern.running ? "■ Stop" : "▶ Start";
    this.lastColumn = -1;
  }

  /** `cell` is the grid's one step in the tab order now. */
  private rove(cell: HTMLButtonElement): void {
    const grid = $("sequencer");
    for (const other of grid.querySelectorAll<HTMLButtonElement>("button.step[tabindex='0']")) {
      if (other !== cell) other.tabIndex = -1;
    }
    cell.tabIndex = 0;
    grid.dataset.focusNote = cell.dataset.note;
    grid.dataset.focusStep = cell.dataset.step;
  }

  /** The arrow keys, Home and End move between steps (Ctrl+Home/End: the first/last row). */
  private onGridKey(e: KeyboardEvent): void {
    const cell = e.target instanceof HTMLButtonElement && e.target.classList.contains("step") ? e.target : null;
    if (!cell) return;
    const rows = SEQUENCER_ROWS.map((r) => String(r.note));
    let row = rows.indexOf(cell.dataset.note ?? "");
    let step = Number(cell.dataset.step);
    switch (e.key) {
      case "ArrowRight":
        step = Math.min(STEPS - 1, step + 1);
        break;
      case "ArrowLeft":
        step = Math.max(0, step - 1);
        break;
      case "ArrowDown":
        row = Math.min(rows.length - 1, row + 1);
        break;
      case "ArrowUp":
        row = Math.max(0, row - 1);
        break;
      case "Home":
        step = 0;
        if (e.ctrlKey) row = 0;
        break;
      case "End":
        step = STEPS - 1;
        if (e.ctrlKey) row = rows.length - 1;
        break;
      default:
        return;
    }
    e.preventDefault();
    const next = $("sequencer").querySelector<HTMLButtonElement>(`button.step[data-note="${rows[row]}"][data-step="${step}"]`);
    next?.focus();
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
