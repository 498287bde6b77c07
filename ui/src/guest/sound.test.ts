import { describe, expect, it } from "vitest";
import { believable, clockReading, limiterCurve, LIMIT_KNEE, nearestRoot, smoothOffset, velocityGain, flacRate, zoneFor, zoneVoicing, type PaletteZone } from "./sound";

describe("the browser guest's sound", () => {
  it("voices like the app's engine", () => {
    expect(velocityGain(127)).toBeCloseTo(1);
    expect(velocityGain(0)).toBeCloseTo(velocityGain(1));
    expect(nearestRoot([21, 24, 27], 25)).toBe(24);
    expect(nearestRoot([], 60)).toBeUndefined();
  });
  it("limits with no lookahead: unchanged below the knee, never full scale above it", () => {
    const curve = limiterCurve(4097);
    const at = (x: number) => curve[Math.round(((x + 1) / 2) * (curve.length - 1))] ?? Number.NaN;
    curve.forEach((y, i) => {
      const x = (2 * i) / (curve.length - 1) - 1;
      if (Math.abs(x) <= LIMIT_KNEE) expect(y).toBeCloseTo(x, 6);
    });
    expect(at(1)).toBeLessThan(0.95);
    expect(at(1)).toBeGreaterThan(at(0.9));
    expect(at(-1)).toBeCloseTo(-at(1), 6);
    for (let i = 1; i < curve.length; i++) expect(curve[i] ?? 0).toBeGreaterThanOrEqual(curve[i - 1] ?? 0);
  });
  it("smooths the clock offset through block-sized jitter and resets on a jump", () => {
    let s: number | undefined;
    const readings = Array.from({ length: 200 }, (_, i) => 5 + ((i % 2) * 0.01 - 0.005));
    for (const r of readings) s = smoothOffset(s, r);
    expect(Math.abs((s ?? 0) - 5)).toBeLessThan(0.001);
    expect(smoothOffset(s, 5.5)).toBe(5.5);
    expect(smoothOffset(s, Number.NaN)).toBe(s);
  });
  it("reads the clocks from a believable output timestamp, and from currentTime otherwise", () => {
    // Chromium/Firefox: the frame at 9.10 s reached the speakers 12 ms after it was current.
    const good = clockReading({ contextTime: 9.1, performanceTime: 10_050 }, 9.125, 10_070, 1_000);
    expect(good).toBeCloseTo(9.1 - 11.05, 6);
    // WebKitGTK 2.50 (as measured): performanceTime ≈ now + contextTime.
    const webkit = clockReading({ contextTime: 9.1225, performanceTime: 19_192 }, 9.1254, 10_070, 1_000);
    expect(webkit).toBeCloseTo(9.1254 - 11.07, 6);
    expect(believable({ contextTime: 9.1, performanceTime: 10_050 }, 9.125, 10_070)).toBe(true);
    expect(believable({ contextTime: 9.1225, performanceTime: 19_192 }, 9.1254, 10_070)).toBe(false);
    expect(clockReading(undefined, 2, 3_000, 0)).toBeCloseTo(-1, 6);
    expect(clockReading({ contextTime: 0, performanceTime: 0 }, 2, 3_000, 0)).toBeCloseTo(-1, 6);
  });
});

describe("palette voices, as the app's engine plays them", () => {
  const zone = (keys: [number, number], extra: Partial<PaletteZone> = {}): PaletteZone => ({
    sample: "samples/0000.flac",
    keys,
    root: 60,
    tune: 0,
    tracking: 100,
    attack: 0.01,
    hold: 0,
    decay: 2,
    sustain: 0.5,
    release: 0.5,
    level: 1,
    pan: 0,
    ...extra,
  });

  it("picks the zone holding the note, else the nearest", () => {
    const zones = [zone([0, 47]), zone([48, 59]), zone([72, 90])];
    expect(zoneFor(zones, 50)).toBe(zones[1]);
    expect(zoneFor(zones, 65)).toBe(zones[1]);
    expect(zoneFor(zones, 70)).toBe(zones[2]);
    expect(zoneFor(zones, 127)).toBe(zones[2]);
    expect(zoneFor([], 60)).toBeUndefined();
  });

  it("reads a FLAC file's sample rate and refuses anything else", () => {
    const head = new Uint8Array(32);
    head.set([0x66, 0x4c, 0x61, 0x43]);
    // 44 100 Hz = 0xAC44 in 20 bits: 0x0A, 0xC4, 0x4_
    head.set([0x0a, 0xc4, 0x42], 18);
    expect(flacRate(head)).toBe(44_100);
    expect(flacRate(new Uint8Array(10))).toBeUndefined();
    const notFlac = head.slice();
    notFlac[0] = 0;
    expect(flacRate(notFlac)).toBeUndefined();
  });

  it("pitches, levels and times a note as the engine does", () => {
    const v = zoneVoicing(zone([0, 127], { tune: -50, tracking: 100 }), 0.5, 72, 127);
    expect(v.rate).toBeCloseTo(2 ** (11.5 / 12), 9);
    expect(v.gain).toBeCloseTo(0.5, 9);
    // 100 dB in 2 s: −6 dB (sustain 0.5) is reached after 2 × log10(2) / 5 s.
    expect(v.decayS).toBeCloseTo((2 * Math.log10(2)) / 5, 9);
    expect(v.releaseS).toBeCloseTo(0.4, 9);
    const flat = zoneVoicing(zone([0, 127], { tracking: 0 }), 1, 90, 64);
    expect(flat.rate).toBe(1);
  });
});
