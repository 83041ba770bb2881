"""The accumulation-precision model: variance retention ratio and accumulator widths.

No Amaranth here. This module sizes the accumulator of a low-precision MAC after
Sakr et al., "Accumulation Bit-Width Scaling for Ultra-Low Precision Training of
Deep Networks" (ICLR 2019, arXiv 1901.06588), SPEC §3.

Provenance of the formula
-------------------------
The paper's full text was not available to this project. :func:`vrr` implements
SPEC §3 exactly, which is the public transcription of the paper's Theorem 1 in the
author-adjacent code ``yanivbl6/convNet.pytorch`` (``models/modules/conv2d_nn.py``).
SPEC §3's reference values (``m_p = 5``, ``n = 1024``) are reproduced to 1e-12.

Notation: ``n`` accumulation length, ``m_p`` product fraction bits, ``m_acc``
accumulator fraction bits, ``Q(x) = erfc(x/sqrt(2))/2``::

    q_i   = 2Q(2^m_acc/sqrt(i)) (1 - 2Q(2^m_acc/sqrt(i-1)))                   i = 2..n-1
    a_j   = (2^(m_acc-3m_p)/3) sum_{t=1}^{j-1} 2^t (2^t-1) (2^(t+1)-1),  a = a_{m_p+1}
    q'_j  = 2^(m_acc-m_p+j) 2Q(2^(m_acc-m_p+j-1)/sqrt(n)) (1 - 2Q(2^(m_acc-m_p+j)/sqrt(n)))
    k1    = sum_{i>a} q_i,  k2 = sum_{j: n>a_j} q'_j,  k3 = 1 - 2Q(2^(m_acc-m_p+1)/sqrt(n))
    VRR   = [sum_{i>a} (i-a) q_i + sum_j max(n-a_j, 0) q'_j + n k3] / [n (k1+k2+k3)]

The variance lost is ``v = exp(n_eff (1 - VRR))``; the chosen mantissa is the
smallest ``m_acc >= 1`` with ``v < cutoff`` (50 by default).

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
from .formats import FloatFormat, accumulator_format, accumulator_policy, check_format, standard_bias
from .validate import check_int, check_real

__all__ = [
    "vrr", "vrr_chunked", "variance_lost", "min_acc_mantissa", "recommend_chunk",
    "acc_exponent_bits", "simulate_vrr", "decide_accumulator", "decide_shared", "parse_chunk",
    "AccumulatorDecision",
    "product_frac_bits", "effective_length", "METHODS", "check_nzr", "check_cutoff",
]

METHODS = ("analytical", "simulated")

_SQRT_PI = math.sqrt(math.pi)
_BLOCK = 1 << 20            # elements per vectorised block of the q_i sum
_MAX_M_ACC = 62             # 1 + E + M <= 64 caps every accumulator mantissa
_DIP_MARGIN = 10.0          # see _min_m


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


def _alpha(m_acc, m_p, j):
    """``(alpha_j as float, floor(alpha_j) as int)``; ``alpha_j = S_j 2^(m_acc-3m_p) / 3``."""
    s = _alpha_sums(m_p)[j]
    exact = Fraction(s) * Fraction(2) ** (m_acc - 3 * m_p) / 3
    return float(exact), math.floor(exact)


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
    k1 = 0.0
    num1 = 0.0
    scale = math.ldexp(1.0, m_acc) / math.sqrt(2.0)
    for lo in range(start, stop + 1, _BLOCK):
        hi = min(lo + _BLOCK - 1, stop)
        k = np.arange(lo - 1, hi + 1, dtype=np.float64)  # i-1 .. i
        erfc, erf = _erfc_erf(scale / np.sqrt(np.maximum(k, 1.0)))
        q = erfc[1:] * erf[:-1]
        i = k[1:]
        k1 += float(q.sum())
        num1 += float(((i - alpha) * q).sum())
    return (num1 + num) / (n * (k1 + k2 + k3))


def vrr(m_acc, m_p, n) -> float:
    """Variance retention ratio of an ``n``-term sum (SPEC §3, Sakr et al.'s Theorem 1).

    The accumulator keeps ``m_acc`` fraction bits and every product ``m_p``. The
    formula is the public transcription of the paper's Theorem 1 in
    ``yanivbl6/convNet.pytorch`` (``models/modules/conv2d_nn.py``), implemented
    exactly as SPEC §3 states it; see the module docstring.

    The sum over ``i`` is vectorised, and terms whose factor ``2Q(2^m_acc/sqrt(i))``
    is too small to change the result by 1e-18 (relative) are skipped, so lengths
    of several million take milliseconds near the useful ``m_acc``. Results are
    cached.

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
    """Non-zero terms of a length-``n`` sum: ``max(1, round(nzr * n))`` (SPEC §3)."""
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
    """VRR of chunk-based accumulation (SPEC §3).

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


@functools.lru_cache(maxsize=65536)
def _min_m(m_p, n, chunk, nzr, cutoff):
    # v mostly falls as m_acc grows, so search from a guess near the answer
    # instead of from 1: the expensive evaluations are those with small m_acc and
    # large n. SPEC §3's VRR is not strictly monotone in m_acc, though (the q'_j
    # terms make it dip, by up to ~1e-5, at some lengths), so once a passing
    # width is found the three widths below it are checked as well.
    n_eff = max(1, round(nzr * n))
    m = max(1, min(_MAX_M_ACC, (n_eff - 1).bit_length() // 2 + 2))
    if _passes(m, m_p, n, chunk, nzr, cutoff):
        while m > 1 and _passes(m - 1, m_p, n, chunk, nzr, cutoff):
            m -= 1
    else:
        while True:
            if m >= _MAX_M_ACC:
                raise ValueError(f"No accumulator mantissa up to {_MAX_M_ACC} bits keeps the "
                                 f"variance lost below {cutoff} for length {n}")
            m += 1
            if _passes(m, m_p, n, chunk, nzr, cutoff):
                break
    while m > 2:
        # m - 1 fails. A dip of SPEC §3's VRR could let m - 2 or m - 3 pass, but the
        # dips seen cost at most ~1.4 in n_eff (1 - VRR); skip the (expensive) check
        # when m - 1 misses the cutoff by more than 10 in that exponent.
        miss = n_eff * (1.0 - _vrr_chunked(m - 1, m_p, n, chunk, nzr)) - math.log(cutoff)
        if miss > _DIP_MARGIN:
            return m
        lower = [k for k in range(max(1, m - 3), m - 1) if _passes(k, m_p, n, chunk, nzr, cutoff)]
        if not lower:
            return m
        m = lower[0]
    return m


def min_acc_mantissa(n, m_p, *, chunk=None, nzr=1.0, cutoff=50.0) -> int:
    """The smallest ``m_acc >= 1`` with variance lost ``v < cutoff`` (SPEC §3).

    ``v = exp(n_eff (1 - VRR))`` with ``n_eff = max(1, round(nzr*n))`` the whole
    length's non-zero terms, and VRR from :func:`vrr_chunked` when chunking.

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
    """The chunk size that needs the narrowest accumulator (SPEC §3).

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
    """Smallest accumulator exponent width for ``n``-term dot products (SPEC §3).

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

def _exact_products_ok(a_fmt, b_fmt):
    # a*b of decoded float64s is exact when both significands fit in 53 bits
    # together and the product's exponent stays within float64's normal range.
    return (a_fmt.man_bits + b_fmt.man_bits + 2 <= 53
            and a_fmt.emin - a_fmt.man_bits + b_fmt.emin - b_fmt.man_bits >= -1022
            and a_fmt.emax + b_fmt.emax + 2 <= 1023)


def _sim_data(a_fmt, b_fmt, n, trials, seed):
    rng = np.random.default_rng(seed)
    a = a_fmt.encode(rng.standard_normal((trials, n)))
    b = b_fmt.encode(rng.standard_normal((trials, n)))
    prods = a_fmt.decode(a) * b_fmt.decode(b)
    exact = np.array([math.fsum(row) for row in prods])  # exact sum, rounded once
    return a, b, exact


@functools.lru_cache(maxsize=64)
def _sim_data_cached(a_fmt, b_fmt, n, trials, seed):
    return _sim_data(a_fmt, b_fmt, n, trials, seed)


def simulate_vrr(m_acc, a_fmt, b_fmt, n, *, chunk=0, trials=256, seed=0,
                 product_man_bits=None, exp_bits=None, rounding="rne") -> float:
    """Monte-Carlo VRR: ``var(computed) / var(exact)`` over ``trials`` dot products.

    Inputs are standard Gaussian samples quantized (RNE) to ``a_fmt``/``b_fmt``.
    ``computed`` is the golden model's :func:`macgen.golden.dot` with an
    accumulator of ``m_acc`` fraction bits (exponent width from
    :func:`acc_exponent_bits` unless given) and chunk size ``chunk``; ``exact`` is
    the exact dot product of the quantized inputs, rounded once to float64
    (``math.fsum`` of exact float64 products). The trials are the batch axis of
    one ``dot`` call. The same ``seed`` gives the same data for every ``m_acc``
    (common random numbers), so choices over ``m_acc`` are not blurred by noise.

    Parameters
    ----------
    m_acc : int
        Accumulator fraction bits.
    a_fmt, b_fmt : FloatFormat or str
    n : int
        Dot-product length.
    chunk : int
        Chunk size (0: none).
    trials : int
        Number of dot products, at least 2.
    seed : int
        Seed of ``numpy.random.default_rng``.
    product_man_bits, exp_bits : int or None
        Product rounding and accumulator exponent width (default: derived).
    rounding : {'rne', 'rtz'}

    Raises
    ------
    TypeError, ValueError
    NotImplementedError
        Formats whose products are not exact in float64.
    """
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    m_acc = check_int("Accumulator mantissa width", m_acc, minimum=1)
    n = check_int("Accumulation length", n, minimum=1)
    chunk = check_int("Chunk size", chunk, minimum=0)
    trials = check_int("Trial count", trials, minimum=2)
    seed = check_int("Seed", seed)
    if product_man_bits is not None:
        product_man_bits = check_int("product_man_bits", product_man_bits)
    if exp_bits is not None:
        exp_bits = check_int("Exponent width", exp_bits, minimum=2)
    return _simulate(m_acc, a_fmt, b_fmt, n, chunk if 0 < chunk < n else 0, trials, seed,
                     product_man_bits, exp_bits, rounding)


@functools.lru_cache(maxsize=4096)
def _simulate(m_acc, a_fmt, b_fmt, n, chunk, trials, seed, product_man_bits, exp_bits, rounding):
    from . import golden
    from .config import MACConfig

    if not _exact_products_ok(a_fmt, b_fmt):
        raise NotImplementedError(f"Simulation supports formats whose products are exact in "
                                  f"float64; {a_fmt} x {b_fmt} is not")
    if exp_bits is None:
        exp_bits = acc_exponent_bits(a_fmt, b_fmt, n, man_bits=m_acc)
    acc = accumulator_format(a_fmt, b_fmt, exp_bits, m_acc)
    cfg = MACConfig(a_fmt, b_fmt, acc, rounding=rounding, product_man_bits=product_man_bits,
                    chunk_size=chunk)
    a, b, exact = _sim_data_cached(a_fmt, b_fmt, n, trials, seed)
    computed = cfg.out_fmt.decode(golden.dot(cfg, a, b))
    var_exact = float(np.var(exact))
    if var_exact == 0.0:
        return 1.0
    return float(np.var(computed)) / var_exact


def _min_m_simulated(a_fmt, b_fmt, n, chunk, nzr, cutoff, m_p, pmb, exp_bits, trials, seed,
                     start):
    n_eff = max(1, round(nzr * n))
    m = max(1, start)
    while m <= _MAX_M_ACC:
        e = exp_bits if exp_bits is not None else acc_exponent_bits(a_fmt, b_fmt, n, man_bits=m)
        if 1 + e + m > 64:
            break
        r = simulate_vrr(m, a_fmt, b_fmt, n, chunk=chunk, trials=trials, seed=seed,
                         product_man_bits=pmb, exp_bits=e)
        if variance_lost(r, n_eff) < cutoff:
            return m, r
        m += 1
    raise ValueError(f"No accumulator mantissa keeps the simulated variance lost below {cutoff} "
                     f"for length {n}")


# -- the one entry point -----------------------------------------------------------------

@dataclass(frozen=True)
class AccumulatorDecision:
    """The accumulator chosen for one accumulation length (SPEC §3).

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

    def to_dict(self) -> dict:
        """JSON-ready dict (``acc_fmt`` as its name)."""
        data = asdict(self)
        data["acc_fmt"] = str(self.acc_fmt)
        return data


def decide_accumulator(n, a_fmt, b_fmt, *, product_man_bits=None, chunk=None, nzr=1.0,
                       cutoff=50.0, method="analytical", exp_bits=None, trials=256,
                       seed=0) -> AccumulatorDecision:
    """Choose the accumulator for ``n``-term dot products of ``a_fmt x b_fmt``.

    ``m_p`` is ``Ma + Mb + 1`` or ``product_man_bits`` (``MACConfig.product_frac_bits``).
    The mantissa is the smallest ``m_acc`` with ``v < cutoff`` (SPEC §3, see
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
        ``'simulated'`` measures VRR with :func:`simulate_vrr` (``trials``,
        ``seed``) and scans ``m_acc`` upward from three bits below the
        analytical choice. Sparsity is not simulated: ``nzr`` only enters ``v``;
        ``chunk='auto'`` is still the analytical :func:`recommend_chunk`. With
        RNE, var(computed)/var(exact) falls below 1 only under heavy swamping
        (rounding noise adds variance), so the simulated choice tends to sit one
        or two bits below the analytical one, and with a few hundred trials its
        noise (~1e-2) is far above the ``1 - VRR ~ 4/n`` the cutoff resolves.
    exp_bits : int or None

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

    if method == "simulated":
        trials = check_int("Trial count", trials, minimum=2)
        m_acc, r = _min_m_simulated(a_fmt, b_fmt, n, chunk, nzr, cutoff, m_p, pmb, exp_bits,
                                    trials, seed, m_acc - 3)
        if chunk:
            m_plain, _ = _min_m_simulated(a_fmt, b_fmt, n, 0, nzr, cutoff, m_p, pmb, exp_bits,
                                          trials, seed, m_plain - 3)
        else:
            m_plain = m_acc

    e = exp_bits if exp_bits is not None else acc_exponent_bits(a_fmt, b_fmt, n, man_bits=m_acc)
    acc_fmt = accumulator_format(a_fmt, b_fmt, e, m_acc)
    return AccumulatorDecision(acc_fmt=acc_fmt, chunk_size=chunk, m_acc=m_acc,
                               m_acc_unchunked=m_plain, exp_bits=e, m_p=m_p, n=n, n_eff=n_eff,
                               nzr=nzr, vrr=r, v=variance_lost(r, n_eff), cutoff=cutoff,
                               method=method)


def decide_shared(lengths, a_fmt, b_fmt, *, product_man_bits=None, chunk=None, nzr=1.0,
                  cutoff=50.0, method="analytical", exp_bits=None, trials=256,
                  seed=0) -> AccumulatorDecision:
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
    a_fmt, b_fmt, product_man_bits, chunk, nzr, cutoff, method, exp_bits, trials, seed
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
                exp_bits=exp_bits, trials=trials, seed=seed)
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
                         else top.m_p, exp_bits=e)
    else:
        r = _vrr_chunked(m_acc, top.m_p, n_max, L, top.nzr)
    return AccumulatorDecision(acc_fmt=accumulator_format(a_fmt, b_fmt, e, m_acc), chunk_size=L,
                               m_acc=m_acc, m_acc_unchunked=m_plain, exp_bits=e, m_p=top.m_p,
                               n=n_max, n_eff=top.n_eff, nzr=top.nzr, vrr=r,
                               v=variance_lost(r, top.n_eff), cutoff=top.cutoff, method=method)
