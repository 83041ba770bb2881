"""``macgen verify``: simulate the emitted Verilog with cocotb against the golden model.

``macgen verify mac [MAC options] [--vectors FILE] [--count N] [--seed S]
[--sim icarus|verilator] [--build-dir DIR] [--json]``

``macgen verify array --rows R --cols C [--preload] [MAC options] [--depth K] [--count N] ...``

Random dot products (random lengths, chunk boundaries, random bubbles, back to
back), or the fused multiply-adds of a Berkeley TestFloat ``<fmt>_mulAdd`` file
as length-1 dot products with ``init = C``. Every result is compared bit for bit
with ``macgen.golden.dot`` (and with the file's results); exit code 1 on any
mismatch or protocol error.

Design kinds are sub-subcommands sharing :func:`add_sim_options`,
:func:`print_summary` and :func:`progress_printer`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
from pathlib import Path

from ..limits import MAX_COUNT, MAX_DEPTH, MAX_FAST_SIM_MACS, MAX_REPORTS, MAX_SIM_MACS
from ..progress import note, progress_printer, status
from ..verify.cocotb_runner import FAST_FROM, HARNESSES
from . import UsageError, add_kinds, check_output_dir, conflict, mac_config_from_args
from .options import (Int, add_array_options, add_json_option, add_mac_options, add_quiet_option, add_seed_option,
                      add_sim_option, bounded)

COUNT = Int(1, MAX_COUNT)
DEPTH = Int(1, MAX_DEPTH)
REPORTS = Int(0, MAX_REPORTS)
#: Left in DIR/<slug>/ while a run uses it: a later run that finds it replaces the directory.
IN_PROGRESS = ".macgen-in-progress"

__all__ = ["register", "add_sim_options", "print_summary", "progress_printer", "DEFAULT_BUILD_DIR"]

DEFAULT_BUILD_DIR = "build/sim"


# -- shared by the design kinds (mac, array) ------------------------------------

def add_sim_options(parser: argparse.ArgumentParser, *, count_help: str) -> None:
    group = parser.add_argument_group("simulation")
    group.add_argument("--count", type=COUNT, default=None, metavar="N", help=bounded(count_help, COUNT))
    add_seed_option(group, default=None, shown=1)
    add_sim_option(group)
    group.add_argument("--harness", choices=HARNESSES, default="auto",
                       help="cocotb: drive and check every beat from Python; fast: stream stimulus and "
                            "expected results from files through a Verilog harness that compares every "
                            "cycle (builds cached in ~/.cache/macgen/sim); auto (default): fast on verilator "
                            f"from {FAST_FROM:,} MACs on")
    group.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, metavar="DIR",
                       help=f"build directory, a cache: the design builds in DIR/<slug>/ and a rerun of "
                            f"the same design reuses its build; one an interrupted run left is rebuilt "
                            f"from scratch; safe to delete (default: {DEFAULT_BUILD_DIR})")
    group.add_argument("--reports", type=REPORTS, default=5, metavar="K",
                       help=bounded("mismatches to report, decoded (default: 5)", REPORTS))
    add_json_option(parser, "the summary")
    add_quiet_option(parser)


def check_budget(what: str, macs: int, harness: str = "auto") -> None:
    """Refuse a simulation of more than :data:`~macgen.limits.MAX_SIM_MACS` products
    (:data:`~macgen.limits.MAX_FAST_SIM_MACS` with ``--harness fast``) before any work."""
    limit = MAX_FAST_SIM_MACS if harness == "fast" else MAX_SIM_MACS
    if macs > limit:
        hint = "" if harness == "fast" or macs > MAX_FAST_SIM_MACS else \
            f" or use --harness fast (up to {MAX_FAST_SIM_MACS:,})"
        raise UsageError(f"{what} allow up to {macs:,} MACs, more than one run simulates "
                         f"({limit:,}): lower them{hint}")


@contextlib.contextmanager
def build_cache(build):
    """``build`` (DIR/<slug>) as a cache: reused by the next run of the same design, unless an
    interrupted run left it half-built (its :data:`IN_PROGRESS` marker), then replaced."""
    if (build / IN_PROGRESS).exists():
        shutil.rmtree(build)
    build.mkdir(parents=True, exist_ok=True)
    marker = build / IN_PROGRESS
    marker.touch()
    yield build
    marker.unlink()


def file_mismatches(cfg, stim, summary, path, limit: int) -> list[dict]:
    """The first ``limit`` vectors of ``path`` whose simulated result differs from the file's
    (any NaN matches any NaN): file line, inputs and both results, in hex and decoded."""
    import numpy as np

    from .. import golden, vectors

    lines = [v.line for v in vectors.read(path, cfg.a_fmt)]
    results = Path(summary.build_dir) / "results.npz"   # what the bench received, in order
    with np.load(results) as res:
        actual = res["actual"][:stim.count]
        got = (np.asarray(res["got_mask"], dtype=bool)[:stim.count] if "got_mask" in res.files
               else np.arange(stim.count) < int(res["received"]))
    ref, fmt = stim.reference, cfg.out_fmt
    bad = np.flatnonzero(got & (actual != ref) & ~(fmt.is_nan(actual) & fmt.is_nan(ref)))
    out = []
    for i in bad[:limit]:
        a, b = stim.operands(int(i))
        out.append({"line": lines[i], "vector": int(i),
                    "a": golden.describe(cfg.a_fmt, a[0]), "b": golden.describe(cfg.b_fmt, b[0]),
                    "c": golden.describe(cfg.outer_fmt, stim.init[i]),
                    "expected": golden.describe(fmt, stim.reference[i]), "got": golden.describe(fmt, actual[i])})
    return out


def _file_mismatch_text(path, m) -> str:
    return (f"{path} line {m['line']}: fma(a, b, c) differs from the file's result\n"
            f"    a = {m['a']}   b = {m['b']}   c = {m['c']}\n"
            f"    file = {m['expected']}\n"
            f"     got = {m['got']}")


def print_summary(summary, args, *, unit: str = "dot products") -> int:
    """Print ``summary`` (a :class:`macgen.verify.mac.SimSummary`); return the exit code."""
    if args.json:
        return _print_json(summary, args)
    print(f"{summary.top}: {summary.simulator} ({summary.harness} harness), {summary.source}")
    print(f"  {summary.vectors:,} {unit}, {summary.products:,} MACs, {summary.cycles:,} cycles, "
          f"latency {summary.latency}")
    print(f"  mismatches vs golden model: {summary.mismatches}")
    if summary.reference_mismatches is not None:
        print(f"  mismatches vs vector file: {summary.reference_mismatches}")
    if summary.missing or summary.extra or summary.mistimed:
        print(f"  protocol errors: {summary.missing} results missing, {summary.extra} extra, "
              f"{summary.mistimed} not exactly {summary.latency} cycles after their last beat")
    print(f"  time {summary.seconds:.1f} s (build {summary.build_seconds:.1f} s"
          f"{', cached' if summary.build_cached else ''}, simulation "
          f"{summary.sim_seconds:.1f} s, {summary.macs_per_second:,.0f} MACs/s; "
          f"{summary.macs_per_cpu_second:,.0f} MACs per CPU second)")
    extra = [_file_mismatch_text(args.vectors, m) for m in getattr(summary, "file_mismatches", None) or []]
    return _print_end(summary, summary.reports[:args.reports] + extra, args)


def _print_json(summary, args) -> int:
    """``--json``: the summary with at most ``--reports`` mismatch reports; the exit code."""
    data = summary.to_dict()
    data["reports"] = data["reports"][:args.reports]
    if getattr(summary, "file_mismatches", None) is not None:
        data["file_mismatches"] = summary.file_mismatches
        data["reports"] += [_file_mismatch_text(args.vectors, m) for m in summary.file_mismatches]
    print(json.dumps(data, indent=2))
    return 0 if summary.passed else 1


def _print_end(summary, reports, args) -> int:
    """The first ``--reports`` mismatch reports and the verdict; the exit code."""
    for text in reports:
        print()
        print(text)
    print("PASS" if summary.passed else "FAIL")
    return 0 if summary.passed else 1


# -- macgen verify mac ------------------------------------------------------------

MAC_DEFAULT_COUNT = 300


def run_mac(args) -> int:
    from pathlib import Path

    from ..verify import SimulationError, mac as simulate

    cfg = mac_config_from_args(args)
    conflict(args, "--vectors", "--seed", "the vectors come from the file")
    if args.vectors is not None and not args.init:
        raise UsageError("--vectors and --no-init cannot be combined: the file's fused multiply-adds "
                         "start from their C")
    if args.vectors is not None and args.harness == "fast":
        raise UsageError("--harness fast checks against the golden model only, not a vector file's "
                         "results: use --harness cocotb (or auto) with --vectors")
    check_output_dir("--build-dir", args.build_dir)
    if args.vectors is None:
        # random_stimulus draws lengths up to 3 chunks + 3 (40 without chunking)
        check_budget("--count and --chunk-size",
                     (args.count or MAC_DEFAULT_COUNT) * (3 * cfg.chunk_size + 3 if cfg.chunk_size else 40),
                     args.harness)
    if args.vectors is not None:
        stim = simulate.read_vectors(cfg, args.vectors)
        if args.count is not None and args.count < stim.count:
            stim = simulate.testfloat_stimulus(cfg, stim.a[:args.count], stim.b[:args.count],
                                               stim.init[:args.count], stim.reference[:args.count],
                                               source=stim.source)
        unit = "vectors"
    else:
        stim = simulate.random_stimulus(cfg, args.count or MAC_DEFAULT_COUNT,
                                        seed=1 if args.seed is None else args.seed)
        unit = "dot products"
    build = Path(args.build_dir) / cfg.slug
    note(f"verifying {cfg.slug}: {stim.count:,} {unit} ({stim.products:,} MACs) with {args.sim} in {build}")
    try:
        with build_cache(build), status(f"building the {args.sim} simulation") as building:
            summary = simulate.verify_mac(cfg, stim, simulator=args.sim, build_dir=build,
                                          max_reports=args.reports, harness=args.harness,
                                          progress=progress_printer(unit, until=building))
    except SimulationError as exc:
        raise UsageError(str(exc)) from None
    if args.vectors is not None and summary.reference_mismatches:
        summary.file_mismatches = file_mismatches(cfg, stim, summary, args.vectors, args.reports)
    return print_summary(summary, args, unit=unit)


def _register_mac(kinds) -> None:
    p = kinds.add_parser("mac", help="one MAC unit", epilog="""examples:
  macgen verify mac --acc-format e6m9 --chunk-size 4 --count 1000
  make testfloat && macgen verify mac --a-format fp16 --b-format fp16 --acc-format fp16 \\
      --vectors build/f16_mulAdd.txt
""",
                         description="Emit one MAC unit, simulate it with cocotb and compare every "
                                     "result bit for bit with the golden model.")
    add_mac_options(p, acc_help="accumulator format (required)", init=True)
    p.add_argument("--vectors", metavar="FILE",
                   help="replay a Berkeley TestFloat <fmt>_mulAdd file (A B C RESULT [FLAGS] in hex) "
                        "as fma(A, B, C); needs one format for a, b and the accumulator")
    add_sim_options(p, count_help=f"random cases to run (default: {MAC_DEFAULT_COUNT}); with "
                                  f"--vectors: only the first N vectors")
    p.set_defaults(func=run_mac)


# -- macgen verify array ----------------------------------------------------------

ARRAY_DEFAULT_COUNT = 20


def _array_depths(cfg, depth):
    """Tile depths to draw from: ``depth`` if given, else short tiles (shorter than the
    array's rows, which need bubbles), and depths around chunk boundaries."""
    if depth is not None:
        return (depth,)
    L = cfg.mac.chunk_size
    base = {1, 2, cfg.rows, cfg.rows + 3}
    base |= {L - 1, L, L + 1, 2 * L + 1} if L else {17}
    return tuple(sorted(k for k in base if k >= 1))


def print_array_summary(summary, args) -> int:
    """Print ``summary`` (a :class:`macgen.verify.array.ArraySimSummary`); return the exit code."""
    if args.json:
        return _print_json(summary, args)
    c = summary.check
    print(f"{summary.top}: {summary.simulator} ({summary.harness} harness)")
    print(f"  {c.tiles:,} tiles, {c.elements:,} results, {summary.macs:,} MACs, "
          f"{summary.cycles:,} cycles, latency {summary.latency}")
    print(f"  mismatches vs golden model: {c.mismatches}")
    for text in c.protocol[:args.reports]:
        print(f"  protocol error: {text}")
    print(f"  time {summary.seconds:.1f} s (build {summary.build_seconds:.1f} s"
          f"{', cached' if summary.build_cached else ''}, simulation "
          f"{summary.sim_seconds:.1f} s, {summary.macs_per_second:,.0f} MACs/s)")
    return _print_end(summary, c.reports[:args.reports], args)


def run_array(args) -> int:
    from pathlib import Path

    from ..verify import SimulationError, array as array_sim
    from ..config import ArrayConfig

    cfg = ArrayConfig(args.rows, args.cols, mac_config_from_args(args), preload=args.preload)
    check_output_dir("--build-dir", args.build_dir)
    depths = _array_depths(cfg, args.depth)
    count = args.count or ARRAY_DEFAULT_COUNT
    check_budget("--count, --depth and the array shape" if args.depth else "--count, --chunk-size and the array shape",
                 count * cfg.rows * cfg.cols * max(depths), args.harness)
    stim = array_sim.make_stimulus(cfg, count, depths, seed=1 if args.seed is None else args.seed)
    build = Path(args.build_dir) / cfg.slug
    note(f"verifying {cfg.slug}: {len(stim.tiles):,} tiles ({stim.macs:,} MACs, {stim.cycles:,} "
         f"cycles) with {args.sim} in {build}")
    try:
        with build_cache(build), status(f"building and simulating with {args.sim}"):
            summary = array_sim.verify_array(cfg, stim, simulator=args.sim, build_dir=build / args.sim,
                                             max_reports=args.reports, harness=args.harness)
    except SimulationError as exc:
        raise UsageError(str(exc)) from None
    return print_array_summary(summary, args)


def _register_array(kinds) -> None:
    p = kinds.add_parser("array", help="an output-stationary systolic array", epilog="""examples:
  macgen verify array --rows 2 --cols 2 --acc-format e6m9 --chunk-size 4 --count 10
  macgen verify array --rows 4 --cols 4 --acc-format e6m9 --preload --sim verilator
""",
                         description="Emit a systolic array, stream random tiles through it with "
                                     "cocotb (back to back, with bubbles, optional C0 preload) and "
                                     "compare every element bit for bit with golden.matmul and "
                                     "every result row's cycle with the documented schedule.")
    add_array_options(p)
    add_mac_options(p, acc_help="accumulator format (required)")
    p.add_argument("--depth", type=DEPTH, default=None, metavar="K",
                   help=bounded("depth of every tile (default: a mix of short tiles and depths around "
                                "chunk boundaries)", DEPTH))
    add_sim_options(p, count_help=f"random tiles to run (default: {ARRAY_DEFAULT_COUNT})")
    p.set_defaults(func=run_array)


def register(subparsers) -> None:
    add_kinds(subparsers, "verify", _register_mac, _register_array,
              help="simulate the Verilog against the golden model",
              description="Simulate emitted Verilog with cocotb (Icarus or Verilator) and compare "
                          "bit-exactly with the golden model.")
