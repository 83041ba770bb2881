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

__all__ = ["plot_variance_lost", "save_figure"]

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
                       title=None):
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
    for k, m in enumerate(m_accs):
        xs, ys = [], []
        for n in grid:
            v = precision.variance_lost(precision.vrr_chunked(m, m_p, n, chunk, nzr=nzr),
                                        precision.effective_length(n, nzr))
            xs.append(n)
            ys.append(min(v, _V_CLIP))
            if v >= _V_CLIP:
                break
        ax.plot(xs, ys, color=cmap(k / max(1, len(m_accs) - 1)), label=f"$m_{{acc}}$ = {m}")
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
    ax.set_title(title or f"Variance lost vs accumulation length ({what})")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    save_figure(fig, path)
