/** The room's chat: plain text in the sender's colour, the host marked by the relay's word. */
import { api, errorMessage } from "../api";
import { $, input, showRoomError } from "../dom";
import { chatHtml } from "../room";
import type { Store } from "../store";

/** Lines kept in the log. */
const KEEP = 200;

export class Chat {
  constructor(private readonly store: Store) {}

  mount(): void {
    this.store.onRoom("chat", (e) => this.add(e.senderId, this.store.nameOf(e.senderId), e.text));
    this.store.on("entered", () => $("chat-log").replaceChildren());
    $("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const field = input("chat-input");
      const text = field.value.trim();
      if (!text) return;
      api.sendChat(text).then(
        () => {
          const me = this.store.myId;
          this.add(me, me ? this.store.nameOf(me) : "me", text);
          field.value = "";
        },
        (err) => showRoomError(errorMessage(err)),
      );
    });
  }

  private add(senderId: string | undefined, name: string, text: string): void {
    const store = this.store;
    const li = document.createElement("li");
    // <bdi>: a name can't reverse the text around it, whatever characters it holds.
    const who = document.createElement("bdi");
    who.className = "chat-name";
    who.textContent = name;
    who.style.color = senderId ? store.roster.colour(senderId) : store.myColour();
    li.append(who);
    if (store.roster.isHost(senderId)) {
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
    while (log.childElementCount > KEEP) log.firstElementChild?.remove();
    log.scrollTop = log.scrollHeight;
  }
}
