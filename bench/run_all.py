"""Run every benchmark in one go and write a summary.

    .venv/bin/python bench/run_all.py [--only golden,sim,...] [--full] [--out build/bench/summary.md]

Each benchmark runs as its own process (its figures are measured within that
one run); their output is printed as it comes and collected, with each
benchmark's wall time, into the summary file. ``--full`` includes the slow parts
(Verilator's 8x8 array build, iCE40/ECP5 LUT counts).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from macgen.files import write_atomic

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: name -> (script, quick arguments, extra arguments for --full)
BENCHES = {
    "golden": ("golden.py", [], []),
    "area": ("area.py", [], ["--fpga"]),
    "rtl_mac": ("rtl_mac_figures.py", [], ["--sim"]),
    "sim": ("sim.py", [], []),
    "array": ("array_figures.py", ["--no-verilator"], []),
    # the fast harness before/after (two Verilator builds of the 8x8 array, ~4 min)
    "array_sim": ("array_sim.py", [], []),
    "planner": ("planner.py", [], []),
    # K = 1, 2, 4, 8 for the e7m10 chunk-256, e8m23 and fp16 MACs; quick: no place and route
    "acc_stages": ("acc_stages.py", ["--no-pnr"], []),
    # the Monte-Carlo table takes tens of minutes; --full adds the unchunked 802,816 and 3.2e6 rows
    "montecarlo": ("montecarlo.py", [], ["--max-plain", "3211264"]),
    # quick: 8 points; --full: the 40-point m_acc x chunk sweep of docs/sweeps.md
    "sweep_cluster": ("sweep_cluster.py", ["--acc-man-bits", "4:7", "--chunk-size", "0,64"],
                      ["--acc-man-bits", "4:13", "--chunk-size", "0,16,64,256"]),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(BENCHES),
                        help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--full", action="store_true", help="include the slow parts")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench" / "summary.md"))
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHES)}")

    sections, failed = [], []
    for name in names:
        script, quick, full = BENCHES[name]
        cmd = [sys.executable, str(HERE / script), *quick]
        if args.full:
            cmd = [c for c in cmd if c != "--no-verilator"] + full
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        rc = proc.wait()
        seconds = time.monotonic() - t0
        if rc:
            failed.append(name)
        sections.append(f"## {name} ({seconds:.0f} s{', FAILED exit ' + str(rc) if rc else ''})\n\n"
                        f"```\n$ python bench/{script} {' '.join(cmd[2:])}\n{''.join(lines)}```\n")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, "# macgen benchmarks\n\n" + "\n".join(sections))
    print(f"wrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
