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

/**
 * Names each control wrapped in a `<label>` by the label's own words alone ("Your name"). The
 * accessible-name rules add a wrapped control's value to its label's text, and WebKit adds its
 * placeholder: a screen reader would say "Your name Keys", "Port 7878". Controls that have a
 * name of their own (`aria-label`, `aria-labelledby`) are left as they are.
 */
export function nameWrappedControls(root: ParentNode = document): void {
  for (const control of root.querySelectorAll<HTMLElement>("label input, label select, label textarea")) {
    if (control.hasAttribute("aria-label") || control.hasAttribute("aria-labelledby")) continue;
    const label = control.closest("label");
    if (!label) continue;
    const words = [...label.childNodes]
      .filter((n) => n.nodeType === Node.TEXT_NODE || (n instanceof HTMLElement && !n.matches("input, select, textarea, button")))
      .map((n) => n.textContent ?? "")
      .join(" ")
      .replace(/\s+/g, " ")
      .trim();
    if (words) control.setAttribute("aria-label", words);
  }
}
