"""Throughput of the bit-exact golden model, side by side with apytypes in the same run.

Run: ``.venv/bin/python bench/golden.py [--repeat 3] [--quick]`` (``make bench`` installs apytypes,
the bench-only extra).

For each case it prints emulated MACs per second of ``golden.matmul`` / ``golden.dot``
(wall clock, and process CPU time over all threads), of apytypes 0.5.1 (its default
threads) on the same operands, the ratio golden / apytypes, and — where apytypes
computes the same function (every product exact in the accumulator, so its
cascaded product-then-sum rounding equals golden's fused step; chunking by
slicing K and adding the chunk sums in the accumulator format) — how many
result elements are bit-identical. Cases:

* ``matmul`` e5m2 x e5m2 -> e6m9 at 512x256x512 and 1024x1024x256, plain and chunk 64;
* a 4,096-row ``dot`` of length 1,024 (golden only: apytypes has no batched dot);
* OCP E4M3 (``fp8_e4m3fn``) x E4M3 -> fp32 matmul (apytypes has no nan-only format,
  but Gaussian data stays below its e4m3's max of 240, where the two agree);
* an fp16 FMA chain: fp16 x fp16 -> fp16 matmul (golden is fused, apytypes cascaded:
  different functions, so no identity count);
* golden's pure-NumPy fallback on one case (``MACGEN_GOLDEN=numpy``).

Then the peak RSS of a 1024x1024x256 matmul, measured in a fresh child process.
Inputs are Gaussian values quantised to the operand formats, seed 0. The load
average is printed before and after: other jobs on a shared machine slow both
sides alike, so the ratios are the figures to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

from macgen import golden
from macgen.config import MACConfig

try:
    import apytypes as apy
except ImportError:     # the bench-only extra: `make bench` installs it
    apy = None


def _best(fn, repeat):
    best_wall = best_cpu = float("inf")
    out = None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
    return out, best_wall, best_cpu


def _load():
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average unknown"


def _apy_array(fmt, values):
    return apy.APyFloatArray.from_float(values, exp_bits=fmt.exp_bits, man_bits=fmt.man_bits, bias=fmt.bias)


def _apy_matmul(cfg, A, B):
    """apytypes' matmul with the accumulator in ``cfg.acc_fmt`` (chunks: slices of K, summed in it)."""
    acc = cfg.acc_fmt
    K = A.shape[1]
    with apy.APyFloatAccumulatorContext(exp_bits=acc.exp_bits, man_bits=acc.man_bits, bias=acc.bias):
        L = cfg.chunk_size or K
        total = None
        for k0 in range(0, K, L):
            part = A[:, k0:k0 + L] @ B[k0:k0 + L, :]
            total = part if total is None else total + part
    return total


def _same_function(cfg):
    """apytypes rounds each product into the accumulator, then the sum: golden's fused step is
    the same function when every product is exact there (and outer = acc = out, RNE, ieee)."""
    a, b, acc = cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt
    exact = a.man_bits + b.man_bits + 1 <= acc.man_bits
    # Product range: within acc's normal range for every finite operand.
    in_range = (a.emax + b.emax + 1 <= acc.emax
                and (a.emin - a.man_bits) + (b.emin - b.man_bits) >= acc.emin - acc.man_bits)
    return (exact and in_range and cfg.rounding == "rne" and cfg.outer_fmt == acc == cfg.out_fmt
            and acc.policy == "ieee" and acc.subnormals)


def matmul_case(name, cfg, R, K, C, repeat, compare=True):
    rng = np.random.default_rng(0)
    xa = cfg.a_fmt.decode(cfg.a_fmt.encode(rng.standard_normal((R, K))))
    xb = cfg.b_fmt.decode(cfg.b_fmt.encode(rng.standard_normal((K, C))))
    A, B = cfg.a_fmt.encode(xa), cfg.b_fmt.encode(xb)
    golden.matmul(cfg, A[:8], B[:, :64])        # compile / load the kernel outside the timing
    y, wall, cpu = _best(lambda: golden.matmul(cfg, A, B), repeat)
    macs = R * K * C
    row = {"case": name, "shape": f"{R}x{K}x{C}", "golden_wall": macs / wall, "golden_cpu": macs / cpu}
    if apy is not None and compare:
        pa, pb = _apy_array(cfg.a_fmt, xa), _apy_array(cfg.b_fmt, xb)
        Y, awall, acpu = _best(lambda: _apy_matmul(cfg, pa, pb), repeat)
        row.update(apy_wall=macs / awall, apy_cpu=macs / acpu)
        if _same_function(cfg):
            bits = np.asarray(Y.to_bits(), dtype=np.int64).astype(np.uint64)
            row["identical"] = (int((bits == y).sum()), y.size)
    return row


def dot_case(name, cfg, rows, n, repeat):
    rng = np.random.default_rng(0)
    a = cfg.a_fmt.encode(rng.standard_normal((rows, n)))
    b = cfg.b_fmt.encode(rng.standard_normal((rows, n)))
    golden.dot(cfg, a[:64], b[:64])
    _, wall, cpu = _best(lambda: golden.dot(cfg, a, b), repeat)
    return {"case": name, "shape": f"{rows} x {n}", "golden_wall": rows * n / wall,
            "golden_cpu": rows * n / cpu}


def _print(row):
    apy_txt = ratio = ident = "-"
    if "apy_wall" in row:
        apy_txt = f"{row['apy_wall'] / 1e6:.1f}"
        ratio = f"{row['golden_wall'] / row['apy_wall']:.2f}x"
    if "identical" in row:
        same, total = row["identical"]
        ident = f"{same:,}/{total:,}"
    print(f"{row['case']:<30} {row['shape']:>15} {row['golden_wall'] / 1e6:>10.1f} {row['golden_cpu'] / 1e6:>9.1f} "
          f"{apy_txt:>9} {ratio:>8} {ident:>22}", flush=True)


def _rss_child():
    cfg = MACConfig("e5m2", "e5m2", "e6m9")
    rng = np.random.default_rng(0)
    A = cfg.a_fmt.encode(rng.standard_normal((1024, 256)))
    B = cfg.b_fmt.encode(rng.standard_normal((256, 1024)))
    before = _peak_rss_kib()
    golden.matmul(cfg, A, B)
    print(before, _peak_rss_kib())


def _peak_rss_kib():
    # VmHWM: this process image's peak. (ru_maxrss survives exec on Linux, so a child
    # started from a large parent would report the parent's peak.)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="skip the 1024x1024x256 shapes")
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_child:
        _rss_child()
        return

    import numba
    print(f"golden-model throughput, {os.cpu_count()} CPUs, numba {numba.__version__} with "
          f"{numba.get_num_threads()} threads, apytypes {getattr(apy, '__version__', 'not installed')}; "
          f"{_load()}")
    header = (f"{'case':<30} {'shape':>15} {'golden M/s':>10} {'(cpu)':>9} {'apy M/s':>9} {'ratio':>8} "
              f"{'bit-identical':>22}")
    print(header)
    print("-" * len(header))
    plain = MACConfig("e5m2", "e5m2", "e6m9")
    chunk = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
    shapes = [(512, 256, 512)] + ([] if args.quick else [(1024, 1024, 256)])
    for R, K, C in shapes:
        _print(matmul_case("matmul e5m2*e5m2->e6m9", plain, R, K, C, args.repeat))
        _print(matmul_case("matmul ... chunk 64", chunk, R, K, C, args.repeat))
    _print(dot_case("dot e5m2*e5m2->e6m9", plain, 4096, 1024, args.repeat))
    _print(matmul_case("matmul e4m3fn*e4m3fn->fp32", MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"),
                       512, 256, 512, args.repeat))
    _print(matmul_case("fp16 FMA chain (matmul)", MACConfig("fp16", "fp16", "fp16"), 256, 512, 256, args.repeat))
    _print(matmul_case("bf16 FMA chain (matmul)", MACConfig("bf16", "bf16", "bf16"), 256, 512, 256, args.repeat))
    _print(matmul_case("fp32 FMA chain (matmul)", MACConfig("fp32", "fp32", "fp32"), 128, 512, 128, 1))
    # The pure-NumPy paths (the kernel's reference and fallback), and the kernel on the same shapes.
    fallback = [("e5m2->e6m9", plain, (256, 256, 256)),
                ("fp16 FMA", MACConfig("fp16", "fp16", "fp16"), (64, 256, 64)),
                ("bf16 FMA", MACConfig("bf16", "bf16", "bf16"), (64, 256, 64)),
                ("fp32 FMA", MACConfig("fp32", "fp32", "fp32"), (32, 256, 32))]
    for name, cfg, shape in fallback:
        kernel = matmul_case(f"kernel   {name}", cfg, *shape, 1, compare=False)
        os.environ["MACGEN_GOLDEN"] = "numpy"
        numpy_row = matmul_case(f"NumPy    {name}", cfg, *shape, 1, compare=False)
        del os.environ["MACGEN_GOLDEN"]
        _print(numpy_row)
        print(f"{'':<30} {'kernel / NumPy':>15} {kernel['golden_wall'] / numpy_row['golden_wall']:>9.1f}x")
    if not args.quick:
        out = subprocess.run([sys.executable, __file__, "--rss-child"], check=True, capture_output=True,
                             text=True).stdout.split()
        before, after = (int(v) / 1024 for v in out)    # KiB
        print(f"peak RSS of a 1024x1024x256 e5m2->e6m9 matmul (fresh process): {after:.0f} MiB "
              f"({before:.0f} MiB before the call)")
    print(_load())


if __name__ == "__main__":
    main()
