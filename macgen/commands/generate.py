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

from . import UsageError, add_mac_options, mac_config_from_args

__all__ = ["register", "add_output_options", "add_model_options", "add_workload_options",
           "choose_mac_config", "emit_and_report", "add_array_options"]


# -- shared by the design kinds (mac, array) ------------------------------------

def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", required=True, metavar="DIR",
                        help="directory for <slug>.v and <slug>.json (created if missing)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def add_workload_options(parser: argparse.ArgumentParser) -> None:
    """``--workload NAME|FILE`` or ``--length N``: the accumulation lengths the model sizes for."""
    group = parser.add_argument_group("accumulation length (for the precision model)")
    ex = group.add_mutually_exclusive_group()
    ex.add_argument("--workload", metavar="NAME|FILE",
                    help="a built-in network or a layer file: size for its most demanding GEMM")
    ex.add_argument("--length", type=int, metavar="N", help="one accumulation length")
    group.add_argument("--batch", type=int, default=None, metavar="B",
                       help="batch size of the workload (changes its GRAD lengths)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options of the precision model (SPEC §3), used when ``--acc-format`` is not given."""
    group = parser.add_argument_group("precision model (when --acc-format is not given)")
    group.add_argument("--chunk", choices=("none", "auto"), default="none",
                       help="without --chunk-size: 'auto' lets the model recommend a chunk size, "
                            "'none' does not chunk (default: none)")
    group.add_argument("--nzr", type=float, default=1.0, metavar="R",
                       help="non-zero ratio of the products, in (0, 1] (default: 1)")
    group.add_argument("--cutoff", type=float, default=50.0, metavar="V",
                       help="largest tolerated variance lost, exclusive (default: 50)")
    group.add_argument("--method", choices=("analytical", "simulated"), default="analytical",
                       help="VRR by the paper's formula or by Monte-Carlo (default: analytical)")
    group.add_argument("--acc-exp-bits", type=int, default=None, metavar="E",
                       help="accumulator exponent width (default: derived from the range)")


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
        return mac_config_from_args(args), None
    if getattr(args, "length", None) is None and getattr(args, "workload", None) is None:
        raise UsageError("give --acc-format, or --length N / --workload NAME for the precision "
                         "model to choose the accumulator")
    from ..precision import decide_accumulator, decide_shared

    if args.chunk_size is not None:
        chunk = args.chunk_size
    else:
        chunk = "auto" if args.chunk == "auto" else None
    opts = dict(product_man_bits=args.product_man_bits, nzr=args.nzr, cutoff=args.cutoff,
                method=args.method, exp_bits=args.acc_exp_bits)
    if args.length is not None:
        decision = decide_accumulator(args.length, args.a_format, args.b_format, chunk=chunk, **opts)
    else:
        # One MAC serves every GEMM of the workload: the model's shared decision.
        decision = decide_shared(_workload_lengths(args.workload, args.batch), args.a_format,
                                 args.b_format, chunk=chunk, **opts)
    chunk_size = args.chunk_size if args.chunk_size is not None else decision.chunk_size
    return mac_config_from_args(args, acc_fmt=decision.acc_fmt, chunk_size=chunk_size), decision


def emit_and_report(target, args, *, decision=None) -> int:
    """Emit ``target`` (a config or component) into ``args.output`` and print what was written."""
    from ..emit import emit

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
              f"exponent bits {d['exp_bits']}, VRR {d['vrr']:.6f}, variance lost {d['v']:.3g} "
              f"(cutoff {d['cutoff']:g}, {d['method']})")
    return 0


# -- macgen generate mac --------------------------------------------------------

def run_mac(args) -> int:
    cfg, decision = choose_mac_config(args)
    return emit_and_report(cfg, args, decision=decision)


def _register_mac(kinds) -> None:
    p = kinds.add_parser("mac", help="one MAC unit",
                         description="Emit the Verilog of one MAC unit and its JSON sidecar. Without "
                                     "--acc-format the precision model sizes the accumulator for "
                                     "--length or --workload.")
    add_mac_options(p)
    add_workload_options(p)
    add_model_options(p)
    add_output_options(p)
    p.set_defaults(func=run_mac)


# -- macgen generate array ------------------------------------------------------

def add_array_options(parser: argparse.ArgumentParser) -> None:
    """``--rows``, ``--cols`` and ``--preload`` of :class:`macgen.config.ArrayConfig`."""
    group = parser.add_argument_group("array")
    group.add_argument("--rows", type=int, required=True, metavar="R", help="rows of PEs (1-64)")
    group.add_argument("--cols", type=int, required=True, metavar="C", help="columns of PEs (1-64)")
    group.add_argument("--preload", action="store_true",
                       help="add init/init_en inputs so that a tile can start from C0 (A @ B + C0)")


def run_array(args) -> int:
    from ..config import ArrayConfig

    mac, decision = choose_mac_config(args)
    cfg = ArrayConfig(args.rows, args.cols, mac, preload=args.preload)
    code = emit_and_report(cfg, args, decision=decision)
    if not args.json:
        print(f"{cfg.rows}x{cfg.cols} PEs of {mac.slug}" + (", C0 preload" if cfg.preload else ""))
    return code


def _register_array(kinds) -> None:
    p = kinds.add_parser("array", help="an output-stationary systolic array of MACs",
                         description="Emit the Verilog of a rows x cols output-stationary systolic "
                                     "array of MAC units and its JSON sidecar. Without --acc-format "
                                     "the precision model sizes the accumulator for --length or "
                                     "--workload.")
    add_array_options(p)
    add_mac_options(p)
    add_workload_options(p)
    add_model_options(p)
    add_output_options(p)
    p.set_defaults(func=run_array)


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="emit Verilog and a JSON sidecar",
                                   description="Emit deterministic Verilog (<slug>.v) and its JSON "
                                               "sidecar (<slug>.json) for a design.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    _register_mac(kinds)
    _register_array(kinds)
