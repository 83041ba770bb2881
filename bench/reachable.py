"""What the "no logic for values that cannot occur" rules save, measured in one run.

For each MAC (default: e5m2 x e5m2 -> e7m10 chunk 256, -> e7m12, -> e8m23, and
fp16 as a case where no rule holds) at each loop depth K (multiplier stages from
:func:`macgen.pipelining.pipelined_config`), three builds:

* ``init``: the MAC with an init input (the default; no subnormal rule can hold
  where init enters the accumulator);
* ``no init, full``: without the init input, every case's logic built
  (``MAC(cfg, simplify=False)``);
* ``no init, pruned``: without the init input and with the rules of
  :mod:`macgen.reachable` applied (what ``--no-init`` generates).

It prints transistors and logic levels (generic flow), OSU018 µm² and critical
path (OpenSTA), and the ratios full/pruned (what the rules alone save) and
init/pruned (what dropping the init input and the rules save together).

    .venv/bin/python bench/reachable.py [--macs e7m10c256,e7m12,e8m23,fp16] [--stages 1,4]
                                        [--jobs 2] [--work build/bench-reachable]

About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from macgen.area import area_of_verilog
from macgen.config import MACConfig
from macgen.emit import emit
from macgen.pipelining import pipelined_config
from macgen.rtl import MAC
from macgen.timing import osu018_timing

MACS = {
    "e7m10c256": MACConfig("e5m2", "e5m2", "e7m10", chunk_size=256),
    "e7m12": MACConfig("e5m2", "e5m2", "e7m12"),
    "e8m23": MACConfig("e5m2", "e5m2", "e8m23"),
    "fp16": MACConfig("fp16", "fp16", "fp16"),
}
BUILDS = ("init", "no init, full", "no init, pruned")


def _measure(job):
    name, k, build, work = job
    cfg = pipelined_config(MACS[name], k)
    if build != "init":
        cfg = replace(cfg, init=False)
    mac = MAC(cfg, simplify=build != "no init, full")
    out = Path(work) / f"{cfg.slug}{'_full' if build == 'no init, full' else ''}"
    res = emit(mac, out)
    area = area_of_verilog(res.verilog, res.top, fpga=False)
    asic = osu018_timing(res.verilog, res.top)
    return {"name": name, "k": k, "build": build, "transistors": area.transistors,
            "levels": area.logic_levels, "um2": asic.area_um2, "ns": asic.critical_ns,
            "rules": [r.name for r in mac.simplifications]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--macs", default=",".join(MACS), help=f"among {', '.join(MACS)}")
    ap.add_argument("--stages", default="1,4")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default="build/bench-reachable")
    args = ap.parse_args(argv)
    names = args.macs.split(",")
    unknown = [n for n in names if n not in MACS]
    if unknown:
        ap.error(f"unknown MAC {unknown[0]!r}; choose from {', '.join(MACS)}")
    stages = [int(k) for k in args.stages.split(",")]
    jobs = [(n, k, b, args.work) for n in names for k in stages for b in BUILDS]
    t0 = time.monotonic()
    print(f"# no logic for values that cannot occur: {len(jobs)} builds, load {os.getloadavg()[0]:.1f}")
    with ProcessPoolExecutor(args.jobs) as ex:
        rows = list(ex.map(_measure, jobs))
    by = {(r["name"], r["k"], r["build"]): r for r in rows}
    print(f"{'MAC':10s} {'K':>2} {'build':16s} {'transistors':>11} {'levels':>6} {'um2':>9} {'ns':>6}  rules")
    for r in rows:
        print(f"{r['name']:10s} {r['k']:>2} {r['build']:16s} {r['transistors']:>11,} {r['levels']:>6} "
              f"{r['um2']:>9,.0f} {r['ns']:>6.2f}  {', '.join(r['rules']) or '-'}")
    print()
    for n in names:
        for k in stages:
            init, full, pruned = (by[(n, k, b)] for b in BUILDS)
            ad = lambda r: r["um2"] * r["ns"]
            print(f"{n} K={k}: rules alone (full/pruned) transistors {full['transistors'] / pruned['transistors']:.3f}x, "
                  f"um2 {full['um2'] / pruned['um2']:.3f}x, ns {full['ns'] / pruned['ns']:.3f}x; "
                  f"with the init input dropped (init/pruned) transistors "
                  f"{init['transistors'] / pruned['transistors']:.3f}x, area x delay {ad(init) / ad(pruned):.3f}x")
    print(f"# {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
