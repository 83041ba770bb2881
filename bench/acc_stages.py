"""The pipelined accumulate loop against its depth K, measured in one run.

For each MAC (by default e5m2 x e5m2 -> e7m10 with chunks of 256, -> e8m23, and
the fp16 MAC) at each loop depth K, with the multiplier stages the design choice
gives it (:func:`macgen.pipelining.pipelined_config`), this prints transistors and
logic levels (generic flow), OSU018 µm², critical path and throughput per area
(OpenSTA), and the ECP5-25k / iCE40 HX8K Fmax (nextpnr, median of the seeds) with
ECP5 LUT4s and flip-flops. Then, per MAC: the K that :func:`macgen.pipelining.recommend`
picks, the ratios of K = 4 to K = 1 (logic levels, ECP5 Fmax), and the K with the
most ECP5 MHz per LUT4.

    .venv/bin/python bench/acc_stages.py [--macs e7m10c256,e8m23,fp16] [--stages 1,2,4,8]
                                         [--seeds 1,2,3] [--no-pnr] [--work build/bench-acc-stages]

About 10 minutes with place and route on a quiet 2-core machine (the first
nextpnr run on a machine is the slowest: its WebAssembly start-up).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from macgen.config import MACConfig
from macgen.emit import read_sidecar
from macgen.pipelining import recommend, study_acc_stages
from macgen.timing import timing_of_verilog

MACS = {
    "e7m10c256": MACConfig("e5m2", "e5m2", "e7m10", chunk_size=256),
    "e8m23": MACConfig("e5m2", "e5m2", "e8m23"),
    "fp16": MACConfig("fp16", "fp16", "fp16"),
}


def _fmax(fpga: dict, family: str) -> str:
    t = fpga.get(family)
    if t is None:
        return "-"
    return f"{t['fmax_median_mhz']:.1f}" if t["fits"] else "no fit"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--macs", default=",".join(MACS), help=f"among {', '.join(MACS)}")
    ap.add_argument("--stages", default="1,2,4,8")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--no-pnr", action="store_true")
    ap.add_argument("--work", default="build/bench-acc-stages")
    args = ap.parse_args(argv)
    stages = [int(k) for k in args.stages.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(args.work)
    print(f"# accumulate-loop depth K, load {os.getloadavg()[0]:.1f}")
    print(f"{'MAC':28s} {'K':>2} {'mul':>3} {'transistors':>11} {'levels':>6} {'um2':>9} {'ns':>6} "
          f"{'GMAC/s/mm2':>10} {'ECP5 MHz':>8} {'HX8K MHz':>8} {'ECP5 LUT4':>9} {'FF':>5} {'P&R s':>5}")
    for name in args.macs.split(","):
        t0 = time.monotonic()
        # area, logic levels, OSU018 and throughput per area: the flow's own loop-stage study
        rows = study_acc_stages([MACS[name]], work, stages=stages)
        study_seconds = time.monotonic() - t0
        for row in rows:
            t0 = time.monotonic()
            top = row["slug"]
            fpga = {} if args.no_pnr else timing_of_verilog(
                work / top / f"{top}.v", read_sidecar(work / top / f"{top}.json"), asic=False, fpga=True,
                seeds=seeds)["fpga"]
            ecp5 = fpga.get("ecp5") or {}
            cells = ecp5.get("cells") or {}
            row.update(ecp5_mhz=ecp5.get("fmax_median_mhz") if ecp5.get("fits") else None,
                       ecp5_lut4=cells.get("lut4"))
            print(f"{name:28s} {row['acc_stages']:>2} {row['mul_stages']:>3} {row['transistors']:>11,} "
                  f"{row['logic_levels']:>6} {row['osu018_um2']:>9,.0f} {row['osu018_ns']:>6.2f} "
                  f"{row['gmacs_per_mm2']:>10.3f} {_fmax(fpga, 'ecp5'):>8} {_fmax(fpga, 'ice40'):>8} "
                  f"{row['ecp5_lut4'] or '-':>9} {cells.get('ff', '-'):>5} {time.monotonic() - t0:>5.0f}",
                  flush=True)
        best = recommend(rows, MACS[name].slug)
        by_k = {r["acc_stages"]: r for r in rows}
        words = [f"recommended (OSU018 throughput per area) K = {best['acc_stages']}"
                 + (f", ECP5 {best['ecp5_mhz']:.1f} MHz" if best["ecp5_mhz"] else "")]
        if 1 in by_k and 4 in by_k:
            one, four = by_k[1], by_k[4]
            words.append(f"levels K=4/K=1 {four['logic_levels'] / one['logic_levels']:.0%}")
            if one["ecp5_mhz"] and four["ecp5_mhz"]:
                words.append(f"ECP5 Fmax K=4/K=1 {four['ecp5_mhz'] / one['ecp5_mhz']:.2f}x")
        placed = [r for r in rows if r["ecp5_mhz"] and r["ecp5_lut4"]]
        if placed:
            lut = max(placed, key=lambda r: (r["ecp5_mhz"] / r["ecp5_lut4"], -r["acc_stages"]))
            words.append(f"most ECP5 MHz per LUT4: K = {lut['acc_stages']} ({lut['ecp5_mhz']:.1f} MHz)")
        print(f"  {name}: " + "; ".join(words) + f" (synthesis and OSU018 of every K: {study_seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
