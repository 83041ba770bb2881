"""``macgen area mac|array``: emit a MAC or an array and report its Yosys area (docs/arithmetic.md)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from . import UsageError, add_kinds, check_output_dir, conflict, mac_config_from_args
from .options import (add_array_options, add_json_option, add_length_option, add_mac_options, add_output_option,
                      add_quiet_option, add_tool_options, place_and_route)
from ..progress import note, status

EXAMPLES = """examples:
  macgen area mac --acc-format e6m9 --chunk-size 64 --no-pnr
  macgen area array --rows 4 --cols 4 --acc-format e6m9 --no-fpga
"""


def register(subparsers):
    kinds = add_kinds(
        subparsers, "area", help="Yosys area of a MAC or systolic array (cells, flip-flops, transistors, LUTs)",
        description="Synthesise a MAC unit ('macgen area mac') or a systolic array ('macgen area "
                    "array') with the pinned Yosys and report area and timing; see "
                    "'macgen area mac --help' and 'macgen area array --help'.", epilog=EXAMPLES)
    for kind, what in (("mac", "one MAC unit"), ("array", "an output-stationary systolic array of MACs")):
        _register_kind(kinds, kind, what)


def _register_kind(kinds, kind, what):
    p = kinds.add_parser(kind, help=what, epilog=EXAMPLES, description=(
        f"Synthesise {what} with the pinned Yosys. " + DESCRIPTION))
    _add_options(p, kind)


DESCRIPTION = ("The generic flow gives cells, flip-flops and estimated CMOS transistors (Yosys' "
               "'stat -tech cmos'; docs/arithmetic.md), synth_ice40 / synth_ecp5 give LUT counts; timing: "
               "logic depth (ltp), the OSU018 cells with OpenSTA (um2, worst paths in ns) and nextpnr Fmax "
               "on iCE40 HX8K and ECP5-25k (every port registered, median of the seeds). Fused "
               "fp16/bf16/e6m9/fp32 MACs are shown next to Berkeley HardFloat references "
               "(docs/arithmetic.md).")


def _add_options(p, kind):
    """The options of 'area mac' / 'area array' (``kind``)."""
    add_mac_options(p, init=kind == "mac")
    add_length_option(p, also="(without --acc-format: the precision model sizes the accumulator for it)")
    if kind == "array":
        add_array_options(p, default=2, preload=False)
    add_tool_options(p, fpga=True)
    t = p.add_argument_group("timing", "logic depth always comes with the generic flow")
    add_tool_options(t, asic=True, pnr=True)
    t.add_argument("--seeds", default="1,2,3", metavar="LIST",
                   help="nextpnr placement seeds; the median Fmax is reported (default: 1,2,3)")
    if kind == "mac":
        p.add_argument("--breakdown", action="store_true",
                       help="also show where the area goes: each stage synthesised with the "
                            "hierarchy kept (multiplier, accumulate, chunking, counter, registers)")
    add_json_option(p, "the report instead of a table")
    add_quiet_option(p)
    add_output_option(p, default=os.path.join("build", "area"),
                      what="directory for the Verilog, Yosys files and <slug>.area.json")
    p.set_defaults(func=run, kind=kind)


def choose_config(args):
    """The MAC or array configuration an ``area`` command line asks for.

    An explicit ``--acc-format`` is used as given; otherwise the precision model
    (:func:`macgen.precision.decide_accumulator`) sizes the accumulator, and its
    chunk unless ``--chunk-size`` is given, for ``--length``. ``area array`` wraps
    that MAC in a ``--rows`` x ``--cols`` array.

    Returns
    -------
    MACConfig or ArrayConfig

    Raises
    ------
    UsageError
        Neither ``--acc-format`` nor ``--length``, or both.
    """
    from ..config import ArrayConfig
    conflict(args, "--acc-format", "--length", "--length lets the precision model choose the accumulator")
    acc = chunk = None
    if args.acc_format is None:
        if args.length is None:
            raise UsageError("give --acc-format, or --length N to let the precision model choose it")
        from ..formats import FloatFormat
        from ..precision import decide_accumulator
        d = decide_accumulator(args.length, FloatFormat.parse(args.a_format), FloatFormat.parse(args.b_format),
                               chunk=args.chunk_size or 0)
        acc, chunk = d.acc_fmt, d.chunk_size
    cfg = mac_config_from_args(args, acc_fmt=acc, chunk_size=chunk)
    if args.kind == "array":
        return ArrayConfig(args.rows, args.cols, cfg)
    return cfg


def _seeds(text):
    try:
        seeds = [int(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--seeds must be integers like 1,2,3, not {text!r}") from None
    if len(seeds) < 3 or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds must be at least three distinct seeds (the median is reported), not {text!r}")
    return seeds


def _fmt_int(v):
    return "-" if v is None else f"{v:,}"


def format_report(cfg, report, ref, breakdown=None, timing=None) -> str:
    """The human-readable table of ``macgen area`` (``timing``: :func:`macgen.timing.timing_of_verilog`)."""
    from ..timing import timing_lines
    lines = [f"{cfg.slug}  ({report.yosys_version}, {report.seconds:.1f} s)",
             f"  cells                 {report.cells:>10,}",
             f"  flip-flops            {report.flip_flops:>10,}",
             f"  est. transistors      {report.transistors:>10,}"]
    if report.ice40_lut4 is not None:
        lines.append(f"  iCE40 LUT4/carry/DFF  {_fmt_int(report.ice40_lut4):>10} / "
                     f"{_fmt_int(report.ice40_carry)} / {_fmt_int(report.ice40_dff)}")
        lines.append(f"  ECP5 LUT4/CCU2C/FF    {_fmt_int(report.ecp5_lut4):>10} / "
                     f"{_fmt_int(report.ecp5_ccu2c)} / {_fmt_int(report.ecp5_dff)}")
    if ref is not None:
        ratio = report.transistors / ref["transistors"]
        lines.append(f"  reference (docs/arithmetic.md): HardFloat {ref['format']} fused MAC, "
                     f"{ref['transistors']:,} transistors; ours/HardFloat = {ratio:.2f}")
        if "ice40" in ref and report.ice40_lut4 is not None:
            i = ref["ice40"]
            lines.append(f"  reference iCE40: {i['lut4']:,} LUT4, {i['carry']} carry, {i['dff']} FF; "
                         f"ours/HardFloat LUT4 = {report.ice40_lut4 / i['lut4']:.2f}")
    lines += timing_lines(report.to_dict(), timing)
    if breakdown is not None:
        total = breakdown["total"]
        lines.append(f"  where the area goes (hierarchy kept: {total:,} transistors in all):")
        for group, value in breakdown["groups"].items():
            lines.append(f"    {group:<56} {value:>7,}  {100 * value / total:5.1f}%")
    return "\n".join(lines)


def run(args) -> int:
    from ..area import area_breakdown_of_verilog, area_of, hardfloat_reference
    from ..emit import read_sidecar
    from ..timing import timing_of_verilog
    cfg = choose_config(args)
    seeds = _seeds(args.seeds)
    out = check_output_dir("-o/--output", args.output)
    flows = "generic, iCE40 and ECP5 flows" if args.fpga else "generic flow"
    pnr = place_and_route(args)
    if args.asic or pnr:
        # Every timing tool is looked up before the slow Yosys run: a missing one is one line.
        timing_of_verilog(None, {}, asic=args.asic, fpga=pnr, check_only=True)
    note(f"area: synthesising {cfg.slug} with Yosys ({flows})...")
    # Everything (Verilog, sidecar, Yosys script and statistics, the report) is made in a
    # staging directory inside DIR and moved into DIR only when Yosys succeeded: a failed
    # run leaves nothing behind (not even DIR, if it created it).
    created = None                      # the outermost directory this run creates
    for d in (out, *out.parents):
        if d.exists():
            break
        created = d
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{cfg.slug}.", dir=out))
    try:
        with status(f"Yosys: {cfg.slug} ({flows})"):
            report = area_of(cfg, stage, fpga=args.fpga)
        # The breakdown reads the Verilog area_of just emitted (<top>.v in the stage).
        breakdown = (area_breakdown_of_verilog(stage / f"{report.top}.v", report.top)
                     if getattr(args, "breakdown", False) else None)
        timing = timing_of_verilog(stage / f"{report.top}.v", read_sidecar(stage / f"{report.top}.json"),
                                   asic=args.asic, fpga=pnr, seeds=seeds,
                                   progress=lambda t: note(f"area: {t}..."))
        ref = hardfloat_reference(cfg)
        doc = {"slug": cfg.slug, "kind": args.kind, "config": cfg.to_dict(), "area": report.to_dict(),
               "timing": timing, "hardfloat_reference": ref}
        if breakdown is not None:
            doc["breakdown"] = breakdown
        target = out / f"{cfg.slug}.area.json"
        (stage / target.name).write_text(json.dumps(doc, indent=2) + "\n")
        for path in sorted(stage.iterdir(), key=lambda p: p.name == target.name):
            os.replace(path, out / path.name)     # the report last
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    stage.rmdir()
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(format_report(cfg, report, ref, breakdown, timing))
        note(f"  wrote {target}")
    return 0
