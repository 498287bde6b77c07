/**
 * The room screen: entering and leaving it, its header (code, invite, addresses, connection,
 * REC) and the activity panel. The room's events reach the other views through the store.
 */
import { api, errorMessage, type JamView, type RelayFiguresView } from "../api";
import type { StatusView } from "../bindings/StatusView";
import { $, showStartError } from "../dom";
import type { Store } from "../store";

export class Room {
  private reconnectAt: number | undefined;
  private lastFigures: { at: number; figures: RelayFiguresView } | undefined;

  constructor(private readonly store: Store) {}

  mount(): void {
    this.store.onRoom("joined", (e) => ($("rec-mark").hidden = !e.recording));
    this.store.onRoom("status", (e) => this.showStatus(e.status));
    $("leave-button").addEventListener("click", () => this.leave());
    $("retry-now").addEventListener("click", () => void api.retryNow());
    $("copy-invite").addEventListener("click", () => void this.copy("invite-text"));
    $("copy-link").addEventListener("click", () => void this.copy("link-text"));
    setInterval(() => this.showActivity(), 500);
    setInterval(() => this.showCountdown(), 250);
    setInterval(() => void this.showRelayFigures(), 1_000);
  }

  /** Shows the room for a jam we just hosted or joined. */
  enter(view: JamView): void {
    this.store.jam = view;
    $("start-notice").hidden = true;
    $("room-code").textContent = view.room;
    $("invite-text").textContent = view.invite;
    $("link-text").textContent = view.browserLink;
    $("host-addresses").textContent =
      view.isHost && view.addresses.length > 1 ? `also: ${view.addresses.slice(1).join(", ")}` : "";
    const reach = $("reach");
    reach.hidden = !view.reach;
    reach.textContent = view.reach?.message ?? "";
    reach.dataset.scope = view.reach?.scope ?? "";
    $("status").textContent = "● Connected";
    $("start").hidden = true;
    $("room").hidden = false;
    $("stage-slot").append($("stage"));
    this.store.emit("entered", view);
  }

  /** Back to the start screen (and out of the jam). */
  leave(notice?: string): void {
    const store = this.store;
    store.jam = undefined;
    store.myId = undefined;
    store.roster.reset([]);
    store.emit("left", undefined);
    api.leave().then(
      () => store.emit("departed", undefined),
      (e) => showStartError(errorMessage(e)),
    );
    $("room").hidden = true;
    $("start").hidden = false;
    $("start").append($("stage"));
    if (notice) {
      $("start-notice").textContent = notice;
      $("start-notice").hidden = false;
    }
  }

  private showStatus(s: StatusView): void {
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
        this.reconnectAt = performance.now() + (s.retryInMs ?? 0);
        this.showCountdown();
        banner.hidden = false;
        break;
      case "ended":
        status.textContent = "○ Ended";
        if (this.store.jam && s.jamEnded) {
          this.leave(s.reason ?? "The host ended the jam.");
        } else if (this.store.jam && s.reason) {
          banner.textContent = `The jam ended: ${s.reason}`;
          banner.hidden = false;
        }
        break;
    }
  }

  /** "reconnecting in 3 s…", counting down until the next attempt. */
  private showCountdown(): void {
    if (this.reconnectAt === undefined || $("status").dataset.state !== "reconnecting") return;
    const secs = Math.max(0, Math.ceil((this.reconnectAt - performance.now()) / 1000));
    const when = secs > 0 ? `in ${secs} s` : "now";
    $("status").textContent = `○ Reconnecting ${when}…`;
    $("reconnect-banner").textContent = `Connection lost — reconnecting ${when}… (playing here keeps working)`;
  }

  /** Copies the text of element `id` (the invite or the browser link). */
  private async copy(id: string): Promise<void> {
    const text = $(id).textContent ?? "";
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // WebKit may refuse the async clipboard: select the text and copy it the old way.
      const range = document.createRange();
      range.selectNodeContents($(id));
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
      document.execCommand("copy");
    }
    const copied = $("copied");
    copied.hidden = false;
    setTimeout(() => (copied.hidden = true), 1_500);
  }

  private showActivity(): void {
    const activity = this.store.activity;
    const now = performance.now();
    $("rate-in").textContent = String(activity.perSecond("in", now));
    $("rate-out").textContent = String(activity.perSecond("out", now));
    if (!($("activity") as HTMLDetailsElement).open) return;
    $("activity-log").replaceChildren(
      ...activity.last.slice(0, 20).map((l) => {
        const li = document.createElement("li");
        li.textContent = `${l.direction === "in" ? "←" : "→"} ${l.text}`;
        return li;
      }),
    );
  }

  private async showRelayFigures(): Promise<void> {
    const el = $("relay-figures");
    if (!this.store.jam?.isHost) {
      el.hidden = true;
      return;
    }
    const figures = await api.relayFigures().catch(() => null);
    if (!figures) return;
    const now = performance.now();
    const last = this.lastFigures;
    const rate = (f: (x: RelayFiguresView) => number) =>
      last ? Math.round(((f(figures) - f(last.figures)) * 1000) / (now - last.at)) : 0;
    el.textContent =
      `Relay: ${figures.connections} connected · in ${rate((x) => x.eventsIn)}/s · out ${rate((x) => x.eventsOut)}/s · ` +
      `slow clients dropped ${figures.slowConsumers} · rate-limited ${figures.rateLimited}` +
      (figures.recorded !== null ? ` · recorded ${figures.recorded}${figures.recordDropped ? ` (${figures.recordDropped} lost)` : ""}` : "");
    el.hidden = false;
    this.lastFigures = { at: now, figures };
  }
}
