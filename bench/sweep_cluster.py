"""A 2-D sweep (m_acc x chunk, e5m2 x e5m2 MACs) on this machine and on a 2-worker loopback Dask cluster.

Runs the same sweep, each time into an empty output directory (nothing cached),
with docs/arithmetic.md §7's generic Yosys flow only (no FPGA flows):

1. local default (``--jobs 1``),
2. local process pool (``--jobs 2``),
3. a Dask cluster of two one-thread workers on 127.0.0.1
   (:class:`macgen.executor.LoopbackCluster`), started before the timing;

checks that the three CSVs agree on every column but the measured Yosys time,
and prints each wall time, the cluster's start-up time, the cluster path's
overhead per point against the local pool of the same width, and the round
trip of a no-op Dask task (the scheduler's own cost per task).

    .venv/bin/python bench/sweep_cluster.py [--acc-man-bits 4:13] [--chunk-size 0,16,64,256] [--out build/bench/sweep_cluster]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

from macgen.executor import DaskExecutor, LocalExecutor, LoopbackCluster
from macgen.sweep import SweepSpec, parse_int_list, run_spec


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "yosys_seconds"} for r in csv.DictReader(f)]


def _timed(spec, out, executor):
    shutil.rmtree(out, ignore_errors=True)
    start = time.monotonic()
    res = run_spec(spec, out, executor=executor, plot=False, progress=None)
    wall = time.monotonic() - start
    assert res.complete and not res.failures, res.failures
    yosys = sum(r["yosys_seconds"] for r in res.rows)
    return {"wall_s": round(wall, 2), "yosys_s_sum": round(yosys, 2), "points": len(res.rows),
            "computed": res.computed}, _rows(res.csv_path)


def _noop():
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # spelt as macgen sweep spells them
    p.add_argument("--acc-man-bits", default="4:13")
    p.add_argument("--chunk-size", default="0,16,64,256")
    p.add_argument("--length", type=int, default=4608)
    p.add_argument("--out", default="build/bench/sweep_cluster")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    spec = SweepSpec(inputs=["e5m2"], man_bits=parse_int_list(args.acc_man_bits, "--acc-man-bits", minimum=1),
                     chunks=parse_int_list(args.chunk_size, "--chunk-size"), length=args.length, reference=False)
    n = len(spec.points())
    print(f"sweep: {n} points (e5m2 x e5m2, m_acc {args.acc_man_bits} x chunks {args.chunk_size}, "
          f"exponent {spec.points()[0][1].acc_fmt.exp_bits}), generic Yosys flow", flush=True)
    figures = {"points": n}
    with LocalExecutor(1) as ex:
        figures["local_jobs1"], serial = _timed(spec, out / "local1", ex)
    print(f"local, --jobs 1:   {figures['local_jobs1']['wall_s']:7.1f} s", flush=True)
    with LocalExecutor(2) as ex:
        figures["local_jobs2"], pool = _timed(spec, out / "local2", ex)
    print(f"local, --jobs 2:   {figures['local_jobs2']['wall_s']:7.1f} s", flush=True)
    start = time.monotonic()
    with LoopbackCluster(2, directory=out / "cluster") as cluster:
        figures["cluster_start_s"] = round(time.monotonic() - start, 2)
        with DaskExecutor(cluster.address) as ex:
            figures["dask_2_workers"], remote = _timed(spec, out / "dask", ex)
            t0 = time.monotonic()
            k = 200
            outcomes = list(ex.run([(f"noop{i}", _noop, ()) for i in range(k)]))
            assert all(o.ok for o in outcomes)
            figures["dask_noop_task_ms"] = round(1000 * (time.monotonic() - t0) / k, 2)
    print(f"Dask, 2 workers:   {figures['dask_2_workers']['wall_s']:7.1f} s "
          f"(cluster start-up {figures['cluster_start_s']:.1f} s, not included)", flush=True)
    over = (figures["dask_2_workers"]["wall_s"] - figures["local_jobs2"]["wall_s"]) / n
    figures["dask_overhead_per_point_s"] = round(over, 3)
    print(f"cluster path overhead against the local 2-process pool: {over * 1000:+.0f} ms per point; "
          f"a no-op Dask task costs {figures['dask_noop_task_ms']:.1f} ms (200 tasks)")
    figures["rows_differing"] = {"jobs2_vs_jobs1": sum(a != b for a, b in zip(serial, pool)),
                                 "dask_vs_jobs1": sum(a != b for a, b in zip(serial, remote))}
    same = serial == pool == remote
    print("CSV of all three runs identical (except the measured Yosys time)" if same else
          f"the sweeps DISAGREE: {figures['rows_differing']} rows differ")
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
