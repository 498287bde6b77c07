#!/usr/bin/env python3
"""Renders Jamwire's piano and drum samples from the FluidR3 General MIDI soundfont.

Needs the Debian packages fluidsynth, fluid-soundfont-gm and sox. Writes mono 48 kHz FLAC files
to assets/piano/ and assets/drums/ and is the record of how they were made; the samples are
committed, so nothing runs this at build or test time.

    python3 assets/tools/render_samples.py
"""
import os
import struct
import subprocess
import sys
import tempfile

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
RATE = 48000
GAIN = "1.6"  # fluidsynth master gain: the same for every file, so loudness stays comparable
HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.dirname(HERE)

# Piano: every minor third over the 88 keys (A0 = 21 … C8 = 108), two velocity layers.
PIANO_NOTES = list(range(21, 109, 3))
PIANO_LAYERS = {"soft": 48, "hard": 112}
# General MIDI drum notes of the kit, with how long each rings (seconds).
DRUMS = {
    35: 1.0, 36: 1.0, 37: 0.6, 38: 1.0, 39: 1.0, 40: 1.0, 41: 1.5, 42: 0.6, 43: 1.5, 44: 0.6,
    45: 1.5, 46: 2.0, 47: 1.5, 48: 1.5, 49: 3.0, 50: 1.5, 51: 2.5, 53: 2.0, 54: 1.0, 56: 1.0,
    57: 3.0, 59: 2.5,
}


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def smf(events, end_ticks):
    """A format-0 MIDI file at 120 BPM, 480 ticks per beat (1 tick = 1/960 s)."""
    track = b""
    last = 0
    for tick, data in sorted(events):
        track += vlq(tick - last) + bytes(data)
        last = tick
    # A harmless controller at the end keeps fluidsynth rendering through the release tail.
    track += vlq(end_ticks - last) + bytes([0xB0, 0x66, 0x00])
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track


def render(midi_bytes, out_flac, seconds):
    with tempfile.TemporaryDirectory() as tmp:
        mid = os.path.join(tmp, "n.mid")
        wav = os.path.join(tmp, "n.wav")
        with open(mid, "wb") as f:
            f.write(midi_bytes)
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", GAIN, "-r", str(RATE), "-o", "synth.reverb.active=0",
             "-o", "synth.chorus.active=0", "-F", wav, SOUNDFONT, mid],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Mono, trimmed to length, 10 ms fade at the end, 16-bit FLAC.
        subprocess.run(
            ["sox", wav, "-b", "16", "-c", "1", out_flac, "trim", "0", str(seconds), "fade", "0", str(seconds), "0.01"],
            check=True)


def piano_seconds(note):
    return 6.0 if note < 48 else 4.5 if note < 72 else 3.0


def main():
    if not os.path.exists(SOUNDFONT):
        sys.exit(f"{SOUNDFONT} is missing: apt-get install fluid-soundfont-gm fluidsynth sox")
    os.makedirs(os.path.join(ASSETS, "piano"), exist_ok=True)
    os.makedirs(os.path.join(ASSETS, "drums"), exist_ok=True)
    for note in PIANO_NOTES:
        seconds = piano_seconds(note)
        ticks = int(seconds * 960)
        for layer, velocity in PIANO_LAYERS.items():
            events = [(0, [0xC0, 0]), (0, [0x90, note, velocity]), (ticks, [0x80, note, 0])]
            render(smf(events, ticks + 10), os.path.join(ASSETS, "piano", f"{note:03d}-{layer}.flac"), seconds)
    for note, seconds in DRUMS.items():
        ticks = int(seconds * 960)
        events = [(0, [0x99, note, 110]), (96, [0x89, note, 0])]
        render(smf(events, ticks + 10), os.path.join(ASSETS, "drums", f"{note:03d}.flac"), seconds)


if __name__ == "__main__":
    main()
