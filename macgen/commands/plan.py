"""``macgen plan``: size the accumulator for a workload's GEMMs (docs/model.md).

For every layer and training GEMM: the accumulation length, the smallest
accumulator mantissa without and with chunking, the chunk size, the exponent
width, VRR and variance lost. Then the network-wide requirement per GEMM (what
one shared MAC array must support) and the overall accumulator.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..precision import one_minus_vrr, plan_workload
from ..progress import note

from ..limits import SIM_MAX_LENGTH
from . import UsageError, check_objective_args, check_output_file, conflict, design_choice
from .options import (LENGTH, add_acc_exp_bits_option, add_batch_option, add_chunk_option, add_format_options,
                      add_json_option, add_length_option, add_mc_trials_option, add_method_option,
                      add_nzr_cutoff_options, add_objective_options, add_product_man_bits_option,
                      add_quiet_option, add_rounding_option, add_seed_option, add_workload_option, bounded)

EXAMPLES = """examples:
  macgen plan --workload resnet18-imagenet --chunk 64 --plot build/vn.png
  macgen plan --length 4608 --compare --mc-trials 256
  macgen plan --workload resnet32-cifar10 --objective area-delay
"""


def register(subparsers):
    p = subparsers.add_parser(
        "plan", help="accumulator precision for a workload (the ICLR 2019 model)",
        description="Choose accumulator mantissa, exponent and chunk size for the training GEMMs "
                    "of a network (Sakr et al., ICLR 2019; docs/model.md), or for one accumulation "
                    "length.", epilog=EXAMPLES)
    src = p.add_mutually_exclusive_group(required=True)
    add_workload_option(src)
    add_length_option(src, also="instead")
    add_format_options(p)
    add_product_man_bits_option(p)
    add_chunk_option(p)
    add_nzr_cutoff_options(p)
    add_method_option(p)
    p.add_argument("--compare", action="store_true",
                   help="show analytical and simulated choices side by side")
    add_mc_trials_option(p, default=1024, shown="1024")
    add_rounding_option(p, also="(for --method simulated / --compare; the analytical model has none)")
    add_seed_option(p, default=0, what="Monte-Carlo seed")
    p.add_argument("--sim-max-length", type=LENGTH, default=SIM_MAX_LENGTH, metavar="N",
                   help=bounded(f"longest accumulation to simulate (default: {SIM_MAX_LENGTH}); --compare "
                                f"shows '-' beyond it, --method simulated refuses", LENGTH))
    add_batch_option(p)
    p.add_argument("--gemms", default=None, metavar="LIST",
                   help="GEMMs of --workload to plan (default: fwd,bwd,grad)")
    add_acc_exp_bits_option(p)
    add_json_option(p, "the plan")
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="also write the v(n) figure with the workload's lengths marked (.png, .pdf "
                        "or .svg; its folder is created if missing)")
    add_objective_options(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def _chunk_text(chunk):
    return "none" if chunk == 0 else str(chunk)


def _rows_text(rows, compare):
    head = ["layer", "gemm", "length", "m_acc", "m_acc(chunk)", "chunk", "exp", "1-VRR", "v"]
    if compare:
        head += ["sim m_acc", "sim m_acc(chunk)", "sim 1-VRR"]
    table = [head]
    for r in rows:
        d = r["decision"]
        line = [r["layer"], r["gemm"], str(r["length"]), str(d["m_acc_unchunked"]),
                str(d["m_acc"]) if d["chunk_size"] else "-", _chunk_text(d["chunk_size"]),
                str(d["exp_bits"]), one_minus_vrr(d["vrr"]), f"{d['v']:.3g}"]
        if compare:
            s = r["simulated"]
            if s is None:
                line += ["-", "-", "-"]
            else:
                lo, hi = s["m_acc_interval"] or (s["m_acc"], s["m_acc"])
                chosen = str(s["m_acc"]) + ("" if lo == hi else f" [{lo},{hi}]")
                line += [chosen if not s["chunk_size"] else str(s["m_acc_unchunked"]),
                         chosen if s["chunk_size"] else "-", one_minus_vrr(s["vrr"])]
        table.append(line)
    return _format_table(table, right_from=2)


def _format_table(table, right_from):
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    out = []
    for k, row in enumerate(table):
        cells = [c.ljust(w) if i < right_from else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _summary_text(summary, methods):
    head = ["gemm", "max length", "m_acc", "m_acc(chunk)", "chunk", "exp", "accumulator"]
    table = [head]
    for method in methods:
        for gemm, s in summary[method].items():
            label = gemm if len(methods) == 1 else f"{gemm} ({method[:3]})"
            table.append([label, str(s["max_length"]), str(s["m_acc_unchunked"]),
                          str(s["m_acc"]) if s["chunk_size"] else "-", _chunk_text(s["chunk_size"]),
                          str(s["exp_bits"]), s["acc_fmt"]])
    return _format_table(table, right_from=1)


def _choice_text(choice) -> str:
    """The design choice's candidates table and the chosen design, as ``plan`` prints them."""
    from ..choice import choice_table
    head, cells = choice_table(choice.summary())
    lines = [f"Design choice (objective {choice.objective}; every design below meets the model's criterion; "
             f"'*' chosen, 'dominated': another is no larger and no slower):",
             _format_table([head] + cells, right_from=2)]
    groups = {}
    for p in choice.pruned:
        groups.setdefault((p["acc_fmt"], p["reason"]), []).append(str(p["chunk_size"]))
    for (fmt, reason), chunks in groups.items():
        lines.append(f"  not synthesised: chunk {', '.join(chunks)} ({fmt}): {reason}")
    c, r = choice.config, choice.chosen_row
    lines.append(f"Chosen: {c.acc_fmt}, " + (f"chunk {c.chunk_size}" if c.chunk_size else "no chunking")
                 + f", {c.acc_stages}-stage loop ({c.mul_stages} multiplier stage(s), latency {c.latency}): "
                 f"{r[choice.area_metric]:,.0f} x {r[choice.delay_metric]:g} = {r['area_x_delay']:,.0f}")
    return "\n".join(lines)


def run(args) -> int:
    from ..formats import FloatFormat
    from ..precision import product_frac_bits
    from ..workloads import get_workload, parse_gemms

    conflict(args, "--length", "--batch", "--batch applies to --workload only")
    conflict(args, "--length", "--gemms", "--gemms selects GEMMs of --workload")
    check_objective_args(args)
    conflict(args, "--objective", "--compare", "the objective's candidates come from the analytical model")
    a_fmt = FloatFormat.parse(args.a_format)
    b_fmt = FloatFormat.parse(args.b_format)
    m_p = product_frac_bits(a_fmt, b_fmt, args.product_man_bits)
    chunk = 0 if args.chunk is None else args.chunk
    gemms = parse_gemms(args.gemms or "fwd,bwd,grad")
    if args.plot is not None:
        check_output_file("--plot", args.plot, suffixes=("png", "pdf", "svg"))
    if args.length is not None:
        name, batch = f"length {args.length}", None
        items = [("-", "dot", args.length)]
    else:
        wl = get_workload(args.workload, batch=args.batch)
        name, batch = wl.name, wl.batch
        items = [(layer.name, g, n) for layer, g, n in wl.lengths(gemms)]

    methods = ("analytical", "simulated") if args.compare else (args.method,)
    longest = max(n for _, _, n in items)
    if args.method == "simulated" and not args.compare and longest > args.sim_max_length:
        raise UsageError(f"--method simulated needs lengths up to {args.sim_max_length} "
                         f"(--sim-max-length), but this plan has {longest}; use --compare, "
                         f"--gemms or a larger --sim-max-length")
    if args.compare and longest > args.sim_max_length:
        methods = ("analytical",)  # no network-wide simulated summary from a partial table
    main_method = "simulated" if args.method == "simulated" and not args.compare else "analytical"
    model = dict(product_man_bits=args.product_man_bits, nzr=args.nzr, cutoff=args.cutoff,
                 exp_bits=args.acc_exp_bits, trials=args.mc_trials, seed=args.seed, rounding=args.rounding)

    def say(text):
        note(f"macgen plan: {text}")

    plans = {m: plan_workload(items, a_fmt, b_fmt, chunk=chunk, method=m, progress=say, **model)
             for m in methods}
    by_gemm = plans[main_method].by_gemm
    rows = plans[main_method].row_dicts()
    if args.compare:
        short = [item for item in items if item[2] <= args.sim_max_length]
        sim = plans.get("simulated")
        if sim is None and short:  # rows only: too long a plan for a simulated summary
            sim = plan_workload(short, a_fmt, b_fmt, chunk=chunk, method="simulated", shared=False,
                                progress=say, **model)
        simulated = {} if sim is None else {r["length"]: r["decision"].to_dict() for r in sim.rows}
        for row in rows:
            row["simulated"] = simulated.get(row["length"])

    def entry(d):
        return {"max_length": d.n, **d.to_dict()}

    summary = {m: {**{g: entry(d) for g, d in p.shared.items()},
                   **({"all": entry(p.overall)} if len(p.by_gemm) > 1 else {})}
               for m, p in plans.items()}
    overall = {m: entry(p.overall) for m, p in plans.items()}

    if args.plot is not None:
        from ..plots import plot_variance_lost
        # one curve per width from the least to the most any row needs (at most 12)
        needed = [r["decision"]["m_acc_unchunked"] for r in rows]
        lo, hi = max(1, min(needed) - 1), max(needed) + 1
        step = -(-(hi - lo + 1) // 12)
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot_variance_lost(args.plot, m_p=m_p, m_accs=range(lo, hi + 1, step),
                           lengths=by_gemm, cutoff=args.cutoff, nzr=args.nzr,
                           compare_chunk=overall[main_method]["chunk_size"],
                           title=f"{name}: variance lost vs length ({a_fmt} x {b_fmt}, m_p = {m_p})")

    choice = None
    if args.objective is not None:
        from ..pipelining import STUDY_STAGES
        choice = design_choice(args, [n for _, _, n in items], stages=args.acc_stages or STUDY_STAGES,
                               model=dict(product_man_bits=args.product_man_bits, nzr=args.nzr,
                                          cutoff=args.cutoff, exp_bits=args.acc_exp_bits))

    if args.json:
        out = {"workload": name, "batch": batch, "a_fmt": str(a_fmt), "b_fmt": str(b_fmt),
               "m_p": m_p, "chunk": "auto" if chunk == "auto" else chunk, "nzr": args.nzr,
               "cutoff": args.cutoff, "methods": list(methods), "compare": args.compare,
               "gemms": list(gemms),
               "rows": rows, "summary": summary, "overall": overall,
               "choice": None if choice is None else choice.to_dict()}
        print(json.dumps(out, indent=2))
        return 0

    print(f"{name}" + (f", batch {batch}" if batch else "") +
          f": {a_fmt} x {b_fmt} (m_p = {m_p}), chunk {chunk if chunk else 'none'}, "
          f"nzr {args.nzr:g}, cutoff v < {args.cutoff:g}, {' vs '.join(methods)}")
    print()
    print(_rows_text(rows, args.compare))
    if args.compare and longest > args.sim_max_length:
        print(f"('-': longer than --sim-max-length {args.sim_max_length}, not simulated)")
    print()
    print("Network-wide (one shared MAC array; chunk chosen at the longest accumulation):")
    print(_summary_text(summary, methods))
    print()
    for method in methods:
        o = overall[method]
        ck = f", chunk {o['chunk_size']}" if o["chunk_size"] else ", no chunking"
        print(f"Overall accumulator ({method}): {o['acc_fmt']}{ck}"
              + (f" (without chunking: m_acc {o['m_acc_unchunked']})" if o["chunk_size"] else "")
              + (" (accuracy-only: the narrowest accumulator; --objective also weighs area and delay)"
                 if chunk == "auto" else ""))
    if choice is not None:
        print()
        print(_choice_text(choice))
    if args.plot is not None:
        print(f"Wrote {args.plot}")
    return 0
