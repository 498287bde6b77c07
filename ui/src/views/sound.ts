/**
 * Choosing a sound: the keys panel's title is a button naming ours ("Finger bass ▾") that opens
 * a searchable list by family. Arrowing onto (or pointing at) an entry plays a short preview
 * here only; Enter or a click chooses it, and the room hears it from our next note. A star
 * keeps up to four favourites, switched with Alt+1…4. The drum panel has a kit menu.
 *
 * In the app, "My sound" loads a SoundFont or a folder of recordings through the system's file
 * chooser and plays it on our keys; only we hear it, and the room hears the palette sound we
 * pick for it (the nearest to the font's preset at first).
 */
import { api, errorMessage } from "../api";
import { $, select, showRoomError } from "../dom";
import type { OwnSoundView } from "../bindings/OwnSoundView";
import { KEYS_SOUNDS, KITS, favouriteFor, groups, soundName, toggleFavourite } from "../sounds";
import type { Store } from "../store";

/** How long an entry must stay under the arrow or the pointer before it is previewed, ms. */
const PREVIEW_AFTER_MS = 150;

export class SoundPicker {
  /** The option ids shown, in order, and the one under the arrow keys. */
  private shown: string[] = [];
  private active = -1;
  private previewTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly store: Store) {}

  mount(): void {
    const button = $("keys-sound");
    const search = $<HTMLInputElement>("sound-search");
    button.addEventListener("click", () => (this.isOpen() ? this.close() : this.open()));
    search.addEventListener("input", () => this.renderList(search.value));
    search.addEventListener("keydown", (e) => this.onKey(e));
    $("sound-list").addEventListener("mousedown", (e) => e.preventDefault()); // keep the search focused
    $("fav-toggle").addEventListener("click", () => {
      void this.setFavourites(toggleFavourite(this.store.favourites, this.store.instrument));
    });
    document.addEventListener("pointerdown", (e) => {
      if (this.isOpen() && !(e.target instanceof Node && $("keys-sound").parentElement?.contains(e.target))) this.close();
    });
    window.addEventListener("keydown", (e) => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      const digit = /^Digit([1-9])$/.exec(e.code)?.[1];
      const id = digit ? favouriteFor(this.store.favourites, Number(digit)) : undefined;
      if (id) {
        e.preventDefault();
        void this.choose(id);
      }
    });
    const kit = select("kit-select");
    fillSounds(kit, KITS);
    kit.addEventListener("change", () => void this.chooseKit(kit.value));
    this.mountOwn();
    this.store.on("sound", () => this.render());
    this.render();
  }

  /** The font waiting for its preset to be chosen. */
  private pendingFont = "";

  private mountOwn(): void {
    const heard = select("own-heard-as");
    fillSounds(heard, KEYS_SOUNDS);
    heard.addEventListener("change", () => void this.playOwn(this.store.ownSound?.playing ?? true, heard.value));
    $("own-play").addEventListener("click", () => void this.playOwn(!(this.store.ownSound?.playing ?? false), null));
    $("own-font").addEventListener("click", () => void this.pickOwn(false));
    $("own-folder").addEventListener("click", () => void this.pickOwn(true));
    $("own-preset-load").addEventListener("click", () => {
      const [bank, program] = select("own-preset").value.split(":").map(Number);
      if (this.pendingFont && bank !== undefined && program !== undefined) void this.loadOwn(this.pendingFont, [bank, program]);
    });
    // Loaded again at start in the background: asked for now, and whenever the menu opens.
    this.refreshOwn();
  }

  private refreshOwn(): void {
    api
      .ownSound()
      .then((v) => {
        if (!v) return;
        this.store.ownSound = v;
        this.store.setSound(v.heardAs, this.store.kit, this.store.favourites);
      })
      .catch(() => undefined);
  }

  private ownStatus(text: string): void {
    $("own-status").textContent = text;
  }

  /** The file chooser, then the preset (when the font has several), then the load. */
  private async pickOwn(folder: boolean): Promise<void> {
    try {
      const path = await api.chooseOwnSound(folder);
      if (!path) return;
      if (folder) return await this.loadOwn(path, null);
      const presets = await api.ownSoundPresets(path);
      if (presets.length <= 1) {
        const only = presets[0];
        return await this.loadOwn(path, only ? [only.bank, only.program] : null);
      }
      this.pendingFont = path;
      select("own-preset").replaceChildren(
        ...presets.map((p) => {
          const o = document.createElement("option");
          o.value = `${p.bank}:${p.program}`;
          o.textContent = `${p.bank}:${p.program} ${p.name}`;
          return o;
        }),
      );
      $("own-preset-label").hidden = false;
      this.ownStatus(`${presets.length} presets in this SoundFont: choose one and Load.`);
      select("own-preset").focus();
    } catch (e) {
      this.ownStatus(errorMessage(e));
    }
  }

  private async loadOwn(path: string, preset: [number, number] | null): Promise<void> {
    this.ownStatus("Loading…");
    try {
      const view = await api.loadOwnSound(path, preset, null);
      $("own-preset-label").hidden = true;
      this.pendingFont = "";
      this.store.setSound(view.heardAs, this.store.kit, this.store.favourites);
      this.store.setOwnSound(view);
    } catch (e) {
      this.ownStatus(errorMessage(e));
    }
  }

  /** Our keys play our own sound (`on`) or the palette's; `heardAs` changes what the room hears. */
  private async playOwn(on: boolean, heardAs: string | null): Promise<void> {
    try {
      const settings = await api.playOwnSound(on, heardAs);
      const own = this.store.ownSound;
      if (own) this.store.ownSound = { ...own, playing: settings.playOwnSound, heardAs: settings.instrument };
      this.store.setSound(settings.instrument, settings.kit, settings.favourites);
    } catch (e) {
      this.ownStatus(errorMessage(e));
    }
  }

  private renderOwn(own: OwnSoundView | null): void {
    const play = $("own-play");
    play.hidden = own === null;
    $("own-heard-label").hidden = own === null;
    if (!own) return;
    play.textContent = `Play ${own.name}`;
    play.setAttribute("aria-pressed", String(own.playing));
    select("own-heard-as").value = own.heardAs;
    const notes = own.notes.length ? ` ${own.notes.join(" ")}` : "";
    this.ownStatus(`${own.name}: ${own.zones} recording${own.zones === 1 ? "" : "s"} by key. Only you hear it.${notes}`);
  }

  private isOpen(): boolean {
    return !$("sound-menu").hidden;
  }

  open(): void {
    this.refreshOwn();
    const search = $<HTMLInputElement>("sound-search");
    $("sound-menu").hidden = false;
    $("keys-sound").setAttribute("aria-expanded", "true");
    search.value = "";
    this.renderList("");
    this.setActive(this.shown.indexOf(this.store.instrument), false);
    search.focus();
  }

  close(): void {
    clearTimeout(this.previewTimer);
    $("sound-menu").hidden = true;
    $("keys-sound").setAttribute("aria-expanded", "false");
  }

  private onKey(e: KeyboardEvent): void {
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 5, PageUp: -5 }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      const n = this.shown.length;
      if (n > 0) this.setActive(Math.min(n - 1, Math.max(0, (this.active < 0 ? -1 : this.active) + step)), true);
    } else if (e.key === "Home" || e.key === "End") {
      e.preventDefault();
      this.setActive(e.key === "Home" ? 0 : this.shown.length - 1, true);
    } else if (e.key === "Enter") {
      e.preventDefault();
      const id = this.shown[this.active];
      if (id) void this.choose(id);
      this.close();
      $("keys-sound").focus();
    } else if (e.key === "Escape") {
      e.preventDefault();
      this.close();
      $("keys-sound").focus();
    }
    // Typing goes to the search field; it never plays notes (it is a text field).
  }

  private renderList(query: string): void {
    const list = $("sound-list");
    list.replaceChildren();
    this.shown = [];
    for (const g of groups(query)) {
      const head = document.createElement("li");
      head.setAttribute("role", "presentation");
      head.textContent = g.family;
      list.append(head);
      for (const s of g.sounds) {
        const li = document.createElement("li");
        li.id = `sound-${s.id}`;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", String(s.id === this.store.instrument && !this.store.ownSound?.playing));
        li.textContent = s.name;
        li.title = `${s.family}: ${s.name}`;
        const index = this.shown.length;
        li.addEventListener("pointerenter", () => this.setActive(index, true));
        li.addEventListener("click", () => {
          void this.choose(s.id);
          this.close();
        });
        list.append(li);
        this.shown.push(s.id);
      }
    }
    if (this.shown.length === 0) {
      const none = document.createElement("li");
      none.setAttribute("role", "presentation");
      none.textContent = "No sound by that name";
      list.append(none);
    }
    this.setActive(this.shown.length ? 0 : -1, false);
  }

  private setActive(index: number, preview: boolean): void {
    this.active = index;
    const search = $("sound-search");
    for (const el of $("sound-list").querySelectorAll(".active")) el.classList.remove("active");
    const id = this.shown[index];
    if (!id) {
      search.removeAttribute("aria-activedescendant");
      return;
    }
    const el = document.getElementById(`sound-${id}`);
    el?.classList.add("active");
    el?.scrollIntoView({ block: "nearest" });
    search.setAttribute("aria-activedescendant", `sound-${id}`);
    clearTimeout(this.previewTimer);
    if (preview) {
      this.previewTimer = setTimeout(() => {
        api.previewInstrument(id).catch((e) => showRoomError(errorMessage(e)));
      }, PREVIEW_AFTER_MS);
    }
  }

  /** Chooses keys sound `id`: heard here at once, by the room from our next note. */
  async choose(id: string): Promise<void> {
    try {
      const settings = await api.setInstrument(id, this.store.kit);
      const own = this.store.ownSound;
      if (own) this.store.ownSound = { ...own, playing: false, heardAs: settings.instrument };
      this.store.setSound(settings.instrument, settings.kit, settings.favourites);
    } catch (e) {
      showRoomError(errorMessage(e));
    }
  }

  private async chooseKit(id: string): Promise<void> {
    try {
      const settings = await api.setInstrument(this.store.instrument, id);
      this.store.setSound(settings.instrument, settings.kit, settings.favourites);
      api.previewInstrument(id).catch(() => undefined);
    } catch (e) {
      showRoomError(errorMessage(e));
    }
  }

  private async setFavourites(ids: string[]): Promise<void> {
    try {
      const settings = await api.setFavourites(ids);
      this.store.setSound(settings.instrument, settings.kit, settings.favourites);
    } catch (e) {
      showRoomError(errorMessage(e));
    }
  }

  private render(): void {
    const store = this.store;
    const button = $("keys-sound");
    const own = store.ownSound?.playing ? store.ownSound : null;
    button.textContent = own ? `My sound: ${own.name} ▾` : `${soundName(store.instrument)} ▾`;
    button.setAttribute(
      "aria-label",
      own
        ? `Sound: your own, ${own.name}; the others hear ${soundName(store.instrument)}. Choose another`
        : `Sound: ${soundName(store.instrument)}. Choose another`,
    );
    this.renderOwn(store.ownSound);
    const fav = $("fav-toggle");
    const isFav = store.favourites.includes(store.instrument);
    fav.textContent = isFav ? "★" : "☆";
    fav.setAttribute("aria-pressed", String(isFav));
    fav.setAttribute("aria-label", isFav ? `Remove ${soundName(store.instrument)} from favourites` : `Add ${soundName(store.instrument)} to favourites`);
    $("favourites").replaceChildren(
      ...store.favourites.map((id, i) => {
        const b = document.createElement("button");
        b.textContent = soundName(id);
        b.title = `Alt+${i + 1}`;
        b.setAttribute("aria-keyshortcuts", `Alt+${i + 1}`);
        b.setAttribute("aria-pressed", String(id === store.instrument));
        b.addEventListener("click", () => void this.choose(id));
        return b;
      }),
    );
    select("kit-select").value = store.kit;
  }
}

/** Fills a menu with sounds of the palette, each by name. */
function fillSounds(menu: HTMLSelectElement, sounds: readonly { id: string; name: string }[]): void {
  menu.replaceChildren(
    ...sounds.map((s) => {
      const o = document.createElement("option");
      o.value = s.id;
      o.textContent = s.name;
      return o;
    }),
  );
}
