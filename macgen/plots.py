"""Figures of the precision model (matplotlib, Agg backend; no display needed).

:func:`plot_variance_lost` draws the key figure of Sakr et al. (ICLR 2019): the
variance lost ``v(n) = exp(n_eff (1 - VRR))`` against the accumulation length
``n`` for a range of accumulator mantissa widths, with the cutoff line and the
accumulation lengths of a workload's GEMMs marked.
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import precision
from .files import atomic_path

__all__ = ["plot_variance_lost", "plot_loss_vs_width", "plot_design_choice", "save_figure"]

#: Curves stop once v exceeds this (v grows without bound in n).
_V_CLIP = 1e6

_GEMM_COLOURS = {"fwd": "tab:blue", "bwd": "tab:orange", "grad": "tab:green"}


def save_figure(fig, path):
    """Write ``fig`` to ``path`` atomically: a temporary file, then a rename.

    The format comes from the suffix (``.png``, ``.pdf``, ``.svg``); nothing is
    left behind if writing fails.

    Raises
    ------
    ValueError
        An unsupported suffix.
    OSError
        The file cannot be written.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    supported = fig.canvas.get_supported_filetypes()
    if ext not in supported:
        raise ValueError(f"Plot file must end in one of "
                         f"{', '.join('.' + e for e in sorted(supported))}, not {path!r}")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")


def _length_grid(n_max):
    top = max(1e4, 4.0 * n_max)
    grid = np.unique(np.round(np.logspace(0.3, math.log10(top), 120)).astype(np.int64))
    return [int(n) for n in grid if n >= 2]


def plot_variance_lost(path, *, m_p, m_accs, lengths=None, cutoff=50.0, chunk=0, nzr=1.0,
                       title=None, compare_chunk=0):
    """Plot ``v(n)`` (log y) against ``n`` (log x) for each ``m_acc`` and save it.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; the suffix picks the format (``.png`` ...). Written atomically.
    m_p : int
        Product fraction bits.
    m_accs : iterable of int
        One curve per accumulator mantissa width.
    lengths : dict of str to iterable of int, optional
        Accumulation lengths to mark, by GEMM (``'fwd'``, ``'bwd'``, ``'grad'``).
    cutoff : float
        Drawn as a horizontal line.
    chunk : int
        Chunk size of the curves (0: none).
    nzr : float
        Non-zero ratio.
    title : str, optional
    compare_chunk : int
        If positive, each width also gets a dashed curve with this chunk size (the
        plan's chosen chunking beside the unchunked curves), in the same colour.

    Steps where the transcribed formula is non-monotone in ``m_acc`` (``v`` of
    a width above the one below it, see
    :func:`macgen.precision.min_acc_mantissa`) are marked on the curves.

    Raises
    ------
    TypeError, ValueError, OSError
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    m_accs = sorted({int(m) for m in m_accs})
    if not m_accs:
        raise ValueError("m_accs must name at least one accumulator mantissa width")
    lengths = {g: sorted(set(int(n) for n in ns)) for g, ns in (lengths or {}).items()}
    n_max = max([max(ns) for ns in lengths.values() if ns] or [1])
    grid = _length_grid(n_max)

    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"]
    def curve(m, ck):
        xs, ys = [], []
        for n in grid:
            v = precision.variance_lost(precision.vrr_chunked(m, m_p, n, ck, nzr=nzr),
                                        precision.effective_length(n, nzr))
            xs.append(n)
            ys.append(min(v, _V_CLIP))
            if v >= _V_CLIP:
                break
        return np.array(xs), np.array(ys)

    styles = [(chunk, "-")] + ([(compare_chunk, "--")] if compare_chunk and compare_chunk != chunk else [])
    marked = False
    for k, m in enumerate(m_accs):
        colour = cmap(k / max(1, len(m_accs) - 1))
        for ck, style in styles:
            xs, ys = curve(m, ck)
            what = f"$m_{{acc}}$ = {m}" + (f", chunk {ck}" if ck else (", no chunking" if len(styles) > 1 else ""))
            ax.plot(xs, ys, color=colour, linestyle=style, label=what)
            if m > 1:
                # the formula's non-monotone steps: v(m) above v(m - 1) at the same n
                _, below = curve(m - 1, ck)
                k_ = min(len(ys), len(below))
                rising = (ys[:k_] > below[:k_] * (1 + 1e-9)) & (ys[:k_] > 1.01) & (below[:k_] < _V_CLIP)
                if rising.any():
                    ax.plot(xs[:k_][rising], ys[:k_][rising], linestyle="none", marker="x",
                            markersize=4, color="black",
                            label=None if marked else "non-monotone: v(m) > v(m-1)")
                    marked = True
    ax.axhline(cutoff, color="red", linestyle="--", linewidth=1, label=f"cutoff v = {cutoff:g}")
    for gemm, ns in lengths.items():
        colour = _GEMM_COLOURS.get(gemm, "grey")
        for i, n in enumerate(ns):
            ax.axvline(n, color=colour, alpha=0.35, linewidth=0.8,
                       label=f"{gemm.upper()} lengths" if i == 0 else None)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(0.9, _V_CLIP)
    ax.set_xlim(grid[0], grid[-1])
    ax.set_xlabel("accumulation length n")
    ax.set_ylabel("variance lost v(n) = exp(n (1 - VRR))")
    what = f"m_p = {m_p}" + (f", chunk {chunk}" if chunk else "") + (f", nzr {nzr:g}" if nzr != 1 else "")
    if compare_chunk and compare_chunk != chunk:
        what += f"; dashed: chunk {compare_chunk}"
    ax.set_title(title or f"Variance lost vs accumulation length ({what})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    save_figure(fig, path)


def plot_loss_vs_width(path, records, *, m_p=5, cutoff=50.0, lengths=None):
    """Analytical and simulated variance lost against ``m_acc`` (the Monte-Carlo check).

    One panel per (rounding, chunking) of ``records`` (rows of
    ``bench/montecarlo.py``: ``n``, ``rounding``, ``chunk``, ``estimates`` with
    ``loss``/``loss_lo``/``loss_hi`` per width); per length a line for docs/model.md's
    ``v`` and points with 95 % error bars for the golden model's. Steps where
    the formula's ``v`` rises with ``m_acc`` are circled.

    Raises
    ------
    ValueError, OSError
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    combos = sorted({(r["rounding"], r["chunk"] and 64) for r in records})
    if not combos:
        raise ValueError("records must hold at least one row")
    all_n = sorted({r["n"] for r in records})
    lengths = lengths or [n for n in (1024, 4608, 50176, 200704, 3211264) if n in all_n] or all_n[:4]
    fig = Figure(figsize=(11, 4.2 * ((len(combos) + 1) // 2)))
    cmap = matplotlib.colormaps["plasma"]
    for p, (rounding, chunk) in enumerate(combos):
        ax = fig.add_subplot((len(combos) + 1) // 2, 2, p + 1)
        for k, n in enumerate(lengths):
            rows = [r for r in records if r["n"] == n and r["rounding"] == rounding
                    and bool(r["chunk"]) == bool(chunk)]
            if not rows:
                continue
            r = rows[0]
            colour = cmap(k / max(1, len(lengths)))
            est = {int(m): e for m, e in r["estimates"].items()}
            ms = np.arange(max(1, min(est) - 2), max(est) + 3)
            v = np.array([precision.variance_lost(precision.vrr_chunked(int(m), m_p, n, r["chunk"]), n)
                          for m in ms])
            ax.plot(ms, np.minimum(v, _V_CLIP), color=colour, label=f"n = {n}: the formula")
            up = np.nonzero(v[1:] > v[:-1] * (1 + 1e-9))[0] + 1
            up = up[(v[up] > 1.01) & (v[up] < _V_CLIP)]
            if len(up):
                ax.plot(ms[up], v[up], linestyle="none", marker="o", markerfacecolor="none",
                        markersize=9, color=colour)
            m_sim = np.array(sorted(est))
            centre = np.array([math.exp(min(est[m]["loss"], 700)) for m in m_sim])
            lo = np.array([math.exp(min(est[m]["loss_lo"], 700)) for m in m_sim])
            hi = np.array([math.exp(min(est[m]["loss_hi"], 700)) for m in m_sim])
            keep = centre < _V_CLIP
            ax.errorbar(m_sim[keep], centre[keep], yerr=[centre[keep] - lo[keep],
                        np.minimum(hi[keep], _V_CLIP) - centre[keep]],
                        linestyle="none", marker="s", markersize=4, capsize=3, color=colour,
                        label=f"n = {n}: golden model (m_acc {r['m_acc']})")
        ax.axhline(cutoff, color="red", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_ylim(0.9, _V_CLIP)
        ax.set_xlabel("accumulator fraction bits $m_{acc}$")
        ax.set_ylabel("variance lost v = exp(n (1 - VRR))")
        ax.set_title(f"{rounding.upper()}, " + (f"chunk {chunk}" if chunk else "no chunking"))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, loc="upper right")
    fig.suptitle("Variance lost: the formula of docs/model.md (lines; circles: the formula rises with m_acc) vs "
                 "the golden model (points, 95 % intervals), e5m2 x e5m2", fontsize=9)
    save_figure(fig, path)


_AXES = {"osu018_um2": "area, µm² (OSU018 cells)", "osu018_ns": "critical path, ns (OSU018, OpenSTA)",
         "transistors": "area, transistors (Yosys estimate)", "logic_levels": "logic levels"}


def plot_design_choice(path, choices, *, extra=None, title=""):
    """Area against delay of the candidate designs (:mod:`macgen.choice`), one panel per choice.

    ``choices`` maps a panel label (e.g. ``'training'``) to a
    :meth:`macgen.choice.DesignChoice.summary`. Candidates are coloured by loop
    depth K and labelled with accumulator and chunk; the area/delay front is a
    staircase, the chosen design a star. ``extra`` maps a label to further
    ``(area, delay, model_feasible)`` points (e.g. the area sweep's MACs): grey
    crosses where the model rejects the accumulator, hollow circles where it
    allows a wider one than needed.

    Raises
    ------
    ValueError, OSError
    """
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    if not choices:
        raise ValueError("choices must hold at least one design choice")
    fig = Figure(figsize=(6.2 * len(choices), 4.8))
    cmap = matplotlib.colormaps["viridis"]
    for p, (label, c) in enumerate(choices.items()):
        ax = fig.add_subplot(1, len(choices), p + 1)
        a, d = c["area_metric"], c["delay_metric"]
        points = (extra or {}).get(label, [])
        bad = [(x, y) for x, y, ok in points if not ok]
        wide = [(x, y) for x, y, ok in points if ok]
        if bad:
            ax.scatter(*zip(*bad), marker="x", s=18, color="0.6", label="sweep: rejected by the model")
        if wide:
            ax.scatter(*zip(*wide), marker="o", s=18, facecolors="none", edgecolors="0.45",
                       label="sweep: allowed, wider than needed")
        ks = sorted({r["acc_stages"] for r in c["rows"]})
        for i, k in enumerate(ks):
            rows = [r for r in c["rows"] if r["acc_stages"] == k]
            ax.scatter([r[a] for r in rows], [r[d] for r in rows], s=30, zorder=3,
                       color=cmap(i / max(1, len(ks) - 1) * 0.85), label=f"candidates, K = {k}")
        for r in c["rows"]:
            ax.annotate(r["acc_fmt"] + (f" c{r['chunk_size']}" if r["chunk_size"] else ""), (r[a], r[d]),
                        textcoords="offset points", xytext=(4, 3), fontsize=6)
        front = sorted((r[a], r[d]) for r in c["rows"] if r["pareto"])
        ax.step([f[0] for f in front], [f[1] for f in front], where="post", color="tab:red", linewidth=1,
                label="front (no candidate smaller and faster)")
        best = next(r for r in c["rows"] if r["chosen"])
        ax.scatter([best[a]], [best[d]], marker="*", s=220, color="tab:red", zorder=4,
                   label=f"chosen ({c['objective']}): {best['acc_fmt']}"
                         + (f" c{best['chunk_size']}" if best["chunk_size"] else "") + f", K = {best['acc_stages']}")
        ax.set_xlabel(_AXES.get(a, a), fontsize=8)
        ax.set_ylabel(_AXES.get(d, d), fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
