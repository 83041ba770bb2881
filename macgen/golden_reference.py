"""The golden model's arithmetic written for reading: one value at a time, on Python integers.

This module states docs/arithmetic.md §2–4 as code, with no speed-up of any
kind, so that the rules can be checked by reading. :mod:`macgen.golden`'s fast
paths (NumPy tables, the numba kernel) must agree with it bit for bit, NaNs and
signed zeros included; ``tests/test_golden.py`` compares them on seeded random
and corner-case inputs. It is also used by :mod:`macgen.golden` itself where a
configuration is too wide for the fast paths (products or results of more than
about 60 bits).

A number is a :class:`Value`: ``(-1)^sign * sig * 2^exp`` with integers of any
size, or infinity, or NaN. Every operation forms the exact result and rounds
it once with :func:`round_to`. Codes are plain ``int`` bit patterns.
The one departure from "exact": when two addends lie so far apart that the
exact sum would need huge integers (formats with exponent ranges of millions),
:func:`add_exact` replaces the far smaller one by a tiny stand-in of the same
sign, which provably rounds alike (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import MACConfig
from .formats import FloatFormat

__all__ = ["Value", "decode", "round_to", "encode", "multiply", "add", "mac", "fma",
           "convert", "dot", "matmul"]

FINITE, INF, NAN = "finite", "inf", "nan"


@dataclass(frozen=True)
class Value:
    """An exact value: ``(-1)^sign * sig * 2^exp`` when ``kind`` is ``'finite'``.

    Zero is ``sig == 0`` (with its sign). For ``'inf'`` only ``sign`` counts;
    for ``'nan'`` nothing does (every NaN written is canonical).
    """

    kind: str
    sign: int
    sig: int = 0
    exp: int = 0

    @property
    def is_zero(self) -> bool:
        return self.kind == FINITE and self.sig == 0


def decode(fmt: FloatFormat, code: int) -> Value:
    """The value of one code of ``fmt`` (docs/arithmetic.md §1)."""
    code = int(code)
    M = fmt.man_bits
    sign = code >> (fmt.width - 1)
    field = (code >> M) & fmt.exp_field_max
    frac = code & ((1 << M) - 1)
    if field == fmt.exp_field_max:
        if fmt.policy == "ieee":
            return Value(NAN, sign) if frac else Value(INF, sign)
        if fmt.policy == "nan-only" and frac == (1 << M) - 1:
            return Value(NAN, sign)
    if field == 0:
        # Zero or subnormal 0.f * 2^emin; ftz formats read subnormals as zero.
        return Value(FINITE, sign, frac if fmt.subnormals else 0, fmt.emin - M)
    return Value(FINITE, sign, (1 << M) | frac, field - fmt.bias - M)


def _round_integer(n: int, shift: int, rounding: str) -> int:
    """``n / 2^shift`` rounded to an integer (``n >= 0``, ``shift > 0``), RNE or RTZ."""
    kept = n >> shift
    if rounding == "rne":
        rest = n - (kept << shift)
        half = 1 << (shift - 1)
        if rest > half or (rest == half and kept % 2 == 1):
            kept += 1
    return kept


def round_significand(sig: int, exp: int, bits: int, rounding: str) -> tuple[int, int]:
    """``sig * 2^exp`` rounded to ``bits`` significant bits, exponent unbounded (products)."""
    shift = sig.bit_length() - bits
    if shift <= 0:
        return sig, exp
    sig = _round_integer(sig, shift, rounding)
    exp += shift
    if sig.bit_length() > bits:        # rounded up to the next power of two
        sig >>= 1
        exp += 1
    return sig, exp


def _pack(fmt: FloatFormat, sign: int, field: int, frac: int) -> int:
    return (sign << (fmt.width - 1)) | (field << fmt.man_bits) | frac


def _overflow(fmt: FloatFormat, sign: int, rounding: str) -> int:
    """The code of a result beyond max finite (docs/arithmetic.md §2's table)."""
    if rounding == "rne" and fmt.policy == "ieee":
        return _pack(fmt, sign, fmt.exp_field_max, 0)                 # ±inf
    if rounding == "rne" and fmt.policy == "nan-only":
        return fmt.nan_bits                                             # canonical NaN
    return _pack(fmt, sign, fmt.emax + fmt.bias, fmt.max_frac)          # ±max finite


def round_to(fmt: FloatFormat, sign: int, sig: int, exp: int, rounding: str) -> int:
    """Round the exact value ``(-1)^sign * sig * 2^exp`` into ``fmt``; its code.

    The quantum is ``q = 2^(max(floor(log2|x|), emin) - M)`` (``emin`` dropped for
    ftz formats), ``|x| / q`` is rounded to an integer ``n`` by the mode, and
    ``n * q`` is the result. A result that rounds to zero keeps ``sign``; ftz
    formats flush results below the smallest normal to that zero; results above
    max finite overflow by :func:`_overflow`.
    """
    M = fmt.man_bits
    if sig == 0:
        return _pack(fmt, sign, 0, 0)
    top = exp + sig.bit_length() - 1                 # floor(log2 |x|)
    q = (max(top, fmt.emin) if fmt.subnormals else top) - M
    if q > exp:
        n = _round_integer(sig, q - exp, rounding)
    else:
        n = sig << (exp - q)                         # exact: no bits below the quantum
    if n >> (M + 1):                                 # carried into the next binade
        n >>= 1
        q += 1
    # Now x rounds to n * 2^q with n < 2^(M+1); n >= 2^M unless subnormal (q = emin - M).
    if n == 0 or (not fmt.subnormals and q + M < fmt.emin):
        return _pack(fmt, sign, 0, 0)
    if q + M > fmt.emax or (q + M == fmt.emax and n > fmt.max_significand):
        return _overflow(fmt, sign, rounding)
    if n >> M:
        return _pack(fmt, sign, q + M + fmt.bias, n - (1 << M))
    return _pack(fmt, sign, 0, n)                    # subnormal


def encode(fmt: FloatFormat, x: Value, rounding: str = "rne") -> int:
    """The code of ``x`` in ``fmt``, rounded once (canonical NaN, zeros keep their sign)."""
    if x.kind == NAN:
        return fmt.nan_bits
    if x.kind == INF:
        return _pack(fmt, x.sign, fmt.exp_field_max, 0)
    return round_to(fmt, x.sign, x.sig, x.exp, rounding)


def multiply(a_fmt: FloatFormat, b_fmt: FloatFormat, a: int, b: int,
             product_man_bits: int | None = None, rounding: str = "rne") -> Value:
    """The product of two codes: exact, or rounded to ``product_man_bits`` fraction bits."""
    x, y = decode(a_fmt, a), decode(b_fmt, b)
    sign = x.sign ^ y.sign                           # also for zeros and infinities
    if NAN in (x.kind, y.kind) or (x.kind == INF and y.is_zero) or (y.kind == INF and x.is_zero):
        return Value(NAN, 0)
    if INF in (x.kind, y.kind):
        return Value(INF, sign)
    sig, exp = x.sig * y.sig, x.exp + y.exp
    if product_man_bits is not None and sig:
        sig, exp = round_significand(sig, exp, product_man_bits + 1, rounding)
    return Value(FINITE, sign, sig, exp)


#: Exponent gap (bits) beyond which add_exact uses a stand-in for the far smaller addend.
EXACT_GAP = 4096


def add_exact(x: Value, y: Value, man_bits: int) -> Value:
    """``x + y`` for finite non-zero values, exact or (far apart) rounding-equivalent.

    Equivalence, when ``y``'s leading bit lies more than :data:`EXACT_GAP` bits
    below ``x``'s: let ``g = min(lowest set bit of x, top(x) - M - 2)`` (as
    exponents; ``M = man_bits`` of the result format). The result lies within a
    factor two of ``x``, so its quantum is at least ``2^(top(x) - 1 - M)`` and
    every rounding boundary near it (a multiple of half a quantum) is a
    multiple of ``2^g``, as ``x`` is. ``|y| < 2^(g-1)`` puts ``x + y`` strictly
    between ``x`` and the next multiple of ``2^g`` on ``y``'s side, never on a
    boundary; ``y' = ±2^(g-2)`` lies in the same interval. Both sums therefore
    round alike in both modes, flush alike, and have ``x``'s sign.
    """
    x_top = x.exp + x.sig.bit_length() - 1
    y_top = y.exp + y.sig.bit_length() - 1
    if y_top > x_top:
        x, y, x_top, y_top = y, x, y_top, x_top
    if x_top - y_top > EXACT_GAP:
        lowest = x.exp + ((x.sig & -x.sig).bit_length() - 1)
        g = min(lowest, x_top - man_bits - 2)
        if y_top < g - 1:
            y = Value(FINITE, y.sign, 1, g - 2)
    base = min(x.exp, y.exp)
    total = ((-1) ** x.sign * (x.sig << (x.exp - base))
             + (-1) ** y.sign * (y.sig << (y.exp - base)))
    return Value(FINITE, int(total < 0), abs(total), base)


def add(fmt: FloatFormat, x: Value, y: Value, rounding: str = "rne") -> int:
    """``round_fmt(x + y)``: the code of the sum, rounded once (docs/arithmetic.md §3)."""
    if x.kind == NAN or y.kind == NAN or (x.kind == y.kind == INF and x.sign != y.sign):
        return fmt.nan_bits
    if x.kind == INF or y.kind == INF:
        return encode(fmt, x if x.kind == INF else y)
    if x.is_zero and y.is_zero:
        # Two zeros of the same sign keep it; -0 + +0 is +0.
        return _pack(fmt, x.sign & y.sign, 0, 0)
    if x.is_zero or y.is_zero:
        return encode(fmt, y if x.is_zero else x, rounding)
    total = add_exact(x, y, fmt.man_bits)
    if total.sig == 0:
        return _pack(fmt, 0, 0, 0)                   # exact cancellation: +0 in both modes
    return round_to(fmt, total.sign, total.sig, total.exp, rounding)


def mac(cfg: MACConfig, acc: int, a: int, b: int) -> int:
    """One MAC step ``round_ACC(acc + a*b)`` on codes."""
    p = multiply(cfg.a_fmt, cfg.b_fmt, a, b, cfg.product_man_bits, cfg.rounding)
    return add(cfg.acc_fmt, decode(cfg.acc_fmt, acc), p, cfg.rounding)


def fma(fmt: FloatFormat, a: int, b: int, c: int, rounding: str = "rne") -> int:
    """``round(a*b + c)`` with every operand in ``fmt``."""
    return mac(MACConfig(fmt, fmt, fmt, rounding=rounding), c, a, b)


def convert(src_fmt: FloatFormat, dst_fmt: FloatFormat, code: int, rounding: str = "rne") -> int:
    """A code of ``src_fmt`` rounded into ``dst_fmt`` (zeros keep their sign, NaN canonical)."""
    return encode(dst_fmt, decode(src_fmt, code), rounding)


def dot(cfg: MACConfig, a, b, init: int | None = None) -> int:
    """One dot product of operand codes ``a``, ``b`` (docs/arithmetic.md §4), in ``cfg.out_fmt``.

    No chunking: ``s_0 = init``, ``s_i = round_ACC(s_{i-1} + a_i*b_i)``. With
    ``cfg.chunk_size = L``: each run of ``L`` products (the last may be shorter) is
    summed from +0 in ACC, and each chunk sum ``t`` is added into the outer
    accumulator, ``o = round_OUTER(o + t)`` from ``o = init``. Then
    ``round_OUT`` of the result.
    """
    a, b = [int(v) for v in a], [int(v) for v in b]
    if len(a) != len(b) or not a:
        raise ValueError(f"Dot product operands must have the same length >= 1, not {len(a)} and {len(b)}")
    acc_fmt, outer_fmt = cfg.acc_fmt, cfg.outer_fmt
    outer = 0 if init is None else int(init)         # +0 unless given
    if not cfg.chunk_size:
        # The outer format is the accumulator's here (MACConfig), init is an ACC code.
        for x, y in zip(a, b):
            outer = mac(cfg, outer, x, y)
    else:
        L = cfg.chunk_size
        for start in range(0, len(a), L):
            chunk = 0                                # +0
            for x, y in zip(a[start:start + L], b[start:start + L]):
                chunk = mac(cfg, chunk, x, y)
            outer = add(outer_fmt, decode(outer_fmt, outer), decode(acc_fmt, chunk), cfg.rounding)
    return convert(outer_fmt, cfg.out_fmt, outer, cfg.rounding)


def matmul(cfg: MACConfig, A, B, C=None) -> list[list[int]]:
    """``C[i][j] = dot(A[i, :], B[:, j], init=C[i][j])`` for nested sequences of codes."""
    rows, inner, cols = len(A), len(B), len(B[0]) if len(B) else 0
    return [[dot(cfg, A[i], [B[k][j] for k in range(inner)], None if C is None else C[i][j])
             for j in range(cols)] for i in range(rows)]
