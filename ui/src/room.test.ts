import { describe, expect, it } from "vitest";
import { chatHtml, findInvite, MAX_CHAT_CHARS, PALETTE, Roster, normalizeInvite } from "./room";

describe("roster", () => {
  it("gives each participant a stable colour from the palette, kept across a rejoin", () => {
    const r = new Roster();
    r.reset([
      { id: "a", name: "Keys", role: "player", isHost: true },
      { id: "b", name: "Mozart", role: "player", isHost: false },
    ]);
    expect([r.colour("a"), r.colour("b")]).toEqual([PALETTE[0], PALETTE[1]]);
    r.remove("a");
    r.reset([{ id: "b", name: "Mozart", role: "player", isHost: false }]);
    expect(r.colour("b")).toBe(PALETTE[1]);
    r.add({ id: "c", name: "Lis", role: "listener", isHost: false });
    expect(r.colour("c")).toBe(PALETTE[2]);
    expect(r.hostName()).toBeUndefined();
  });

  it("knows the host only from what the relay announced", () => {
    const r = new Roster();
    r.reset([
      { id: "a", name: "Keys", role: "player", isHost: true },
      { id: "b", name: "Keys", role: "player", isHost: false },
    ]);
    expect(r.isHost("a")).toBe(true);
    expect(r.isHost("b")).toBe(false);
    expect(r.isHost(undefined)).toBe(false);
    expect(r.isHost("nobody")).toBe(false);
  });
});

describe("chat", () => {
  it("escapes markup and limits length", () => {
    expect(chatHtml(` <img src=x onerror="alert('hi')"> & more `)).toBe(
      "&lt;img src=x onerror=&quot;alert(&#39;hi&#39;)&quot;&gt; &amp; more",
    );
    expect([...chatHtml("é".repeat(600))]).toHaveLength(MAX_CHAT_CHARS);
  });
});

describe("invites", () => {
  it("are found in pasted text", () => {
    expect(findInvite("join me at jam://192.168.1.20:7878/K7M2QXH4 tonight")).toBe("jam://192.168.1.20:7878/K7M2QXH4");
    expect(findInvite("jam://host:7878/K7M2Q0")).toBeUndefined();
    expect(findInvite("nothing here")).toBeUndefined();
  });
});

describe("the Join field", () => {
  it("takes an invite, or a host and a code typed separately", () => {
    expect(normalizeInvite("join us: jam://10.0.0.5:7878/K7M2QXH4 !")).toBe("jam://10.0.0.5:7878/K7M2QXH4");
    expect(normalizeInvite("10.0.0.5:7878 k7m2qxh4")).toBe("jam://10.0.0.5:7878/K7M2QXH4");
    expect(normalizeInvite(" studio.local:9000/K7M2QXH4 ")).toBe("jam://studio.local:9000/K7M2QXH4");
    expect(normalizeInvite("hello")).toBe("hello");
  });
});
