"""Assembles build/TARGET/report.json from the yosys statistics, nextpnr's report and the
Verilator cycle count (run by scripts/synth in build/TARGET; prints the JSON)."""
import json
import os
import re
import sys

target, family, model, lanes, freq = sys.argv[1:6]


def cells():
    """Cell counts of yosys's `stat` (the flattened top)."""
    counts = {}
    text = open("stat.txt").read()
    table = text[text.index("Number of cells"):]
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            break
        counts[fields[0]] = int(fields[1])
    return counts


def total(counts, pattern):
    return sum(n for name, n in counts.items() if re.fullmatch(pattern, name))


c = cells()
if family == "ice40":
    luts = total(c, "SB_LUT4")
    ffs = total(c, "SB_DFF.*")
    brams = total(c, "SB_RAM40_4K")
    dsps = total(c, "SB_MAC16")
elif family == "ecp5":
    # A CCU2C carry cell holds two LUT4s.
    luts = total(c, "LUT4") + 2 * total(c, "CCU2C") + 4 * total(c, "TRELLIS_DPR16X4")
    ffs = total(c, "TRELLIS_FF")
    brams = total(c, "DP16KD")
    dsps = total(c, "MULT18X18D")
else:
    # LUT RAM: a RAM32M/RAM64M uses four LUTs, a dual-port bit two, a single-port bit one.
    luts = (
        total(c, "LUT[1-6]")
        + 4 * total(c, "RAM(32|64)M")
        + 2 * total(c, "RAM(32|64)X1D")
        + total(c, "RAM(32|64)X1S")
    )
    ffs = total(c, "FD[CPRS]E?")
    brams = total(c, "RAMB18E1") + 2 * total(c, "RAMB36E1")
    dsps = total(c, "DSP48E1")

report = {
    "target": target,
    "model": os.path.basename(model),
    "lanes": [int(x) for x in lanes.split(",")],
    "luts": luts,
    "ffs": ffs,
    "brams": brams,
    "dsps": dsps,
    "yosys_cells": c,
}

def placed(path):
    """(fmax, report) of one nextpnr run."""
    pnr = json.load(open(path))
    fmax = pnr.get("fmax", {})
    clock = next((v for k, v in fmax.items() if "clock" in k), None)
    if clock is None:
        sys.exit(f"{path}: nextpnr reported no Fmax for the clock")
    return clock["achieved"], pnr


def utilisation(pnr):
    """The cells a nextpnr run used, by kind."""
    return {
        k: {"used": v["used"], "available": v["available"]}
        for k, v in pnr.get("utilization", {}).items()
        if v["used"] > 0
    }


def stopped():
    """Seeds scripts/synth stopped at SYNTH_PNR_TIMEOUT (pnr-SEED.rc holds timeout's 124),
    each with where its log says it stood."""
    limit = os.environ.get("SYNTH_PNR_TIMEOUT", "")
    seeds = {}
    for name in sorted(os.listdir(".")):
        match = re.fullmatch(r"pnr-(\d+)\.rc", name)
        if limit and match and open(name).read().strip() == "124":
            seed = int(match[1])
            log = open(f"pnr-{seed}.log").read() if os.path.exists(f"pnr-{seed}.log") else ""
            # The router's progress rows: iterations | arcs rerouted | delta | arcs left | time.
            rows = re.findall(r"^Info:\s+(\d+) \|[^|]*\|[^|]*\|\s*(\d+)\|[^|]*\|\s*$", log, re.M)
            if rows:
                iterations, left = rows[-1]
                seeds[seed] = (
                    f"stopped after {limit} s while routing: {left} arcs left "
                    f"after {iterations} router iterations"
                )
            else:
                seeds[seed] = f"stopped after {limit} s before routing"
    return seeds


runs = sorted(f for f in os.listdir(".") if re.fullmatch(r"pnr-\d+\.json", f))
stops = stopped()
if runs or stops:
    results = {int(f[4:-5]): placed(f) for f in runs}
    if stops:
        # No Fmax holds for every seed: the headline figures are left out, the routed seeds'
        # are kept.
        report["stopped_seeds"] = stops
        report["fmax_mhz"] = None
    # The headline is the slowest seed: what every placement tried reaches (a user who
    # places the design again gets one of these, not necessarily the best).
    seed = min(results, key=lambda s: results[s][0]) if results else None
    if seed is not None and not stops:
        report["fmax_mhz"] = round(results[seed][0], 2)
    report["fmax_by_seed"] = {
        s: (round(results[s][0], 2) if s in results else None)
        for s in sorted(set(results) | set(stops))
    }
    if seed is not None:
        report["fmax_best_mhz"] = round(max(r[0] for r in results.values()), 2)
        if stops:
            report["fmax_slowest_routed_mhz"] = round(results[seed][0], 2)
        else:
            report["seed"] = seed
    report["fmax_target_mhz"] = float(freq)
    report["fmax_met_by_every_seed"] = not stops and all(
        r[0] >= float(freq) for r in results.values()
    )
    # Options the run added to nextpnr's defaults (scripts/synth's SYNTH_PNR_ARGS).
    report["pnr_args"] = os.environ.get("SYNTH_PNR_ARGS", "")
    # Options the run added to yosys's synth_ command (SYNTH_YOSYS_ARGS).
    report["yosys_args"] = os.environ.get("SYNTH_YOSYS_ARGS", "")
    if seed is not None:
        report["placed"] = utilisation(results[seed][1])

verify = json.load(open("verify.json"))
if verify["mismatches"] != 0:
    sys.exit(f"the RTL disagreed with the golden model on {verify['mismatches']} images")
cycles = verify["cycles_per_image"]
report["cycles_per_image"] = round(cycles, 1)
report["bound_cycles_per_image"] = round(verify["bound_cycles_per_image"], 1)
report["latency_cycles"] = verify["latency_cycles"]
report["images_verified"] = verify["images"]
if report.get("fmax_mhz") is not None:
    hz = report["fmax_mhz"] * 1e6
    report["images_per_second"] = round(hz / cycles)
    report["latency_us"] = round(verify["latency_cycles"] / hz * 1e6, 2)

print(json.dumps(report, indent=2))
