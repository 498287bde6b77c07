/** Reading the room code of an invite in the browser guest, which joins only its own relay. */

/** The code at the end of a browser link (`/join/CODE`), a `jam://` invite or a bare code. */
export function codeOf(invite: string): string {
  const text = invite.trim();
  const last = text.split("/").filter(Boolean).pop() ?? "";
  return last.replace(/[?#].*$/, "");
}

/** The host part of an invite (`jam://HOST:PORT/CODE`, `http://HOST:PORT/join/CODE`), if any. */
export function hostOf(invite: string): string | undefined {
  const m = /^(?:jams?|https?):\/\/([^/]+)\//i.exec(invite.trim());
  return m?.[1]?.toLowerCase();
}

/** The invite a page at `location` shows: `jam://HOST/CODE` (`jams://` over https). */
export function inviteForPage(protocol: string, host: string, path: string): string {
  const m = /^\/join\/([A-Za-z0-9]{1,16})\/?$/.exec(path);
  if (!m) return "";
  return `${protocol === "https:" ? "jams" : "jam"}://${host}/${m[1]}`;
}
