"""Per-PE area of output-stationary arrays against a standalone MAC, measured in one run.

Every PE of an array sees the same chunk schedule, so the array has one chunk
counter and its PEs none (docs/arithmetic.md). For a MAC configuration and its
e8m23 twin (same chunking, same loop depth) this prints, at each array size:

* the whole array (the generic flow, flattened) divided by R x C;
* the array with its hierarchy kept: one PE, the shared chunk counter and the
  rest of the top level (operand skew, result drain, control) separately;
* the standalone MAC, its own chunk counter, and how much smaller a PE is.

    .venv/bin/python bench/array_pe.py [--acc-format e7m10] [--chunk-size 256] [--acc-stages 1]
                                       [--sizes 4,8] [--flat-sizes 4] [--work build/bench-array-pe]

Flattening an 8x8 array takes Yosys many minutes; ``--flat-sizes`` names the
sizes that get the flattened figure (the hierarchy-kept one is cheap: the PE
module is synthesised once).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from macgen.area import area_breakdown, area_of, array_pe_breakdown
from macgen.config import ArrayConfig, MACConfig
from macgen.pipelining import pipelined_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a-format", default="e5m2")
    ap.add_argument("--b-format", default="e5m2")
    ap.add_argument("--acc-format", default="e7m10")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--acc-stages", type=int, default=1)
    ap.add_argument("--sizes", default="4,8")
    ap.add_argument("--flat-sizes", default="4")
    ap.add_argument("--work", default="build/bench-array-pe")
    args = ap.parse_args(argv)
    work = Path(args.work)
    sizes = [int(s) for s in args.sizes.split(",")]
    flat = {int(s) for s in args.flat_sizes.split(",") if s}
    print(f"# array PE area, load {os.getloadavg()[0]:.1f}")
    base = MACConfig(args.a_format, args.b_format, args.acc_format, chunk_size=args.chunk_size)
    twin = MACConfig(args.a_format, args.b_format, "e8m23", chunk_size=args.chunk_size)
    for cfg in (pipelined_config(base, args.acc_stages), pipelined_config(twin, args.acc_stages)):
        t0 = time.monotonic()
        mac = area_of(cfg, work / cfg.slug, fpga=False)
        mb = area_breakdown(cfg, work / f"{cfg.slug}.breakdown")
        own_counter = mb["groups"].get("chunk counter", 0)
        print(f"\n{cfg.slug}: standalone MAC {mac.transistors:,} transistors (hierarchy kept {mb['total']:,}, "
              f"of it chunk counter {own_counter:,})")
        print("  size   array (flat)   / PE   | hierarchy kept: PE   shared counter   rest of top   "
              "| standalone - PE")
        for n in sizes:
            arr = ArrayConfig(n, n, cfg)
            flat_total = area_of(arr, work / arr.slug, fpga=False).transistors if n in flat else None
            f = array_pe_breakdown(arr, work / f"{arr.slug}.breakdown")
            flat_text = (f"{flat_total:>12,} {flat_total / (n * n):>8,.0f}" if flat_total is not None
                         else f"{'-':>12} {'-':>8}")
            print(f"  {n}x{n}  {flat_text}   | {f['pe']:>18,.0f} {f['counter']:>16,} {f['rest']:>13,}   "
                  f"| {mb['total'] - f['pe']:>+10,.0f}"
                  + (f" ({(mb['total'] - f['pe']) / own_counter:.2f}x the MAC's counter)" if own_counter else ""))
        print(f"  ({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
