/** The app's screens: start (name, host, join) and the jam room, wired to the Rust side. */
import { api, errorMessage, type AudioView, type JamView, type MidiView, type PlayInput, type RelayFigures, type RoomEvent, type StatusView } from "./api";
import { describePlayer, describeTake } from "./takes";
import { History, sparklinePoints } from "./sparkline";
import { Activity } from "./activity";
import { RelayClock, SEQUENCER_ROWS, STEPS, emptyPattern, isOn, position, readPattern, toggleStep, type Pattern, type Tempo } from "./groove";
import { DRUM_PADS, KeyboardPlayer, type Focus, type KeyAction } from "./keyboard";
import { pianoKeys } from "./piano";
import { PALETTE, Roster, chatHtml, findInvite, normalizeInvite, type Participant } from "./room";

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

const player = new KeyboardPlayer();
const roster = new Roster();
const activity = new Activity();
const clock = new RelayClock();
let tempo: Tempo = { bpm: 120, beatsPerBar: 4, anchorMs: 0 };
let pattern: Pattern = emptyPattern();
let jam: JamView | undefined;
let myId: string | undefined;
let volumes: Record<string, number> = {};
const muted = new Set<string>();
const delays = new History();

// ---------------------------------------------------------------- lighting keys and pads

function myColour(): string {
  return myId ? roster.colour(myId) : PALETTE[0];
}

function keyElement(instrument: "piano" | "drums", note: number): HTMLElement | null {
  const parent = instrument === "piano" ? "piano" : "drums";
  return document.querySelector<HTMLElement>(`#${parent} [data-note="${note}"]`);
}

/** Lights a key or pad in a player's colour; drums (and notes with a duration) go out by themselves. */
function light(instrument: "piano" | "drums", note: number, colour: string, who: string, forMs?: number): void {
  const el = keyElement(instrument, note);
  if (!el) return;
  el.style.setProperty("--lit", colour);
  el.classList.add("lit");
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

function unlight(instrument: "piano" | "drums", note: number): void {
  const el = keyElement(instrument, note);
  if (!el) return;
  el.classList.remove("lit");
  delete el.dataset.litBy;
  delete el.dataset.litStamp;
}

function flashParticipant(id: string): void {
  const row = document.querySelector<HTMLElement>(`#participants [data-id="${id}"]`);
  if (!row) return;
  row.classList.add("active");
  setTimeout(() => row.classList.remove("active"), 150);
}

// ---------------------------------------------------------------- playing

function isListener(): boolean {
  return jam?.listener === true;
}

function playLocal(input: PlayInput): void {
  if (isListener()) return;
  if (input.type === "noteOn") light(input.instrument, input.note, myColour(), myId ?? "me");
  if (input.type === "noteOff" && input.instrument === "piano") unlight("piano", input.note);
  if (input.type === "sustain") $("sustain-mark").hidden = !input.on;
  if (jam) activity.record("out", describe(input), performance.now());
  api.play(input).catch((e) => showRoomError(errorMessage(e)));
}

function describe(input: PlayInput): string {
  switch (input.type) {
    case "noteOn":
      return `${input.instrument} ${input.note} on (${input.velocity})`;
    case "noteOff":
      return `${input.instrument} ${input.note} off`;
    case "sustain":
      return `sustain ${input.on ? "down" : "up"}`;
  }
}

function apply(actions: KeyAction[]): void {
  for (const a of actions) {
    switch (a.type) {
      case "noteOn":
        playLocal({ type: "noteOn", instrument: a.instrument, note: a.note, velocity: a.velocity });
        break;
      case "noteOff":
        playLocal({ type: "noteOff", instrument: a.instrument, note: a.note });
        break;
      case "sustain":
        playLocal({ type: "sustain", on: a.on });
        break;
      case "octave":
        renderPiano();
        break;
      case "velocity":
        $("velocity").textContent = String(a.velocity);
        break;
    }
  }
}

function focusNow(target: EventTarget | null): Focus {
  const el = target instanceof HTMLElement ? target : null;
  if (el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable)) {
    return "text";
  }
  if (el?.closest("#drums")) return "drums";
  return "piano";
}

window.addEventListener("keydown", (e) => {
  const focus = focusNow(e.target);
  if (focus !== "text" && e.code === "Space") e.preventDefault();
  const actions = player.keyDown(e, focus);
  if (actions.length > 0) e.preventDefault();
  apply(actions);
});
window.addEventListener("keyup", (e) => apply(player.keyUp(e)));
window.addEventListener("blur", () => apply(player.releaseAll()));

// ---------------------------------------------------------------- instruments

function renderPiano(): void {
  const piano = $("piano");
  const lowest = player.base - 12;
  const keys = pianoKeys(lowest, 3);
  const whites = keys.filter((k) => !k.black).length;
  piano.replaceChildren();
  piano.style.setProperty("--whites", String(whites));
  for (const key of keys) {
    const el = document.createElement("button");
    el.className = key.black ? "key black" : "key white";
    el.dataset.note = String(key.note);
    el.setAttribute("aria-label", key.name);
    el.style.setProperty("--i", String(key.whiteIndex));
    const label = player.labelFor(key.note);
    el.innerHTML = `<span class="letter">${label ?? ""}</span>${key.note % 12 === 0 ? `<span class="octave">${key.name}</span>` : ""}`;
    el.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      el.setPointerCapture?.(e.pointerId);
      el.dataset.down = "1";
      playLocal({ type: "noteOn", instrument: "piano", note: key.note, velocity: player.velocity });
    });
    const up = () => {
      if (el.dataset.down !== "1") return;
      delete el.dataset.down;
      playLocal({ type: "noteOff", instrument: "piano", note: key.note });
    };
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
    el.addEventListener("lostpointercapture", up);
    piano.append(el);
  }
  $("octave-label").textContent = `▸ ${keys[0]?.name}–${keys[keys.length - 1]?.name}`;
  applyListenerMode();
}

function renderDrums(): void {
  const drums = $("drums");
  for (const pad of DRUM_PADS) {
    const el = document.createElement("button");
    el.className = "pad";
    el.dataset.note = String(pad.note);
    el.setAttribute("aria-label", `${pad.label} (${pad.key})`);
    el.innerHTML = `<span>${pad.label}</span><kbd>${pad.key}</kbd>`;
    el.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      playLocal({ type: "noteOn", instrument: "drums", note: pad.note, velocity: player.velocity });
    });
    // Enter or Space on a focused pad (keyboard users) arrives as a click without a pointer.
    el.addEventListener("click", (e) => {
      if (e.detail === 0) playLocal({ type: "noteOn", instrument: "drums", note: pad.note, velocity: player.velocity });
    });
    drums.append(el);
  }
}

function renderSequencer(): void {
  const grid = $("sequencer");
  grid.replaceChildren();
  for (const row of SEQUENCER_ROWS) {
    const label = document.createElement("span");
    label.className = "seq-label";
    label.textContent = row.label;
    grid.append(label);
    for (let step = 0; step < STEPS; step++) {
      const cell = document.createElement("button");
      cell.className = `step${step % 4 === 0 ? " beat-start" : ""}${isOn(pattern, row.note, step) ? " on" : ""}`;
      cell.dataset.note = String(row.note);
      cell.dataset.step = String(step);
      cell.setAttribute("aria-label", `${row.label} step ${step + 1}`);
      cell.setAttribute("aria-pressed", String(isOn(pattern, row.note, step)));
      cell.addEventListener("click", () => changePattern(toggleStep(pattern, row.note, step)));
      grid.append(cell);
    }
  }
  $("seq-toggle").textContent = pattern.running ? "■ Stop" : "▶ Start";
  applyListenerMode();
}

function changePattern(next: Pattern): void {
  if (isListener()) return;
  const before = pattern;
  pattern = next;
  renderSequencer();
  api.setPattern(next).catch((e) => {
    pattern = before;
    renderSequencer();
    showRoomError(errorMessage(e));
  });
}

function applyListenerMode(): void {
  const listening = isListener();
  $("stage").classList.toggle("listening", listening);
  for (const el of document.querySelectorAll<HTMLButtonElement>("#stage button")) el.disabled = listening;
  for (const id of ["bpm", "beats-per-bar"]) ($(id) as HTMLInputElement).disabled = listening;
  ($("chat-input") as HTMLInputElement).disabled = listening;
}

// ---------------------------------------------------------------- the beat

let lastBeat = -1;
let lastColumn = -1;
function drawBeat(): void {
  const { beat, column } = position(tempo, clock.now(performance.now()));
  if (beat !== lastBeat) {
    lastBeat = beat;
    const dots = $("beat");
    if (dots.childElementCount !== tempo.beatsPerBar) {
      dots.replaceChildren(...Array.from({ length: tempo.beatsPerBar }, () => document.createElement("i")));
    }
    [...dots.children].forEach((d, i) => d.classList.toggle("now", i === beat));
  }
  if (column !== lastColumn) {
    lastColumn = column;
    for (const el of document.querySelectorAll(".step.playhead")) el.classList.remove("playhead");
    if (pattern.running) {
      for (const el of document.querySelectorAll(`.step[data-step="${column}"]`)) el.classList.add("playhead");
    }
  }
  requestAnimationFrame(drawBeat);
}

async function syncClock(): Promise<void> {
  try {
    const sent = performance.now();
    const view = await api.clockNow();
    const received = performance.now();
    clock.sample(view.nowMs, received, received - sent);
    setTempo(view.tempo);
  } catch {
    // The next sync will do.
  }
}

function setTempo(t: Tempo): void {
  const changed = t.bpm !== tempo.bpm || t.beatsPerBar !== tempo.beatsPerBar;
  tempo = t;
  // Only a new tempo rewrites the fields: the clock sync repeats the same one every second,
  // and must not overwrite what someone is typing.
  if (!changed) return;
  const bpm = $("bpm") as HTMLInputElement;
  if (document.activeElement !== bpm) bpm.value = String(Math.round(t.bpm * 10) / 10);
  ($("beats-per-bar") as HTMLSelectElement).value = String(t.beatsPerBar);
}

function changeTempo(): void {
  const field = ($("bpm") as HTMLInputElement).value.trim();
  const bpm = Number(field);
  const beats = Number(($("beats-per-bar") as HTMLSelectElement).value);
  if (field === "") return; // still typing (or cleared): keep the tempo
  if (!(bpm >= 20 && bpm <= 400)) {
    ($("bpm") as HTMLInputElement).value = String(Math.round(tempo.bpm * 10) / 10);
    showRoomError("The tempo must be between 20 and 400 BPM.");
    return;
  }
  api.setTempo(bpm, beats).then(setTempo, (e) => showRoomError(errorMessage(e)));
}

// ---------------------------------------------------------------- the room

function showStartError(message: string | undefined): void {
  const el = $("start-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

let roomErrorTimer: ReturnType<typeof setTimeout> | undefined;
function showRoomError(message: string): void {
  const el = $("reconnect-banner");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(roomErrorTimer);
  roomErrorTimer = setTimeout(() => (el.hidden = true), 5_000);
}

function renderParticipants(): void {
  const list = $("participants");
  list.replaceChildren();
  for (const p of roster.list()) {
    const li = document.createElement("li");
    li.dataset.id = p.id;
    li.style.setProperty("--colour", roster.colour(p.id));
    const marks = [p.id === myId ? "you" : "", p.isHost ? "host" : "", p.role === "listener" ? "listening" : ""].filter(Boolean);
    li.innerHTML = `<span class="dot" aria-hidden="true"></span><span class="pname"></span><span class="marks">${marks.length ? `(${marks.join(", ")})` : ""}</span><span class="figures"></span><svg class="spark" viewBox="0 0 59 12" width="59" height="12" aria-hidden="true"><polyline points="" /></svg>`;
    (li.querySelector(".pname") as HTMLElement).textContent = p.name;
    if (p.id !== myId) {
      const controls = document.createElement("div");
      controls.className = "mix";
      const gain = volumes[p.name] ?? 1;
      controls.innerHTML = `<input type="range" min="0" max="200" value="${Math.round(gain * 100)}" aria-label="Volume of ${chatHtml(p.name)}" /><button class="mute" aria-pressed="${muted.has(p.id)}">M</button>`;
      const slider = controls.querySelector("input") as HTMLInputElement;
      const mute = controls.querySelector("button") as HTMLButtonElement;
      const send = () => {
        volumes[p.name] = Number(slider.value) / 100;
        api.setVolume(p.id, p.name, Number(slider.value) / 100, muted.has(p.id)).catch((e) => showRoomError(errorMessage(e)));
      };
      slider.addEventListener("input", send);
      mute.addEventListener("click", () => {
        if (muted.has(p.id)) muted.delete(p.id);
        else muted.add(p.id);
        mute.setAttribute("aria-pressed", String(muted.has(p.id)));
        send();
      });
      mute.setAttribute("aria-label", `Mute ${p.name}`);
      li.append(controls);
    }
    list.append(li);
  }
  const host = roster.hostName();
  const banner = $("listener-banner");
  banner.hidden = !isListener();
  banner.textContent = `Listening to ${host ?? "the host"}'s jam`;
}

function applySavedVolume(p: Participant): void {
  const gain = volumes[p.name];
  if (p.id !== myId && gain !== undefined && gain !== 1) {
    api.setVolume(p.id, p.name, gain, false).catch(() => undefined);
  }
}

function addChat(senderId: string | undefined, name: string, text: string): void {
  const li = document.createElement("li");
  // <bdi>: a name can't reverse the text around it, whatever characters it holds.
  const who = document.createElement("bdi");
  who.className = "chat-name";
  who.textContent = name;
  who.style.color = senderId ? roster.colour(senderId) : myColour();
  li.append(who);
  if (roster.isHost(senderId)) {
    const badge = document.createElement("span");
    badge.className = "host-badge";
    badge.textContent = "host";
    badge.title = "The host of this jam";
    li.append(badge);
  }
  const body = document.createElement("span");
  body.className = "chat-text";
  body.innerHTML = ` ${chatHtml(text)}`;
  li.append(body);
  const log = $("chat-log");
  log.append(li);
  while (log.childElementCount > 200) log.firstElementChild?.remove();
  log.scrollTop = log.scrollHeight;
}

function renderActivity(): void {
  const now = performance.now();
  $("rate-in").textContent = String(activity.perSecond("in", now));
  $("rate-out").textContent = String(activity.perSecond("out", now));
  if (($("activity") as HTMLDetailsElement).open) {
    const log = $("activity-log");
    log.replaceChildren(
      ...activity.last.slice(0, 20).map((l) => {
        const li = document.createElement("li");
        li.textContent = `${l.direction === "in" ? "←" : "→"} ${l.text}`;
        return li;
      }),
    );
  }
}

function nameOf(id: string): string {
  return roster.list().find((p) => p.id === id)?.name ?? "someone";
}

function onRoomEvent(e: RoomEvent): void {
  switch (e.type) {
    case "joined": {
      myId = e.welcome.userId;
      $("rec-mark").hidden = !e.welcome.recording;
      roster.reset(e.welcome.participants);
      for (const p of e.welcome.participants) applySavedVolume(p);
      for (const el of document.querySelectorAll(".key.lit, .pad.lit")) el.classList.remove("lit");
      for (const held of e.welcome.state.heldNotes) light("piano", held.note, roster.colour(held.userId), held.userId);
      const t = e.welcome.state.tempo as { bpm?: number; beatsPerBar?: number; timestamp?: number } | null;
      if (t?.bpm && t.beatsPerBar) setTempo({ bpm: t.bpm, beatsPerBar: t.beatsPerBar, anchorMs: t.timestamp ?? 0 });
      const p = e.welcome.state.pattern as { steps?: unknown } | null;
      pattern = readPattern(p?.steps) ?? emptyPattern();
      renderSequencer();
      renderParticipants();
      break;
    }
    case "userJoined":
      roster.add(e.participant);
      applySavedVolume(e.participant);
      renderParticipants();
      break;
    case "userLeft":
      for (const el of document.querySelectorAll<HTMLElement>(`[data-lit-by="${e.userId}"]`)) el.classList.remove("lit");
      roster.remove(e.userId);
      delays.forget(e.userId);
      renderParticipants();
      break;
    case "remote":
      onRemote(e.senderId, e.event, e.payload, e.inMs);
      break;
    case "figures": {
      for (const f of e.participants) {
        const cell = document.querySelector<HTMLElement>(`#participants [data-id="${f.id}"] .figures`);
        if (!cell) continue;
        cell.textContent = `${Math.round(f.delayMs)} ms`;
        cell.title = `playout delay ${f.delayMs.toFixed(1)} ms · one way ${f.oneWayMs.toFixed(1)} ms · jitter ${f.jitterMs.toFixed(1)} ms · ${f.eventsPerS.toFixed(0)} events/s`;
        cell.classList.toggle("warn", f.delayMs > 30);
        const line = document.querySelector(`#participants [data-id="${f.id}"] .spark polyline`);
        line?.setAttribute("points", sparklinePoints(delays.push(f.id, f.delayMs), 59, 12));
      }
      const mine = document.querySelector<HTMLElement>(`#participants [data-id="${myId}"] .figures`);
      if (mine && e.rttMs !== null) mine.textContent = `RTT ${Math.round(e.rttMs)} ms`;
      break;
    }
  }
}

function onRemote(sender: string, event: string, payload: unknown, inMs: number): void {
  const p = (payload ?? {}) as Record<string, unknown>;
  const colour = roster.colour(sender);
  activity.record("in", `${nameOf(sender)}: ${event} ${typeof p.note === "number" ? p.note : ""}`, performance.now());
  const later = (f: () => void) => (inMs > 1 ? setTimeout(f, inMs) : f());
  const note = typeof p.note === "number" ? p.note : -1;
  switch (event) {
    case "piano_note":
      flashParticipant(sender);
      later(() => light("piano", note, colour, sender, typeof p.duration === "number" ? p.duration : undefined));
      break;
    case "piano_note_off":
      later(() => {
        const el = keyElement("piano", note);
        if (el?.dataset.litBy === sender) unlight("piano", note);
      });
      break;
    case "drum_hit":
      flashParticipant(sender);
      later(() => light("drums", note, colour, sender));
      break;
    case "tempo_change":
      if (typeof p.bpm === "number" && typeof p.beatsPerBar === "number") {
        setTempo({ bpm: p.bpm, beatsPerBar: p.beatsPerBar, anchorMs: typeof p.timestamp === "number" ? p.timestamp : 0 });
      }
      break;
    case "pattern_change": {
      const next = readPattern(p.steps);
      if (next) {
        pattern = next;
        renderSequencer();
      }
      break;
    }
    case "chat":
      if (typeof p.text === "string") addChat(sender, nameOf(sender), p.text);
      break;
  }
}

let reconnectAt: number | undefined;
/** "reconnecting in 3 s…", counting down until the next attempt. */
function showCountdown(): void {
  if (reconnectAt === undefined || $("status").dataset.state !== "reconnecting") return;
  const secs = Math.max(0, Math.ceil((reconnectAt - performance.now()) / 1000));
  const when = secs > 0 ? `in ${secs} s` : "now";
  $("status").textContent = `○ Reconnecting ${when}…`;
  $("reconnect-banner").textContent = `Connection lost — reconnecting ${when}… (playing here keeps working)`;
}

function onStatus(s: StatusView): void {
  const status = $("status");
  const banner = $("reconnect-banner");
  status.dataset.state = s.state;
  $("retry-row").hidden = s.state !== "reconnecting";
  switch (s.state) {
    case "connected":
      status.textContent = "● Connected";
      banner.hidden = true;
      break;
    case "connecting":
      status.textContent = "○ Connecting…";
      break;
    case "reconnecting":
      reconnectAt = performance.now() + (s.retryInMs ?? 0);
      showCountdown();
      banner.hidden = false;
      break;
    case "ended":
      status.textContent = "○ Ended";
      if (jam && s.jamEnded) {
        leaveRoom();
        const notice = $("start-notice");
        notice.textContent = s.reason ?? "The host ended the jam.";
        notice.hidden = false;
      } else if (jam && s.reason) {
        banner.textContent = `The jam ended: ${s.reason}`;
        banner.hidden = false;
      }
      break;
  }
}

function enterRoom(view: JamView): void {
  jam = view;
  $("start-notice").hidden = true;
  $("room-code").textContent = view.room;
  $("invite-text").textContent = view.invite;
  $("host-addresses").textContent = view.isHost && view.addresses.length > 1 ? `also: ${view.addresses.slice(1).join(", ")}` : "";
  $("status").textContent = "● Connected";
  $("start").hidden = true;
  $("room").hidden = false;
  $("stage-slot").append($("stage"));
  $("chat-log").replaceChildren();
  applyListenerMode();
  renderParticipants();
}

let lastFigures: { at: number; figures: RelayFigures } | undefined;
async function showRelayFigures(): Promise<void> {
  const el = $("relay-figures");
  if (!jam?.isHost) {
    el.hidden = true;
    return;
  }
  const figures = await api.relayFigures().catch(() => null);
  if (!figures) return;
  const now = performance.now();
  const rate = (f: (x: RelayFigures) => number) =>
    lastFigures ? Math.round(((f(figures) - f(lastFigures.figures)) * 1000) / (now - lastFigures.at)) : 0;
  el.textContent =
    `Relay: ${figures.connections} connected · in ${rate((x) => x.eventsIn)}/s · out ${rate((x) => x.eventsOut)}/s · ` +
    `slow clients dropped ${figures.slowConsumers} · rate-limited ${figures.rateLimited}` +
    (figures.recorded !== null ? ` · recorded ${figures.recorded}${figures.recordDropped ? ` (${figures.recordDropped} lost)` : ""}` : "");
  el.hidden = false;
  lastFigures = { at: now, figures };
}

async function showTakes(): Promise<void> {
  const list = $("takes");
  const takes = await api.listTakes().catch((e) => {
    $("takes-message").textContent = errorMessage(e);
    return [];
  });
  list.replaceChildren(
    ...takes.map((t) => {
      const li = document.createElement("li");
      li.dataset.take = String(t.id);
      const what = document.createElement("button");
      what.className = "what";
      what.textContent = describeTake(t);
      what.setAttribute("aria-expanded", "false");
      what.title = "Who played";
      const who = document.createElement("ul");
      who.className = "who";
      who.hidden = true;
      what.addEventListener("click", async () => {
        if (who.hidden) {
          const players = await api.takeDetails(t.id).catch((e) => {
            $("takes-message").textContent = errorMessage(e);
            return [];
          });
          who.replaceChildren(
            ...players.map((p) => {
              const item = document.createElement("li");
              item.textContent = describePlayer(p, t.startedMs);
              return item;
            }),
          );
        }
        who.hidden = !who.hidden;
        what.setAttribute("aria-expanded", String(!who.hidden));
      });
      const button = (label: string, action: () => Promise<void>) => {
        const b = document.createElement("button");
        b.textContent = label;
        b.setAttribute("aria-label", `${label} take ${t.id}`);
        b.addEventListener("click", () => action().catch((e) => ($("takes-message").textContent = errorMessage(e))));
        return b;
      };
      li.append(
        what,
        who,
        button("Replay", async () => {
          const ms = await api.replayTake(t.id);
          $("takes-message").textContent = `Replaying take ${t.id} (${Math.round(ms / 1000)} s)…`;
        }),
        button("Export MIDI", async () => {
          const path = await api.exportTake(t.id);
          $("takes-message").textContent = `Saved ${path}`;
        }),
        button("Delete", async () => {
          await api.deleteTake(t.id);
          $("takes-message").textContent = `Take ${t.id} deleted.`;
          await showTakes();
        }),
      );
      return li;
    }),
  );
  if (takes.length === 0 && !$("takes-message").textContent) {
    $("takes-message").textContent = "No takes yet: host a jam with recording on.";
  }
}

function leaveRoom(): void {
  apply(player.releaseAll());
  jam = undefined;
  myId = undefined;
  roster.reset([]);
  api.leave().then(showTakes, (e) => showStartError(errorMessage(e)));
  $("room").hidden = true;
  $("start").hidden = false;
  $("start").append($("stage"));
  applyListenerMode();
  for (const el of document.querySelectorAll(".lit")) el.classList.remove("lit");
}

async function busy<T>(button: HTMLButtonElement, what: () => Promise<T>): Promise<T | undefined> {
  button.disabled = true;
  showStartError(undefined);
  try {
    return await what();
  } catch (e) {
    showStartError(errorMessage(e));
    return undefined;
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------- settings

function showAudio(audio: AudioView): void {
  $("audio-status").textContent = audio.error
    ? `Audio: none — ${audio.error}`
    : `Audio: ${audio.device} · ${audio.bufferFrames ?? "default"} frames · ${(audio.sampleRate ?? 0) / 1000} kHz`;
  $("audio-status").classList.toggle("error", Boolean(audio.error));
  const select = $("audio-device") as HTMLSelectElement;
  const current = select.value;
  select.replaceChildren(new Option("System default", ""), ...audio.devices.map((d) => new Option(d, d)));
  select.value = current;
}

function showMidi(midi: MidiView): void {
  const connected = midi.devices.filter((d) => d.connected).map((d) => `${d.name} ✓`);
  $("midi-status").textContent = midi.error
    ? "MIDI: not available here — the mouse and computer keyboard still play"
    : `MIDI: ${connected.length ? connected.join(", ") : "no keyboard chosen (⚙ Settings)"}`;
  $("midi-status").title = midi.error ?? "";
  $("midi-error").textContent = midi.error ?? (midi.devices.length === 0 ? "No MIDI devices found. Plug one in; it appears here." : "");
  const list = $("midi-list");
  list.replaceChildren(
    ...midi.devices.map((d) => {
      const li = document.createElement("li");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = d.chosen;
      box.addEventListener("change", () => api.setMidiInput(d.name, box.checked).then(showMidi, (e) => ($("midi-error").textContent = errorMessage(e))));
      const label = document.createElement("label");
      label.append(box, ` ${d.name} `, d.chosen ? (d.connected ? "— connected" : "— unplugged") : "");
      li.append(label);
      return li;
    }),
  );
}

function toggleSettings(open: boolean): void {
  $("settings").hidden = !open;
  if (open) api.midiStatus().then(showMidi, () => undefined);
}

// ---------------------------------------------------------------- start

async function start(): Promise<void> {
  renderPiano();
  renderDrums();
  renderSequencer();
  requestAnimationFrame(drawBeat);
  setInterval(syncClock, 1_000);
  setInterval(renderActivity, 500);
  setInterval(showCountdown, 250);
  setInterval(() => void showRelayFigures(), 1_000);
  void syncClock();
  await api.onStatus(onStatus);
  await api.onMidiDevices(showMidi);

  const startup = await api.startup();
  const s = startup.settings;
  ($("name") as HTMLInputElement).value = s.name;
  ($("join-invite") as HTMLInputElement).value = s.lastInvite;
  ($("host-port") as HTMLInputElement).value = String(s.hostPort);
  ($("buffer-frames") as HTMLSelectElement).value = String(s.bufferFrames);
  ($("playout") as HTMLSelectElement).value = s.playout;
  ($("fixed-delay") as HTMLInputElement).value = String(s.fixedDelayMs);
  ($("click-toggle") as HTMLInputElement).checked = s.click;
  ($("host-record") as HTMLInputElement).checked = s.recordTakes;
  void showTakes();
  volumes = { ...s.volumes };
  showAudio(startup.audio);
  ($("audio-device") as HTMLSelectElement).value = s.audioDevice;
  showMidi(startup.midi);
  setTempo(startup.tempo);
  pattern = startup.pattern.rows.length ? startup.pattern : emptyPattern();
  renderSequencer();

  const name = $("name") as HTMLInputElement;
  const invite = $("join-invite") as HTMLInputElement;
  const remember = () => api.remember(name.value, invite.value).catch(() => undefined);
  name.addEventListener("change", remember);
  if (!name.value) name.focus();

  // Pasting an invite anywhere on the start screen fills the Join field.
  document.addEventListener("paste", (e) => {
    if ($("start").hidden) return;
    const found = findInvite(e.clipboardData?.getData("text") ?? "");
    if (found && e.target !== invite) {
      invite.value = found;
      e.preventDefault();
    }
  });

  $("host-button").addEventListener("click", async () => {
    const button = $("host-button") as HTMLButtonElement;
    const port = Number(($("host-port") as HTMLInputElement).value);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      showStartError("The port must be a number from 1 to 65535 (7878 is the usual one).");
      return;
    }
    const view = await busy(button, () =>
      api.host(
        name.value,
        ($("host-password") as HTMLInputElement).value,
        port,
        ($("host-record") as HTMLInputElement).checked,
        onRoomEvent,
      ),
    );
    if (view) enterRoom(view);
  });

  $("join-button").addEventListener("click", async () => {
    const button = $("join-button") as HTMLButtonElement;
    const text = normalizeInvite(invite.value);
    const listener = ($("role-listen") as HTMLInputElement).checked;
    const view = await busy(button, () =>
      api.join(name.value, text, listener, ($("join-password") as HTMLInputElement).value, onRoomEvent),
    );
    if (view) enterRoom(view);
  });

  $("leave-button").addEventListener("click", leaveRoom);
  $("retry-now").addEventListener("click", () => api.retryNow().catch((e) => showRoomError(errorMessage(e))));
  $("copy-invite").addEventListener("click", async () => {
    const text = $("invite-text").textContent ?? "";
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // WebKit may refuse the async clipboard: select the text and copy it the old way.
      const range = document.createRange();
      range.selectNodeContents($("invite-text"));
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
      document.execCommand("copy");
    }
    const copied = $("copied");
    copied.hidden = false;
    setTimeout(() => (copied.hidden = true), 1_500);
  });

  $("oct-down").addEventListener("click", () => apply(player.keyDown({ code: "KeyZ", repeat: false, shiftKey: false }, "piano")));
  $("oct-up").addEventListener("click", () => apply(player.keyDown({ code: "KeyX", repeat: false, shiftKey: false }, "piano")));

  $("bpm").addEventListener("change", changeTempo);
  $("bpm").addEventListener("keydown", (e) => {
    if (e.key === "Enter") ($("bpm") as HTMLInputElement).blur();
  });
  $("beats-per-bar").addEventListener("change", changeTempo);
  $("click-toggle").addEventListener("change", () =>
    api.setClick(($("click-toggle") as HTMLInputElement).checked).catch((e) => showRoomError(errorMessage(e))),
  );
  $("seq-toggle").addEventListener("click", () => changePattern({ ...pattern, running: !pattern.running }));
  $("seq-clear").addEventListener("click", () => changePattern({ ...emptyPattern(), running: pattern.running }));

  $("chat-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const input = $("chat-input") as HTMLInputElement;
    const text = input.value.trim();
    if (!text) return;
    api.sendChat(text).then(
      () => {
        addChat(myId, nameOf(myId ?? ""), text);
        input.value = "";
      },
      (err) => showRoomError(errorMessage(err)),
    );
  });

  $("settings-open").addEventListener("click", () => toggleSettings($("settings").hidden));
  $("settings-open-room").addEventListener("click", () => toggleSettings($("settings").hidden));
  $("settings-close").addEventListener("click", () => toggleSettings(false));
  const audioChanged = () => {
    const device = ($("audio-device") as HTMLSelectElement).value;
    const frames = Number(($("buffer-frames") as HTMLSelectElement).value);
    api.setAudio(device, frames).then(
      (a) => {
        showAudio(a);
        $("audio-error").hidden = true;
        // A new output is a new engine: give it everyone's volume and mute again.
        for (const p of roster.list()) {
          if (p.id === myId) continue;
          const gain = volumes[p.name] ?? 1;
          if (gain !== 1 || muted.has(p.id)) api.setVolume(p.id, p.name, gain, muted.has(p.id)).catch(() => undefined);
        }
      },
      (e) => {
        $("audio-error").textContent = errorMessage(e);
        $("audio-error").hidden = false;
      },
    );
  };
  $("audio-device").addEventListener("change", audioChanged);
  $("buffer-frames").addEventListener("change", audioChanged);
  const playoutChanged = () =>
    api
      .setPlayout(($("playout") as HTMLSelectElement).value, Number(($("fixed-delay") as HTMLInputElement).value))
      .catch((e) => showRoomError(errorMessage(e)));
  $("playout").addEventListener("change", playoutChanged);
  $("fixed-delay").addEventListener("change", playoutChanged);
}

start().catch((e) => showStartError(`Jamwire couldn't start: ${errorMessage(e)}`));
