"""The accumulation-precision model: variance retention ratio and accumulator widths.

No Amaranth here. This module sizes the accumulator of a low-precision MAC after
Sakr et al., "Accumulation Bit-Width Scaling for Ultra-Low Precision Training of
Deep Networks" (ICLR 2019, arXiv 1901.06588), docs/model.md.

Provenance of the formula
-------------------------
The paper's full text was not available to this project. :func:`vrr` implements
docs/model.md exactly, which is a third-party transcription of the paper's VRR theorem
(not the authors' code): ``yanivbl6/convNet.pytorch``, branch
``accumulation_width``, commit ``38a1e667`` (2021-07-13),
``models/modules/conv2d_nn.py`` and ``vrr_analysis.ipynb``; the default branches
do not contain it. docs/model.md's reference values (``m_p = 5``, ``n = 1024``) are
reproduced to 1e-12. Unverified against the paper: the cutoff 50, the chunk
criterion, the sparsity rule, and whether ``m_acc`` counts the hidden bit (here
it does not). The transcription differs from itself on the chunk criterion: the
notebook grows the product width by ``log2`` of the chunk size (as docs/model.md does),
``conv2d_nn.py``'s ``simulate_factor`` by ``log2`` of the number of chunks.
:mod:`macgen.montecarlo` checks the model on the golden model; ``docs/model.md``
has the comparison.

Notation: ``n`` accumulation length, ``m_p`` product fraction bits, ``m_acc``
accumulator fraction bits, ``Q(x) = erfc(x/sqrt(2))/2``::

    q_i   = 2Q(2^m_acc/sqrt(i)) (1 - 2Q(2^m_acc/sqrt(i-1)))                   i = 2..n-1
    a_j   = (2^(m_acc-3m_p)/3) sum_{t=1}^{j-1} 2^t (2^t-1) (2^(t+1)-1),  a = a_{m_p+1}
    q'_j  = 2^(m_acc-m_p+j) 2Q(2^(m_acc-m_p+j-1)/sqrt(n)) (1 - 2Q(2^(m_acc-m_p+j)/sqrt(n)))
    k1    = sum_{i>a} q_i,  k2 = sum_{j: n>a_j} q'_j,  k3 = 1 - 2Q(2^(m_acc-m_p+1)/sqrt(n))
    VRR   = [sum_{i>a} (i-a) q_i + sum_j max(n-a_j, 0) q'_j + n k3] / [n (k1+k2+k3)]

The variance lost is ``v = exp(n_eff (1 - VRR))``; the chosen mantissa is the
smallest ``m_acc >= 1`` such that it and every wider width have ``v < cutoff``
(50 by default): the formula is not monotone in ``m_acc`` (see
:func:`min_acc_mantissa`).

The accumulator's exponent width is not the paper's: it is the smallest that
holds ``n * max|a| * max|b|`` without overflow and ``min_normal(a) *
min_normal(b)`` as a normal number (:func:`acc_exponent_bits`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from fractions import Fraction

import numpy as np

from .config import check_product_man_bits
from .formats import (FloatFormat, accumulator_format, accumulator_policy, check_format,
                      check_rounding, standard_bias)
from .validate import check_int, check_real

__all__ = [
    "vrr", "vrr_chunked", "variance_lost", "min_acc_mantissa", "recommend_chunk",
    "acc_exponent_bits", "simulate_vrr", "decide_accumulator", "decide_shared", "parse_chunk",
    "AccumulatorDecision",
    "product_frac_bits", "effective_length", "METHODS", "check_nzr", "check_cutoff",
    "monotone_regions", "one_minus_vrr", "WorkloadPlan", "plan_workload",
]

METHODS = ("analytical", "simulated")

_SQRT_PI = math.sqrt(math.pi)
_DIRECT = 1 << 14           # q_i terms summed directly before Euler-Maclaurin (see _q_sums)
_MAX_M_ACC = 62             # 1 + E + M <= 64 caps every accumulator mantissa


# -- argument checking (Amaranth's message grammar) ------------------------------

def check_nzr(nzr) -> float:
    """A non-zero ratio: a real number in ``(0, 1]``."""
    nzr = check_real("Non-zero ratio", nzr)
    if not 0.0 < nzr <= 1.0:
        raise ValueError(f"Non-zero ratio must be in (0, 1], not {nzr}")
    return nzr


def check_cutoff(cutoff) -> float:
    """A variance-lost cutoff: a finite real number greater than 1."""
    cutoff = check_real("Cutoff", cutoff)
    if not cutoff > 1.0 or math.isinf(cutoff):
        raise ValueError(f"Cutoff must be a finite number greater than 1, not {cutoff}")
    return cutoff


def parse_chunk(value):
    """A chunking choice from text or a value: ``0`` (none), ``'auto'`` or a chunk size.

    Accepts ``None``, ``'none'``, ``'auto'``, a non-negative integer or its text.

    Raises
    ------
    ValueError
        Anything else (the message names the value).
    """
    if value is None:
        return 0
    text = value.strip().lower() if isinstance(value, str) else value
    if text == "none":
        return 0
    if text == "auto":
        return "auto"
    if isinstance(text, str):
        try:
            text = int(text)
        except ValueError:
            pass
    if isinstance(text, bool) or not isinstance(text, (int, np.integer)) or text < 0:
        raise ValueError(f"Chunk must be none, auto or a positive integer, not {value!r}")
    return int(text)


# -- erf/erfc on arrays (NumPy has none, SciPy is not a dependency) ---------------

def _exp_neg_sq(z):
    """``exp(-z*z)`` without the rounding error of ``z*z`` in the exponent."""
    hi = np.floor(z * 4096.0) / 4096.0  # hi*hi is exact
    lo = z - hi
    return np.exp(-hi * hi) * np.exp(-lo * (z + hi))


def _erfc_erf(z):
    """``(erfc(z), erf(z))`` for ``z >= 0``, each to a few ulps of relative accuracy.

    ``z < 1.25``: ``erf`` by the all-positive series ``2/sqrt(pi) e^-z^2 sum 2^k
    z^(2k+1)/(2k+1)!!`` (no cancellation; ``erfc = 1 - erf > 0.077``).
    ``z >= 1.25``: ``erfc`` by its continued fraction, evaluated backward.
    Relative error below 1e-14 against ``math.erf``/``math.erfc`` (tested).
    """
    z = np.asarray(z, dtype=np.float64)
    erfc = np.empty_like(z)
    erf = np.empty_like(z)
    small = z < 1.25
    if small.any():
        zs = z[small]
        z2 = 2.0 * zs * zs
        term = zs.copy()
        total = zs.copy()
        # terms fall by 2z^2/(2k+3): below 1e-19 of the sum after 12/22/32 terms
        zmax = float(zs.max())
        for k in range(12 if zmax < 0.5 else 22 if zmax < 1.0 else 32):
            term = term * z2 / (2 * k + 3)
            total += term
        e = (2.0 / _SQRT_PI) * _exp_neg_sq(zs) * total
        erf[small] = e
        erfc[small] = 1.0 - e
    # continued fraction; depth by range: each gives < 1e-15 relative error
    for lo, hi, depth in ((1.25, 2.0, 120), (2.0, 3.5, 60), (3.5, 5.0, 25), (5.0, math.inf, 14)):
        sel = (z >= lo) & (z < hi)
        if not sel.any():
            continue
        zb = z[sel]
        t = zb.copy()
        for k in range(depth, 0, -1):
            t = zb + (0.5 * k) / t
        c = _exp_neg_sq(zb) / (_SQRT_PI * t)
        erfc[sel] = c
        erf[sel] = 1.0 - c
    return erfc, erf


def _two_q(x):
    """``2Q(x) = erfc(x/sqrt(2))`` for a scalar."""
    return math.erfc(x / math.sqrt(2.0))


def _one_minus_two_q(x):
    """``1 - 2Q(x) = erf(x/sqrt(2))`` for a scalar."""
    return math.erf(x / math.sqrt(2.0))


# -- the model -------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _alpha_sums(m_p):
    """``S_j = sum_{t=1}^{j-1} 2^t (2^t-1) (2^(t+1)-1)`` for j = 0..m_p+1 (exact ints)."""
    sums = [0, 0]
    for t in range(1, m_p + 1):
        sums.append(sums[-1] + (1 << t) * ((1 << t) - 1) * ((1 << (t + 1)) - 1))
    return tuple(sums)


@functools.lru_cache(maxsize=None)
def _alpha(m_acc, m_p, j):
    """``(alpha_j as float, floor(alpha_j) as int)``; ``alpha_j = S_j 2^(m_acc-3m_p) / 3``."""
    s = _alpha_sums(m_p)[j]
    exact = Fraction(s) * Fraction(2) ** (m_acc - 3 * m_p) / 3
    return float(exact), math.floor(exact)


def _q_terms(m_acc, alpha, x):
    """``q(x)`` and ``(x - alpha) q(x)`` at real ``x >= 2`` (docs/model.md's ``q_i`` at ``i = x``)."""
    scale = math.ldexp(1.0, m_acc) / math.sqrt(2.0)
    erfc, _ = _erfc_erf(scale / np.sqrt(x))
    _, erf = _erfc_erf(scale / np.sqrt(x - 1.0))
    q = erfc * erf
    return q, (x - alpha) * q


_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


def _q_sums(m_acc, alpha, start, stop):
    r"""``(sum q_i, sum (i - alpha) q_i)`` over integers ``start <= i <= stop``.

    The first :data:`_DIRECT` terms are summed directly (vectorised). The rest,
    from ``A = start + _DIRECT`` to ``B = stop``, by Euler-Maclaurin::

        sum_{i=A}^{B} g(i) = int_A^B g + (g(A) + g(B))/2 + (g'(B) - g'(A))/12
                             - (g'''(B) - g'''(A))/720 + R,
        |R| <= (2 zeta(6) / (2 pi)^6) int_A^B |g^(6)|

    with the integral by 16-point Gauss-Legendre on panels of ratio 1.125 and
    the derivatives by central differences. Where this is used, ``g`` (a product
    of ``erfc`` and ``erf`` of ``2^m_acc / sqrt(2x)``) changes by a factor ``e``
    over no fewer than ``x / (2 z^2)`` steps with ``z^2 < 42`` (the cut of
    :func:`_vrr`), i.e. at least ~195 steps at ``x >= _DIRECT``: then
    ``g^(k) ~ g / 195^k``, the neglected terms are below ``1e-16`` of the sum, a
    panel spans at most ~6 e-folds and Gauss-Legendre is exact to rounding. The
    cost is independent of ``n``. Tested against the direct sum (to 1e-12 in
    VRR) up to ten million terms.
    """
    if stop < start:
        return 0.0, 0.0
    top = min(stop, start + _DIRECT - 1)
    i = np.arange(start, top + 1, dtype=np.float64)
    q, wq = _q_terms(m_acc, alpha, i)
    k1, num1 = float(q.sum()), float(wq.sum())
    if top == stop:
        return k1, num1
    a, b = float(top + 1), float(stop)
    if b - a < 64:
        q, wq = _q_terms(m_acc, alpha, np.arange(a, b + 1.0))
        return k1 + float(q.sum()), num1 + float(wq.sum())
    edges = [a]
    while edges[-1] < b:
        edges.append(min(b, edges[-1] * 1.125))
    edges = np.array(edges)
    lo, hi = edges[:-1, None], edges[1:, None]
    x = (0.5 * (hi - lo) * _GL_X + 0.5 * (hi + lo)).ravel()
    w = (0.5 * (hi - lo) * _GL_W).ravel()
    q, wq = _q_terms(m_acc, alpha, x)
    # g at a-2 .. a+2 and b-2 .. b+2 for the end corrections
    ends = np.array([a - 2, a - 1, a, a + 1, a + 2, b - 2, b - 1, b, b + 1, b + 2])
    eq, ewq = _q_terms(m_acc, alpha, ends)
    out = []
    for g, gi in ((eq, q), (ewq, wq)):
        d1a, d1b = (g[3] - g[1]) / 2, (g[8] - g[6]) / 2
        d3a = (g[4] - 2 * g[3] + 2 * g[1] - g[0]) / 2
        d3b = (g[9] - 2 * g[8] + 2 * g[6] - g[5]) / 2
        out.append(float(np.dot(w, gi)) + (g[2] + g[7]) / 2 + (d1b - d1a) / 12 - (d3b - d3a) / 720)
    return k1 + out[0], num1 + out[1]


@functools.lru_cache(maxsize=65536)
def _vrr(m_acc, m_p, n):
    if n <= 1:
        return 1.0
    sqrt_n = math.sqrt(n)
    # Terms over j (a handful of scalars) and k3.
    num = 0.0
    k2 = 0.0
    for j in range(2, m_p + 1):
        alpha_j, floor_j = _alpha(m_acc, m_p, j)
        qp = (math.ldexp(1.0, m_acc - m_p + j)
              * _two_q(math.ldexp(1.0, m_acc - m_p + j - 1) / sqrt_n)
              * _one_minus_two_q(math.ldexp(1.0, m_acc - m_p + j) / sqrt_n))
        if n > floor_j:  # n > alpha_j, exactly
            k2 += qp
            num += (n - alpha_j) * qp
    k3 = _one_minus_two_q(math.ldexp(1.0, m_acc - m_p + 1) / sqrt_n)
    num += n * k3

    # Terms over i = 2..n-1 with i > alpha. 2Q(2^m/sqrt(i)) <= exp(-4^m/(2i)), so
    # every i below i_lo contributes less than 1e-18 (k2 + k3) / n to k1 and at most
    # n times that to the numerator: relative error < 1e-18, far below the 1e-12 goal.
    alpha, floor_alpha = _alpha(m_acc, m_p, m_p + 1)
    thresh = max(1e-18 * (k2 + k3) / n, 1e-300)
    z_cut = math.sqrt(-math.log(thresh))
    # keep i with 2^m/sqrt(2i) < z_cut, i.e. i > 4^m / (2 z_cut^2)
    lo_bound = math.ldexp(1.0, 2 * m_acc) / (2.0 * z_cut * z_cut)
    i_lo = 2 if lo_bound < 4 else int(min(lo_bound, float(n))) - 1
    start = max(2, floor_alpha + 1, i_lo)
    stop = n - 1  # inclusive
    k1, num1 = _q_sums(m_acc, alpha, start, stop)
    return (num1 + num) / (n * (k1 + k2 + k3))


def vrr(m_acc, m_p, n) -> float:
    """Variance retention ratio of an ``n``-term sum (docs/model.md, Sakr et al.'s Theorem 1).

    The accumulator keeps ``m_acc`` fraction bits and every product ``m_p``. The
    formula is the public transcription of the paper's Theorem 1 in
    ``yanivbl6/convNet.pytorch`` (``models/modules/conv2d_nn.py``), implemented
    exactly as docs/model.md states it; see the module docstring.

    Terms of the sum over ``i`` whose factor ``2Q(2^m_acc/sqrt(i))`` is too small
    to change the result by 1e-18 (relative) are skipped; the first 2^14 of the
    rest are summed directly and the remainder by Euler-Maclaurin (``_q_sums``),
    so any length up to 1e9 takes about a millisecond. Results are cached.

    Parameters
    ----------
    m_acc : int
        Accumulator fraction bits, at least 1.
    m_p : int
        Product fraction bits, at least 1.
    n : int
        Accumulation length, at least 1. ``VRR(n <= 1) = 1``.

    Returns
    -------
    float
        VRR in ``(0, 1]`` (up to rounding).

    Raises
    ------
    TypeError, ValueError
        Non-integer or out-of-range arguments.
    """
    m_acc = check_int("Accumulator mantissa width", m_acc, minimum=1)
    m_p = check_int("Product mantissa width", m_p, minimum=1)
    n = check_int("Accumulation length", n, minimum=1)
    return _vrr(m_acc, m_p, n)


def effective_length(n, nzr=1.0) -> int:
    """Non-zero terms of a length-``n`` sum: ``max(1, round(nzr * n))`` (docs/model.md)."""
    n = check_int("Accumulation length", n, minimum=1)
    return max(1, round(check_nzr(nzr) * n))


def _vrr_chunked(m_acc, m_p, n, chunk, nzr):
    n_eff = max(1, round(nzr * n))
    if chunk <= 0 or n <= chunk:
        return _vrr(m_acc, m_p, n_eff)
    n1 = max(1, round(nzr * chunk))
    n2 = -(-n // chunk)
    m_p2 = min(m_acc, m_p + (n1 - 1).bit_length())  # ceil(log2 n1)
    return _vrr(m_acc, m_p, n1) * _vrr(m_acc, m_p2, n2)


def vrr_chunked(m_acc, m_p, n, chunk, *, nzr=1.0) -> float:
    """VRR of chunk-based accumulation (docs/model.md).

    With chunk size ``n1`` and ``n2 = ceil(n/n1)`` chunks::

        VRR_chunk = VRR(m_acc, m_p, n1) * VRR(m_acc, min(m_acc, m_p + ceil(log2 n1)), n2)

    and ``VRR(m_acc, m_p, n)`` when ``n <= n1`` or ``chunk == 0`` (no chunking).

    Sparsity: with non-zero ratio ``nzr`` a chunk holds ``max(1, round(nzr*n1))``
    non-zero products, which replace ``n1`` in the inner VRR and in the product
    growth ``ceil(log2 n1)``; the number of chunks stays ``ceil(n/n1)``. Without
    chunking the length is ``n_eff = max(1, round(nzr*n))``.

    Parameters
    ----------
    m_acc, m_p, n : int
        As for :func:`vrr`.
    chunk : int
        Chunk size; 0 means no chunking.
    nzr : float
        Non-zero ratio in ``(0, 1]``.

    Raises
    ------
    TypeError, ValueError
    """
    m_acc = check_int("Accumulator mantissa width", m_acc, minimum=1)
    m_p = check_int("Product mantissa width", m_p, minimum=1)
    n = check_int("Accumulation length", n, minimum=1)
    chunk = check_int("Chunk size", chunk, minimum=0)
    return _vrr_chunked(m_acc, m_p, n, chunk, check_nzr(nzr))


def variance_lost(vrr_value, n_eff) -> float:
    """``v = exp(n_eff (1 - VRR))``; ``inf`` when it overflows a float."""
    x = n_eff * (1.0 - float(vrr_value))
    return math.inf if x > 709.0 else math.exp(x)


def _passes(m_acc, m_p, n, chunk, nzr, cutoff):
    n_eff = max(1, round(nzr * n))
    return variance_lost(_vrr_chunked(m_acc, m_p, n, chunk, nzr), n_eff) < cutoff


def _settled_width(m_p, n):
    """A width from which on docs/model.md's loss is negligible and falls (see :func:`_min_m`).

    The smallest ``m`` with ``2^(m - m_p + 1) >= 20 sqrt(n)``.
    """
    target = 20.0 * math.sqrt(n)
    m = m_p - 1 + max(0, math.ceil(math.log2(target)))
    while math.ldexp(1.0, m - m_p + 1) < target:
        m += 1
    return m


def _loss(m, m_p, n, chunk, nzr):
    n_eff = max(1, round(nzr * n))
    return n_eff * (1.0 - _vrr_chunked(m, m_p, n, chunk, nzr))


@functools.lru_cache(maxsize=65536)
def _min_m(m_p, n, chunk, nzr, cutoff):
    # The monotone rule: the smallest m such that m and every wider width pass.
    #
    # docs/model.md's VRR is not monotone in m_acc. Near the choice the q_i terms are
    # negligible and loss = n (1 - VRR) ~ sum_j alpha_j q'_j / (k2 + k3): alpha_j is
    # proportional to 2^m_acc (a partial-swamping event is charged more lost
    # variance the wider the accumulator), while the event weights q'_j =
    # 2^(m_acc-m_p+j) 2Q(...) (1 - 2Q(...)) fall only once 2^(m_acc-m_p+j-1)
    # outgrows sqrt(n). Where they have not yet fallen, one more bit doubles the
    # charge: v(14) > v(13) at n = 100,000, v(17) > v(16) at n = 5e6.
    #
    # From W = _settled_width on (2^(m-m_p+1) >= 20 sqrt(n) for every factor) each
    # 2Q(.) in the formula is below 2Q(10) ~ 1.5e-23 and shrinks like exp(-4^m/8n)
    # per bit, faster than the 2^m of alpha_j and q'_j grows: the loss is below
    # ~1e-8 and decreasing. So every width >= W passes (for any cutoff with
    # ln(cutoff) above that; otherwise the scan goes up first), and the answer is
    # one above the widest failing width below W: scan down from W.
    n_eff = max(1, round(nzr * n))
    limit = math.log(cutoff)
    if chunk <= 0 or n <= chunk:
        top = _settled_width(m_p, n_eff)
    else:
        n1 = max(1, round(nzr * chunk))
        growth = (n1 - 1).bit_length()
        top = max(_settled_width(m_p, n1), _settled_width(m_p + growth, -(-n // chunk)),
                  m_p + growth + 1)
    top = min(top, _MAX_M_ACC)
    while _loss(top, m_p, n, chunk, nzr) >= limit:
        if top >= _MAX_M_ACC:
            raise ValueError(f"No accumulator mantissa up to {_MAX_M_ACC} bits keeps the "
                             f"variance lost below {cutoff} for length {n}")
        top += 1
    m = top
    while m > 1 and _loss(m - 1, m_p, n, chunk, nzr) < limit:
        m -= 1
    return m


def monotone_regions(m_p, n, *, chunk=0, nzr=1.0, m_max=None):
    """Widths where docs/model.md's variance lost *rises* with one more bit.

    Returns the ``m`` (from 1 to ``m_max``, default the settled width of
    :func:`min_acc_mantissa`) with ``v(m + 1) > v(m)``: the transcribed
    formula's non-monotone steps (see :func:`min_acc_mantissa`).
    """
    n = check_int("Accumulation length", n, minimum=1)
    m_p = check_int("Product mantissa width", m_p, minimum=1)
    chunk = check_int("Chunk size", chunk, minimum=0)
    nzr = check_nzr(nzr)
    if m_max is None:
        m_max = min(_MAX_M_ACC - 1, _settled_width(m_p, max(1, round(nzr * n))) + 2)
    losses = [_loss(m, m_p, n, chunk, nzr) for m in range(1, m_max + 2)]
    return [m for m in range(1, m_max + 1) if losses[m] > losses[m - 1] * (1 + 1e-12)]


def min_acc_mantissa(n, m_p, *, chunk=None, nzr=1.0, cutoff=50.0) -> int:
    """The smallest ``m_acc >= 1`` such that it and every wider accumulator keep ``v < cutoff``.

    ``v = exp(n_eff (1 - VRR))`` with ``n_eff = max(1, round(nzr*n))`` the whole
    length's non-zero terms, and VRR from :func:`vrr_chunked` when chunking
    (docs/model.md).

    The monotone rule matters because the transcribed formula is not monotone
    in ``m_acc``: its partial-swamping term ``sum_j alpha_j q'_j`` charges each
    event a lost variance ``alpha_j`` proportional to ``2^m_acc``, and where the
    event weights ``q'_j`` have not yet fallen (``2^(m_acc-m_p+j-1)`` still near
    ``sqrt(n)``) one more bit raises ``v`` (``v(13) = 1.92 < v(14) = 2.04`` at
    ``n = 100,000``; ``v(16) = 82 < v(17) = 616`` at ``n = 5e6``). A width that
    passes below a failing one is not chosen: a user who widens the accumulator
    must not fail. :func:`monotone_regions` lists the rising steps.

    Parameters
    ----------
    n : int
        Accumulation length.
    m_p : int
        Product fraction bits.
    chunk : int or None
        Chunk size; ``None`` or 0 for none.
    nzr : float
        Non-zero ratio in ``(0, 1]``.
    cutoff : float
        Largest tolerated variance lost (exclusive), greater than 1.

    Returns
    -------
    int

    Raises
    ------
    TypeError, ValueError
    """
    n = check_int("Accumulation length", n, minimum=1)
    m_p = check_int("Product mantissa width", m_p, minimum=1)
    chunk = 0 if chunk is None else check_int("Chunk size", chunk, minimum=0)
    return _min_m(m_p, n, chunk, check_nzr(nzr), check_cutoff(cutoff))


@functools.lru_cache(maxsize=65536)
def _recommend(m_p, n, nzr, cutoff):
    best = None
    root = math.sqrt(n)
    length = 2
    while length < n:
        m = _min_m(m_p, n, length, nzr, cutoff)
        key = (m, abs(length - root), length)
        if best is None or key < best[0]:
            best = (key, length, m)
        length *= 2
    if best is None:
        return 0, _min_m(m_p, n, 0, nzr, cutoff)
    return best[1], best[2]


def recommend_chunk(n, m_p, *, nzr=1.0, cutoff=50.0) -> tuple[int, int]:
    """The chunk size that needs the narrowest accumulator (docs/model.md).

    Among powers of two ``2 <= L < n``, the ``L`` with the smallest
    :func:`min_acc_mantissa`; ties go to the ``L`` nearest ``sqrt(n)`` (by
    ``|L - sqrt(n)|``), then to the smaller.

    Returns
    -------
    (int, int)
        ``(L, m_acc)``; ``(0, m_acc without chunking)`` when ``n < 3`` (no
        candidate ``L`` exists).

    Raises
    ------
    TypeError, ValueError
    """
    n = check_int("Accumulation length", n, minimum=1)
    m_p = check_int("Product mantissa width", m_p, minimum=1)
    return _recommend(m_p, n, check_nzr(nzr), check_cutoff(cutoff))


def product_frac_bits(a_fmt, b_fmt, product_man_bits=None) -> int:
    """``m_p``: ``Ma + Mb + 1`` (exact product) or ``product_man_bits`` (as ``MACConfig``)."""
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    p = check_product_man_bits(product_man_bits, a_fmt.man_bits, b_fmt.man_bits,
                               operands=f"{a_fmt} x {b_fmt}")
    return a_fmt.man_bits + b_fmt.man_bits + 1 if p is None else p


# -- exponent width ----------------------------------------------------------------

def _pow2_ge(a, p, b, q):
    """``a 2^p >= b 2^q`` for positive ints ``a``, ``b`` and any ints ``p``, ``q``."""
    la, lb = a.bit_length() + p, b.bit_length() + q
    if la > lb + 1:
        return True
    if la < lb - 1:
        return False
    if p >= q:
        return (a << (p - q)) >= b
    return a >= (b << (q - p))


def acc_exponent_bits(a_fmt, b_fmt, n, *, man_bits=1) -> int:
    """Smallest accumulator exponent width for ``n``-term dot products (docs/model.md).

    The smallest ``E`` whose format (``man_bits`` fraction bits, the accumulator
    policy :func:`macgen.formats.accumulator_policy` gives the inputs, the bias
    rule) has max finite ``>= n * max|a| * max|b|`` and smallest normal
    ``<= min_normal(a) * min_normal(b)``, on the formats' real ranges (OCP E4M3's
    max is 448, not 480). Bias rule: the IEEE bias ``2^(E-1) - 1`` plus the
    offset ``a_fmt`` has from its own IEEE bias (0 for standard formats).
    Computed exactly on integers and powers of two.

    Parameters
    ----------
    a_fmt, b_fmt : FloatFormat or str
    n : int
        Accumulation length, at least 1.
    man_bits : int
        Accumulator fraction bits (the largest finite value depends on them).

    Raises
    ------
    TypeError, ValueError
        Bad arguments, or no ``E`` with ``1 + E + man_bits <= 64``.
    """
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    n = check_int("Accumulation length", n, minimum=1)
    man_bits = check_int("Accumulator mantissa width", man_bits, minimum=1)
    offset = a_fmt.bias - standard_bias(a_fmt.exp_bits)
    ieee = accumulator_policy(a_fmt, b_fmt) == "ieee"
    # n * max|a| * max|b| = n sig_a sig_b 2^(emax_a - Ma + emax_b - Mb)
    need_sig = n * a_fmt.max_significand * b_fmt.max_significand
    need_exp = a_fmt.emax - a_fmt.man_bits + b_fmt.emax - b_fmt.man_bits
    min_exp = a_fmt.emin + b_fmt.emin
    for e in range(2, 64 - man_bits):
        bias = standard_bias(e) + offset
        top = (1 << e) - 1 - (1 if ieee else 0)
        emax = top - bias
        if 1 - bias > min_exp:
            continue
        if _pow2_ge((1 << (man_bits + 1)) - 1, emax - man_bits, need_sig, need_exp):
            return e
    raise ValueError(f"No accumulator exponent width keeps {n} products of {a_fmt} x {b_fmt} "
                     f"in range with {man_bits} fraction bits in 64 bits")


# -- Monte-Carlo check ----------------------------------------------------------------

def simulate_vrr(m_acc, a_fmt, b_fmt, n, *, chunk=0, trials=1024, seed=0,
                 product_man_bits=None, exp_bits=None, rounding="rne") -> float:
    """Monte-Carlo VRR on the golden model: ``1 - E[(C - S)^2] / Var(S)``.

    ``C`` is :func:`macgen.golden.dot` with an accumulator of ``m_acc`` fraction
    bits (exponent width from :func:`acc_exponent_bits` unless given), ``S`` the
    exact dot product of the same iid quantized-Gaussian inputs; ``Var(S) = n
    sigma_p^2`` is exact. The point estimate of
    :func:`macgen.montecarlo.estimate_loss`, which also gives its confidence
    interval; see :mod:`macgen.montecarlo` for why this, and not
    ``var(C)/var(S)``, is the variance the model says is lost.

    Parameters
    ----------
    m_acc : int
    a_fmt, b_fmt : FloatFormat or str
        Operand formats, at most 16 bits wide.
    n : int
    chunk : int
        Chunk size (0: none).
    trials : int
        Dot products, at least 2.
    seed : int
    product_man_bits, exp_bits : int or None
    rounding : {'rne', 'rtz'}

    Raises
    ------
    TypeError, ValueError, NotImplementedError
    """
    from .montecarlo import estimate_loss
    m_acc = check_int("Accumulator mantissa width", m_acc, minimum=1)
    est = estimate_loss([m_acc], a_fmt, b_fmt, n, chunk=chunk, rounding=rounding, trials=trials,
                        seed=seed, product_man_bits=product_man_bits, exp_bits=exp_bits)
    return est[m_acc].vrr


# -- the one entry point -----------------------------------------------------------------

@dataclass(frozen=True)
class AccumulatorDecision:
    """The accumulator chosen for one accumulation length (docs/model.md).

    Members
    -------
    acc_fmt : FloatFormat
        The accumulator format (``exp_bits``, ``m_acc``).
    chunk_size : int
        0: no chunking.
    m_acc : int
        Accumulator fraction bits chosen.
    m_acc_unchunked : int
        What ``m_acc`` would be without chunking (equal to ``m_acc`` when
        ``chunk_size == 0``).
    exp_bits : int
        Accumulator exponent width (derived or given).
    m_p : int
        Product fraction bits.
    n, n_eff : int
        Accumulation length and its non-zero terms.
    nzr, cutoff : float
    vrr, v : float
        VRR of the choice (analytical or simulated) and its variance lost.
    method : {'analytical', 'simulated'}
    rounding : {'rne', 'rtz'}
        The MAC's rounding (only the simulated method depends on it).
    m_acc_interval : (int, int) or None
        Simulated only: the choice at the two ends of the Monte-Carlo confidence
        interval (equal ends: the interval excludes both neighbours).
    v_interval : (float, float) or None
        Simulated only: the confidence interval of ``v``.
    """

    acc_fmt: FloatFormat
    chunk_size: int
    m_acc: int
    m_acc_unchunked: int
    exp_bits: int
    m_p: int
    n: int
    n_eff: int
    nzr: float
    vrr: float
    v: float
    cutoff: float
    method: str
    rounding: str = "rne"
    m_acc_interval: tuple | None = None
    v_interval: tuple | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict (``acc_fmt`` as its name)."""
        data = asdict(self)
        data["acc_fmt"] = str(self.acc_fmt)
        for key in ("m_acc_interval", "v_interval"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data


def decide_accumulator(n, a_fmt, b_fmt, *, product_man_bits=None, chunk=None, nzr=1.0,
                       cutoff=50.0, method="analytical", exp_bits=None, trials=1024,
                       seed=0, rounding="rne") -> AccumulatorDecision:
    """Choose the accumulator for ``n``-term dot products of ``a_fmt x b_fmt``.

    ``m_p`` is ``Ma + Mb + 1`` or ``product_man_bits`` (``MACConfig.product_frac_bits``).
    The mantissa is the smallest ``m_acc`` with ``v < cutoff`` (docs/model.md, see
    :func:`min_acc_mantissa`), the exponent width :func:`acc_exponent_bits` unless
    ``exp_bits`` is given.

    Parameters
    ----------
    n : int
        Accumulation length.
    a_fmt, b_fmt : FloatFormat or str
    product_man_bits : int or None
    chunk : None, 0, 'auto' or int
        ``None``/0: no chunking; ``'auto'``: :func:`recommend_chunk`; an int: that
        chunk size (a chunk not shorter than ``n`` means no chunking).
    nzr : float
        Non-zero ratio in ``(0, 1]``.
    cutoff : float
        Largest tolerated variance lost (exclusive), greater than 1.
    method : {'analytical', 'simulated'}
        ``'simulated'`` measures the variance lost on the golden model
        (:func:`macgen.montecarlo.simulated_choice`: ``trials`` dot products,
        ``seed``, ``rounding``) and records the choice's confidence interval.
        Sparsity is not simulated: ``nzr`` only scales the loss to ``n_eff``;
        ``chunk='auto'`` is still the analytical :func:`recommend_chunk`.
    exp_bits : int or None
    trials, seed : int
        Monte-Carlo dot products per width and seed (simulated only).
    rounding : {'rne', 'rtz'}
        The MAC's rounding (simulated only; the analytical model has none).

    Returns
    -------
    AccumulatorDecision

    Raises
    ------
    TypeError, ValueError
    """
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    n = check_int("Accumulation length", n, minimum=1)
    m_p = product_frac_bits(a_fmt, b_fmt, product_man_bits)
    pmb = None if m_p == a_fmt.man_bits + b_fmt.man_bits + 1 else m_p
    nzr = check_nzr(nzr)
    cutoff = check_cutoff(cutoff)
    if method not in METHODS:
        raise ValueError(f"Method must be one of {', '.join(METHODS)}, not {method!r}")
    if exp_bits is not None:
        exp_bits = check_int("Exponent width", exp_bits, minimum=2)
    n_eff = max(1, round(nzr * n))

    m_plain = _min_m(m_p, n, 0, nzr, cutoff)
    if chunk is None:
        chunk = 0
    elif isinstance(chunk, str):
        if chunk != "auto":
            raise ValueError(f"Chunk must be None, 'auto' or an integer, not {chunk!r}")
        chunk, _ = _recommend(m_p, n, nzr, cutoff)
    else:
        chunk = check_int("Chunk size", chunk, minimum=0)
    if chunk >= n:
        chunk = 0
    m_acc = _min_m(m_p, n, chunk, nzr, cutoff) if chunk else m_plain
    r = _vrr_chunked(m_acc, m_p, n, chunk, nzr)

    rounding = check_rounding(rounding)
    m_interval = v_interval = None
    if method == "simulated":
        from .montecarlo import simulated_choice
        trials = check_int("Trial count", trials, minimum=2)
        opts = dict(rounding=rounding, cutoff=cutoff, trials=trials, seed=seed,
                    product_man_bits=pmb, exp_bits=exp_bits, nzr=nzr)
        sim = simulated_choice(a_fmt, b_fmt, n, chunk=chunk, start=m_acc, **opts)
        m_acc, r = sim.m_acc, sim.chosen.vrr
        m_interval = (sim.m_lo, sim.m_hi)
        v_interval = (variance_lost(sim.chosen.vrr_hi, n_eff), variance_lost(sim.chosen.vrr_lo, n_eff))
        if chunk:
            m_plain = simulated_choice(a_fmt, b_fmt, n, chunk=0, start=m_plain, **opts).m_acc
        else:
            m_plain = m_acc

    e = exp_bits if exp_bits is not None else acc_exponent_bits(a_fmt, b_fmt, n, man_bits=m_acc)
    acc_fmt = accumulator_format(a_fmt, b_fmt, e, m_acc)
    return AccumulatorDecision(acc_fmt=acc_fmt, chunk_size=chunk, m_acc=m_acc,
                               m_acc_unchunked=m_plain, exp_bits=e, m_p=m_p, n=n, n_eff=n_eff,
                               nzr=nzr, vrr=r, v=variance_lost(r, n_eff), cutoff=cutoff,
                               method=method, rounding=rounding, m_acc_interval=m_interval,
                               v_interval=v_interval)


def decide_shared(lengths, a_fmt, b_fmt, *, product_man_bits=None, chunk=None, nzr=1.0,
                  cutoff=50.0, method="analytical", exp_bits=None, trials=1024,
                  seed=0, rounding="rne") -> AccumulatorDecision:
    """One accumulator for dot products of several lengths (one shared MAC array).

    The chunk size is the one :func:`decide_accumulator` picks for the longest
    length (``'auto'``: :func:`recommend_chunk` there); with it, ``m_acc`` is the
    largest that any length needs (a length not longer than the chunk is not
    chunked), ``m_acc_unchunked`` the largest without chunking, and the exponent
    width the one for the longest length (or ``exp_bits``). ``n``, ``vrr`` and
    ``v`` describe the longest length with the chosen widths.

    Parameters
    ----------
    lengths : iterable of int
        Accumulation lengths, at least one.
    a_fmt, b_fmt, product_man_bits, chunk, nzr, cutoff, method, exp_bits, trials, seed, rounding
        As for :func:`decide_accumulator`.

    Returns
    -------
    AccumulatorDecision

    Raises
    ------
    TypeError, ValueError
    """
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__iter__"):
        raise TypeError(f"Lengths must be an iterable of integers, not {lengths!r}")
    lengths = sorted({check_int("Accumulation length", n, minimum=1) for n in lengths})
    if not lengths:
        raise ValueError("Lengths must name at least one accumulation length")
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    opts = dict(product_man_bits=product_man_bits, nzr=nzr, cutoff=cutoff, method=method,
                exp_bits=exp_bits, trials=trials, seed=seed, rounding=rounding)
    n_max = lengths[-1]
    top = decide_accumulator(n_max, a_fmt, b_fmt, chunk=chunk, **opts)
    L = top.chunk_size
    decisions = [top] + [decide_accumulator(n, a_fmt, b_fmt, chunk=L if L < n else 0, **opts)
                         for n in lengths[:-1]]
    m_acc = max(d.m_acc for d in decisions)
    m_plain = max(d.m_acc_unchunked for d in decisions)
    e = top.exp_bits if exp_bits is not None else acc_exponent_bits(a_fmt, b_fmt, n_max,
                                                                    man_bits=m_acc)
    if m_acc == top.m_acc:
        r = top.vrr
    elif method == "simulated":
        r = simulate_vrr(m_acc, a_fmt, b_fmt, n_max, chunk=L, trials=trials, seed=seed,
                         product_man_bits=None if top.m_p == a_fmt.man_bits + b_fmt.man_bits + 1
                         else top.m_p, exp_bits=e, rounding=rounding)
    else:
        r = _vrr_chunked(m_acc, top.m_p, n_max, L, top.nzr)
    return AccumulatorDecision(acc_fmt=accumulator_format(a_fmt, b_fmt, e, m_acc), chunk_size=L,
                               m_acc=m_acc, m_acc_unchunked=m_plain, exp_bits=e, m_p=top.m_p,
                               n=n_max, n_eff=top.n_eff, nzr=top.nzr, vrr=r,
                               v=variance_lost(r, top.n_eff), cutoff=top.cutoff, method=method,
                               rounding=rounding)


@dataclass(frozen=True)
class WorkloadPlan:
    """The model's accumulators for a workload's dot products (:func:`plan_workload`).

    Members
    -------
    rows : list of dict
        One per item, in order: ``layer``, ``gemm``, ``length`` and ``decision``
        (:class:`AccumulatorDecision` for that length alone).
    by_gemm : dict
        GEMM name to its lengths, in item order.
    shared : dict
        GEMM name to the accumulator of one MAC array serving all its lengths
        (:func:`decide_shared`).
    overall : AccumulatorDecision
        One MAC array for every length (``shared``'s only entry when there is one GEMM).
    """

    rows: list
    by_gemm: dict
    shared: dict
    overall: AccumulatorDecision

    def row_dicts(self) -> list:
        """``rows`` with each decision as :meth:`AccumulatorDecision.to_dict` gives it."""
        return [{**r, "decision": r["decision"].to_dict()} for r in self.rows]


def plan_workload(items, a_fmt, b_fmt, *, chunk=None, method="analytical", shared=True,
                  progress=None, **model) -> WorkloadPlan:
    """Decide the accumulator of every dot product of a workload, per GEMM and overall.

    The one planning rule of ``macgen plan`` and ``macgen flow``.

    Parameters
    ----------
    items : iterable of (str, str, int)
        ``(layer, gemm, length)``, e.g. :meth:`macgen.workloads.Workload.lengths`.
    a_fmt, b_fmt, chunk, method
        As for :func:`decide_accumulator`; ``chunk`` applies to every row and every
        shared decision (``'auto'``: each picks its own).
    shared : bool
        Also decide ``shared`` and ``overall`` (False: rows only, both left empty/None).
    progress : callable or None
        Called with one line of text before each simulated decision (``method='simulated'``).
    **model
        ``product_man_bits``, ``nzr``, ``cutoff``, ``exp_bits``, ``trials``, ``seed``,
        ``rounding``, as for :func:`decide_accumulator`.

    Returns
    -------
    WorkloadPlan

    Raises
    ------
    TypeError, ValueError
    """
    items = [(layer, gemm, check_int("Accumulation length", n, minimum=1)) for layer, gemm, n in items]
    if not items:
        raise ValueError("A workload plan needs at least one (layer, gemm, length) item")
    simulated = method == "simulated"
    decided, rows, by_gemm = {}, [], {}
    for layer, gemm, n in items:
        if n not in decided:
            if simulated and progress is not None:
                progress(f"simulating length {n}" + (f", chunk {chunk}" if chunk else "") + " ...")
            decided[n] = decide_accumulator(n, a_fmt, b_fmt, chunk=chunk, method=method, **model)
        rows.append({"layer": layer, "gemm": gemm, "length": n, "decision": decided[n]})
        by_gemm.setdefault(gemm, []).append(n)
    if not shared:
        return WorkloadPlan(rows=rows, by_gemm=by_gemm, shared={}, overall=None)

    def one(lengths):
        if simulated and progress is not None:
            progress(f"simulating the shared accumulator for {len(set(lengths))} lengths ...")
        return decide_shared(lengths, a_fmt, b_fmt, chunk=chunk, method=method, **model)

    per_gemm = {g: one(ns) for g, ns in by_gemm.items()}
    overall = next(iter(per_gemm.values())) if len(per_gemm) == 1 else one([n for _, _, n in items])
    return WorkloadPlan(rows=rows, by_gemm=by_gemm, shared=per_gemm, overall=overall)


def one_minus_vrr(vrr: float) -> str:
    """``1 - VRR`` as reports print it, in scientific notation: VRR itself prints as 1.000000
    for long GEMMs, where the variance lost ``v = exp(n (1 - VRR))`` still differs."""
    return f"{1.0 - vrr:.3e}"
