/**
 * What a screen reader is told of the room, and nothing more: who joined or left, the
 * connection lost and back, a tempo change, a chat message. Never a note (a jam plays
 * thousands). One polite live region, `#announcer` (visually hidden, `role="log"`): each
 * announcement is a new line in it, the oldest dropped beyond a few, so a repeated message is
 * read again and nothing grows without end.
 */
import { $ } from "../dom";
import type { Store } from "../store";

/** Lines the live region keeps (older ones have been read). */
const KEPT = 5;

/** Says `text` to a screen reader (politely: after what it is reading). */
export function announce(text: string): void {
  const region = $("announcer");
  const line = document.createElement("p");
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > KEPT) region.firstElementChild?.remove();
}

export class Announcer {
  private lastState: string | undefined;

  constructor(private readonly store: Store) {}

  /** Mount before the player list: a leaver's name is still known when their leaving is said. */
  mount(): void {
    const store = this.store;
    store.onRoom("joined", () => {
      this.lastState = "connected";
    });
    store.onRoom("userJoined", (e) => {
      const p = e.participant;
      announce(p.role === "listener" ? `${p.name} joined to listen` : `${p.name} joined`);
    });
    store.onRoom("userLeft", (e) => announce(`${store.nameOf(e.userId)} left`));
    store.onRoom("tempoChanged", (e) => announce(`Tempo ${Math.round(e.tempo.bpm)} BPM, ${e.tempo.beatsPerBar} beats a bar`));
    store.onRoom("chat", (e) => {
      if (e.senderId !== store.myId) announce(`${store.nameOf(e.senderId)} says: ${e.text}`);
    });
    store.onRoom("status", (e) => {
      const s = e.status;
      if (s.state === this.lastState) return;
      const was = this.lastState;
      this.lastState = s.state;
      if (s.state === "reconnecting" && was === "connected") announce("Connection lost, reconnecting");
      else if (s.state === "connected" && was && was !== "connected") announce("Connected again");
      else if (s.state === "ended" && s.reason) announce(`The jam ended: ${s.reason}`);
    });
  }
}
