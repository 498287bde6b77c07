/** The takes on the start screen: every jam this player hosted, to open, replay, export, delete. */
import { api, errorMessage, type TakeView } from "../api";
import { $ } from "../dom";
import type { Store } from "../store";
import { describePlayer, describeTake } from "../takes";

export class Takes {
  constructor(private readonly store: Store) {}

  mount(): void {
    this.store.on("departed", () => void this.show());
    void this.show();
  }

  private say(text: string): void {
    $("takes-message").textContent = text;
  }

  async show(): Promise<void> {
    const takes = await api.listTakes().catch((e) => {
      this.say(errorMessage(e));
      return [];
    });
    $("takes").replaceChildren(...takes.map((t) => this.item(t)));
    if (takes.length === 0 && !$("takes-message").textContent) this.say("No takes yet: host a jam with recording on.");
  }

  private item(t: TakeView): HTMLLIElement {
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
          this.say(errorMessage(e));
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
      b.addEventListener("click", () => action().catch((e) => this.say(errorMessage(e))));
      return b;
    };
    li.append(
      what,
      who,
      button("Replay", async () => {
        const ms = await api.replayTake(t.id);
        this.say(`Replaying take ${t.id} (${Math.round(ms / 1000)} s)…`);
      }),
      button("Export MIDI", async () => {
        this.say(`Saved ${await api.exportTake(t.id)}`);
      }),
      button("Export stems", async () => {
        this.say(`Rendering take ${t.id}: a WAV for each player and the mix…`);
        this.say(`Stems saved in ${await api.exportStems(t.id)}`);
      }),
      button("Delete", async () => {
        await api.deleteTake(t.id);
        this.say(`Take ${t.id} deleted.`);
        await this.show();
      }),
    );
    return li;
  }
}
