"""Yosys area of macgen's fused MACs next to docs/arithmetic.md §7's Berkeley HardFloat references.

For fp16, bf16, e6m9 (IBM's FP16) and fp32 MACs with a = b = acc (RNE,
subnormals, exact product, no chunking: the unit HardFloat's ``mulAddRecFN``
with a registered accumulator implements), prints estimated transistors,
cells, flip-flops and the ratio to docs/arithmetic.md §7's HardFloat transistor counts, and
the time of each Yosys run. ``--fpga`` adds iCE40/ECP5 LUT counts (the fp16
iCE40 count has a HardFloat reference too); those flows take about 10x longer
than the generic one. ``--cold`` first times Yosys's WebAssembly compile with
an empty YoWASP cache (in a temporary directory; the user's cache is left alone).

    .venv/bin/python bench/area.py [--fpga] [--cold] [--formats fp16,bf16,e6m9,fp32] [--json] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from macgen.area import HARDFLOAT_ICE40_FP16, area_of, hardfloat_reference, yosys_command
from macgen.config import MACConfig


def time_startup(cold: bool) -> dict:
    """Seconds for ``yosys -V``: cached, and optionally with an empty YoWASP cache."""
    out = {}
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, YOWASP_CACHE_DIR=cache)
            t = time.perf_counter()
            subprocess.run(yosys_command() + ["-V"], env=env, check=True, capture_output=True)
            out["first_call_cold_cache_s"] = round(time.perf_counter() - t, 2)
    subprocess.run(yosys_command() + ["-V"], check=True, capture_output=True)  # make sure it is cached
    t = time.perf_counter()
    subprocess.run(yosys_command() + ["-V"], check=True, capture_output=True)
    out["startup_cached_s"] = round(time.perf_counter() - t, 2)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--formats", default="fp16,bf16,e6m9,fp32")
    ap.add_argument("--fpga", action="store_true", help="also run synth_ice40 and synth_ecp5")
    ap.add_argument("--cold", action="store_true", help="also time the first (uncached) Yosys call")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=os.path.join("build", "bench_area"))
    args = ap.parse_args(argv)

    timing = time_startup(args.cold)
    rows = []
    for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
        cfg = MACConfig(fmt, fmt, fmt)
        t = time.perf_counter()
        rep = area_of(cfg, Path(args.out) / cfg.slug, fpga=args.fpga)
        total = time.perf_counter() - t
        ref = hardfloat_reference(cfg)
        row = {"format": fmt, "slug": cfg.slug, **rep.to_dict(), "emit_and_yosys_s": round(total, 2),
               "hardfloat_transistors": ref["transistors"] if ref else None,
               "ratio": round(rep.transistors / ref["transistors"], 3) if ref else None}
        del row["cell_types"]
        rows.append(row)
        print(f"  {fmt}: {rep.transistors:,} transistors, Yosys {rep.seconds:.1f} s", file=sys.stderr)

    if args.json:
        print(json.dumps({"timing": timing, "rows": rows}, indent=2))
        return 0
    print(f"Yosys: {rows[0]['yosys_version'] if rows else ''}; startup (cached) "
          f"{timing['startup_cached_s']} s"
          + (f", first call with an empty cache {timing['first_call_cold_cache_s']} s" if args.cold else ""))
    print(f"{'MAC (a=b=acc)':<14} {'transistors':>11} {'HardFloat':>10} {'ratio':>6} {'cells':>7} "
          f"{'FFs':>4} {'Yosys s':>8}" + (f" {'iCE40 LUT4/carry/FF':>20} {'ECP5 LUT4/CCU2C/FF':>19}"
                                         if args.fpga else ""))
    for r in rows:
        line = (f"{r['format']:<14} {r['transistors']:>11,} {r['hardfloat_transistors'] or 0:>10,} "
                f"{r['ratio'] or 0:>6.2f} {r['cells']:>7,} {r['flip_flops']:>4} {r['seconds']:>8.1f}")
        if args.fpga:
            line += (f" {r['ice40_lut4']:>8,}/{r['ice40_carry']}/{r['ice40_dff']:<6}"
                     f" {r['ecp5_lut4']:>8,}/{r['ecp5_ccu2c']}/{r['ecp5_dff']}")
        print(line)
    fp16 = next((r for r in rows if r["format"] in ("fp16", "e5m10") and r["ice40_lut4"] is not None), None)
    if fp16:
        h = HARDFLOAT_ICE40_FP16
        print(f"iCE40 fp16: ours {fp16['ice40_lut4']:,} LUT4 / {fp16['ice40_carry']} carry / "
              f"{fp16['ice40_dff']} FF; HardFloat {h['lut4']:,} / {h['carry']} / {h['dff']} "
              f"(LUT4 ratio {fp16['ice40_lut4'] / h['lut4']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
