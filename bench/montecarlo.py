"""The precision model checked on the golden model: analytical vs simulated m_acc.

Run: ``.venv/bin/python bench/montecarlo.py [--max-plain N] [--max-chunked N] [--seeds 5]``

For e5m2 x e5m2 products (m_p = 5) and each length of the table (64 ... 3.2e6,
with ResNet-18/ImageNet's FWD/BWD lengths 576/1152/2304/4608 and its GRAD
lengths 12544 ... 3211264), RNE and RTZ, no chunking and chunk 64, prints the
analytical choice of docs/model.md next to the simulated one
(:func:`macgen.montecarlo.simulated_choice`) with its interval [m_lo, m_hi]
and the measured variance lost v = exp(n (1 - VRR_sim)) of the simulated choice
and of the width below it, with 95 % intervals. Then the seed stability of two
lengths (how many of ``--seeds`` seeds give the same choice), and the wall time
of every row. Writes ``build/bench/montecarlo.json`` (every estimate) and the
figure ``build/bench/mc_vs_m.png`` (analytic and simulated v against m_acc).

Trials per row: ``clip(2^25 / n, 256, 16384)``. Unchunked lengths above
``--max-plain`` are skipped by default: an unchunked dot product is one
sequential chain per trial, so with few trials per row (256 at n = 3.2e6) only
a few chains run side by side, and the 802,816 and 3,211,264 rows take minutes
each even on the compiled golden kernel (``--max-plain 3211264`` runs them;
``bench/run_all.py --full`` does); chunked rows batch every chunk as an
independent dot product (see :mod:`macgen.montecarlo`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

from macgen import montecarlo, precision

ROOT = Path(__file__).resolve().parent.parent
LENGTHS = [64, 256, 576, 1024, 1152, 2304, 4608, 12544, 50176, 200704, 802816, 3211264]
COMBOS = [("rne", 0), ("rne", 64), ("rtz", 0), ("rtz", 64)]
M_P = 5


def trials_for(n):
    return int(min(16384, max(256, (1 << 25) // n)))


def _v(loss):
    return math.inf if loss > 709 else math.exp(loss)


def _fmt_v(x):
    return "inf" if math.isinf(x) else (f"{x:.3g}" if x < 1e4 else f"{x:.2e}")


def row_text(n, rounding, chunk, analytic, choice, seconds, trials):
    est = choice.estimates
    e = est[choice.m_acc]
    below = est.get(choice.m_acc - 1)
    iv = (f"{choice.m_acc}" if choice.m_lo == choice.m_hi
          else f"{choice.m_acc} [{choice.m_lo},{choice.m_hi}]")
    cell = f"v {_fmt_v(_v(e.loss))} [{_fmt_v(_v(e.loss_lo))}, {_fmt_v(_v(e.loss_hi))}]"
    if below is not None:
        cell += (f"; m-1: v {_fmt_v(_v(below.loss))} [{_fmt_v(_v(below.loss_lo))}, "
                 f"{_fmt_v(_v(below.loss_hi))}]")
    return (f"{n:>8}  {rounding}  {chunk or '-':>5}  {analytic:>8}  {iv:>9}  {choice.m_acc - analytic:>+4}"
            f"  {trials:>6}  {seconds:>6.0f}  {cell}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-plain", type=int, default=200704,
                        help="longest unchunked length to simulate (default: 200704)")
    parser.add_argument("--max-chunked", type=int, default=3211264,
                        help="longest chunked length to simulate (default: 3211264)")
    parser.add_argument("--lengths", default=None, help="comma-separated lengths instead of the table")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for the stability check (0: skip)")
    parser.add_argument("--stability-lengths", default="1024,4608")
    parser.add_argument("--out", default=str(ROOT / "build" / "bench"))
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--plot-only", action="store_true",
                        help="only redraw the figure from an earlier run's montecarlo.json")
    args = parser.parse_args(argv)
    if args.plot_only:
        from macgen.plots import plot_loss_vs_width
        data = json.loads((Path(args.out) / "montecarlo.json").read_text())
        plot_loss_vs_width(Path(args.out) / "mc_vs_m.png", data["rows"])
        print(f"wrote {Path(args.out) / 'mc_vs_m.png'}")
        return 0
    lengths = [int(x) for x in args.lengths.split(",")] if args.lengths else LENGTHS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    try:
        load = "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    print(f"analytical vs simulated m_acc, e5m2 x e5m2 (m_p = {M_P}), cutoff v < 50, "
          f"95 % intervals; {os.cpu_count()} CPUs, {load}")
    print(f"{'n':>8}  rnd  chunk  analytic  simulated  diff  trials  time/s  measured v")
    records = []
    prev = {}
    t_all = time.perf_counter()
    for n in lengths:
        for rounding, chunk in COMBOS:
            ch = chunk if chunk < n else 0
            if (ch == 0 and n > args.max_plain) or (ch and n > args.max_chunked):
                continue
            if chunk and not ch:
                continue  # chunk 64 at n <= 64 is the unchunked row
            analytic = precision.min_acc_mantissa(n, M_P, chunk=ch)
            if (rounding, chunk) in prev:
                n0, m0 = prev[(rounding, chunk)]
                start = max(1, m0 + round(0.75 * math.log2(n / n0)))
            else:
                start = analytic
            trials = trials_for(n)
            t = time.perf_counter()
            choice = montecarlo.simulated_choice("e5m2", "e5m2", n, chunk=ch, rounding=rounding,
                                                 start=start, trials=trials, seed=0, jobs=args.jobs)
            seconds = time.perf_counter() - t
            prev[(rounding, chunk)] = (n, choice.m_acc)
            print(row_text(n, rounding, ch, analytic, choice, seconds, trials), flush=True)
            records.append({"n": n, "rounding": rounding, "chunk": ch, "analytic": analytic,
                            "trials": trials, "seconds": seconds, **choice.to_dict(),
                            "analytic_v": {str(m): precision.variance_lost(
                                precision.vrr_chunked(m, M_P, n, ch), n)
                                for m in choice.estimates}})
            _write(out / "montecarlo.json", {"rows": records})
    print(f"table: {time.perf_counter() - t_all:.0f} s")

    if args.seeds:
        print(f"\nseed stability ({args.seeds} seeds, same trials as the table)")
        stability = []
        for n in [int(x) for x in args.stability_lengths.split(",")]:
            for rounding, chunk in COMBOS:
                ch = chunk if chunk < n else 0
                picks = []
                t = time.perf_counter()
                for seed in range(args.seeds):
                    c = montecarlo.simulated_choice("e5m2", "e5m2", n, chunk=ch, rounding=rounding,
                                                    trials=trials_for(n), seed=seed, jobs=args.jobs)
                    picks.append((c.m_acc, c.m_lo, c.m_hi))
                ms = [p[0] for p in picks]
                mode = max(set(ms), key=ms.count)
                print(f"{n:>8}  {rounding}  {ch or '-':>5}  choices {ms}  intervals "
                      f"{[f'[{lo},{hi}]' for _, lo, hi in picks]}  same as mode: "
                      f"{ms.count(mode)}/{len(ms)}  ({time.perf_counter() - t:.0f} s)", flush=True)
                stability.append({"n": n, "rounding": rounding, "chunk": ch, "picks": picks})
        _write(out / "montecarlo.json", {"rows": records, "stability": stability})

    from macgen.plots import plot_loss_vs_width
    fig = out / "mc_vs_m.png"
    plot_loss_vs_width(fig, records)
    print(f"wrote {out / 'montecarlo.json'} and {fig}")
    return 0


def _write(path, data):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    raise SystemExit(main())
