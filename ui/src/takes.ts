/** How a take reads in the list: "Sat 22 Nov, 14:05 · 3:12 · Ann, Ben · 1,204 events · K7M2QXH4". */
import type { TakePlayerView as TakePlayer, TakeView } from "./api";

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

export function describeTake(t: TakeView, locale?: string): string {
  const when = new Date(t.startedMs).toLocaleString(locale, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  const people = t.participants.length ? t.participants.join(", ") : "nobody";
  return `${when} · ${duration(t.durationMs)} · ${people} · ${t.eventCount.toLocaleString(locale)} events · ${t.room}`;
}

/** One line per person in a take: "Ann (player) · 0:00–3:12 · 412 events". */
export function describePlayer(p: TakePlayer, takeStartMs: number): string {
  const from = duration(p.joinedMs - takeStartMs);
  const to = p.leftMs === null ? "end" : duration(p.leftMs - takeStartMs);
  const what = p.role === "listener" ? "listened" : `${p.events.toLocaleString("en")} events`;
  return `${p.name} (${p.role}) · ${from}–${to} · ${what}`;
}
