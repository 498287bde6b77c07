/** The settings drawer (audio output and buffer, MIDI inputs, timing) and the footer. */
import { api, errorMessage, type AudioView, type MidiOutView, type MidiView, type StartupView, type Timing } from "../api";
import { $, input, select, showRoomError } from "../dom";
import type { Store } from "../store";

export class SettingsView {
  constructor(private readonly store: Store) {}

  mount(startup: StartupView): void {
    const s = startup.settings;
    select("buffer-frames").value = String(s.bufferFrames);
    select("playout").value = s.playout;
    input("fixed-delay").value = String(s.fixedDelayMs);
    input("click-toggle").checked = s.click;
    this.store.volumes = { ...s.volumes };
    this.showAudio(startup.audio);
    select("audio-device").value = s.audioDevice;
    this.showMidi(startup.midi);
    void api.onMidiDevices((m) => this.showMidi(m));
    input("midi-out").checked = s.midiOut;
    input("midi-out-offset").value = String(s.midiOutOffsetMs);
    input("midi-clock").checked = s.midiClock;
    this.showMidiOut(startup.midiOut, s.midiOutPort);
    const midiOutChanged = () =>
      api
        .setMidiOut(
          input("midi-out").checked,
          select("midi-out-port").value,
          Number(input("midi-out-offset").value),
          input("midi-clock").checked,
        )
        .then(
          (m) => this.showMidiOut(m, select("midi-out-port").value),
          (e) => ($("midi-out-error").textContent = errorMessage(e)),
        );
    for (const id of ["midi-out", "midi-out-port", "midi-out-offset", "midi-clock"]) $(id).addEventListener("change", midiOutChanged);
    $("about").textContent = `Jamwire ${startup.about.version} · protocol v${startup.about.protocol}`;

    $("settings-open").addEventListener("click", () => this.toggle($("settings").hidden));
    $("settings-open-room").addEventListener("click", () => this.toggle($("settings").hidden));
    $("settings-close").addEventListener("click", () => this.toggle(false));
    // Escape closes the settings wherever the focus is in them.
    $("settings").addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        this.toggle(false);
      }
    });
    const audioChanged = () => {
      // The Rust side gives a new output everyone's volume and mute again.
      api.setAudio(select("audio-device").value, Number(select("buffer-frames").value)).then(
        (a) => {
          this.showAudio(a);
          $("audio-error").hidden = true;
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
        .setPlayout(select("playout").value as Timing, Number(input("fixed-delay").value))
        .catch((e) => showRoomError(errorMessage(e)));
    $("playout").addEventListener("change", playoutChanged);
    $("port-mapping").addEventListener("change", () =>
      api.setPortMapping(input("port-mapping").checked).catch((e) => showRoomError(errorMessage(e))),
    );
    $("fixed-delay").addEventListener("change", playoutChanged);
  }

  /** What had the focus when the settings opened: it gets it back when they close. */
  private opener: HTMLElement | null = null;

  private toggle(open: boolean): void {
    const panel = $("settings");
    if (open && panel.hidden) {
      this.opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    }
    panel.hidden = !open;
    if (open) {
      // The focus goes into the panel, to its heading (read first, then Tab to the controls).
      const title = $("settings-title");
      title.tabIndex = -1;
      title.focus();
    } else if (this.opener?.isConnected) {
      this.opener.focus();
      this.opener = null;
    }
    if (open) api.midiStatus().then((m) => this.showMidi(m), () => undefined);
    if (open) api.midiOutStatus().then((m) => this.showMidiOut(m, select("midi-out-port").value), () => undefined);
  }

  private showAudio(audio: AudioView): void {
    $("audio-status").textContent = audio.error
      ? `Audio: none — ${audio.error}`
      : `Audio: ${audio.device} · ${audio.bufferFrames ?? "default"} frames · ${(audio.sampleRate ?? 0) / 1000} kHz`;
    $("audio-status").classList.toggle("error", Boolean(audio.error));
    const devices = select("audio-device");
    const current = devices.value;
    devices.replaceChildren(new Option("System default", ""), ...audio.devices.map((d) => new Option(d, d)));
    devices.value = current;
  }

  /** MIDI out: our own ports where the system has them (not Windows: there, an existing output such as a loopMIDI port). */
  private showMidiOut(out: MidiOutView, chosen: string): void {
    $("midi-out-own").hidden = !out.virtualPorts;
    const ports = select("midi-out-port");
    const names = out.outputs.includes(chosen) || chosen === "" ? out.outputs : [chosen, ...out.outputs];
    ports.replaceChildren(new Option("Nowhere", ""), ...names.map((n) => new Option(n, n)));
    ports.value = chosen;
    $("midi-out-error").textContent =
      out.error ?? (out.virtualPorts ? "" : "Windows has no MIDI ports of Jamwire's own: pick a loopMIDI port (loopmidi, free) or a synth.");
  }

  private showMidi(midi: MidiView): void {
    const connected = midi.devices.filter((d) => d.connected).map((d) => `${d.name} ✓`);
    $("midi-status").textContent = midi.error
      ? "MIDI: not available here — the mouse and computer keyboard still play"
      : `MIDI: ${connected.length ? connected.join(", ") : "no keyboard chosen (⚙ Settings)"}`;
    $("midi-status").title = midi.error ?? "";
    $("midi-error").textContent = midi.error ?? (midi.devices.length === 0 ? "No MIDI devices found. Plug one in; it appears here." : "");
    $("midi-list").replaceChildren(
      ...midi.devices.map((d) => {
        const li = document.createElement("li");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = d.chosen;
        box.addEventListener("change", () =>
          api.setMidiInput(d.name, box.checked).then(
            (m) => this.showMidi(m),
            (e) => ($("midi-error").textContent = errorMessage(e)),
          ),
        );
        const label = document.createElement("label");
        label.append(box, ` ${d.name} `, d.chosen ? (d.connected ? "— connected" : "— unplugged") : "");
        li.append(label);
        return li;
      }),
    );
  }
}
