"""``macgen sweep``: MAC area against accumulator precision (CSV + PNG), resumable and parallel."""

from __future__ import annotations

import json
import os
import sys

from . import FORMAT_HELP, UsageError


def register(subparsers):
    p = subparsers.add_parser(
        "sweep", help="area vs accumulator precision (CSV + PNG), resumable and parallel",
        description="Synthesise one MAC per accumulator mantissa width, exponent width and chunk size "
                    "for fixed operand formats (SPEC §6's Yosys flow), plus the same MAC with an "
                    "e8m23 (FP32) accumulator as a reference. With --length or --workload, each row "
                    "also gets the precision model's VRR and variance lost, and the model's choice is "
                    "marked in the plot. Points are cached in OUT/cache: a rerun or an interrupted "
                    "sweep recomputes nothing already done. OUT/sweep.csv and OUT/sweep.png are "
                    "written only when every point is done.")
    g = p.add_argument_group("MAC", f"formats: {FORMAT_HELP}")
    g.add_argument("--a-format", default="e5m2", metavar="FMT", help="multiplicand format (default: e5m2)")
    g.add_argument("--b-format", default="e5m2", metavar="FMT", help="multiplier format (default: e5m2)")
    g.add_argument("--rounding", choices=("rne", "rtz"), default="rne", help="rounding mode (default: rne)")
    g.add_argument("--product-man-bits", type=int, default=None, metavar="P",
                   help="round the product to P fraction bits (default: exact product)")
    g.add_argument("--mul-stages", type=int, default=0, metavar="S",
                   help="pipeline registers in the multiplier path, 0-3 (default: 0)")
    s = p.add_argument_group("sweep", "lists like 4:16 (inclusive), 4:16:2 or 0,16,64")
    s.add_argument("--man-bits", default="4:16", metavar="LIST",
                   help="accumulator fraction widths (default: 4:16)")
    s.add_argument("--exp-bits", default=None, metavar="LIST",
                   help="accumulator exponent widths (default: the precision model's for "
                        "--length/--workload; required without them)")
    s.add_argument("--chunks", default="0", metavar="LIST", help="chunk sizes, 0 = none (default: 0)")
    m = p.add_argument_group("precision model")
    m.add_argument("--length", type=int, default=None, metavar="N", help="accumulation length")
    m.add_argument("--workload", default=None, metavar="W",
                   help="a built-in workload or a layer file: its longest accumulation is the length")
    m.add_argument("--mc-trials", type=int, default=0, metavar="T",
                   help="also the Monte-Carlo VRR of the golden model over T dot products (default: off)")
    m.add_argument("--seed", type=int, default=0, help="seed of the Monte-Carlo data (default: 0)")
    r = p.add_argument_group("run")
    r.add_argument("--fpga", action="store_true", help="also count iCE40/ECP5 LUTs (about 3x slower)")
    r.add_argument("--no-asic", dest="asic", action="store_false",
                   help="skip the OSU018 cells + OpenSTA timing of every point (delay columns, "
                        "sweep_delay.png)")
    r.add_argument("--no-reference", dest="reference", action="store_false",
                   help="skip the e8m23-accumulator reference MAC")
    r.add_argument("-j", "--jobs", type=int, default=1, metavar="N", help="parallel Yosys runs (default: 1)")
    r.add_argument("--max-points", type=int, default=None, metavar="K",
                   help="synthesise at most K new points, then stop (rerun to continue)")
    r.add_argument("--timeout", type=float, default=None, metavar="S", help="seconds per Yosys run")
    r.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG")
    r.add_argument("--json", action="store_true", help="print the rows as JSON")
    r.add_argument("-o", "--out", default=os.path.join("build", "sweep"), metavar="DIR",
                   help="output directory (default: build/sweep)")
    p.set_defaults(func=run)


def _length(args):
    if args.length is not None and args.workload is not None:
        raise UsageError("give --length or --workload, not both")
    if args.length is not None:
        if args.length < 1:
            raise UsageError(f"--length must be at least 1, not {args.length}")
        return args.length, None
    if args.workload is not None:
        from ..workloads import get_workload
        lengths = get_workload(args.workload).lengths()
        layer, gemm, n = max(lengths, key=lambda t: t[2])
        return n, f"{args.workload}: longest accumulation {n} ({layer.name} {gemm})"
    return None, None


def run(args) -> int:
    from ..formats import FloatFormat
    from ..sweep import parse_int_list, run_sweep
    a_fmt, b_fmt = FloatFormat.parse(args.a_format), FloatFormat.parse(args.b_format)
    man_bits = parse_int_list(args.man_bits, "--man-bits", minimum=1)
    chunks = parse_int_list(args.chunks, "--chunks", minimum=0)
    length, note = _length(args)
    if args.exp_bits is not None:
        exp_bits = parse_int_list(args.exp_bits, "--exp-bits", minimum=2)
    elif length is not None:
        from ..precision import decide_accumulator
        exp_bits = [decide_accumulator(length, a_fmt, b_fmt, product_man_bits=args.product_man_bits).exp_bits]
    else:
        raise UsageError("give --exp-bits, or --length/--workload to let the precision model choose it")
    if args.mc_trials and length is None:
        raise UsageError("--mc-trials needs --length or --workload")
    if note:
        print(f"sweep: {note}", file=sys.stderr)
    result = run_sweep(a_fmt, b_fmt, man_bits=man_bits, exp_bits=exp_bits, chunks=chunks,
                       out_dir=args.out, rounding=args.rounding, product_man_bits=args.product_man_bits,
                       mul_stages=args.mul_stages, length=length, mc_trials=args.mc_trials, seed=args.seed,
                       fpga=args.fpga, asic=args.asic, reference=args.reference, jobs=args.jobs,
                       max_points=args.max_points, timeout=args.timeout, plot=args.plot)
    if args.json:
        print(json.dumps({"complete": result.complete, "computed": result.computed, "cached": result.cached,
                          "csv": str(result.csv_path) if result.csv_path else None,
                          "png": str(result.png_path) if result.png_path else None,
                          "delay_png": str(result.delay_png_path) if result.delay_png_path else None,
                          "decisions": {str(k): v for k, v in result.decisions.items()},
                          "rows": result.rows}, indent=2))
    else:
        _print_table(result)
    if not result.complete:
        print(f"sweep: stopped after {result.computed} new point(s) (--max-points); "
              f"rerun to continue, nothing done is recomputed", file=sys.stderr)
    return 0


def _print_table(result):
    model = any(r["vrr"] is not None for r in result.rows)
    delay = any(r["osu018_ns"] is not None for r in result.rows)
    head = f"{'acc':>10} {'chunk':>5} {'transistors':>11} {'cells':>7} {'FFs':>5} {'levels':>6}"
    if delay:
        head += f" {'OSU018 um2':>10} {'ns':>6} {'um2 x ns':>10}"
    if model:
        head += f" {'VRR':>12} {'v':>10}"
        if any(r["vrr_mc"] is not None for r in result.rows):
            head += f" {'VRR (MC)':>12}"
    print(head)
    for r in result.rows:
        line = (f"{r['acc_fmt']:>10} {r['chunk_size']:>5} {r['transistors']:>11,} {r['cells']:>7,} "
                f"{r['flip_flops']:>5} {r['logic_levels'] if r['logic_levels'] is not None else '-':>6}")
        if delay:
            line += (f" {r['osu018_um2']:>10,.0f} {r['osu018_ns']:>6.2f} {r['area_x_delay_um2ns']:>10,.0f}"
                     if r["osu018_ns"] is not None else f" {'-':>10} {'-':>6} {'-':>10}")
        if model:
            line += f" {r['vrr']:>12.9f} {r['v']:>10.3g}"
            if r["vrr_mc"] is not None:
                line += f" {r['vrr_mc']:>12.9f}"
        if r["model_choice"]:
            line += "  <- model"
        if r["role"] == "fp32_reference":
            line += "  (FP32 reference)"
        print(line)
    for chunk, d in sorted(result.decisions.items()):
        print(f"model (n = {d['n']}, chunk {chunk}): {d['acc_fmt']}, VRR {d['vrr']:.9f}, v {d['v']:.3g}")
    if delay:
        from ..timing import OSU018_NOTE
        print(f"({OSU018_NOTE})")
    if result.csv_path:
        figures = [str(p) for p in (result.png_path, result.delay_png_path) if p]
        print(f"wrote {result.csv_path}" + (f" and {' and '.join(figures)}" if figures else ""),
              file=sys.stderr)
