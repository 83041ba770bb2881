"""``macgen flow``: workload → plan → MAC + array → verify → area → report (``make run``)."""

from __future__ import annotations

import sys

from ..formats import ROUNDING_MODES
from ..verify.cocotb_runner import SIMULATORS
from . import FORMAT_HELP


def register(subparsers):
    p = subparsers.add_parser(
        "flow", help="one shot: plan, generate, verify, measure area, write a report",
        description="Size the accumulator for a workload's training and inference GEMMs, generate "
                    "the MAC and a systolic array with it, verify both bit-exactly against the golden "
                    "model on the emitted Verilog, measure area with Yosys (including an accumulator "
                    "sweep and the FP32-accumulator baseline), and write DIR/report.md and "
                    "DIR/report.json with the Verilog beside them.",
        epilog="Example: macgen flow --workload resnet18-imagenet --chunk auto -o out/resnet18")
    p.add_argument("--workload", default="resnet32-cifar10", metavar="NAME|FILE",
                   help="resnet32-cifar10 (default), resnet18-imagenet, alexnet-imagenet, or a "
                        ".toml/.json layer file")
    p.add_argument("--a-format", default="e5m2", metavar="FMT",
                   help=f"multiplicand format (default: e5m2); {FORMAT_HELP}")
    p.add_argument("--b-format", default="e5m2", metavar="FMT", help="multiplier format (default: e5m2)")
    p.add_argument("--chunk", default="auto", metavar="auto|none|N",
                   help="chunk-based accumulation for the training MAC (default: auto)")
    p.add_argument("--array", default="4x4", metavar="RxC", help="systolic array shape (default: 4x4)")
    p.add_argument("--rounding", choices=ROUNDING_MODES, default="rne")
    p.add_argument("--nzr", type=float, default=1.0, help="non-zero ratio in (0, 1] (default: 1)")
    p.add_argument("--cutoff", type=float, default=50.0, help="variance-lost cutoff (default: 50)")
    p.add_argument("--batch", type=int, default=None, help="override the workload's batch size")
    p.add_argument("--mac-vectors", type=int, default=300, metavar="N",
                   help="random dot products simulated through the MAC (default: 300; 0 skips)")
    p.add_argument("--array-tiles", type=int, default=6, metavar="N",
                   help="random tiles simulated through the array (default: 6; 0 skips)")
    p.add_argument("--sim", choices=SIMULATORS, default="icarus", help="simulator")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sweep-span", type=int, default=3, metavar="K",
                   help="sweep m_acc from K below to K above the choice (default: 3)")
    p.add_argument("--jobs", type=int, default=2, help="parallel Yosys runs (default: 2)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run the area sweep on this Dask cluster (default: $MACGEN_SCHEDULER if set, "
                        "else this machine; docs/sweeps.md)")
    p.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="S",
                   help="seconds to reach the scheduler and find a worker (default: 10)")
    p.add_argument("--array-area", action="store_true", help="also synthesise the whole array (slow)")
    p.add_argument("--no-fpga", action="store_true", help="skip the iCE40/ECP5 LUT counts")
    p.add_argument("--no-asic", action="store_true",
                   help="skip the OSU018 cells + OpenSTA timing of every MAC compared")
    p.add_argument("--no-pnr", action="store_true",
                   help="skip nextpnr Fmax (iCE40 HX8K, ECP5-25k) of the chosen MAC and its e8m23 twin "
                        "(a few minutes)")
    p.add_argument("--acc-stages", default="1,2,4,8", metavar="LIST",
                   help="accumulate-loop depths K to compare for the chosen MAC and its e8m23 twin "
                        "(area, clock, throughput per area; the best K is placed and routed too); "
                        "1 compares nothing (default: 1,2,4,8)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _shape(text):
    from . import UsageError
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--array must look like 4x4, not {text!r}") from None
    return r, c


def _stages(text):
    from . import UsageError
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--acc-stages must be a list like 1,2,4,8, not {text!r}") from None


def run(args) -> int:
    from ..flow import FlowOptions, run_flow

    rows, cols = _shape(args.array)
    stages = _stages(args.acc_stages)
    opts = FlowOptions(workload=args.workload, a_fmt=args.a_format, b_fmt=args.b_format,
                       chunk=args.chunk, rows=rows, cols=cols, rounding=args.rounding, nzr=args.nzr,
                       cutoff=args.cutoff, batch=args.batch, mac_vectors=args.mac_vectors,
                       array_tiles=args.array_tiles, seed=args.seed, simulator=args.sim,
                       sweep_span=args.sweep_span, jobs=args.jobs, scheduler=args.scheduler,
                       scheduler_timeout=args.scheduler_timeout, array_area=args.array_area,
                       fpga=not args.no_fpga, asic=not args.no_asic, pnr=not args.no_pnr,
                       acc_stages=stages)
    report = run_flow(opts, args.output, progress=None if args.quiet else sys.stderr)
    s = report["saving_vs_fp32"]
    t = report["plan"]["training"]
    print(f"{report['workload']['name']}: training accumulator {t['acc_fmt']}"
          f"{', chunk ' + str(t['chunk_size']) if t['chunk_size'] else ''}; "
          f"area ratio FP32-accumulator MAC / chosen MAC {s['training (chosen)']:.2f}x "
          f"(same chunking: {s['training (chosen) vs FP32 with the same chunking']:.2f}x; "
          f"inference {s['inference (FWD only)']:.2f}x)")
    if report["timing"]:
        q = report["timing"]["ratios"]
        print(f"timing, e8m23 twin / chosen: area {q['osu018_um2']:.2f}x, delay {q['osu018_ns']:.2f}x, "
              f"area x delay {q['area_x_delay']:.2f}x (OSU018 cells, relative only)")
    print(f"verification: {'passed' if report['passed'] else 'FAILED'}; report: {args.output}/report.md")
    return 0 if report["passed"] else 1
