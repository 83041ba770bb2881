"""Bit-exact golden model of macgen's MAC arithmetic (docs/arithmetic.md §2–4), in NumPy.

No Amaranth here, and no floating-point shortcuts: every value is handled as an
exact ``(sign, significand, exponent)`` triple of integers, every sum is formed
exactly (or, where one addend lies far below the other, with a sticky bit that
provably does not change the rounding), and every result is rounded once by
:func:`macgen.formats.round_pack`.

All bit patterns are ``numpy.uint64`` arrays; scalars are accepted and give
0-d arrays.

Semantics (docs/arithmetic.md §2–4), shared by every function here:

* Rounding ``rne`` (nearest, ties to even) or ``rtz`` (toward zero), with
  subnormals or flush-to-zero (``ftz`` inputs read as zero of the same sign;
  results below the smallest normal after unbounded-exponent rounding flush to
  zero with the sign of the exact value).
* Overflow: ieee+rne → ±inf; nan-only+rne → NaN; rtz → ±max finite; finite
  formats saturate.
* The product ``a*b`` is exact (sign ``sa xor sb``, even for zeros), or rounded
  by the MAC's mode to ``product_man_bits`` fraction bits with an unbounded
  exponent.
* ``acc + p`` exactly zero: two zeros of the same sign keep it, else +0. A
  non-zero sum that rounds to zero keeps its own sign.
* Any NaN operand, ``inf * 0`` or ``inf - inf`` gives the canonical NaN of the
  format written (:attr:`FloatFormat.nan_bits`: ieee sign 0, exponent all ones,
  fraction ``1 << (M-1)``; nan-only sign 0, all ones); otherwise an infinite
  operand gives the infinity.
* Formats of different special-value policies mix as docs/arithmetic.md §2–4 allows
  (:func:`macgen.formats.check_feeds`, enforced by :class:`MACConfig`): e.g. OCP
  E4M3 (nan-only) operands into an ieee fp32 accumulator.

Implementation
--------------
The common path keeps every significand in ``uint64``: the larger addend is
placed with its leading bit at bit 60, the smaller one is shifted to match and,
where bits fall off, *jammed* (its lowest bit ORed with "something was lost").
The sum is then exact except for that jam bit, which lies at least two bits
below the rounding point, so the single rounding is correct. This path covers
every configuration whose significands (product included) have at most 60 bits
and whose result formats have at most 57 fraction bits -- everything up to
fp32 x fp32 products. Wider configurations add on Python integers, with
:func:`macgen.golden_reference.add` per element. Operand exponents are clamped into a window just outside the result
format's range before any arithmetic (a value far above overflows either way, a
value far below only acts as a sticky bit), so no exponent sum overflows int64
for any valid format.

Backends
--------
:func:`dot` and :func:`matmul` compute the same bits by one of four backends
(:func:`backends` lists those that apply to a configuration; ``backend=``
forces one, by default :func:`choose_backend` takes the fastest whose
exactness argument covers the configuration):

* ``'reference'`` -- :mod:`macgen.golden_reference`: the rules written for
  reading, one value at a time on Python integers. The definition the others
  are tested against (``tests/test_golden.py``), and the adder of the
  configurations too wide for the uint64 path.
* ``'numba'`` -- the compiled kernel (:mod:`macgen.golden_kernel`; dot products
  of at least ``_KERNEL_MIN_MACS`` MACs, on both cores): one pass per MAC over
  decoded operands, never a broadcast copy. Its *narrow* path (accumulators up
  to about 28 fraction bits: e5m2/E4M3/fp16/bf16 operands into e6m9 .. fp32)
  keeps values as integers with their leading one at a fixed bit and shifts the
  smaller addend by at most ``D`` bits (:func:`narrow_window`, which proves it
  exact); its *general* path (e.g. fp32 x fp32) is the jammed uint64 sum above.
  Anything unusual in a step (specials, zero sums, subnormal, flushed or
  overflowing results) is redone by the kernel's straightforward exact adder.
  ``matmul`` runs its own loop in which a row of lanes shares A's operand. Not
  for products wider than 64 bits, result formats over 57 fraction bits or
  exponents beyond +-2^40.
* ``'table'`` -- NumPy, in tiles of ``_NUMPY_TILE_ROWS`` result rows, when each
  step's exact sum fits 52 bits (:class:`_NarrowAdder`): accumulator codes are
  decoded by table look-up (up to 16 bits wide) or arithmetically, products
  come from a table of all operand pairs when both operands together are at
  most 16 bits wide (else they are computed exactly per block of steps), and
  each step is a short sequence of whole-array operations on float values that
  are exact integers (the class docstring says why the float sum is exact).
* ``'generic'`` -- NumPy, one whole-array exact addition (the uint64 path
  above, or the reference's on Python integers) per step; any configuration.

``MACGEN_GOLDEN=numpy|numba|auto`` (default ``auto``) overrides the automatic
choice between the kernel and the NumPy paths, e.g. to time the fallback.

Operand codes are checked: integers from 0 to ``2**width - 1`` (``ValueError``
otherwise, ``TypeError`` for non-integers).
"""

from __future__ import annotations

import math
import os

import numpy as np

from . import golden_reference as reference
from .config import MACConfig
from .formats import FloatFormat, bit_length, check_feeds, check_rounding, round_pack

__all__ = ["mac", "dot", "matmul", "fma", "add", "convert", "describe", "mismatch_report",
           "backends", "choose_backend", "BACKENDS"]

_U64 = np.uint64
_I64 = np.int64
_TOP = 60          # bit position of the larger addend's leading one
_MAX_SIG = 60      # widest significand (bits) of the uint64 path
_MAX_MAN = 57      # widest result fraction of the uint64 path (jam bit 2 below rounding)
_MARGIN = 4        # clamp window beyond a format's range (see _clamp_window)


# -- small helpers -------------------------------------------------------------

def _bits(x):
    """Bit patterns as uint64 (no copy when they already are)."""
    x = np.asarray(x)
    return x if x.dtype == _U64 else x.astype(_U64)


def _check_fmt(fmt, name="Format"):
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{name} must be a FloatFormat, not {fmt!r}")
    return fmt


class _Val:
    """An unpacked value: ``(-1)^sign * sig * 2^exp`` plus NaN/inf masks."""

    __slots__ = ("sign", "sig", "exp", "nan", "inf")

    def __init__(self, sign, sig, exp, nan, inf):
        self.sign, self.sig, self.exp, self.nan, self.inf = sign, sig, exp, nan, inf

    def take(self, idx):
        return _Val(*(a[idx] for a in (self.sign, self.sig, self.exp, self.nan, self.inf)))


def _unpack(fmt, bits):
    bits = _bits(bits)
    sign, sig, exp = fmt.unpack(bits)
    nan = fmt.is_nan(bits)
    inf = fmt.is_inf(bits)
    special = nan | inf
    if fmt.has_nan:
        sig = np.where(special, _U64(0), sig)
        exp = np.where(special, _I64(0), exp)
    return _Val(sign, sig, exp, nan, inf)


def _sat_add(x, y):
    """int64 x + y, saturating (only reached by absurd custom biases)."""
    s = x + y
    over = ((x ^ s) & (y ^ s)) < 0
    if over.any():
        s = np.where(over, np.where(x < 0, np.iinfo(np.int64).min, np.iinfo(np.int64).max), s)
    return s


def _clamp_window(fmt, sig, exp):
    """Clamp exponents so the value's leading bit lies in [emin-M-4, emax+4].

    Valid when the value is added to one of ``fmt`` (or to zero) and the sum is
    rounded into ``fmt``: above ``emax+2`` the sum overflows with this value's
    sign either way; below ``emin-M-3`` the value is under a quarter of the
    other addend's last place (or of the smallest subnormal), so only its sign
    and non-zeroness matter.
    """
    length = bit_length(sig)
    lo = fmt.emin - fmt.man_bits - _MARGIN
    hi = fmt.emax + _MARGIN
    e = np.clip(exp, _I64(lo - 64), _I64(hi))
    top = e + length - 1
    return np.where(length > 0, e + (np.clip(top, lo, hi) - top), _I64(0))


# -- products -------------------------------------------------------------------

def _round_sig(sig, exp, nbits, rounding):
    """Round ``sig * 2^exp`` to ``nbits`` significant bits, exponent unbounded."""
    length = bit_length(sig)
    shift = np.maximum(length - nbits, 0)
    right = shift.astype(_U64)
    kept = sig >> right
    if rounding == "rne":
        half_pos = np.maximum(right, _U64(1)) - _U64(1)
        rem = sig & ((_U64(1) << right) - _U64(1))
        half = _U64(1) << half_pos
        up = (shift > 0) & ((rem > half) | ((rem == half) & ((kept & _U64(1)) == 1)))
        kept = kept + up.astype(_U64)
    carry = (kept >> _U64(nbits)) != 0
    kept = np.where(carry, kept >> _U64(1), kept)
    return kept, exp + shift + carry


def _product(a_fmt, b_fmt, a, b, product_man_bits=None, rounding="rne"):
    """The product of two encoded operands as a :class:`_Val` (exact or rounded)."""
    x = _unpack(a_fmt, a)
    y = _unpack(b_fmt, b)
    sign = x.sign ^ y.sign
    xzero = (x.sig == 0) & ~x.inf & ~x.nan
    yzero = (y.sig == 0) & ~y.inf & ~y.nan
    nan = x.nan | y.nan | (x.inf & yzero) | (y.inf & xzero)
    inf = (x.inf | y.inf) & ~nan
    exp = _sat_add(x.exp, y.exp)
    if a_fmt.man_bits + b_fmt.man_bits + 2 <= 64:
        sig = x.sig * y.sig
        if product_man_bits is not None:
            sig, exp = _round_sig(sig, exp, product_man_bits + 1, rounding)
    else:  # exact product wider than 64 bits: Python integers
        sig, exp = _wide_product(x.sig, y.sig, exp, product_man_bits, rounding)
    return _Val(sign, sig, exp, nan, inf)


def _wide_product(xs, ys, exp, product_man_bits, rounding):
    """Products wider than 64 bits, on Python integers (rounded by :mod:`golden_reference`)."""
    shape = np.broadcast(xs, ys).shape
    xs, ys, exp = (np.broadcast_to(v, shape).ravel() for v in (xs, ys, exp))
    out = np.empty(len(xs), dtype=object)
    out_exp = exp.astype(object)
    for i in range(len(xs)):
        p = int(xs[i]) * int(ys[i])
        e = int(exp[i])
        if product_man_bits is not None and p:
            p, e = reference.round_significand(p, e, product_man_bits + 1, rounding)
        out[i] = p
        out_exp[i] = e
    if product_man_bits is not None and product_man_bits < 64:
        # Rounded to at most 64 significant bits: back to the uint64 arrays the adders take
        # (the uint64 adder, chosen for products of at most 60 bits, cannot read Python objects).
        return out.astype(_U64).reshape(shape), out_exp.astype(_I64).reshape(shape)
    return out.reshape(shape), out_exp.reshape(shape)


# -- the adder ------------------------------------------------------------------

def _fits_uint64(fmt, *vals_bits):
    return fmt.man_bits <= _MAX_MAN and all(b <= _MAX_SIG for b in vals_bits)


def _add_finite(fmt, rounding, xs, xsig, xexp, ys, ysig, yexp):
    """round_fmt(x + y) for finite x, y with at most 60-bit significands (uint64 path)."""
    lx = bit_length(xsig)
    ly = bit_length(ysig)
    xexp = _clamp_window(fmt, xsig, xexp)
    yexp = _clamp_window(fmt, ysig, yexp)
    tx = xexp + lx
    ty = yexp + ly
    swap = ((ty > tx) & (ly > 0)) | (lx == 0)
    bs = np.where(swap, ys, xs)
    ss = np.where(swap, xs, ys)
    bsig = np.where(swap, ysig, xsig)
    ssig = np.where(swap, xsig, ysig)
    lb = np.where(swap, ly, lx)
    ls = np.where(swap, lx, ly)
    tb = np.where(swap, ty, tx)
    ts = np.where(swap, tx, ty)
    big = bsig << (_TOP + 1 - lb).astype(_U64)      # lb == 0 only if both are zero
    pos = (_TOP + 1) - ls - np.where(ls > 0, tb - ts, 0)   # left shift of the small one
    left = np.clip(pos, 0, 63).astype(_U64)
    right = np.clip(-pos, 0, 63).astype(_U64)
    lost = (ssig & ((_U64(1) << right) - _U64(1))) != 0
    small = np.where(pos >= 0, ssig << left, (ssig >> right) | lost.astype(_U64))
    total = np.where(bs == ss, big + small, big - small).view(_I64)
    neg = total < 0
    mag = np.abs(total).astype(_U64)
    sign = bs ^ neg.astype(_U64)
    sign = np.where(mag == 0, xs & ys, sign)
    return round_pack(fmt, sign, mag, tb - (_TOP + 1), rounding=rounding)


def _add_wide(fmt, rounding, xs, xsig, xexp, ys, ysig, yexp):
    """round_fmt(x + y) of finite values too wide for uint64: :func:`golden_reference.add`, per element."""
    shape = np.broadcast(xs, xsig, xexp, ys, ysig, yexp).shape
    arrs = [np.broadcast_to(np.asarray(v), shape).ravel() for v in (xs, xsig, xexp, ys, ysig, yexp)]
    out = np.empty(arrs[0].shape, dtype=_U64)
    for i in range(len(out)):
        sx, mx, ex, sy, my, ey = (int(a[i]) for a in arrs)
        out[i] = reference.add(fmt, reference.Value(reference.FINITE, sx, mx, ex),
                               reference.Value(reference.FINITE, sy, my, ey), rounding)
    return out.reshape(shape)


def _sig_bits(fmt):
    return fmt.man_bits + 1


def _add(fmt, rounding, x, y, x_bits, y_bits):
    """round_fmt(x + y) for unpacked values with specials (docs/arithmetic.md §2–4)."""
    if _fits_uint64(fmt, x_bits, y_bits):
        bits = _add_finite(fmt, rounding, x.sign, x.sig, x.exp, y.sign, y.sig, y.exp)
    else:
        bits = _add_wide(fmt, rounding, x.sign, x.sig, x.exp, y.sign, y.sig, y.exp)
    if fmt.has_nan:   # (inf operands only reach formats with inf: check_feeds)
        nan = x.nan | y.nan | (x.inf & y.inf & (x.sign != y.sign))
        inf = (x.inf | y.inf) & ~nan
        if inf.any():
            inf_sign = np.where(x.inf, x.sign, y.sign)
            bits = np.where(inf, (inf_sign << _U64(fmt.width - 1)) | _U64(fmt.inf_bits), bits)
        if nan.any():
            bits = np.where(nan, _U64(fmt.nan_bits), bits)
    return bits.astype(_U64)


def _product_bits(cfg):
    return cfg.product_frac_bits + 1


# -- public API -----------------------------------------------------------------

def mac(cfg, acc, a, b):
    """One fused MAC step: ``round_ACC(acc + a*b)``.

    Parameters
    ----------
    cfg : MACConfig
        Formats, rounding mode and product rounding (``product_man_bits``).
    acc : array_like of uint64
        Accumulator bits in ``cfg.acc_fmt``.
    a, b : array_like of uint64
        Operand bits in ``cfg.a_fmt`` and ``cfg.b_fmt``; broadcast with ``acc``.

    Returns
    -------
    numpy.ndarray of uint64
        The new accumulator bits (``cfg.acc_fmt``), rounded once by
        ``cfg.rounding`` (docs/arithmetic.md §2–4: signed zeros, canonical NaN, overflow).
    """
    _check_cfg(cfg)
    a = _codes(cfg.a_fmt, a, "Operand a")
    b = _codes(cfg.b_fmt, b, "Operand b")
    acc = _codes(cfg.acc_fmt, acc, "Accumulator acc")
    p = _product(cfg.a_fmt, cfg.b_fmt, a, b, cfg.product_man_bits, cfg.rounding)
    x = _unpack(cfg.acc_fmt, acc)
    return _add(cfg.acc_fmt, cfg.rounding, x, p, _sig_bits(cfg.acc_fmt), _product_bits(cfg))


def _check_cfg(cfg):
    if not isinstance(cfg, MACConfig):
        raise TypeError(f"Configuration must be a MACConfig, not {cfg!r}")


def add(fmt, x, y, rounding="rne", *, backend="auto"):
    """``round(x + y)`` in ``fmt`` (docs/arithmetic.md §2–4 zero, NaN and overflow rules).

    Parameters
    ----------
    fmt : FloatFormat
    x, y : array_like of uint64
        Broadcastable bit patterns in ``fmt``.
    rounding : {'rne', 'rtz'}
    backend : {'auto', 'generic', 'table', 'reference'}
        ``'auto'`` is ``'generic'``, the whole-array exact adder; ``'table'`` the
        narrow adder that adds chunk sums in :func:`dot` (formats up to 16 bits
        wide whose sums fit a float64); ``'reference'``
        :func:`macgen.golden_reference.add`. The bits are the same.

    Returns
    -------
    numpy.ndarray of uint64
    """
    _check_fmt(fmt)
    check_rounding(rounding)
    x = _codes(fmt, x, "Operand x")
    y = _codes(fmt, y, "Operand y")
    if backend in ("auto", "generic"):
        return _add(fmt, rounding, _unpack(fmt, x), _unpack(fmt, y), _sig_bits(fmt), _sig_bits(fmt))
    x, y = np.broadcast_arrays(x, y)
    if backend == "table":
        adder = _NarrowAdder.get(fmt, fmt, rounding)
        if adder is None:
            raise ValueError(f"Backend 'table' does not apply to adding {fmt} codes; "
                             f"these do: generic, reference")
        return adder.add_codes(x.reshape(-1), y.reshape(-1)).reshape(x.shape)
    if backend == "reference":
        out = [reference.add(fmt, reference.decode(fmt, u), reference.decode(fmt, v), rounding)
               for u, v in zip(x.ravel().tolist(), y.ravel().tolist())]
        return np.array(out, dtype=_U64).reshape(x.shape)
    raise ValueError(f"Backend of add must be one of auto, generic, table, reference, not {backend!r}")


def fma(fmt, a, b, c, rounding="rne"):
    """Fused multiply-add ``round(a*b + c)`` with every operand in ``fmt``.

    With ``rounding='rne'`` and an IEEE format this is IEEE 754 ``fusedMultiplyAdd``
    (canonical NaN, ``+0`` for an exact zero sum of unlike signs).

    Parameters
    ----------
    fmt : FloatFormat
    a, b, c : array_like of uint64
    rounding : {'rne', 'rtz'}

    Returns
    -------
    numpy.ndarray of uint64
    """
    _check_fmt(fmt)
    check_rounding(rounding)
    return mac(MACConfig(fmt, fmt, fmt, rounding=rounding), c, a, b)


def convert(src_fmt, dst_fmt, bits, rounding="rne"):
    """Round values from ``src_fmt`` into ``dst_fmt`` (one rounding; zeros keep their sign).

    ftz source subnormals read as zero; NaN becomes ``dst_fmt``'s canonical NaN.
    ``dst_fmt`` must represent every special value of ``src_fmt`` (docs/arithmetic.md §2–4:
    NaN needs NaN, inf needs inf).

    Parameters
    ----------
    src_fmt, dst_fmt : FloatFormat
    bits : array_like of uint64
    rounding : {'rne', 'rtz'}

    Returns
    -------
    numpy.ndarray of uint64

    Raises
    ------
    ValueError
        ``dst_fmt`` lacks a special value that ``src_fmt`` has.
    """
    _check_fmt(src_fmt, "Source format")
    _check_fmt(dst_fmt, "Destination format")
    check_rounding(rounding)
    check_feeds(src_fmt, dst_fmt, "Source format", "destination format")
    return _convert(src_fmt, dst_fmt, _codes(src_fmt, bits, "Input bits"), rounding)


def _convert(src_fmt, dst_fmt, bits, rounding):
    x = _unpack(src_fmt, bits)
    zero = _Val(np.zeros_like(x.sign), np.zeros_like(x.sig), np.zeros_like(x.exp),
                np.zeros_like(x.nan), np.zeros_like(x.inf))
    # x + (-0) = x exactly, for every x including -0 and +0 (the zero rule of docs/arithmetic.md §3).
    zero.sign = np.ones_like(x.sign)
    return _add(dst_fmt, rounding, x, zero, _sig_bits(src_fmt), 1)


def dot(cfg, a, b, init=None, *, backend="auto"):
    """Dot products with docs/arithmetic.md §2–4 semantics (chunking, outer and output formats).

    ``s_0 = init; s_i = round_ACC(s_{i-1} + a_i*b_i)``; with ``cfg.chunk_size = L > 0``
    every ``L`` products are summed from +0 in ACC and each chunk sum is added into
    the outer accumulator (``cfg.outer_fmt``) starting at ``init``. The result is
    rounded into ``cfg.out_fmt``.

    Parameters
    ----------
    cfg : MACConfig
    a, b : array_like of uint64
        Operand bits of shape ``(..., n)`` (broadcast together), reduced over the
        last axis in order; ``n >= 1``.
    init : array_like of uint64, optional
        Initial value in ``cfg.outer_fmt``, shape broadcastable to ``(...)``; +0 if
        omitted.
    backend : str
        ``'auto'`` (:func:`choose_backend`), ``'numpy'`` (the fastest NumPy path) or
        one of :func:`backends`. Every backend gives the same bits; this only
        chooses the speed (tests use it to compare them).

    Returns
    -------
    numpy.ndarray of uint64
        Shape ``(...)``, bits in ``cfg.out_fmt``.

    Raises
    ------
    ValueError
        Empty reduction axis; an unknown backend or one that does not apply to ``cfg``.
    """
    _check_cfg(cfg)
    a = _codes(cfg.a_fmt, a, "Operand a")
    b = _codes(cfg.b_fmt, b, "Operand b")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("Operands of a dot product need a reduction axis, not scalars")
    n = max(a.shape[-1], b.shape[-1])
    if min(a.shape[-1], b.shape[-1]) not in (1, n):
        raise ValueError(f"Dot product operands must have the same length, not {a.shape[-1]} and {b.shape[-1]}")
    if n < 1 or min(a.shape[-1], b.shape[-1]) < 1:
        raise ValueError(f"Dot product length must be at least 1, not {min(a.shape[-1], b.shape[-1])}")
    # Broadcasting never materialises the operands: each result row reads its own rows
    # of a and b through an index (matmul's A[:, None, :] and B.T[None] included).
    a = np.broadcast_to(a, a.shape[:-1] + (n,))
    b = np.broadcast_to(b, b.shape[:-1] + (n,))
    shape = np.broadcast_shapes(a.shape[:-1], b.shape[:-1])
    ia = _row_index(a.shape[:-1], shape)
    ib = _row_index(b.shape[:-1], shape)
    a2 = np.ascontiguousarray(a).reshape(-1, n)
    b2 = np.ascontiguousarray(b).reshape(-1, n)
    rows = math.prod(shape)
    if init is None:
        init = np.zeros(rows, dtype=_U64)
    else:
        init = _codes(cfg.outer_fmt, init, "Initial value init")
        try:
            init = np.broadcast_to(init, shape)
        except ValueError:
            raise ValueError(f"Initial value init must have a shape broadcastable to {shape}, "
                             f"not {init.shape}") from None
        init = init.reshape(-1)
    backend = _resolve_backend(cfg, backend, rows * n)
    return _dot_rows(cfg, a2, b2, ia, ib, init, backend).reshape(shape)


def _codes(fmt, x, name):
    """``x`` as uint64 codes of ``fmt``, checked: integers from 0 to ``2**width - 1``.

    Raises
    ------
    TypeError
        Not integers (floats, bools).
    ValueError
        A negative value or one with bits above the format's width.
    """
    x = np.asarray(x)
    top = (1 << fmt.width) - 1
    what = f"{name} must be codes of {fmt} (integers from 0 to {top:#x})"
    if x.dtype == object:
        for v in x.ravel():
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"{what}, not {v!r}")
            if not 0 <= int(v) <= top:
                raise ValueError(f"{what}, not {_code_text(int(v))}")
        return x.astype(_U64)
    if x.dtype.kind not in "iu":
        raise TypeError(f"{what}, not an array of {x.dtype}")
    if x.size:
        if x.dtype.kind == "i" and (low := x.min()) < 0:
            raise ValueError(f"{what}, not {int(low)}")
        if fmt.width < 64 and (high := x.max()) > top:
            raise ValueError(f"{what}, not {_code_text(int(high))}")
    return x if x.dtype == _U64 else x.astype(_U64)


def _code_text(v):
    return f"{v:#x}" if v >= 0 else str(v)


def _row_index(own, shape):
    """Row of an operand of batch shape ``own`` read by each row of the broadcast ``shape``
    (None where they are the same)."""
    if tuple(own) == tuple(shape):
        return None
    return np.broadcast_to(np.arange(math.prod(own), dtype=np.intp).reshape(own), shape).ravel()


# -- backends: the choice of path ---------------------------------------------------

#: Dot products with at least this many MACs use the compiled kernel when it applies.
_KERNEL_MIN_MACS = 1 << 17
#: Result rows per NumPy tile: each step's arrays then stay in the L2 cache.
_NUMPY_TILE_ROWS = 8192
_ENV_CHOICES = ("auto", "numpy", "numba")
#: Every backend :func:`dot` and :func:`matmul` accept, besides the choices ``auto`` and ``numpy``.
BACKENDS = ("reference", "generic", "table", "numba")
_kernel_state = []


def _kernel():
    """The compiled kernel module, or None when numba is not installed (imported once)."""
    if not _kernel_state:
        try:
            from . import golden_kernel
        except ImportError:
            golden_kernel = None
        _kernel_state.append(golden_kernel)
    return _kernel_state[0]


def _kernel_applies(cfg):
    """Whether the compiled kernel's exactness argument covers ``cfg`` (golden_kernel's docstring)."""
    fmts = (cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt, cfg.outer_fmt, cfg.out_fmt)
    return (all(f.man_bits <= _MAX_MAN for f in fmts[2:])
            and cfg.a_fmt.man_bits + cfg.b_fmt.man_bits + 2 <= 64
            and cfg.product_frac_bits + 1 <= _MAX_SIG
            and all(max(abs(f.emax), abs(f.emin - f.man_bits)) < 1 << 40 for f in fmts))


def backends(cfg):
    """The backends that compute ``cfg``'s dot products, every one bit-identical to the others.

    * ``'reference'``: :mod:`macgen.golden_reference`, one value at a time on
      Python integers (slow; the definition the others are tested against);
    * ``'generic'``: NumPy, one whole-array exact addition per step (any configuration);
    * ``'table'``: NumPy with :class:`_NarrowAdder` tables (accumulators whose
      sums fit a float64; see :func:`narrow_window`);
    * ``'numba'``: the compiled kernel (:mod:`macgen.golden_kernel`), when numba
      is installed and its exactness argument covers ``cfg``.

    Parameters
    ----------
    cfg : MACConfig

    Returns
    -------
    tuple of str
        The applicable names of :data:`BACKENDS`, in that order. Asking about
        ``'numba'`` imports numba; ``'table'`` builds (and caches) its tables.
    """
    _check_cfg(cfg)
    names = ["reference", "generic"]
    if _TableDot.get(cfg) is not None:
        names.append("table")
    if _kernel_applies(cfg) and _kernel() is not None:
        names.append("numba")
    return tuple(names)


def choose_backend(cfg, macs):
    """The backend ``backend='auto'`` uses for a dot product (or matmul) of ``macs`` MACs.

    The compiled kernel from ``_KERNEL_MIN_MACS`` MACs up where it applies, else
    ``'table'`` where it applies, else ``'generic'``. The environment variable
    ``MACGEN_GOLDEN`` (``auto``, ``numpy``, ``numba``) overrides the choice
    between the kernel and the NumPy paths.

    Returns
    -------
    str
        ``'numba'``, ``'table'`` or ``'generic'``.

    Raises
    ------
    ValueError
        ``MACGEN_GOLDEN`` has another value.
    RuntimeError
        ``MACGEN_GOLDEN=numba`` without numba installed.
    """
    choice = os.environ.get("MACGEN_GOLDEN", "auto")
    if choice not in _ENV_CHOICES:
        raise ValueError(f"MACGEN_GOLDEN must be one of {', '.join(_ENV_CHOICES)}, not {choice!r}")
    if choice != "numpy" and _kernel_applies(cfg):
        if choice == "numba":
            if _kernel() is None:
                raise RuntimeError("MACGEN_GOLDEN=numba needs numba, which is not installed")
            return "numba"
        if macs >= _KERNEL_MIN_MACS and _kernel() is not None:
            return "numba"
    return _numpy_backend(cfg)


def _numpy_backend(cfg):
    return "table" if _TableDot.get(cfg) is not None else "generic"


def _resolve_backend(cfg, backend, macs):
    """A concrete backend name for ``backend`` (``'auto'``, ``'numpy'`` or one of :data:`BACKENDS`)."""
    if backend == "auto":
        return choose_backend(cfg, macs)
    if backend == "numpy":
        return _numpy_backend(cfg)
    if backend not in BACKENDS:
        raise ValueError(f"Backend must be one of auto, numpy, {', '.join(BACKENDS)}, not {backend!r}")
    applies = {"table": lambda: _TableDot.get(cfg) is not None,
               "numba": lambda: _kernel_applies(cfg) and _kernel() is not None}.get(backend)
    if applies is not None and not applies():
        raise ValueError(f"Backend {backend!r} does not apply to {cfg.slug}; "
                         f"these do: {', '.join(backends(cfg))}")
    return backend


def _dot_rows(cfg, a, b, ia, ib, init, backend):
    """``dot`` of rows ``a[ia[r]]``, ``b[ib[r]]`` (``None``: row ``r``) from ``init[r]``, in ``out_fmt``,
    by the concrete ``backend``."""
    rows = len(init)
    if backend == "numba":
        return _kernel_rows(cfg, a, b, ia, ib, init)
    if backend == "reference":
        ia = range(rows) if ia is None else ia
        ib = range(rows) if ib is None else ib
        return np.array([reference.dot(cfg, a[i], b[j], int(c)) for i, j, c in zip(ia, ib, init)],
                        dtype=_U64)
    y = np.empty(rows, dtype=_U64)
    for r0 in range(0, rows, _NUMPY_TILE_ROWS):
        r1 = min(rows, r0 + _NUMPY_TILE_ROWS)
        ta = a[r0:r1] if ia is None else a[ia[r0:r1]]
        tb = b[r0:r1] if ib is None else b[ib[r0:r1]]
        y[r0:r1] = _dot_flat(cfg, ta, tb, init[r0:r1], table=backend == "table")
    if cfg.out_fmt != cfg.outer_fmt:
        y = _convert(cfg.outer_fmt, cfg.out_fmt, y, cfg.rounding)
    return y


def _kernel_args(cfg):
    """Chunk size, product bits, narrow-path choice and format parameters of the compiled kernel."""
    gk = _kernel()
    pnb = 0 if cfg.product_man_bits is None else cfg.product_man_bits + 1
    accp = gk.format_params(cfg.acc_fmt, cfg.rounding)
    outerp = gk.format_params(cfg.outer_fmt, cfg.rounding)
    convert = cfg.out_fmt != cfg.outer_fmt
    outp = gk.format_params(cfg.out_fmt, cfg.rounding) if convert else outerp
    return cfg.chunk_size, pnb, gk.narrow_params(cfg), accp, outerp, outp, convert


def _kernel_rows(cfg, a, b, ia, ib, init):
    gk = _kernel()
    rows = len(init)
    ia = np.arange(rows, dtype=np.intp) if ia is None else ia
    ib = np.arange(rows, dtype=np.intp) if ib is None else ib
    out = np.empty(rows, dtype=_U64)
    gk.dot_rows(np.ascontiguousarray(a), gk.decode_params(cfg.a_fmt), np.ascontiguousarray(b),
                gk.decode_params(cfg.b_fmt), ia, ib, np.ascontiguousarray(init),
                gk.decode_params(cfg.outer_fmt), *_kernel_args(cfg), out)
    return out


def _dot_flat(cfg, a, b, init, table):
    """(rows, n) operands -> outer (or ACC) accumulator bits per row, on the NumPy paths.

    ``table``: the table-driven runner and outer adder (callers check that the runner
    applies; the outer adder falls back to the generic one where it does not); else
    the generic ones throughout.
    """
    n = a.shape[1]
    L = cfg.chunk_size
    runner = _TableDot.get(cfg) if table else _GenericDot(cfg)
    src = runner.prepare(a, b)
    if not L:
        return runner.run_range(init, src, 0, n)
    outer = _NarrowAdder.get(cfg.outer_fmt, cfg.acc_fmt, cfg.rounding) if table else None
    o = init
    zeros = np.zeros(a.shape[0], dtype=_U64)
    for start in range(0, n, L):
        t = runner.run_range(zeros, src, start, min(n, start + L))
        if outer is not None:
            o = outer.add_codes(o, t)
        else:
            o = _add(cfg.outer_fmt, cfg.rounding, _unpack(cfg.outer_fmt, o), _unpack(cfg.acc_fmt, t),
                     _sig_bits(cfg.outer_fmt), _sig_bits(cfg.acc_fmt))
    return o


class _GenericDot:
    """Sequential accumulation with products precomputed for the whole block."""

    def __init__(self, cfg):
        self.cfg = cfg

    def prepare(self, a, b):
        return a, b

    def run(self, acc, a, b):
        return self.run_range(acc, (a, b), 0, a.shape[1])

    def run_range(self, acc, src, k0, k1):
        """Accumulate steps ``k0..k1-1`` of the prepared operands onto ``acc``."""
        cfg = self.cfg
        a, b = src
        p = _product(cfg.a_fmt, cfg.b_fmt, a[:, k0:k1].T, b[:, k0:k1].T, cfg.product_man_bits, cfg.rounding)
        fmt = cfg.acc_fmt
        for k in range(k1 - k0):
            acc = _add(fmt, cfg.rounding, _unpack(fmt, acc), p.take(k),
                       _sig_bits(fmt), _product_bits(cfg))
        return acc


_NARROW_WIDTH = 16  # widest format decoded by table (wider ones arithmetically)
_LIMIT = 1000  # table exponents stay well inside float64's and int64's comfortable range


def narrow_window(man_bits, addend_bits):
    """``(D, W)`` of the narrow adder of :class:`_NarrowAdder` and of the kernel's narrow path.

    The narrow adder computes ``round_R(x + y)`` (``R`` with ``man_bits = M``
    fraction bits; both addends of at most ``addend_bits`` significant bits, the
    accumulator's ``M + 1`` included) on integers. Each addend is a signed
    integer ``V`` with its leading one at bit ``W``, times ``2^T`` (``T``: the
    exponent of bit 0); the sum is ``S * 2^t`` with ``t = max(T_x, T_y)`` and
    ``S = V_x >> min(t - T_x, D) + V_y >> min(t - T_y, D)``: the smaller addend
    is shifted right by at most ``D`` bits. With ``pmax = max(M + 1,
    addend_bits)``, ``D = max(pmax, M + 4)`` and ``W = D + pmax - 1`` this is
    exact where it matters:

    1. Each addend has at most ``pmax`` significant bits, so its lowest set bit
       is at bit ``W - pmax + 1 = D`` or above: a right shift by at most ``D``
       is exact, and ``|S| < 2^(W+2)`` holds the exact sum.
    2. Let ``x`` be the addend with the larger ``T`` and ``y`` the other, with
       ``d = t - T_y > D`` (the shift is clamped). Then ``|y| < 2^(W+1-d) <=
       2^(W-D) = 2^(pmax-1)`` units of ``2^t``, and the clamped ``y' = V_y >> D``
       obeys ``|y'| < 2^pmax`` units; both are non-zero with ``y``'s sign --
       strictly between 0 and ``2^D`` units, which is ``x``'s grid step.
    3. ``|x| >= 2^W`` units and ``|y| < 2^D <= 2^(W-1)``, so the result's
       leading bit is at ``t + W`` or ``t + W - 1``, and every rounding boundary
       near it (a multiple of half the quantum for RNE, of the quantum for RTZ)
       is a multiple of ``B = 2^(W - 2 - M) >= 2^(pmax + 1)`` units (as
       ``D >= M + 4``). ``x`` and the boundaries are multiples of ``g = min(2^D,
       B)`` and ``|y|, |y'| < 2^pmax <= g``: ``x + y`` and ``x + y'`` lie strictly
       between the same two consecutive multiples of ``g``, never on a
       boundary, and round alike in both modes.

    The caller checks that ``|S| < 2^(W+2)`` fits its arithmetic: float64's
    53-bit significand for :class:`_NarrowAdder` (``W + 2 <= 52``), int64 for the
    kernel (``W <= 59``).
    """
    pmax = max(man_bits + 1, addend_bits)
    D = max(pmax, man_bits + 4)
    return D, D + pmax - 1


class _Consts:
    """Named scalar constants of one NumPy dtype (keeps in-place array operations in that dtype)."""

    def __init__(self, dtype, **kw):
        for k, v in kw.items():
            setattr(self, k, dtype(v))


class _NarrowAdder:
    """``round_R(acc + x)`` for a whole array of rows in a few whole-array operations.

    The arithmetic is :func:`narrow_window`'s (its docstring holds the proof of
    exactness), done on float values that are exact integers. Applies when R has
    subnormals and exponents within +-1000 and ``W + 2 <= 52``. R's codes are
    decoded by table (R at most 16 bits wide) or arithmetically; the addends
    ``x`` come from a table of exact values (the products of all operand pairs,
    or every code of another format) or are computed by the caller
    (:meth:`addend_arrays`).

    The float trick: an addend ``V * 2^T`` is held as the float ``V`` (exact:
    ``|V| < 2^(W+1) <= 2^51``) and its *offset* ``T + bias_R - float_bias``.
    Aligning to ``t = max(offset)`` multiplies each float by ``2^-min(t - offset,
    D)``, a power of two built directly from exponent bits, so exact. The sum
    ``S`` is an integer below ``2^(W+2) <= 2^53`` in those units, so the float
    addition is exact too; its float exponent field plus ``t`` is R's exponent
    field of the result (the offsets carry both biases), and its float fraction
    bits are the result's significand, rounded here by integer arithmetic at
    bit ``float_man_bits - M`` (``round_shift``). Only normal, non-overflowing,
    non-zero results take this route; the rare others (exact zeros, subnormal
    results) are redone per row by :meth:`_slow_rows`.

    Tables and arrays (``int_type``/``float_type``: int32/float32 when the sum
    fits 24 bits, halving memory traffic, else int64/float64):

    * ``addend_value``, ``addend_offset``: per addend code (or product pair), the
      float ``V`` (0 for zero and specials) and its offset (far below for zero);
    * ``addend_sign``: the addend's sign at R's sign position (for exact zero sums);
    * ``addend_special``, ``addend_nan``, ``addend_inf_code``: whether the addend
      is inf or NaN, NaN, and its signed inf code in R (0 if not inf);
    * ``acc_value``, ``acc_offset`` (R at most 16 bits wide): the same per R
      code. An infinite accumulator under ieee+rne (a NaN one under
      nan-only+rne) decodes as a value far beyond the range, so every sum
      overflows to it again: :meth:`step` keeps it without masking;
    * ``field_offset``, ``field_hidden``, ``field_scale`` (wider R): per exponent
      field, the offset of bit 0 of the unnormalised significand (the hidden
      bit's position mapped to bit ``W``; subnormals and zero sit in the lowest
      binade) and the hidden bit; the scale ``2^(W-M)``.

    Inf and NaN addends are not handled by :meth:`step` (callers mask them and
    use :meth:`combine_special`).
    """

    _cache = {}

    @classmethod
    def get(cls, fmt, addend_fmt, rounding):
        """An adder of ``addend_fmt`` codes into ``fmt``, or None if not applicable."""
        key = (fmt, addend_fmt, rounding)
        if key not in cls._cache:
            adder = None
            if addend_fmt.width <= _NARROW_WIDTH and cls.applies(fmt):
                codes = np.arange(1 << addend_fmt.width, dtype=_U64)
                x = _unpack(addend_fmt, codes)
                adder = cls(fmt, rounding, x, addend_fmt.man_bits + 1)
                if not adder.ok:
                    adder = None
            cls._cache[key] = adder
        return cls._cache[key]

    @staticmethod
    def applies(fmt):
        # A nan-only format's NaN codes share the top exponent field with numbers:
        # only its decode table tells them apart.
        return (fmt.subnormals and fmt.emin - fmt.man_bits > -_LIMIT and fmt.emax < _LIMIT
                and (fmt.policy != "nan-only" or fmt.width <= _NARROW_WIDTH))

    def __init__(self, fmt, rounding, addends, addend_bits):
        self.fmt = fmt
        self.rounding = rounding
        M = fmt.man_bits
        self.D, self.W = narrow_window(M, addend_bits)
        self.ok = self.W + 2 <= 52
        if not self.ok:
            return
        if self.W + 2 <= 24:
            self.int_type, self.float_type, self.float_man_bits, self.float_bias, self.float_bits = (
                np.int32, np.float32, 23, 127, 32)
        else:
            self.int_type, self.float_type, self.float_man_bits, self.float_bias, self.float_bits = (
                _I64, np.float64, 52, 1023, 64)
        (self.addend_value, self.addend_offset, self.addend_sign, self.addend_special, self.addend_nan,
         self.addend_inf_code) = self.addend_arrays(addends)
        # An infinite accumulator stays infinite under rne: a value far beyond the range.
        # So does a nan-only accumulator's NaN (an overflow under rne; every later sum
        # overflows to NaN again).
        inf_offset = 4 * _LIMIT - self.W - self.float_bias + fmt.bias
        keep_inf = fmt.policy != "finite" and rounding == "rne"
        self.table_acc = fmt.width <= _NARROW_WIDTH
        if self.table_acc:
            codes = np.arange(1 << fmt.width, dtype=_U64)
            x = _unpack(fmt, codes)
            acc_int, self.acc_offset = self._normalise(x.sign, x.sig, x.exp, x.nan)
            if keep_inf:
                kept = x.inf if fmt.has_inf else x.nan
                self.acc_offset = np.where(kept, inf_offset, self.acc_offset).astype(self.int_type)
                acc_int = np.where(kept, np.where(x.sign == 1, -(1 << self.W), 1 << self.W), acc_int)
            self.acc_value = acc_int.astype(self.float_type)
        else:
            fields = np.arange(1 << fmt.exp_bits, dtype=_I64)
            field_offset = np.maximum(fields, 1) - self.W - self.float_bias
            if keep_inf:
                field_offset[-1] = inf_offset
            self.field_offset = field_offset.astype(self.int_type)
            self.field_hidden = np.where(fields > 0, 1 << M, 0).astype(_I64)
            self.field_scale = self.float_type(2.0 ** (self.W - M))
            self.decode_const = _Consts(_I64, M=M, field_mask=(1 << fmt.exp_bits) - 1, frac_mask=(1 << M) - 1,
                                        sign_shift=fmt.width - 1, float_sign=self.float_bits - 1)
        tops = self.addend_offset[self.addend_value != 0].astype(_I64) + self.W + self.float_bias - fmt.bias
        self.ok = not len(tops) or int(np.abs(tops).max()) < 2 * _LIMIT
        FM, FB, NB = self.float_man_bits, self.float_bias, self.float_bits
        # half_minus_one[g] = 2^(g-1) - 1: RNE's increment before a right shift by g (odd kept: +1 more).
        self.half_minus_one = np.array([(1 << max(g - 1, 0)) - 1 for g in range(NB)], dtype=self.int_type)
        g = FM - M
        big = fmt.overflow_bits(rounding)
        # nan-only + rne: overflow is the canonical NaN, whose sign bit must stay clear.
        self.nan_overflow = big != fmt.max_finite_bits and not fmt.has_inf
        self.const = _Consts(
            self.int_type,
            float_one=FB,                   # float exponent field of 2^0
            float_min=FB - self.D,          # ... of 2^-D: the largest alignment shift
            float_man_bits=FM, sign_shift=NB - 1, abs_mask=(1 << (NB - 1)) - 1,
            round_shift=g,                  # float fraction bits below R's last place
            one=1, half_minus_one=(1 << (g - 1)) - 1, M=M,
            overflow_code=big,              # code (sign clear) of an overflowing result
            sign_bit=1 << (fmt.width - 1), float_man_mask=(1 << FM) - 1, float_hidden=1 << FM)

    def addend_arrays(self, x):
        """Adder inputs for addends ``x`` (a :class:`_Val`), one entry per element.

        Returns ``(addend_value, addend_offset, addend_sign, addend_special,
        addend_nan, addend_inf_code)`` as described in the class docstring.
        """
        fmt = self.fmt
        special = x.nan | x.inf
        vp, tp = self._normalise(x.sign, x.sig, x.exp, special)
        ps = (x.sign << _U64(fmt.width - 1)).astype(self.int_type)
        inf_bits = fmt.inf_bits if fmt.has_inf else 0
        p_inf = np.where(x.inf, (x.sign << _U64(fmt.width - 1)) | _U64(inf_bits), _U64(0)).astype(_I64)
        return vp.astype(self.float_type), tp, ps, special, x.nan, p_inf

    def _normalise(self, sign, sig, exp, special):
        """``(V, offset)``: the signed value with its leading one at bit ``W`` and the offset of
        its bit 0 (exponent of bit 0 + R's bias - float bias); zeros and ``special`` give
        ``V = 0`` and an offset far below any other."""
        W = self.W
        length = bit_length(sig)
        live = (length > 0) & ~special
        v = np.where(live, sig << (W + 1 - np.maximum(length, 1)).astype(_U64), _U64(0)).astype(_I64)
        v = np.where(sign.astype(bool), -v, v)
        top = np.where(live, exp + length - 1 - W - self.float_bias + self.fmt.bias, _I64(-8 * _LIMIT))
        return v.astype(self.int_type), top.astype(self.int_type)

    def step(self, acc, vp, tp, ps):
        """One rounded addition per row: R codes ``acc`` (int64) plus finite addends.

        ``vp`` are the addends' values (``addend_value`` entries: floats that are
        exact integers, leading one at bit ``W``), ``tp`` their offsets
        (``addend_offset``), ``ps(rows)`` gives the addends' sign bits at R's sign
        position for the given rows (only needed for exact zeros). Returns R codes.
        Names: ``va``/``ta`` the accumulator's value and offset, ``t`` the larger
        offset, ``sa``/``sp`` the alignment factors ``2^-min(t - offset, D)`` built as
        float bits, ``sv`` the exact sum, ``field`` R's exponent field of it.
        """
        fmt = self.fmt
        M = fmt.man_bits
        c = self.const
        if self.table_acc:
            va = self.acc_value.take(acc)
            ta = self.acc_offset.take(acc)
        else:
            va, ta = self._decode(acc)
        t = np.maximum(ta, tp)
        # 2^-min(t - x, D) as float64 bits: exact power-of-two scaling.
        sa = ta - t
        sa += c.float_one
        np.maximum(sa, c.float_min, out=sa)
        sa <<= c.float_man_bits
        va *= sa.view(self.float_type)
        sp = tp - t
        sp += c.float_one
        np.maximum(sp, c.float_min, out=sp)
        sp <<= c.float_man_bits
        sv = vp * sp.view(self.float_type)
        sv += va                       # exact: an integer below 2^(FM+1)
        f = sv.view(self.int_type)
        mag = f & c.abs_mask
        # Normal results: round the float's own bits at the format's last place.
        lsb = mag >> c.round_shift
        lsb &= c.one
        field = mag >> c.float_man_bits
        field += t                     # exponents carry the bias: this is the format's field
        if self.rounding == "rne":
            mag += c.half_minus_one
            mag += lsb
        mag >>= c.round_shift
        t <<= c.M
        mag += t
        np.minimum(mag, c.overflow_code, out=mag)
        sign = f >> c.sign_shift
        sign &= c.sign_bit
        if self.nan_overflow:
            sign[mag == c.overflow_code] = 0
        mag |= sign
        # Exact zeros and subnormal results (rare): redo those rows.
        if field.min() < c.one or not sv.all():
            odd = field < c.one
            odd |= sv == 0.0
            r = np.flatnonzero(odd)
            mag[r] = self._slow_rows(acc[r], sv[r], field[r], ps(r))
        return mag

    def _decode(self, acc):
        """R codes (int64) to ``(value, offset)`` without tables (R wider than 16 bits).

        The significand (hidden bit from ``field_hidden``) times ``field_scale`` puts the
        hidden bit's position at bit ``W``; the sign is ORed into the float's sign bit.
        """
        d = self.decode_const
        field = acc >> d.M
        field &= d.field_mask
        sig = acc & d.frac_mask
        sig |= self.field_hidden.take(field)
        va = sig.astype(self.float_type)
        va *= self.field_scale
        neg = acc >> d.sign_shift
        neg <<= d.float_sign
        vb = va.view(self.int_type)
        vb |= neg.astype(self.int_type)
        return va, self.field_offset.take(field)

    def _slow_rows(self, acc, sv, field, ps):
        """Codes of the rows :meth:`step` leaves: exact-zero sums (``acc & ps``: -0 only for two
        -0) and subnormal results (rounded further down, at R's fixed subnormal quantum)."""
        c = self.const
        f = sv.view(self.int_type)
        absf = f & c.abs_mask
        sig = (absf & c.float_man_mask) | c.float_hidden
        # Subnormal rows shift further; exact-zero rows (any field) are replaced below.
        gs = np.clip(c.one - field, 0, c.M + 3) + c.round_shift
        if self.rounding == "rne":
            kept = (sig + self.half_minus_one.take(gs) + ((sig >> gs) & c.one)) >> gs
        else:
            kept = sig >> gs
        kept |= (f >> c.sign_shift) & c.sign_bit
        return np.where(sv == 0.0, acc & ps, kept)

    def add_codes(self, acc, x):
        """``round(acc + x)`` for result-format codes ``acc`` and addend codes ``x``, specials included."""
        fmt = self.fmt
        acc = acc.astype(_I64)
        x = x.astype(_I64)
        bits = self.step(acc, self.addend_value.take(x), self.addend_offset.take(x), lambda r: self.addend_sign.take(x[r]))
        if fmt.has_nan:
            sp = self.addend_special.take(x) | fmt.is_nan(acc.astype(_U64)) | fmt.is_inf(acc.astype(_U64))
            if sp.any():
                xs = x[sp]
                bits[sp] = self.combine_special(acc[sp], self.addend_nan.take(xs), self.addend_inf_code.take(xs))
        return bits.astype(_U64)

    def combine_special(self, cur, x_nan, x_inf_bits):
        """Result codes of ``cur + x`` where at least one side is inf or NaN."""
        fmt = self.fmt
        cu = cur.astype(_U64)
        cur_nan = fmt.is_nan(cu)
        cur_inf = fmt.is_inf(cu)
        x_inf = x_inf_bits != 0
        opposite = cur_inf & x_inf & (((cur ^ x_inf_bits) >> (fmt.width - 1)) & 1 == 1)
        res = np.where(cur_inf, cur, x_inf_bits)
        return np.where(cur_nan | x_nan | opposite, fmt.nan_bits, res)


def _transpose(x):
    """Contiguous transpose of a 2-D array, in bands of 64 rows (about 9x faster than x.T.copy())."""
    out = np.empty(x.shape[::-1], dtype=x.dtype)
    for r0 in range(0, x.shape[0], 64):
        out[:, r0:r0 + 64] = x[r0:r0 + 64].T
    return out


class _TableDot:
    """Fast accumulation into a narrow accumulator (one :class:`_NarrowAdder` step per product).

    Products come from a table of all operand pairs when both operands
    together are at most 16 bits wide, else they are computed exactly per block
    of 64 steps (e.g. fp16 x fp16). Rows that hold NaN, or inf under rtz, are
    tracked in a mask and combined at the (rare) steps where a product is inf
    or NaN; an infinite accumulator under rne stays infinite by itself.
    """

    _cache = {}

    @classmethod
    def get(cls, cfg):
        key = (cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt, cfg.product_man_bits, cfg.rounding)
        if key not in cls._cache:
            runner = None
            a, b = cfg.a_fmt, cfg.b_fmt
            bounded = (a.emax + b.emax + 2 < _LIMIT
                       and a.emin - a.man_bits + b.emin - b.man_bits > -_LIMIT)
            if bounded and _NarrowAdder.applies(cfg.acc_fmt):
                runner = cls(cfg)
                if not runner.adder.ok:
                    runner = None
            cls._cache[key] = runner
        return cls._cache[key]

    def __init__(self, cfg):
        self.cfg = cfg
        wb = cfg.b_fmt.width
        self.b_width = wb
        self.table = cfg.a_fmt.width + wb <= 16
        if self.table:
            idx = np.arange(1 << (cfg.a_fmt.width + wb), dtype=_U64)
            p = _product(cfg.a_fmt, cfg.b_fmt, idx >> _U64(wb), idx & _U64((1 << wb) - 1),
                         cfg.product_man_bits, cfg.rounding)
        else:
            p = _product(cfg.a_fmt, cfg.b_fmt, np.zeros(1, _U64), np.zeros(1, _U64))
        self.adder = _NarrowAdder(cfg.acc_fmt, cfg.rounding, p, cfg.product_frac_bits + 1)

    def prepare(self, a, b):
        """Operands in the form :meth:`run_range` reads: pair codes (steps, rows) for tables."""
        if self.table:
            # uint16 pair codes, transposed once: each step then reads one contiguous row.
            idx16 = (a.astype(np.uint16) << np.uint16(self.b_width)) | b.astype(np.uint16)
            return _transpose(idx16)
        return a, b

    def run(self, acc, a, b):
        return self.run_range(acc, self.prepare(a, b), 0, a.shape[1])

    def _block(self, src, k0, k1):
        """Kernel inputs for steps ``k0..k1-1``, as (steps, rows) arrays.

        Returns values, exponents, special mask and ``sign(j, rows)`` and
        ``special_parts(j, rows)`` callables for the rare rows that need them.
        """
        ad = self.adder
        if self.table:
            idx = src[k0:k1].astype(np.intp)        # gathers want intp indices
            return (ad.addend_value.take(idx), ad.addend_offset.take(idx), ad.addend_special.take(idx),
                    lambda j, r: ad.addend_sign.take(idx[j, r]),
                    lambda j, r: (ad.addend_nan.take(idx[j, r]), ad.addend_inf_code.take(idx[j, r])))
        cfg = self.cfg
        a, b = src
        p = _product(cfg.a_fmt, cfg.b_fmt, a[:, k0:k1].T.copy(), b[:, k0:k1].T.copy(),
                     cfg.product_man_bits, cfg.rounding)
        vp, tp, ps, special, p_nan, p_inf = ad.addend_arrays(p)
        return (vp, tp, special, lambda j, r: ps[j, r], lambda j, r: (p_nan[j, r], p_inf[j, r]))

    def run_range(self, acc, src, k0, k1):
        """Accumulate steps ``k0..k1-1`` of the prepared operands onto ``acc``."""
        fmt = self.cfg.acc_fmt
        ad = self.adder
        acc = np.asarray(acc, dtype=_U64).astype(_I64)
        ieee = fmt.has_nan      # the accumulator can hold specials: track them
        if ieee:
            au = acc.astype(_U64)
            spec_mask = fmt.is_nan(au) | fmt.is_inf(au)
            spec_bits = np.where(fmt.is_nan(au), fmt.nan_bits, acc)
        block = 32
        for b0 in range(k0, k1, block):
            b1 = min(k1, b0 + block)
            vp_blk, tp_blk, spec_blk, sign_of, parts_of = self._block(src, b0, b1)
            spec_any = spec_blk.any(axis=1) if ieee else np.zeros(b1 - b0, bool)
            for j in range(b1 - b0):
                new = ad.step(acc, vp_blk[j], tp_blk[j], lambda r, j=j: sign_of(j, r))
                if spec_any[j]:
                    r = np.flatnonzero(spec_blk[j])
                    cur = np.where(spec_mask[r], spec_bits[r], acc[r])
                    spec_bits[r] = ad.combine_special(cur, *parts_of(j, r))
                    spec_mask[r] = True
                acc = new.astype(_I64)
        if ieee:
            acc = np.where(spec_mask, spec_bits, acc)
        return acc.astype(_U64)


def matmul(cfg, A, B, C=None, *, backend="auto"):
    """Matrix product ``C[i,j] = dot(A[i,:], B[:,j], init=C[i,j])`` (k in order).

    Parameters
    ----------
    cfg : MACConfig
    A : array_like of uint64, shape (R, K), ``cfg.a_fmt``
    B : array_like of uint64, shape (K, Ccols), ``cfg.b_fmt``
    C : array_like of uint64, shape (R, Ccols), ``cfg.outer_fmt``, optional
    backend : str
        As for :func:`dot`.

    Returns
    -------
    numpy.ndarray of uint64, shape (R, Ccols), ``cfg.out_fmt``
    """
    _check_cfg(cfg)
    A = np.asarray(A)
    B = np.asarray(B)
    if A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"matmul needs 2-D operands, not shapes {A.shape} and {B.shape}")
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"Inner dimensions must agree, not {A.shape[1]} and {B.shape[0]}")
    R, Cc = A.shape[0], B.shape[1]
    if C is not None:
        C = np.asarray(C)
        if C.shape != (R, Cc):
            raise ValueError(f"C must have shape {(R, Cc)}, not {C.shape}")
    backend = _resolve_backend(cfg, backend, R * Cc * A.shape[1])
    if A.size and B.size and backend == "numba":
        A = _codes(cfg.a_fmt, A, "Operand a")
        B = _codes(cfg.b_fmt, B, "Operand b")
        C = np.zeros((R, Cc), _U64) if C is None else _codes(cfg.outer_fmt, C, "Initial value init")
        return _kernel_matmul(cfg, A, B, C)
    return dot(cfg, A[:, None, :], B.T[None, :, :], C, backend=backend)


def _kernel_matmul(cfg, A, B, C):
    gk = _kernel()
    R, Cc = C.shape
    args = _kernel_args(cfg)
    if args[2][0]:      # the narrow path: its own loop, A's operand shared by a row of lanes
        out = np.empty((R, Cc), dtype=_U64)
        gk.matmul_narrow(*gk.decode(cfg.a_fmt, A), *gk.decode(cfg.b_fmt, B), *gk.decode(cfg.outer_fmt, C),
                         *args, out)
        return out
    ia, jb, pos = gk.matmul_order(R, Cc)
    out = np.empty(R * Cc, dtype=_U64)
    out[pos] = _kernel_rows(cfg, A, np.ascontiguousarray(B.T), ia, jb, C.reshape(-1)[pos])
    return out.reshape(R, Cc)


# -- text ----------------------------------------------------------------------

def _exact_text(sign, sig, exp):
    sig, exp = int(sig), int(exp)
    if sig == 0:
        return f"{'-' if sign else '+'}0"
    while sig % 2 == 0:
        sig //= 2
        exp += 1
    if sig < (1 << 53) and -1074 <= exp and exp + sig.bit_length() <= 1024:
        text = repr(math.ldexp(float(sig), exp))
    else:
        text = f"{sig}*2^{exp}"
    return ("-" if sign else "+") + text


def describe(fmt, bits):
    """Human-readable text of one bit pattern, e.g. ``0x3c00 (+1.0 normal)``.

    Parameters
    ----------
    fmt : FloatFormat
    bits : int or array_like of uint64
        A single pattern (an array gives one line per element).

    Returns
    -------
    str
    """
    _check_fmt(fmt)
    arr = _bits(bits)
    if arr.ndim:
        return "\n".join(describe(fmt, v) for v in arr.ravel())
    digits = (fmt.width + 3) // 4
    value = int(arr)
    cls = str(fmt.classify(arr)[()])
    s, sig, exp = (int(v) for v in fmt.unpack(arr))
    if cls == "nan":
        text = "NaN"
    elif cls == "inf":
        text = f"{'-' if s else '+'}inf"
    else:
        text = _exact_text(s, sig, exp)
    return f"0x{value:0{digits}x} ({text} {cls})"


def mismatch_report(out_fmt, got, expected, inputs=None, *, limit=10, nan_equal=False):
    """Text listing the elements where ``got`` and ``expected`` differ.

    Parameters
    ----------
    out_fmt : FloatFormat
        Format of ``got`` and ``expected``.
    got, expected : array_like of uint64
        Results to compare (same shape).
    inputs : dict of str -> (FloatFormat, array_like), optional
        Named inputs broadcastable to the results' shape, shown per mismatch.
    limit : int
        At most this many mismatches are listed; the total is always given.
    nan_equal : bool
        Treat any two NaNs as equal.

    Returns
    -------
    str
        Empty if nothing differs; else one block per mismatch with every input
        and both outputs in hex and decoded.
    """
    _check_fmt(out_fmt)
    got = _bits(got)
    expected = _bits(expected)
    got, expected = np.broadcast_arrays(got, expected)
    bad = got != expected
    if nan_equal and out_fmt.has_nan:
        bad &= ~(out_fmt.is_nan(got) & out_fmt.is_nan(expected))
    idx = np.argwhere(bad)
    if not len(idx):
        return ""
    inputs = inputs or {}
    arrays = {k: (f, np.broadcast_to(_bits(v), got.shape)) for k, (f, v) in inputs.items()}
    lines = [f"{len(idx)} mismatch(es) of {got.size} in {out_fmt}:"]
    for pos in idx[:limit]:
        pos = tuple(int(i) for i in pos)
        lines.append(f"  at {pos if pos else '()'}:")
        for k, (f, v) in arrays.items():
            lines.append(f"    {k:>8} = {describe(f, v[pos])} [{f}]")
        lines.append(f"    {'got':>8} = {describe(out_fmt, got[pos])}")
        lines.append(f"    {'expected':>8} = {describe(out_fmt, expected[pos])}")
    if len(idx) > limit:
        lines.append(f"  ... and {len(idx) - limit} more")
    return "\n".join(lines)
