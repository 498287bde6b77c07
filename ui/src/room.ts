/** Participants, their colours, and chat text as the room view shows them. */
import type { Participant } from "./bindings/Participant";
import { MAX_CHAT_CHARS, ROOM_CODE_ALPHABET, ROOM_CODE_LEN } from "./bindings/protocol";

export type { Participant };
export { MAX_CHAT_CHARS };

/**
 * Okabe–Ito, a palette told apart by colour-blind people too: orange, sky blue, bluish green,
 * yellow, blue, vermillion, reddish purple, grey. A participant keeps their colour for the
 * whole session; after eight people the colours repeat.
 */
export const PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"] as const;

/** Who is in the room, each with a stable colour. */
export class Roster {
  private colours = new Map<string, string>();
  private next = 0;
  private members = new Map<string, Participant>();

  /** True for the room's host, as the relay announced it (only the relay decides who hosts). */
  isHost(id: string | undefined): boolean {
    return id !== undefined && this.members.get(id)?.isHost === true;
  }

  /** Replaces the list (a join or rejoin), keeping the colours of people already seen. */
  reset(participants: readonly Participant[]): void {
    this.members.clear();
    for (const p of participants) this.add(p);
  }

  add(p: Participant): void {
    this.members.set(p.id, p);
    if (!this.colours.has(p.id)) {
      this.colours.set(p.id, PALETTE[this.next % PALETTE.length] ?? "#999999");
      this.next += 1;
    }
  }

  remove(id: string): void {
    this.members.delete(id);
  }

  colour(id: string): string {
    return this.colours.get(id) ?? "#999999";
  }

  list(): Participant[] {
    return [...this.members.values()];
  }

  /** The host's name, for "Listening to Keys's jam". */
  hostName(): string | undefined {
    return this.list().find((p) => p.isHost)?.name;
  }
}

/** Makes chat text safe to show as HTML and trims it to the limit. */
export function chatHtml(text: string): string {
  const trimmed = [...text.trim()].slice(0, MAX_CHAT_CHARS).join("");
  return trimmed.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);
}

/** A room code, as a regular-expression fragment: the protocol's alphabet and length. */
const CODE = `[${ROOM_CODE_ALPHABET}]{${ROOM_CODE_LEN}}`;
const INVITE = new RegExp(`jam://[^\\s/]+:\\d{1,5}/${CODE}`, "i");
const HOST_AND_CODE = new RegExp(`^\\s*([^\\s/]+:\\d{1,5})[\\s/]+(${CODE})\\s*$`, "i");

/** Reads an invite such as `jam://192.168.1.20:7878/K7M2QXH4` out of pasted text. */
export function findInvite(text: string): string | undefined {
  return INVITE.exec(text)?.[0];
}

/**
 * What the Join field holds, as an invite: a `jam://` invite found anywhere in the text, or a
 * host and a room code typed separately (`192.168.1.20:7878 K7M2QXH4`, or with a `/`). Anything
 * else is returned trimmed, for the app to explain what an invite looks like.
 */
export function normalizeInvite(text: string): string {
  const found = findInvite(text);
  if (found) return found;
  const parts = HOST_AND_CODE.exec(text);
  return parts ? `jam://${parts[1]}/${parts[2]?.toUpperCase()}` : text.trim();
}
