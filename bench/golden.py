"""Throughput of the bit-exact golden model next to NumPy float32 on the same shapes.

Run: ``.venv/bin/python bench/golden.py [--batch 4096] [--n 1024] [--fp16-n 128]``

Prints emulated MACs per second (wall clock and process CPU time, since other
jobs on a shared machine slow the wall clock) for

* e5m2 x e5m2 -> e6m9 dot products, no chunking (table-driven fast path);
* the same with chunk size 64;
* OCP E4M3 x E4M3 (``fp8_e4m3fn``, nan-only) -> fp32 and -> e6m9 (mixed policies);
* an fp16 FMA dot product (fp16 operands and accumulator: products computed per block);

and, for each shape, NumPy float32 ``einsum('bn,bn->b', a, b)`` (the same
batched dot products, ``a @ b``-style: neither bit-exact nor sequential) plus
the ratio NumPy / golden.
All figures come from one run. Inputs are Gaussian values quantised to the
operand formats, seed 0.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from macgen import golden
from macgen.config import MACConfig
from macgen.formats import FloatFormat


def _time(fn, repeat):
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best_wall, best_cpu


def run_case(name, cfg, batch, n, repeat, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n))
    y = rng.standard_normal((batch, n))
    a = cfg.a_fmt.encode(x)
    b = cfg.b_fmt.encode(y)
    golden.dot(cfg, a[:2, :2], b[:2, :2])  # build tables outside the timing
    wall, cpu = _time(lambda: golden.dot(cfg, a, b), repeat)
    xf = cfg.a_fmt.decode(a).astype(np.float32)
    yf = cfg.b_fmt.decode(b).astype(np.float32)
    np_wall, np_cpu = _time(lambda: np.einsum("bn,bn->b", xf, yf), max(repeat, 5))
    macs = batch * n
    return {
        "case": name, "batch": batch, "n": n,
        "golden_wall": macs / wall, "golden_cpu": macs / cpu,
        "numpy_wall": macs / np_wall, "numpy_cpu": macs / np_cpu,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--fp16-n", type=int, default=128,
                        help="dot length of the fp16 case (slower: products computed, not looked up)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    fp16 = FloatFormat.parse("fp16")
    cases = [
        ("e5m2*e5m2->e6m9", MACConfig("e5m2", "e5m2", "e6m9"), args.n),
        ("e5m2*e5m2->e6m9 chunk64", MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64), args.n),
        ("e5m2*e5m2->fp32", MACConfig("e5m2", "e5m2", "fp32"), args.n),
        ("e4m3fn*e4m3fn->fp32", MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"), args.n),
        ("e4m3fn*e4m3fn->e6m9", MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e6m9"), args.n),
        ("fp16 fma dot", MACConfig(fp16, fp16, fp16), args.fp16_n),
    ]
    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    print(f"golden-model throughput, batch {args.batch}, {os.cpu_count()} CPUs, {load}")
    header = (f"{'case':<26} {'n':>5} {'golden M/s wall':>16} {'golden M/s cpu':>15} "
              f"{'numpy f32 M/s':>14} {'numpy/golden':>13}")
    print(header)
    print("-" * len(header))
    for name, cfg, n in cases:
        r = run_case(name, cfg, args.batch, n, args.repeat if n == args.n else 1)
        print(f"{r['case']:<26} {r['n']:>5} {r['golden_wall'] / 1e6:>16.2f} {r['golden_cpu'] / 1e6:>15.2f} "
              f"{r['numpy_wall'] / 1e6:>14.1f} {r['numpy_wall'] / r['golden_wall']:>12.0f}x")


if __name__ == "__main__":
    main()
