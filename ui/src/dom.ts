/** Small DOM helpers the views share. */

/** The element with `id`; a missing one is a bug in index.html, said loudly. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
}

export const input = (id: string): HTMLInputElement => $<HTMLInputElement>(id);
export const select = (id: string): HTMLSelectElement => $<HTMLSelectElement>(id);

/** Shows (or, with nothing, hides) the start screen's error line. */
export function showStartError(message: string | undefined): void {
  const el = $("start-error");
  el.textContent = message ?? "";
  el.hidden = !message;
}

let roomErrorTimer: ReturnType<typeof setTimeout> | undefined;
/** Shows a refusal in the room's banner for five seconds. */
export function showRoomError(message: string): void {
  const el = $("reconnect-banner");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(roomErrorTimer);
  roomErrorTimer = setTimeout(() => (el.hidden = true), 5_000);
}

/** True when typing goes into a field (typing must never play). */
export function isTextField(el: Element | null): boolean {
  return (
    el instanceof HTMLElement &&
    (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable)
  );
}
