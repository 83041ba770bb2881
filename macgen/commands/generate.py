"""``macgen generate``: Verilog and its JSON sidecar for a MAC (and, later, an array).

``macgen generate mac [MAC options] [--workload NAME|FILE | --length N] [model options] -o DIR``

``macgen generate array --rows R --cols C [--preload] [MAC options] [--workload ... | --length N] [model options] -o DIR``

Without ``--acc-format`` the accumulator (and, without ``--chunk-size``, the
chunk size) comes from the precision model (:func:`macgen.precision.decide_accumulator`)
for the given accumulation length, or for the most demanding GEMM of a workload;
the model's decision is recorded in the sidecar.

The design kinds are sub-subcommands; each registers with :func:`register` and
shares :func:`add_output_options`, :func:`add_model_options`,
:func:`choose_mac_config` and :func:`emit_and_report`.
"""

from __future__ import annotations

import argparse
import json

from ..limits import SIM_MAX_LENGTH
from . import (UsageError, add_kinds, check_objective_args, check_output_dir, conflict, design_choice,
               mac_config_from_args, option_name)
from .options import (add_acc_exp_bits_option, add_array_options, add_batch_option, add_chunk_option,
                      add_json_option, add_length_option, add_mac_options, add_method_option,
                      add_nzr_cutoff_options, add_objective_options, add_output_option, add_quiet_option,
                      add_workload_option)
from ..progress import note, status
from ..precision import one_minus_vrr

#: The precision model's options (and their defaults): given with --acc-format they would be ignored.
MODEL_DEFAULTS = {"chunk": 0, "nzr": 1.0, "cutoff": 50.0, "method": "analytical", "acc_exp_bits": None}

__all__ = ["register", "add_output_options", "add_model_options", "add_workload_options",
           "choose_mac_config", "emit_and_report"]


# -- shared by the design kinds (mac, array) ------------------------------------

def add_output_options(parser: argparse.ArgumentParser) -> None:
    add_output_option(parser, what="directory for <slug>.v and <slug>.json")
    add_json_option(parser, "what was written")
    add_quiet_option(parser)


def add_workload_options(parser: argparse.ArgumentParser) -> None:
    """``--workload NAME|FILE`` or ``--length N``: the accumulation lengths the model sizes for."""
    group = parser.add_argument_group("accumulation length (for the precision model)")
    ex = group.add_mutually_exclusive_group()
    add_workload_option(ex, also="(the model sizes for its most demanding GEMM)")
    add_length_option(ex)
    add_batch_option(group)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options of the precision model (docs/model.md), used when ``--acc-format`` is not given.

    Their defaults are ``None`` so that one given with ``--acc-format`` is an error (it would be
    ignored); :data:`MODEL_DEFAULTS` are the values used.
    """
    group = parser.add_argument_group("precision model (when --acc-format is not given)")
    add_chunk_option(group, sizes=False, also="(without --chunk-size)")
    add_nzr_cutoff_options(group, defaults=False)
    add_method_option(group, default=None, also=f"(simulated: lengths up to {SIM_MAX_LENGTH:,})")
    add_acc_exp_bits_option(group)


def _workload_lengths(spec: str, batch=None) -> list[int]:
    """Distinct accumulation lengths of every GEMM (FWD, BWD, GRAD) of a workload."""
    from ..workloads import get_workload
    return sorted({int(n) for _, _, n in get_workload(spec, batch=batch).lengths()})


def choose_mac_config(args):
    """The MAC configuration from the options, and the model's decision (or ``None``).

    An explicit ``--acc-format`` wins (no model run). Otherwise the model sizes
    the accumulator for ``--length``, or for every GEMM of ``--workload`` at once
    (:func:`macgen.precision.decide_shared`: the chunk chosen at the longest
    length, the widest mantissa any length needs). Its chunk size is used unless
    ``--chunk-size`` is given.

    Returns
    -------
    (MACConfig, AccumulatorDecision or None)
    """
    if getattr(args, "batch", None) is not None and getattr(args, "workload", None) is None:
        raise UsageError("--batch needs --workload")
    if args.acc_format is not None:
        for option in ("--workload", "--length", "--batch", *(option_name(k) for k in MODEL_DEFAULTS)):
            conflict(args, "--acc-format", option,
                     "the precision model sizes the accumulator only without --acc-format")
    elif args.chunk == "auto":
        conflict(args, "--chunk", "--chunk-size", "--chunk auto lets the model choose the chunk size")
    check_objective_args(args, objective_only=("--cache", "--asic"),
                         accuracy_options=("--acc-format", "--chunk", "--chunk-size", "--outer-format",
                                           "--out-format"))
    if getattr(args, "output", None) is not None:
        check_output_dir("-o/--output", args.output)
    if args.acc_format is not None:
        return mac_config_from_args(args), None
    if getattr(args, "length", None) is None and getattr(args, "workload", None) is None:
        raise UsageError("give --acc-format, or --length N / --workload NAME for the precision "
                         "model to choose the accumulator")
    from ..precision import decide_accumulator, decide_shared

    model = {k: MODEL_DEFAULTS[k] if getattr(args, k) is None else getattr(args, k) for k in MODEL_DEFAULTS}
    lengths = [args.length] if args.length is not None else _workload_lengths(args.workload, args.batch)
    if model["method"] == "simulated" and max(lengths) > SIM_MAX_LENGTH:
        raise UsageError(f"--method simulated steps through every product: lengths up to "
                         f"{SIM_MAX_LENGTH:,}, not {max(lengths):,} (use the analytical model)")
    if args.objective is not None:
        from ..pipelining import STUDY_STAGES
        choice = design_choice(args, lengths, stages=STUDY_STAGES if args.acc_stages is None else (args.acc_stages,),
                               model=dict(product_man_bits=args.product_man_bits, nzr=model["nzr"],
                                          cutoff=model["cutoff"], exp_bits=model["acc_exp_bits"],
                                          mul_stages=args.mul_stages))
        # The sidecar records the candidates beside the model's decision.
        return choice.config, choice.sidecar_decision()
    if args.chunk_size is not None:
        chunk = args.chunk_size
    else:
        chunk = "auto" if model["chunk"] == "auto" else None
    opts = dict(product_man_bits=args.product_man_bits, nzr=model["nzr"], cutoff=model["cutoff"],
                method=model["method"], exp_bits=model["acc_exp_bits"])
    if args.length is not None:
        decision = decide_accumulator(args.length, args.a_format, args.b_format, chunk=chunk, **opts)
    else:
        # One MAC serves every GEMM of the workload: the model's shared decision.
        decision = decide_shared(lengths, args.a_format, args.b_format, chunk=chunk, **opts)
    chunk_size = args.chunk_size if args.chunk_size is not None else decision.chunk_size
    return mac_config_from_args(args, acc_fmt=decision.acc_fmt, chunk_size=chunk_size), decision


def emit_and_report(target, args, *, decision=None) -> int:
    """Emit ``target`` (a config or component) into ``args.output`` and print what was written."""
    from ..emit import emit

    with status(f"generating {getattr(target, 'slug', 'the design')}"):
        result = emit(target, args.output, decision=decision)
    if args.json:
        print(json.dumps({"verilog": str(result.verilog), "sidecar": str(result.sidecar),
                          "lint_waiver": str(result.lint_waiver), "top": result.top, "latency": result.latency,
                          "config": result.metadata["config"],
                          "decision": result.metadata["decision"]}, indent=2))
        return 0
    print(f"wrote {result.verilog}")
    print(f"wrote {result.sidecar}")
    print(f"wrote {result.lint_waiver} (Verilator waivers: verilator --lint-only -Wall {result.lint_waiver.name} "
          f"{result.verilog.name})")
    cfg = result.metadata["config"]
    print(f"top module {result.top}, latency {result.latency} cycle{'s' if result.latency != 1 else ''}")
    if "acc_fmt" in cfg:
        line = f"accumulator {cfg['acc_fmt']}"
        if cfg.get("chunk_size"):
            line += f", chunk size {cfg['chunk_size']}, outer {cfg['outer_fmt']}"
        print(line + f", output {cfg['out_fmt']}")
    if decision is not None:
        d = result.metadata["decision"]
        print(f"chosen by the precision model for n = {d['n']}: m_acc = {d['m_acc']}, "
              f"exponent bits {d['exp_bits']}, 1 - VRR {one_minus_vrr(d['vrr'])}, variance lost {d['v']:.3g} "
              f"(cutoff {d['cutoff']:g}, {d['method']})")
        c = d.get("design_choice")
        if c is not None:
            r = next(row for row in c["rows"] if row["chosen"])
            print(f"design choice ({c['objective']}): the best of {len(c['rows'])} candidates the model allows, "
                  f"{r[c['area_metric']]:,.0f} x {r[c['delay_metric']]:g} ({c['area_metric']} x {c['delay_metric']}); "
                  f"the sidecar lists them all")
    return 0


def _add_design_options(parser, run, *, init: bool) -> None:
    """What every design kind takes after its own options: the MAC, the model sizing it, output."""
    add_mac_options(parser, init=init)
    add_workload_options(parser)
    add_model_options(parser)
    add_objective_options(parser, stages=False)
    add_output_options(parser)
    parser.set_defaults(func=run)


# -- macgen generate mac --------------------------------------------------------

def run_mac(args) -> int:
    cfg, decision = choose_mac_config(args)
    return emit_and_report(cfg, args, decision=decision)


def _register_mac(kinds) -> None:
    p = kinds.add_parser("mac", help="one MAC unit", epilog="""examples:
  macgen generate mac --acc-format e6m9 --chunk-size 64 -o build/rtl
  macgen generate mac --workload resnet32-cifar10 --chunk auto -o build/rtl
  macgen generate mac --workload resnet32-cifar10 --objective area-delay -o build/rtl
""",
                         description="Emit the Verilog of one MAC unit and its JSON sidecar. Without "
                                     "--acc-format the precision model sizes the accumulator for "
                                     "--length or --workload.")
    _add_design_options(p, run_mac, init=True)


# -- macgen generate array ------------------------------------------------------

def run_array(args) -> int:
    from ..config import ArrayConfig

    mac, decision = choose_mac_config(args)
    cfg = ArrayConfig(args.rows, args.cols, mac, preload=args.preload)
    code = emit_and_report(cfg, args, decision=decision)
    if not args.json:
        print(f"{cfg.rows}x{cfg.cols} PEs of {mac.slug}" + (", C0 preload" if cfg.preload else ""))
    return code


def _register_array(kinds) -> None:
    p = kinds.add_parser("array", help="an output-stationary systolic array of MACs", epilog="""examples:
  macgen generate array --rows 4 --cols 4 --acc-format e6m9 --chunk-size 64 -o build/rtl
  macgen generate array --rows 8 --cols 8 --length 4608 --preload -o build/rtl
""",
                         description="Emit the Verilog of a rows x cols output-stationary systolic "
                                     "array of MAC units and its JSON sidecar. Without --acc-format "
                                     "the precision model sizes the accumulator for --length or "
                                     "--workload.")
    add_array_options(p)
    _add_design_options(p, run_array, init=False)


def register(subparsers) -> None:
    add_kinds(subparsers, "generate", _register_mac, _register_array, help="emit Verilog and a JSON sidecar",
              description="Emit deterministic Verilog (<slug>.v) and its JSON sidecar (<slug>.json) for a design.")
