/** The settings drawer (audio output and buffer, MIDI inputs, timing) and the footer. */
import { api, errorMessage, type AudioView, type MidiView, type StartupView, type Timing } from "../api";
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
    $("about").textContent = `Jamwire ${startup.about.version} · protocol v${startup.about.protocol}`;

    $("settings-open").addEventListener("click", () => this.toggle($("settings").hidden));
    $("settings-open-room").addEventListener("click", () => this.toggle($("settings").hidden));
    $("settings-close").addEventListener("click", () => this.toggle(false));
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

  private toggle(open: boolean): void {
    $("settings").hidden = !open;
    if (open) api.midiStatus().then((m) => this.showMidi(m), () => undefined);
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
