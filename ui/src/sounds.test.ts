import { describe, expect, it } from "vitest";
import { DEFAULT_KEYS, DEFAULT_KIT, KITS, KEYS_SOUNDS, Sounds, favouriteFor, groups, soundName, toggleFavourite } from "./sounds";

describe("the palette in the pickers", () => {
  it("lists the band's sounds and four kits, grand piano and standard kit first", () => {
    expect(KEYS_SOUNDS.length).toBeGreaterThanOrEqual(24);
    expect(KITS.map((k) => k.id)).toEqual(["standard-kit", "room-kit", "electronic-kit", "brush-kit"]);
    expect([DEFAULT_KEYS, DEFAULT_KIT]).toEqual(["grand-piano", "standard-kit"]);
  });

  it("groups by family and searches names and families", () => {
    const all = groups("");
    expect(all[0]?.family).toBe("Piano");
    expect(all.flatMap((g) => g.sounds).length).toBe(KEYS_SOUNDS.length);
    expect(new Set(all.map((g) => g.family)).size).toBe(all.length);
    expect(groups("bass").flatMap((g) => g.sounds.map((s) => s.id))).toEqual(["finger-bass", "picked-bass", "fretless-bass", "synth-bass"]);
    expect(groups("  BRASS  ").flatMap((g) => g.sounds.map((s) => s.id))).toEqual(["trumpet", "brass", "alto-sax", "flute"]);
    expect(groups("electric piano tine").flatMap((g) => g.sounds.map((s) => s.id))).toEqual(["tine-piano"]);
    expect(groups("kazoo")).toEqual([]);
  });

  it("names sounds, and an unknown id as the default", () => {
    expect(soundName("fretless-bass")).toBe("Fretless bass");
    expect(soundName("brush-kit")).toBe("Brush kit");
    expect(soundName("theremin")).toBe("Grand piano");
  });

  it("keeps at most four favourites, each once, and finds them by digit", () => {
    let f: string[] = [];
    for (const id of ["strings", "flute", "choir", "brass", "saw-lead"]) f = toggleFavourite(f, id);
    expect(f).toEqual(["flute", "choir", "brass", "saw-lead"]);
    f = toggleFavourite(f, "choir");
    expect(f).toEqual(["flute", "brass", "saw-lead"]);
    expect(favouriteFor(f, 1)).toBe("flute");
    expect(favouriteFor(f, 4)).toBeUndefined();
    expect(favouriteFor(f, 0)).toBeUndefined();
  });

  it("says what each player plays", () => {
    const s = new Sounds();
    s.reset([{ userId: "A", keys: "finger-bass", drums: "standard-kit" }]);
    s.set("B", "warm-pad", "brush-kit");
    expect(s.label("A")).toBe("Finger bass");
    expect(s.label("B")).toBe("Warm pad · Brush kit");
    expect(s.label("C")).toBe("Grand piano");
    s.forget("A");
    expect(s.label("A")).toBe("Grand piano");
  });
});
