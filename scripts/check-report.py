#!/usr/bin/env python3
"""Renders a report page (fpga-host report) in headless Chromium and fails when it is broken.

    python3 scripts/check-report.py build/report.html build/report.png

Checks the DOM Chromium built (every section heading, three SVG plots, no XML parse error, no
error text) and the screenshot it took (decoded here with zlib alone: a page that renders
blank, or with no colour, fails). Needs Debian's `chromium`.
"""

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

SECTIONS = ["Summary", "Accuracy against spikes", "Codings", "Spikes per layer",
            "Spike raster", "Confusion matrix", "Synthesis"]
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG")
    pos, chunks, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        sys.exit(f"{path}: expected an 8-bit RGB or RGBA non-interlaced PNG, got {header}")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, bpp, rows


def main(page, png):
    url = Path(page).resolve().as_uri()
    dom = subprocess.run(CHROMIUM + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    problems = [f"no section {s!r}" for s in SECTIONS if f">{s}</h2>" not in dom]
    if dom.count("<svg") != 3:
        problems.append(f"{dom.count('<svg')} SVG plots, 3 expected")
    if re.search(r"parsererror|This page contains the following errors|Error:", dom):
        problems.append("the page shows an error")
    subprocess.run(CHROMIUM + ["--window-size=900,2900", f"--screenshot={png}", url],
                   capture_output=True, timeout=120, check=True)
    width, height, bpp, rows = png_pixels(png)
    inked = coloured = 0
    for line in rows:
        for x in range(0, width * bpp, bpp):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if min(r, g, b) < 200:
                inked += 1
            if max(r, g, b) - min(r, g, b) > 60:
                coloured += 1
    total = width * height
    print(f"{png}: {width}x{height}, {inked / total:.1%} inked, {coloured / total:.2%} coloured")
    if inked < 0.01 * total:
        problems.append("the screenshot is blank")
    if coloured < 0.002 * total:
        problems.append("the screenshot has no plots (no colour)")
    if problems:
        sys.exit(f"{page}: " + "; ".join(problems))
    print(f"{page}: every section rendered")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
