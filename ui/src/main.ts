/** Boots the desktop app's UI: one store, the views, and the Rust side's start-up state. */
import { api, errorMessage, inApp } from "./api";
import { isTextField, nameWrappedControls, showStartError } from "./dom";
import { Store } from "./store";
import { Announcer } from "./views/announcer";
import { Chat } from "./views/chat";
import { Instruments } from "./views/instruments";
import { Players } from "./views/players";
import { Room } from "./views/room";
import { Sequencer } from "./views/sequencer";
import { SettingsView } from "./views/settings";
import { SoundPicker } from "./views/sound";
import { Start } from "./views/start";
import { Takes } from "./views/takes";

/** The keys panel: `?` (outside a text field) or the footer's "? Keys" opens it; Escape or
 * Close closes it and the focus goes back where it was (a modal `<dialog>` does both). */
function mountHelp(): void {
  const help = document.getElementById("help") as HTMLDialogElement | null;
  if (!help || typeof help.showModal !== "function") return;
  const open = () => {
    if (!help.open) help.showModal();
  };
  document.getElementById("help-open")?.addEventListener("click", open);
  window.addEventListener("keydown", (e) => {
    if (e.key === "?" && !isTextField(e.target instanceof Element ? e.target : null)) {
      e.preventDefault();
      open();
    }
  });
}

async function boot(): Promise<void> {
  // In a browser (the relay's guest page) the same views run on the WebSocket transport.
  if (!inApp) document.body.classList.add("guest");
  nameWrappedControls();
  const store = new Store();
  const room = new Room(store);
  // The announcer before the player list (a leaver's name is still known), the player list
  // before the rest: they colour what they draw by the roster it keeps.
  new Announcer(store).mount();
  new Players(store).mount();
  new Instruments(store).mount();
  new Sequencer(store).mount();
  new Chat(store).mount();
  room.mount();
  new Takes(store).mount();
  const startup = await api.startup();
  new SettingsView(store).mount(startup);
  store.setSound(startup.settings.instrument, startup.settings.kit, startup.settings.favourites);
  new SoundPicker(store).mount();
  store.setTempo(startup.tempo);
  if (startup.pattern.rows.length) store.setPattern(startup.pattern);
  new Start(store, (view) => room.enter(view)).mount(startup);
  mountHelp();
}

boot().catch((e) => showStartError(`Jamwire couldn't start: ${errorMessage(e)}`));
