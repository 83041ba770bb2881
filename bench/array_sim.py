"""Simulated MACs per second of the 8x8 systolic array, before and after the fast harness, in one run.

e5m2 x e5m2 -> e6m9, chunk 64; random tiles back to back with bubbles (depths
1 to 256). Before: cocotb plays and checks every cycle from Python (Icarus,
Verilator at -O0). After: the fast harness (``macgen.verify.stream``; Verilator
at -O1) on the same stream and on a ``--large`` one, its build once cold (a
private, emptied cache) and once cached. Every run is checked bit for bit
against ``golden.matmul`` and the documented schedule: the error column must be
0, and the Verilator fast rate (result checking included) is the issue's
target of >= 1 M MACs/s.

    .venv/bin/python bench/array_sim.py [--tiles N] [--large N] [--seed S] [--build-dir DIR]
                                        [--opt-levels=-O0,-O1,-O2]

``--opt-levels`` also builds the fast harness's Verilator model cold at each C++
optimisation level and runs the large stream on it (build time against speed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from macgen.config import ArrayConfig, MACConfig
from macgen.emit import emit
from macgen.verify import SIMULATORS, SimulationError, array as varray
from simtable import compare_opt_levels, print_table, private_cache

DEPTHS = (1, 2, 8, 63, 64, 65, 129, 256)


def _row(s):
    c = s.check
    cached = "-" if s.harness == "cocotb" else ("cached" if s.build_cached else "cold")
    return (s.simulator, s.harness, s.macs, s.build_seconds, cached, s.sim_seconds,
            c.mismatches + len(c.protocol))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=12, help="tiles of the shared stream (default: 12)")
    parser.add_argument("--large", type=int, default=1500, help="tiles of the large run (default: 1,500)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build-dir", default="build/bench/array")
    parser.add_argument("--opt-levels", default="", help="comma-separated C++ levels to compare, e.g. --opt-levels=-O0,-O2")
    args = parser.parse_args(argv)

    cfg = ArrayConfig(8, 8, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64))
    build = Path(args.build_dir) / cfg.slug
    private_cache(build / "model-cache", cold=True)
    design = emit(cfg, build / "rtl")
    stim = varray.make_stimulus(cfg, args.tiles, DEPTHS, seed=args.seed)
    t0 = time.monotonic()
    large = varray.make_stimulus(cfg, args.large, DEPTHS, seed=args.seed + 1)
    print(f"{cfg.slug}: latency {design.latency}; shared stream {len(stim.tiles)} tiles ({stim.macs:,} MACs, "
          f"{stim.cycles:,} cycles), large {len(large.tiles):,} tiles ({large.macs:,} MACs, {large.cycles:,} "
          f"cycles; stimulus and golden.matmul in {time.monotonic() - t0:.1f} s)")

    rows = []
    for simulator in SIMULATORS:
        runs = [("cocotb", stim, "cocotb"), ("fast", stim, "fast-small")]
        if simulator == "verilator":
            runs += [("fast", large, "fast-large"), ("fast", large, "fast-again")]
        for harness, s_stim, name in runs:
            try:
                s = varray.run_array_bench(design, s_stim, simulator=simulator,
                                           build_dir=build / simulator / name, harness=harness)
            except SimulationError as exc:
                print(f"{simulator}: not run ({str(exc).splitlines()[0]})", file=sys.stderr)
                break
            rows.append(_row(s))
    code = print_table(rows, base_name="verilator cocotb")

    def run():
        s = varray.run_array_bench(design, large, simulator="verilator", build_dir=build / "opt", harness="fast")
        return s.build_seconds, s.macs_per_second, s.check.mismatches + len(s.check.protocol)

    code |= compare_opt_levels([x for x in args.opt_levels.split(",") if x], build, run)
    return code


if __name__ == "__main__":
    sys.exit(main())
