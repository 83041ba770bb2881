"""Simulated MACs per second of one MAC, before and after the fast harness, in one run.

One configuration (e5m2 x e5m2 -> e6m9, chunk 64), random dot products with
bubbles. Before: cocotb drives and checks every beat from Python (Icarus,
Verilator at -O0), and Amaranth's simulator. After: the fast harness
(``macgen.verify.stream``: stimulus and expected results from files, compared
in Verilog; Verilator at -O1), on the same stimulus and on a ``--large`` one,
its build once cold (a private, emptied cache) and once cached. Every run is
checked against the golden model: the error column must be 0. Build times are
reported separately and not counted in the rates.

    .venv/bin/python bench/sim.py [--count N] [--large N] [--seed S] [--build-dir DIR]
                                  [--opt-levels=-O0,-O1,-O2]

``--opt-levels`` also builds the fast harness's Verilator model cold at each C++
optimisation level and runs the large stimulus on it (build time against speed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from macgen.config import MACConfig
from macgen.emit import emit
from macgen.verify import SIMULATORS, SimulationError, mac as vmac
from simtable import compare_opt_levels, print_table, private_cache


def amaranth_run(cfg, stim, expected):
    """Drive ``stim`` through the MAC in Amaranth's simulator; (MACs, seconds, errors).

    The cycles are the fast harness's (:func:`macgen.verify.mac.mac_stream`: the
    same lanes, bubbles and garbage), played by the Amaranth drivers' testbench
    (:func:`macgen.verify.amaranth_sim.play`); a result missing, wrong or where
    none was due is an error.
    """
    from macgen.rtl import MAC
    from macgen.verify.amaranth_sim import play

    dut = MAC(cfg)
    stream, due = vmac.mac_stream(cfg, stim, dut.latency, expected)
    seen, seconds = play(dut, [getattr(dut, f.port) for f, _ in stream.inputs],
                         list(zip(*(v.tolist() for _, v in stream.inputs))), drain=0,
                         strobe=dut.result_valid, outputs=[dut.result])
    got = {t: value for t, (value,) in seen}
    bad = sum(got.pop(int(c), None) != int(e) for c, e in zip(due, expected)) + len(got)
    return stim.products, seconds, bad


def _row(s):
    cached = "-" if s.harness == "cocotb" else ("cached" if s.build_cached else "cold")
    return (s.simulator, s.harness, s.products, s.build_seconds, cached, s.sim_seconds,
            s.mismatches + s.missing + s.extra + s.mistimed)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="dot products of the shared stimulus (default: 400)")
    parser.add_argument("--large", type=int, default=40_000,
                        help="dot products of the fast harness's large run (default: 40,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build-dir", default="build/bench/sim")
    parser.add_argument("--opt-levels", default="", help="comma-separated C++ levels to compare, e.g. --opt-levels=-O0,-O2")
    args = parser.parse_args(argv)

    cfg = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
    build = Path(args.build_dir) / cfg.slug
    private_cache(build / "model-cache", cold=True)
    design = emit(cfg, build / "rtl")
    stim = vmac.random_stimulus(cfg, args.count, seed=args.seed)
    expected = vmac.expected_results(cfg, stim)
    large = vmac.random_stimulus(cfg, args.large, seed=args.seed + 1)
    t0 = time.monotonic()
    large_expected = vmac.expected_results(cfg, large)
    golden_s = time.monotonic() - t0
    print(f"{cfg.slug}: latency {design.latency}; shared stimulus {stim.count} dot products "
          f"({stim.products:,} MACs), large {large.count:,} ({large.products:,} MACs, golden "
          f"expected values in {golden_s:.1f} s)")

    rows = []
    for simulator in SIMULATORS:
        runs = [("cocotb", stim, expected, "cocotb"), ("fast", stim, expected, "fast-small"),
                ("fast", large, large_expected, "fast-large"), ("fast", large, large_expected, "fast-again")]
        if simulator == "icarus":
            runs = runs[:2]                # Icarus is no faster per cycle: a large run only costs time
        for harness, s_stim, s_exp, name in runs:
            try:
                s = vmac.run_bench(design, cfg, s_stim, simulator=simulator, build_dir=build / simulator / name,
                                   expected=s_exp, harness=harness)
            except SimulationError as exc:
                print(f"{simulator}: not run ({str(exc).splitlines()[0]})", file=sys.stderr)
                break
            rows.append(_row(s))
    macs, seconds, bad = amaranth_run(cfg, stim, expected)
    rows.append(("amaranth", "python", macs, 0.0, "-", seconds, bad))
    code = print_table(rows, base_name="verilator cocotb")

    def run():
        s = vmac.run_bench(design, cfg, large, simulator="verilator", build_dir=build / "opt",
                           expected=large_expected, harness="fast")
        return s.build_seconds, s.macs_per_second, s.mismatches + s.missing + s.extra

    return code | compare_opt_levels([x for x in args.opt_levels.split(",") if x], build, run)


if __name__ == "__main__":
    sys.exit(main())
