"""How fast the planner is: ``macgen plan`` wall times for long lengths and whole workloads.

Run: ``.venv/bin/python bench/planner.py``

Prints, for ``plan --length N`` (N up to 1e9) and for the three built-in
workloads with ``--chunk auto``, the wall time of the command in a fresh
process (Python start-up and imports included, measured separately and shown),
and the time of the model alone in-process with empty caches
(:func:`macgen.precision.min_acc_mantissa` / :func:`recommend_chunk`). Targets
(issue 16): ``plan --length N`` under 1 s for any N <= 1e9, each workload with
``--chunk auto`` under 2 s.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from macgen import precision

ROOT = Path(__file__).resolve().parent.parent
MACGEN = [sys.executable, "-m", "macgen"]


def _wall(cmd, repeat=3):
    """Best wall time and best CPU time (user + system of the child) over ``repeat`` runs."""
    best = best_cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best, best_cpu


def _model(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        for cache in (precision._vrr, precision._min_m, precision._recommend):
            cache.cache_clear()
        t = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t)
    return best, value


def main():
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    print(f"planner timings (best of 3), {os.cpu_count()} CPUs, {load}")
    startup, startup_cpu = _wall([sys.executable, "-c", "import macgen.cli"])
    print(f"python start-up + import macgen.cli: {startup:.2f} s wall, {startup_cpu:.2f} s CPU")
    print("(wall and CPU of the whole command in a fresh process; model: in-process, empty caches)")
    print(f"{'command':<52} {'wall/s':>7} {'CPU/s':>6} {'model/s':>8}  result")
    for n in (1024, 4608, 10 ** 5, 3211264, 10 ** 7, 10 ** 8, 10 ** 9):
        wall, cpu = _wall(MACGEN + ["plan", "--length", str(n)])
        model, m = _model(lambda: precision.min_acc_mantissa(n, 5))
        print(f"{'plan --length ' + str(n):<52} {wall:>7.2f} {cpu:>6.2f} {model:>8.3f}  m_acc {m}")
    for n in (10 ** 5, 10 ** 7, 10 ** 9):
        wall, cpu = _wall(MACGEN + ["plan", "--length", str(n), "--chunk", "auto"])
        model, (L, m) = _model(lambda: precision.recommend_chunk(n, 5))
        print(f"{'plan --length ' + str(n) + ' --chunk auto':<52} {wall:>7.2f} {cpu:>6.2f} "
              f"{model:>8.3f}  chunk {L}, m_acc {m}")
    for wl in ("resnet32-cifar10", "resnet18-imagenet", "alexnet-imagenet"):
        wall, cpu = _wall(MACGEN + ["plan", "--workload", wl, "--chunk", "auto"])
        print(f"{'plan --workload ' + wl + ' --chunk auto':<52} {wall:>7.2f} {cpu:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
