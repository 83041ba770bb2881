"""Shared by bench/sim.py and bench/array_sim.py: a private model cache and the before/after table.

(Not bench/array.py: a script's folder comes first on ``sys.path``, and an
``array.py`` there hides the standard library's ``array`` module from numba.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def private_cache(path, cold: bool) -> Path:
    """Point the fast harness's model cache at ``path`` (emptied first when ``cold``)."""
    path = Path(path).resolve()
    if cold:
        shutil.rmtree(path, ignore_errors=True)
    os.environ["MACGEN_SIM_CACHE"] = str(path)
    return path


def print_table(rows, *, base_name: str) -> int:
    """Rows of (simulator, harness, MACs, build s, 'cold'|'cached'|'-', sim s, errors); rates against ``base_name``.

    Returns the exit code: 1 if any row has errors (a fast wrong simulation is no result).
    """
    base = next((r for r in rows if f"{r[0]} {r[1]}" == base_name), rows[0])
    base_rate = base[2] / base[5]
    print(f"{'simulator':<10} {'harness':<7} {'MACs':>11} {'build s':>8} {'build':>6} {'sim s':>7} "
          f"{'MACs/s':>11} {'vs ' + base_name:>18} {'errors':>6}")
    for sim, harness, macs, build_s, cached, sim_s, errors in rows:
        rate = macs / sim_s
        print(f"{sim:<10} {harness:<7} {macs:>11,} {build_s:>8.1f} {cached:>6} "
              f"{sim_s:>7.2f} {rate:>11,.0f} {rate / base_rate:>17.1f}x {errors:>6}")
    print("MACs/s: wall clock of the simulator run, start-up and result checking included; "
          "build not included")
    return 1 if any(r[6] for r in rows) else 0


def compare_opt_levels(levels, cache_root, run) -> int:
    """For every C++ level: a cold Verilator build of the fast harness's model in its own cache, then
    ``run()`` (-> (build_seconds, MACs per second, errors)); prints a line each, returns the exit code."""
    code = 0
    if levels:
        print("fast harness, Verilator model at each C++ level (cold build, then the large run):")
    for level in levels:
        os.environ["MACGEN_VERILATOR_OPT"] = level
        private_cache(Path(cache_root) / f"model-cache{level}", cold=True)
        build_s, rate, errors = run()
        print(f"  {level}: build {build_s:6.1f} s, {rate:>11,.0f} MACs/s, errors {errors}")
        code |= bool(errors)
    os.environ.pop("MACGEN_VERILATOR_OPT", None)
    return code
