#!/usr/bin/env python3
"""Turns scripts/synth reports into the records `fpga-host plan` fits its LUT model to.

    python3 scripts/plan-measured.py build/*/report.json > hdl/src/resources/measured.json

Each record: target, model, lanes, the model's membrane bits and convolution layers, LUTs (as the report counts them),
the LUT RAM's share of them (four per TRELLIS_DPR16X4), the ROM bits built from logic (as
`fpga-host plan` maps the design's memories), block RAMs, DSP blocks, cycles per image and the
test images they were counted on. The
model file is looked up in models/ by the report's model name.
"""

import json
import os
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def description(model):
    """The model file's description (its safetensors header's metadata)."""
    with open(os.path.join(ROOT, "models", model), "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    return json.loads(header["__metadata__"]["fsnn"])


def membrane_bits(model):
    return description(model)["fixed"]["membrane_bits"]


def conv_layers(model):
    return sum(1 for layer in description(model)["layers"] if layer.get("kind") == "conv2d")


def rom_logic_bits(r):
    """The ROM bits `fpga-host plan` maps to logic for the report's design (a feature of the
    LUT model, computed as plan computes it)."""
    out = subprocess.run(
        [os.path.join(ROOT, "target", "release", "fpga-host"), "plan", "--model",
         os.path.join(ROOT, "models", r["model"]), "--target", r["target"], "--lanes",
         ",".join(map(str, r["lanes"])), "--count", "10", "--json"],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out)["resources"]["rom_logic_bits"]


records = []
for path in sys.argv[1:]:
    r = json.load(open(path))
    records.append({
        "target": r["target"],
        "model": r["model"],
        "lanes": r["lanes"],
        "membrane_bits": membrane_bits(r["model"]),
        "conv_layers": conv_layers(r["model"]),
        "luts": r["luts"],
        "lut_ram_luts": 4 * r["yosys_cells"].get("TRELLIS_DPR16X4", 0),
        "rom_logic_bits": rom_logic_bits(r),
        "block_rams": r["brams"],
        "dsps": r["dsps"],
        "cycles_per_image": r["cycles_per_image"],
        "images": r.get("images_verified", 300),
    })
records.sort(key=lambda r: (r["target"], r["model"], r["lanes"]))
print(json.dumps(records, indent=1))
