"""``macgen flow``: workload → plan → MAC + array → verify → area → report (``make run``)."""

from __future__ import annotations

import sys

from ..progress import enabled as progress_enabled

from ..choice import DEFAULT_OBJECTIVE
from ..limits import MAX_COUNT, MAX_SWEEP_SPAN
from ..pipelining import STUDY_STAGES
from . import UsageError, check_output_dir, conflict, option_name, reraise_with_options
from .options import (ARRAY_DIM, Int, add_acc_stages_list_option, add_batch_option, add_chunk_option,
                      add_format_options, add_init_option, add_jobs_option, add_nzr_cutoff_options,
                      add_objective_option, add_output_option, add_quiet_option, add_rounding_option,
                      add_scheduler_options, add_seed_option, add_sim_option, add_tool_options, add_workload_option,
                      bounded, place_and_route)

COUNT = Int(0, MAX_COUNT)
SPAN = Int(0, MAX_SWEEP_SPAN)

EXAMPLES = """examples:
  macgen flow --workload resnet18-imagenet -o out/resnet18
  macgen flow --workload alexnet-imagenet --chunk auto --acc-stages 1 -o out/alexnet
  macgen flow --workload my_net.toml --array 2x2 --no-pnr --no-fpga -o out/my_net
  macgen flow --workload resnet32-cifar10 --no-init --acc-stages 1 -o out/noinit
"""


def register(subparsers):
    p = subparsers.add_parser(
        "flow", help="one shot: plan, generate, verify, measure area, write a report",
        description="Size the accumulator for a workload's training and inference GEMMs, generate "
                    "the MAC and a systolic array with it, verify both bit-exactly against the golden "
                    "model on the emitted Verilog, measure area with Yosys (including an accumulator "
                    "sweep and the FP32-accumulator baseline), and write DIR/report.md and "
                    "DIR/report.json with the figures and DIR/rtl/ beside them. The outputs are made in "
                    "a staging directory and replace the previous run's only when the run completes; "
                    "DIR/work/ is a cache (simulation builds, Yosys runs, the sweep's points) that "
                    "reruns reuse.", epilog=EXAMPLES)
    add_workload_option(p, default="resnet32-cifar10")
    add_format_options(p)
    add_objective_option(p, shown=DEFAULT_OBJECTIVE,
                         also="for the training and inference MACs (accumulator, chunk size, loop depth K); "
                              "all candidates are synthesised, cached")
    add_chunk_option(p, shown="chosen by --objective", also="instead of --objective")
    p.add_argument("--array", default="4x4", metavar="RxC",
                   help=f"systolic array shape (default: 4x4); rows and columns {ARRAY_DIM.range}")
    add_rounding_option(p)
    add_init_option(p)
    add_nzr_cutoff_options(p)
    add_batch_option(p)
    p.add_argument("--mac-vectors", type=COUNT, default=300, metavar="N",
                   help=bounded("random dot products simulated through the MAC (default: 300; 0 skips)", COUNT))
    p.add_argument("--array-tiles", type=COUNT, default=6, metavar="N",
                   help=bounded("random tiles simulated through the array (default: 6; 0 skips)", COUNT))
    add_sim_option(p, what="simulator of both verifications")
    add_seed_option(p, default=1, what="seed of the random verification stimulus")
    p.add_argument("--sweep-span", type=SPAN, default=3, metavar="K",
                   help=bounded("sweep m_acc from K below to K above the choice (default: 3)", SPAN))
    add_jobs_option(p, default=2)
    add_scheduler_options(p, what="the area sweep")
    p.add_argument("--array-area", action="store_true", help="also synthesise the whole array (slow)")
    p.add_argument("--pe-sizes", default="4,8", metavar="LIST",
                   help="square array sizes whose per-PE area is reported for the built MAC and its e8m23 "
                        "twin, hierarchy kept (cheap); none skips (default: 4,8)")
    add_tool_options(p, fpga=True, asic=True, pnr=True)
    add_acc_stages_list_option(p, default=STUDY_STAGES, shown=",".join(map(str, STUDY_STAGES)),
                               also="the objective chooses among, and compared for the chosen MAC and its "
                                    "e8m23 twin (area, clock, throughput per area; the best K is placed and "
                                    "routed too); 1 compares nothing")
    add_output_option(p)
    add_quiet_option(p)
    p.set_defaults(func=run)


def _shape(text):
    try:
        r, c = (int(v) for v in text.split("x"))
    except ValueError:
        raise UsageError(f"--array must look like 4x4, not {text!r}") from None
    for v in (r, c):
        if not ARRAY_DIM.minimum <= v <= ARRAY_DIM.maximum:
            raise UsageError(f"--array rows and columns must be between {ARRAY_DIM.minimum} and "
                             f"{ARRAY_DIM.maximum}, not {text!r}")
    return r, c


def _sizes(text):
    if text == "none":
        return ()
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--pe-sizes must be a list like 4,8 or none, not {text!r}") from None


#: FlowOptions fields as the options that set them, for its messages.
FLOW_FIELDS = {**{f: option_name(f) for f in ("sweep_span", "mac_vectors", "array_tiles", "scheduler_timeout",
                                              "scheduler", "workload", "batch", "jobs", "seed", "acc_stages",
                                              "pe_sizes")},
               "a_fmt": "--a-format", "b_fmt": "--b-format", "simulator": "--sim"}


def run(args) -> int:
    from ..flow import FlowOptions, run_flow

    conflict(args, "--objective", "--chunk", "the objective chooses the accumulator and its chunking among the designs the model allows")
    rows, cols = _shape(args.array)
    check_output_dir("-o/--output", args.output)
    try:
        opts = FlowOptions(workload=args.workload, a_fmt=args.a_format, b_fmt=args.b_format,
                       chunk=args.chunk, objective=args.objective, rows=rows, cols=cols, rounding=args.rounding, nzr=args.nzr,
                       cutoff=args.cutoff, batch=args.batch, mac_vectors=args.mac_vectors,
                       array_tiles=args.array_tiles, seed=args.seed, simulator=args.sim,
                       sweep_span=args.sweep_span, jobs=args.jobs, scheduler=args.scheduler,
                       scheduler_timeout=args.scheduler_timeout, array_area=args.array_area,
                       fpga=args.fpga, asic=args.asic, pnr=place_and_route(args), init=args.init,
                       acc_stages=args.acc_stages, pe_sizes=_sizes(args.pe_sizes))
        report = run_flow(opts, args.output, progress=sys.stderr if progress_enabled() else None)
    except (TypeError, ValueError) as exc:
        reraise_with_options(exc, FLOW_FIELDS)
    s = report["saving_vs_fp32"]
    t = report["plan"]["training"]
    built = report["chosen_design"]
    print(f"{report['workload']['name']}: training accumulator {t['acc_fmt']}"
          f"{', chunk ' + str(t['chunk_size']) if t['chunk_size'] else ''}, K = {built['acc_stages']}"
          + (f" (chosen for {args.objective or DEFAULT_OBJECTIVE})" if args.chunk is None else "") + "; "
          f"area ratio FP32-accumulator MAC / chosen MAC {s['training (chosen)']:.2f}x "
          f"(same chunking: {s['training (chosen) vs FP32 with the same chunking']:.2f}x; "
          f"inference {s['inference (FWD only)']:.2f}x)")
    if report["timing"]:
        q = report["timing"]["ratios"]
        print(f"timing, e8m23 twin / chosen: area {q['osu018_um2']:.2f}x, delay {q['osu018_ns']:.2f}x, "
              f"area x delay {q['area_x_delay']:.2f}x (OSU018 cells, relative only)")
    verdict = ("skipped" if not report["verification"] else "passed" if report["passed"] else "FAILED")
    print(f"verification: {verdict}; report: {args.output}/report.md")
    return 0 if report["passed"] else 1
