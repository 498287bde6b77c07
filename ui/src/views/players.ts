/** The players list: everyone in their colour, their marks, timing figures and the mix. */
import { api, errorMessage } from "../api";
import { $, showRoomError } from "../dom";
import { chatHtml, type Participant } from "../room";
import { sparklinePoints } from "../sparkline";
import type { ParticipantFigures } from "../bindings/ParticipantFigures";
import { Sounds } from "../sounds";
import type { Store } from "../store";

/** A playout delay above this shows as a warning, ms. */
const LATE_MS = 30;

export class Players {
  constructor(private readonly store: Store) {}

  mount(): void {
    const store = this.store;
    store.onRoom("joined", (e) => {
      store.myId = e.userId;
      store.roster.reset(e.participants);
      store.sounds.reset(e.instruments);
      store.emit("roster", undefined);
    });
    store.onRoom("instrumentChanged", (e) => {
      store.sounds.set(e.senderId, e.keys, e.drums);
      const line = document.querySelector<HTMLElement>(`#participants [data-id="${CSS.escape(e.senderId)}"] .sound`);
      if (line) line.textContent = store.sounds.label(e.senderId);
    });
    store.on("sound", () => {
      const me = store.myId;
      const line = me ? document.querySelector<HTMLElement>(`#participants [data-id="${CSS.escape(me)}"] .sound`) : null;
      if (line) line.textContent = this.myLabel();
    });
    store.onRoom("userJoined", (e) => {
      store.roster.add(e.participant);
      store.emit("roster", undefined);
    });
    store.onRoom("userLeft", (e) => {
      store.roster.remove(e.userId);
      store.sounds.forget(e.userId);
      store.delays.forget(e.userId);
      store.emit("roster", undefined);
    });
    store.onRoom("figures", (e) => this.showFigures(e.rttMs, e.participants));
    store.on("roster", () => this.render());
    store.on("entered", () => this.render());
  }

  private render(): void {
    const store = this.store;
    const list = $("participants");
    list.replaceChildren();
    for (const p of store.roster.list()) list.append(this.row(p));
    const banner = $("listener-banner");
    banner.hidden = !store.listener;
    banner.textContent = `Listening to ${store.roster.hostName() ?? "the host"}'s jam`;
  }

  private row(p: Participant): HTMLLIElement {
    const store = this.store;
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.style.setProperty("--colour", store.roster.colour(p.id));
    const marks = [p.id === store.myId ? "you" : "", p.isHost ? "host" : "", p.role === "listener" ? "listening" : ""].filter(Boolean);
    li.innerHTML = `<span class="dot" aria-hidden="true"></span><span class="pname"></span><span class="marks">${marks.length ? `(${marks.join(", ")})` : ""}</span><span class="figures"></span><svg class="spark" viewBox="0 0 59 12" width="59" height="12" aria-hidden="true"><polyline points="" /></svg>`;
    (li.querySelector(".pname") as HTMLElement).textContent = p.name;
    if (p.role !== "listener") {
      const sound = document.createElement("span");
      sound.className = "sound";
      sound.textContent = p.id === store.myId ? this.myLabel() : store.sounds.label(p.id);
      li.append(sound);
    }
    if (p.id === store.myId) {
      // My own part can play through a synth of mine too.
      if (p.role !== "listener") {
        const mine = document.createElement("div");
        mine.className = "mix";
        mine.append(this.throughPicker(p));
        li.append(mine);
      }
      return li;
    }
    const controls = document.createElement("div");
    controls.className = "mix";
    const gain = store.volumes[p.name] ?? 1;
    controls.innerHTML = `<input type="range" min="0" max="200" value="${Math.round(gain * 100)}" aria-label="Volume of ${chatHtml(p.name)}" /><button class="mute" aria-pressed="${store.muted.has(p.id)}">M</button>`;
    const slider = controls.querySelector("input") as HTMLInputElement;
    const mute = controls.querySelector("button") as HTMLButtonElement;
    const send = () => {
      const value = Number(slider.value) / 100;
      store.volumes[p.name] = value;
      api.setVolume(p.id, p.name, value, store.muted.has(p.id)).catch((e) => showRoomError(errorMessage(e)));
    };
    // A screen reader says "Volume of Ann, 80 %".
    const valueText = () => slider.setAttribute("aria-valuetext", `${slider.value} %`);
    valueText();
    slider.addEventListener("input", valueText);
    slider.addEventListener("input", send);
    mute.addEventListener("click", () => {
      if (store.muted.has(p.id)) store.muted.delete(p.id);
      else store.muted.add(p.id);
      mute.setAttribute("aria-pressed", String(store.muted.has(p.id)));
      send();
    });
    mute.setAttribute("aria-label", `Mute ${p.name}`);
    if (p.role !== "listener") controls.append(this.throughPicker(p));
    li.append(controls);
    return li;
  }

  /** Where a player's part also plays: an existing MIDI output, a synth ("Ann through my synth"). The outputs are listed when the picker is opened. */
  private throughPicker(p: Participant): HTMLSelectElement {
    const store = this.store;
    const picker = document.createElement("select");
    picker.className = "through app-only";
    if (p.id === store.myId) {
      picker.setAttribute("aria-label", "MIDI output my part also plays through");
      picker.title = "Also play my part through a MIDI output (a synth), as I play";
    } else {
      picker.setAttribute("aria-label", `MIDI output ${p.name}'s part also plays through`);
      picker.title = `Also play ${p.name}'s part through a MIDI output (a synth); M mutes Jamwire's own sound of them`;
    }
    const fill = (outputs: string[]) => {
      const chosen = store.through.get(p.name) ?? "";
      const names = chosen && !outputs.includes(chosen) ? [chosen, ...outputs] : outputs;
      picker.replaceChildren(new Option("MIDI: —", ""), ...names.map((n) => new Option(`MIDI: ${n}`, n)));
      picker.value = chosen;
    };
    fill([]);
    picker.addEventListener("focus", () => api.midiOutStatus().then((m) => fill(m.outputs), () => undefined));
    picker.addEventListener("change", () => {
      const port = picker.value;
      api.playThrough(p.id, p.name, port).then(
        () => (port ? store.through.set(p.name, port) : store.through.delete(p.name)),
        (e) => {
          showRoomError(errorMessage(e));
          picker.value = store.through.get(p.name) ?? "";
        },
      );
    });
    return picker;
  }

  /** What the list says we play. */
  /** What I play, as the room hears it — and my own sound, when my keys play it. */
  private myLabel(): string {
    const mine = new Sounds();
    mine.set("me", this.store.instrument, this.store.kit);
    const own = this.store.ownSound;
    return own?.playing ? `${own.name} (the others hear ${mine.label("me")})` : mine.label("me");
  }

  private showFigures(rttMs: number | null, figures: ParticipantFigures[]): void {
    for (const f of figures) {
      const row = document.querySelector<HTMLElement>(`#participants [data-id="${CSS.escape(f.id)}"]`);
      const cell = row?.querySelector<HTMLElement>(".figures");
      if (!row || !cell) continue;
      cell.textContent = `${Math.round(f.delayMs)} ms`;
      // The playout delay after their stamp: what the network, their jitter and our sound card
      // add — so at most this long after their own speaker, you hear them.
      cell.title = `you hear them ${f.delayMs.toFixed(1)} ms after they play (at most) · one way ${f.oneWayMs.toFixed(1)} ms · jitter ${f.jitterMs.toFixed(1)} ms · ${f.eventsPerS.toFixed(0)} events/s`;
      cell.classList.toggle("warn", f.delayMs > LATE_MS);
      row.querySelector(".spark polyline")?.setAttribute("points", sparklinePoints(this.store.delays.push(f.id, f.delayMs), 59, 12));
    }
    const me = this.store.myId;
    const mine = me ? document.querySelector<HTMLElement>(`#participants [data-id="${CSS.escape(me)}"] .figures`) : null;
    if (mine && rttMs !== null) mine.textContent = `RTT ${Math.round(rttMs)} ms`;
  }
}
