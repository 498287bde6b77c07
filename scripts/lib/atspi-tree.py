#!/usr/bin/python3
"""Prints the accessibility tree an application publishes on the AT-SPI bus, as screen readers
(Orca) see it: one JSON object per line, {"role": ..., "name": ...}, for every object of the
application whose name contains argv[1] (depth-first, at most 60 deep and 20,000 objects).
Exits 2 when no such application is on the bus. Run with Debian's python3 (python3-pyatspi)."""

import json
import sys

import pyatspi

MAX_DEPTH = 60
MAX_OBJECTS = 20_000


def walk(node, depth, seen):
    if node is None or depth > MAX_DEPTH or seen[0] >= MAX_OBJECTS:
        return
    seen[0] += 1
    try:
        role = node.getRoleName()
        name = node.name or ""
    except Exception:  # an object that went away while we walked
        return
    print(json.dumps({"role": role, "name": name}), flush=False)
    try:
        count = node.childCount
    except Exception:
        return
    for i in range(min(count, 2_000)):
        try:
            child = node.getChildAtIndex(i)
        except Exception:
            continue
        walk(child, depth + 1, seen)


def main():
    wanted = sys.argv[1].lower()
    desktop = pyatspi.Registry.getDesktop(0)
    apps = [a for a in desktop if a is not None and wanted in (a.name or "").lower()]
    if not apps:
        names = [a.name for a in desktop if a is not None]
        print(f"no application named like {wanted!r} on the bus: {names}", file=sys.stderr)
        sys.exit(2)
    seen = [0]
    for app in apps:
        walk(app, 0, seen)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
