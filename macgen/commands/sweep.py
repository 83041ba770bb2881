"""``macgen sweep``: MAC area against accumulator precision (CSV + PNG), resumable and parallel."""

from __future__ import annotations

import json
import os
import sys

from ..progress import enabled as progress_enabled
from ..limits import MAX_CHUNK_SIZE, MAX_POINTS, MAX_TIMEOUT
from . import UsageError, check_output_dir, conflict, reraise_with_options
from .options import (FORMAT_HELP, Int, Real, Switch, add_acc_stages_list_option, add_cache_option,
                      add_format_options, add_jobs_option, add_json_option, add_length_option, add_mc_trials_option,
                      add_output_option, add_product_man_bits_option, add_quiet_option, add_rounding_option,
                      add_scheduler_options, add_seed_option, add_tool_options, add_workload_option, bounded)

POINTS = Int(1, MAX_POINTS)
TIMEOUT = Real(0.0, MAX_TIMEOUT, open_below=True)

#: The options that set keys of a sweep specification, and those keys (a MAC field's option takes a list here).
SPEC_KEYS = {"--acc-man-bits": "man_bits", "--acc-exp-bits": "exp_bits", "--chunk-size": "chunks",
             "--array": "arrays", "--mul-stages": "mul_stages", "--acc-stages": "acc_stages", "--inputs": "inputs",
             "--rounding": "rounding", "--product-man-bits": "product_man_bits", "--mc-trials": "mc_trials",
             "--seed": "seed", "--reference": "reference"}

EXAMPLES = """examples:
  macgen sweep --length 4096 --acc-man-bits 6:12 --chunk-size 0,64 --no-asic -j 2
  macgen sweep --acc-exp-bits 6 --acc-man-bits 4:10 --array 2x2 --max-points 4
"""


def register(subparsers):
    p = subparsers.add_parser(
        "sweep", help="design-space sweep: area vs accumulator precision (CSV, Pareto front, PNG), "
                      "resumable, parallel or on a Dask cluster",
        description="Synthesise one design per point of a sweep (operand formats x array shapes x "
                    "pipeline stages x chunk size x accumulator exponent width x mantissa width) with "
                    "docs/arithmetic.md §7's Yosys flow, plus the same design with an e8m23 (FP32) accumulator as a "
                    "reference. With --length or --workload, each row also gets the precision model's "
                    "VRR and variance lost v, and the model's choice is marked. Points run on this "
                    "machine (--jobs) or on a Dask cluster (--scheduler). Points are cached in the "
                    "cache directory: a rerun or an interrupted sweep recomputes nothing already done. "
                    "OUT/sweep.csv, OUT/pareto.csv and their figures are written only when every "
                    "point is done.",
        epilog="A sweep specification file (--spec) is TOML with the keys of macgen.sweep.SweepSpec "
               "(inputs, man_bits, exp_bits, chunks, arrays, mul_stages, acc_stages, rounding, product_man_bits, "
               "length, mc_trials, seed, reference); options given on the command line override it "
               "(--acc-man-bits, --acc-exp-bits, --chunk-size and --array set man_bits, exp_bits, chunks "
               "and arrays). "
               "See docs/sweeps.md.\n\n" + EXAMPLES)
    p.add_argument("--spec", default=None, metavar="FILE", help="sweep specification (TOML)")
    g = p.add_argument_group("designs", f"formats: {FORMAT_HELP}; lists like 4:16 (inclusive), 4:16:2 "
                                        f"or 0,16,64")
    add_format_options(g, default=None, formats_help=False)
    g.add_argument("--inputs", default=None, metavar="LIST",
                   help="operand pairs to sweep instead of --a-format/--b-format: FMT (a = b) or A/B, "
                        "comma-separated, e.g. e5m2,e4m3fn,e4m3fn/e5m2")
    add_rounding_option(g, default=None)
    add_product_man_bits_option(g)
    g.add_argument("--mul-stages", default=None, metavar="LIST",
                   help="pipeline registers in the multiplier path, 0-3 (default: 0)")
    add_acc_stages_list_option(g, default=None, shown="1")
    g.add_argument("--acc-man-bits", default=None, metavar="LIST",
                   help="accumulator fraction widths (default: 4:16)")
    g.add_argument("--acc-exp-bits", default=None, metavar="LIST",
                   help="accumulator exponent widths (default: the precision model's for "
                        "--length/--workload; required without them)")
    g.add_argument("--chunk-size", default=None, metavar="LIST", help="chunk sizes, 0 = none (default: 0)")
    g.add_argument("--array", default=None, metavar="LIST",
                   help="synthesise RxC systolic arrays of each MAC, e.g. 2x2,4x4 (default: bare MACs)")
    g.add_argument("--reference", action=Switch, default=None, shown=True,
                   help="the same designs with an e8m23 (FP32) accumulator, for reference")
    m = p.add_argument_group("precision model")
    add_length_option(m)
    add_workload_option(m, also="(its longest accumulation is the length)")
    add_mc_trials_option(m, default=None, shown="off", also="for the golden model's Monte-Carlo VRR")
    add_seed_option(m, default=None, what="seed of the Monte-Carlo data")
    r = p.add_argument_group("run")
    add_tool_options(r, fpga=False, asic=True)
    add_jobs_option(r, default=1)
    add_scheduler_options(r, what="the points")
    add_cache_option(r, shown="OUT/cache")
    r.add_argument("--max-points", type=POINTS, default=None, metavar="K",
                   help=bounded("synthesise at most K new points, then stop (rerun to continue; "
                                "default: all)", POINTS))
    r.add_argument("--timeout", type=TIMEOUT, default=None, metavar="S",
                   help=bounded("seconds per Yosys run (default: no limit)", TIMEOUT))
    r.add_argument("--pareto", default=None, metavar="COLS",
                   help="Pareto objectives, CSV column names, all minimised (default: transistors,v "
                        "plus any delay column the records have)")
    # not a --plot/--no-plot switch: plan's --plot FILE names a figure to write
    r.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNGs")
    add_quiet_option(r)
    add_json_option(r, "the rows")
    add_output_option(r, default=os.path.join("build", "sweep"))
    p.set_defaults(func=run)


def _length(args):
    conflict(args, "--length", "--workload", "give one accumulation length")
    if args.length is not None:
        return args.length, None
    if args.workload is not None:
        from ..workloads import get_workload
        lengths = get_workload(args.workload).lengths()
        layer, gemm, n = max(lengths, key=lambda t: t[2])
        return n, f"{args.workload}: longest accumulation {n} ({layer.name} {gemm})"
    return None, None


def _spec(args, length):
    from ..sweep import SweepSpec, load_spec_table
    data = {}
    if length is not None:
        data["length"] = length
    if args.inputs is not None and (args.a_format is not None or args.b_format is not None):
        raise UsageError("give --inputs or --a-format/--b-format, not both")
    if args.a_format is not None or args.b_format is not None:
        data["inputs"] = [f"{args.a_format or 'e5m2'}/{args.b_format or 'e5m2'}"]
    for option, key in SPEC_KEYS.items():
        value = getattr(args, option[2:].replace("-", "_"))
        if value is not None:
            data[key] = value
    table = {} if args.spec is None else load_spec_table(args.spec)
    merged = {**table, **data}
    if merged.get("exp_bits") is None and merged.get("length") is None:
        raise UsageError("give --acc-exp-bits, or --length/--workload to let the precision model choose it")
    if merged.get("mc_trials") and merged.get("length") is None:
        raise UsageError("--mc-trials needs --length or --workload")
    if args.spec is not None:
        spec = SweepSpec.from_toml(args.spec, **data)
    else:
        try:
            spec = SweepSpec(**data)
        except (TypeError, ValueError) as exc:
            # SweepSpec names its fields; the user typed options.
            reraise_with_options(exc, {key: option for option, key in SPEC_KEYS.items()})
    if max(spec.chunks) > MAX_CHUNK_SIZE:
        raise UsageError(f"--chunk-size must be at most {MAX_CHUNK_SIZE:,}, not {max(spec.chunks)}")
    return spec


def run(args) -> int:
    from ..sweep import run_spec
    length, note = _length(args)
    spec = _spec(args, length)
    pareto = None if args.pareto is None else [c.strip() for c in args.pareto.split(",") if c.strip()]
    check_output_dir("-o/--output", args.output)
    if args.cache is not None:
        check_output_dir("--cache", args.cache)
    if note and progress_enabled():
        print(f"sweep: {note}", file=sys.stderr)
    result = run_spec(spec, args.output, fpga=args.fpga, asic=args.asic, jobs=args.jobs, scheduler=args.scheduler,
                      scheduler_timeout=args.scheduler_timeout, cache_dir=args.cache,
                      max_points=args.max_points, timeout=args.timeout, plot=args.plot, pareto=pareto,
                      progress=sys.stderr if progress_enabled() else None)
    if args.json:
        print(json.dumps({"complete": result.complete, "computed": result.computed, "cached": result.cached,
                          "failures": result.failures,
                          "csv": str(result.csv_path) if result.csv_path else None,
                          "png": str(result.png_path) if result.png_path else None,
                          "pareto": result.pareto,
                          "pareto_csv": str(result.pareto_csv_path) if result.pareto_csv_path else None,
                          "decisions": [{"a_fmt": a, "b_fmt": b, "chunk": c, **d}
                                        for (a, b, c), d in result.decisions.items()],
                          "delay_png": str(result.delay_png_path) if result.delay_png_path else None,
                          "rows": result.rows}, indent=2))
    else:
        _print_table(result)
    for f in result.failures:
        print(f"sweep: point {f['slug']} ({f['description']}) failed: {f['error']}", file=sys.stderr)
    if result.failures:
        print(f"sweep: {len(result.failures)} point(s) failed, the others are done and cached; "
              f"rerun to retry them", file=sys.stderr)
        return 1
    if not result.complete:
        print(f"sweep: stopped after {result.computed} new point(s) (--max-points); "
              f"rerun to continue, nothing done is recomputed", file=sys.stderr)
    return 0


def _print_table(result):
    from ..sweep import STAGE_DIMENSIONS
    model = any(r["vrr"] is not None for r in result.rows)
    design = [("a x b", lambda r: f"{r['a_fmt']} x {r['b_fmt']}", 18),
              ("design", lambda r: "MAC" if r["rows"] is None else f"{r['rows']}x{r['cols']} array", 11)]
    design += [(d, lambda r, d=d: str(r[d]), len(d)) for d in STAGE_DIMENSIONS]
    design = [(name, get, w) for name, get, w in design if len({get(r) for r in result.rows}) > 1]
    head = "".join(f"{name:>{w}} " for name, _, w in design)
    head += f"{'acc':>10} {'chunk':>5} {'transistors':>11} {'cells':>7} {'FFs':>5} {'levels':>6}"
    delay = any(r["osu018_ns"] is not None for r in result.rows)
    if delay:
        head += f" {'OSU018 um2':>10} {'ns':>6} {'um2 x ns':>10}"
    if model:
        head += f" {'VRR':>12} {'v':>10}"
        if any(r["vrr_mc"] is not None for r in result.rows):
            head += f" {'VRR (MC)':>12}"
    print(head)
    for r in result.rows:
        line = "".join(f"{get(r):>{w}} " for _, get, w in design)
        line += (f"{r['acc_fmt']:>10} {r['chunk_size']:>5} {r['transistors']:>11,} {r['cells']:>7,} "
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
    for (a, b, chunk), d in sorted(result.decisions.items()):
        print(f"model (n = {d['n']}, {a} x {b}, chunk {chunk}): {d['acc_fmt']}, VRR {d['vrr']:.9f}, "
              f"v {d['v']:.3g}")
    if delay:
        from ..timing import OSU018_NOTE
        print(f"({OSU018_NOTE})")
    written = [p for p in (result.csv_path, result.png_path, result.delay_png_path, result.pareto_csv_path,
                           result.pareto_png_path) if p]
    if written:
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
