"""Simulated MACs per second: Icarus (cocotb), Verilator (cocotb) and Amaranth's simulator.

One configuration (e5m2 x e5m2 -> e6m9, chunk 64), one stimulus (random dot
products with bubbles), measured in one run; every simulator's results are
also checked against the golden model, so a fast wrong simulation cannot pass
as a result. Build time (Verilog compile; the C++ build for Verilator) is
reported separately and not counted in the rate.

    .venv/bin/python bench/sim.py [--count N] [--seed S] [--build-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


import numpy as np

from macgen.verify import SIMULATORS, SimulationError, mac as vmac
from macgen.config import MACConfig
from macgen.emit import emit


def amaranth_run(cfg, stim, expected):
    """Drive ``stim`` through the MAC in Amaranth's simulator.

    Returns (MACs per CPU second, CPU seconds, MACs per wall second, mismatches).
    """
    from amaranth.sim import Simulator

    from macgen.rtl import MAC

    dut = MAC(cfg)
    results = []
    offsets = stim.offsets

    async def bench(ctx):
        rng = np.random.default_rng(stim.seed)
        k = 0
        for d, n in enumerate(stim.lengths.tolist()):
            for j in range(n):
                for _ in range(int(stim.gaps[k])):
                    ctx.set(dut.valid, 0)
                    ctx.set(dut.a, int(rng.integers(0, 1 << cfg.a_fmt.width)))
                    await ctx.tick()
                    if ctx.get(dut.result_valid):
                        results.append(ctx.get(dut.result))
                ctx.set(dut.valid, 1)
                ctx.set(dut.first, int(j == 0))
                ctx.set(dut.last, int(j == n - 1))
                ctx.set(dut.a, int(stim.a[offsets[d] + j]))
                ctx.set(dut.b, int(stim.b[offsets[d] + j]))
                ctx.set(dut.init, int(stim.init[d]))
                ctx.set(dut.init_en, int(stim.init_en[d]))
                await ctx.tick()
                if ctx.get(dut.result_valid):
                    results.append(ctx.get(dut.result))
                k += 1
        ctx.set(dut.valid, 0)
        for _ in range(dut.latency + 2):
            await ctx.tick()
            if ctx.get(dut.result_valid):
                results.append(ctx.get(dut.result))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0, c0 = time.monotonic(), time.process_time()
    sim.run()
    seconds, cpu = time.monotonic() - t0, time.process_time() - c0
    got = np.asarray(results, dtype=np.uint64)
    bad = len(expected) - len(got) if len(got) != len(expected) else int(np.count_nonzero(got != expected))
    return stim.products / cpu, cpu, stim.products / seconds, bad


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="dot products (default: 400)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build-dir", default="build/bench/sim")
    args = parser.parse_args(argv)

    cfg = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
    stim = vmac.random_stimulus(cfg, args.count, seed=args.seed)
    expected = vmac.expected_results(cfg, stim)
    build = Path(args.build_dir) / cfg.slug
    design = emit(cfg, build / "rtl")
    print(f"{cfg.slug}: {stim.count} dot products, {stim.products:,} MACs, latency {design.latency}")

    rows = []
    for simulator in SIMULATORS:
        try:
            s = vmac.run_bench(design, cfg, stim, simulator=simulator, build_dir=build / simulator,
                                   expected=expected)
        except SimulationError as exc:
            print(f"{simulator}: not run ({str(exc).splitlines()[0]})", file=sys.stderr)
            continue
        bad = s.mismatches + s.missing + s.extra + s.mistimed
        rows.append((f"{simulator} (cocotb)", s.products / s.sim_cpu_seconds, s.sim_cpu_seconds,
                     s.macs_per_second, s.build_seconds, bad))
    rate, cpu, wall_rate, bad = amaranth_run(cfg, stim, expected)
    rows.append(("amaranth (Python)", rate, cpu, wall_rate, 0.0, bad))

    base = next((r[1] for r in rows if r[0].startswith("icarus")), rows[0][1])
    print("MACs per CPU second of the simulating process (load-independent); wall-clock rate beside it")
    print(f"{'simulator':<20} {'MACs/cpu-s':>11} {'cpu s':>7} {'vs icarus':>10} {'MACs/wall-s':>12} "
          f"{'build s':>8} {'errors':>7}")
    for name, r, cpu, wall_rate, build_s, bad in rows:
        print(f"{name:<20} {r:>11,.0f} {cpu:>7.2f} {r / base:>9.2f}x {wall_rate:>12,.0f} {build_s:>8.1f} {bad:>7}")
    return 0 if all(r[5] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
