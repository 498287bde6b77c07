import { describe, expect, it } from "vitest";
import { Store } from "./store";
import type { RoomEvent } from "./api";

describe("the store", () => {
  it("hands each room event to the views that wait for its type, in order", () => {
    const store = new Store();
    const seen: string[] = [];
    store.onRoom("chat", (e) => seen.push(`a:${e.text}`));
    store.onRoom("chat", (e) => seen.push(`b:${e.text}`));
    store.onRoom("userLeft", (e) => seen.push(`left:${e.userId}`));
    const events: RoomEvent[] = [
      { type: "chat", senderId: "X", text: "hi" },
      { type: "userLeft", userId: "X" },
      { type: "figures", rttMs: null, participants: [] },
    ];
    for (const e of events) store.dispatch(e);
    expect(seen).toEqual(["a:hi", "b:hi", "left:X"]);
  });

  it("tells subscribers of a new tempo and pattern, and knows a listener", () => {
    const store = new Store();
    const tempos: number[] = [];
    store.on("tempo", (t) => tempos.push(t.bpm));
    store.setTempo({ bpm: 96, beatsPerBar: 3, anchorMs: 0 });
    expect(tempos).toEqual([96]);
    expect(store.listener).toBe(false);
    store.jam = { room: "K7M2QXH4", invite: "jam://h:1/K7M2QXH4", addresses: [], isHost: false, listener: true, reach: null, browserLink: "" };
    expect(store.listener).toBe(true);
    expect(store.nameOf("nobody")).toBe("someone");
  });
});
