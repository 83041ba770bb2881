"""Binary floating-point formats: parameters, names, encode/decode, exact rounding.

No Amaranth here. Bit patterns are ``numpy.uint64`` arrays (or Python ints for
scalars); every format is at most 64 bits wide.

Special values follow one of three policies (docs/arithmetic.md §1), the ``policy`` of a
format: ``"ieee"`` (exponent field all ones is inf or NaN), ``"finite"`` (no
inf, no NaN) and ``"nan-only"`` (OCP FP8 E4M3: no inf; the codes with exponent
and fraction all ones are NaN). Everything that depends on the policy is a
method or property of :class:`FloatFormat` (``has_inf``, ``has_nan``,
``is_nan``, ``is_inf``, ``nan_bits``, ``emax``, ``max_finite_bits``,
``overflow_bits``), and :func:`check_feeds` is docs/arithmetic.md §3's mixed-policy rule.

The one rounding primitive of macgen lives here, :func:`round_pack`: it turns an
exact value ``(-1)^sign * (sig + eps) * 2^exp`` (``eps`` in ``(0, 1)`` when a
sticky bit is set) into a bit pattern of a format, by docs/arithmetic.md §3's rules. The
golden model builds every operation on it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .validate import check_bool, check_choice, check_int

__all__ = [
    "FloatFormat",
    "FP32", "FP16", "BF16", "FP8_E5M2", "FP8_E4M3FN", "FP6_E2M3FN", "FP6_E3M2FN", "FP4_E2M1FN",
    "PRESETS", "POLICIES", "ROUNDING_MODES", "check_rounding", "check_format",
    "round_pack", "bit_length", "standard_bias", "accumulator_format", "check_feeds",
    "accumulator_policy",
]

ROUNDING_MODES = ("rne", "rtz")
#: Special-value policies (docs/arithmetic.md §1) and the name suffix that spells each one.
POLICIES = ("ieee", "finite", "nan-only")
_POLICY_SUFFIX = {"ieee": "", "finite": "fn", "nan-only": "fnan"}

_U64 = np.uint64
# One spelling per format: policy suffix, then _ftz, then _bias<n> (never the default
# bias); no leading zeros, nothing repeated.
_NUM = r"(0|[1-9]\d*)"
_NAME_RE = re.compile(rf"^e{_NUM}m{_NUM}(fnan|fn)?(_ftz)?(_bias(-?{_NUM}))?$")


def check_rounding(rounding) -> str:
    """``rounding`` if it is one of :data:`ROUNDING_MODES`, else :class:`ValueError`."""
    return check_choice("Rounding mode", rounding, ROUNDING_MODES)


def standard_bias(exp_bits: int) -> int:
    """The IEEE bias of an ``exp_bits``-bit exponent field: ``2**(exp_bits - 1) - 1``."""
    return (1 << (exp_bits - 1)) - 1


@dataclass(frozen=True, init=False)
class FloatFormat:
    """A binary floating-point format (docs/arithmetic.md §1).

    Encoding, MSB first: sign (1 bit), exponent field (``exp_bits``), fraction
    (``man_bits``; the hidden bit is never counted).

    Parameters
    ----------
    exp_bits : int
        Exponent field width E, at least 2.
    man_bits : int
        Fraction width M, at least 1 (an IEEE-style NaN needs a fraction bit).
        ``1 + E + M`` must not exceed 64.
    bias : int, optional
        Exponent bias; ``2**(E-1) - 1`` by default, between ``-2**(E-1)`` and
        ``2**E - 1``.
    subnormals : bool
        ``True``: exponent field 0 encodes subnormals. ``False`` ("ftz"): such
        inputs read as zero of the same sign, and results below the smallest
        normal flush to zero keeping the sign of the exact value.
    policy : {'ieee', 'finite', 'nan-only'}
        Special values (docs/arithmetic.md §1). ``'ieee'`` (default): exponent field all ones
        is infinity (fraction 0) or NaN. ``'finite'`` (name suffix ``fn``, as in
        OCP's FP6/FP4 names): every code is finite and overflow saturates to the
        largest finite value. ``'nan-only'`` (suffix ``fnan``; OCP FP8 E4M3, ml_dtypes'
        ``float8_e4m3fn``): no infinity; the two codes with exponent *and*
        fraction all ones are NaN, every other code is finite; overflow is NaN
        under RNE and the largest finite value under RTZ.
    inf_nan : bool, optional
        The older spelling of the policy: ``True`` is ``'ieee'``, ``False``
        ``'finite'``. Give at most one of ``policy`` and ``inf_nan``.

    Raises
    ------
    TypeError
        A parameter of the wrong type (``bool`` is not an integer here).
    ValueError
        A parameter out of range.
    """

    exp_bits: int
    man_bits: int
    bias: int
    subnormals: bool
    policy: str

    def __init__(self, exp_bits, man_bits, bias=None, subnormals=True, *, policy=None, inf_nan=None):
        if inf_nan is not None:
            inf_nan = check_bool("inf_nan", inf_nan)
            old = "ieee" if inf_nan else "finite"
            if policy is not None and policy != old:
                raise ValueError(f"policy {policy!r} conflicts with inf_nan={inf_nan}; give only policy")
            policy = old
        policy = "ieee" if policy is None else policy
        check_choice("Special-value policy", policy, POLICIES)
        e = check_int("Exponent width", exp_bits, minimum=2)
        m = check_int("Mantissa width", man_bits, minimum=1)
        if 1 + e + m > 64:
            raise ValueError(f"Format width 1+{e}+{m} = {1 + e + m} exceeds 64 bits")
        bias = standard_bias(e) if bias is None else check_int("Bias", bias)
        # Keeps every exponent (field - bias - M) well inside int64 for the golden model.
        lo, hi = -(1 << (e - 1)), (1 << e) - 1
        if not lo <= bias <= hi:
            raise ValueError(f"Bias of a {e}-bit exponent must be between {lo} and {hi}, not {bias}")
        object.__setattr__(self, "exp_bits", e)
        object.__setattr__(self, "man_bits", m)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "subnormals", check_bool("subnormals", subnormals))
        object.__setattr__(self, "policy", policy)

    # -- names ---------------------------------------------------------------

    @classmethod
    def parse(cls, text) -> "FloatFormat":
        """Parse ``e5m2``, ``e2m3fn``, ``e4m3fnan``, ``e5m10_ftz``, ``e8m7_bias100``
        or a preset name (``fp32``, ``fp16``, ``bf16``, ``fp8_e5m2``, ``fp8_e4m3fn``,
        ``fp6_e2m3fn``, ``fp6_e3m2fn``, ``fp4_e2m1fn``; see :data:`PRESETS`).

        Names are strict: the policy suffix (none, ``fn`` or ``fnan``), then
        ``_ftz``, then ``_bias<n>`` (only when it is not the default bias), each
        at most once; letters may be upper case. :meth:`__str__` writes exactly
        this form. A :class:`FloatFormat` is returned unchanged.
        """
        if isinstance(text, FloatFormat):
            return text
        if not isinstance(text, str):
            raise TypeError(f"Format must be a FloatFormat or a string, not {text!r}")
        key = text.strip().lower()
        if key in PRESETS:
            return PRESETS[key]
        if key in _NOT_PRESETS:
            raise ValueError(f"Unknown format {text!r}: {_NOT_PRESETS[key]}")
        match = _NAME_RE.match(key)
        if not match:
            raise ValueError(
                f"Unknown format {text!r}; expected a preset ({', '.join(PRESETS)}) or text like "
                f"'e6m9', 'e2m3fn' (finite), 'e4m3fnan' (nan-only), 'e5m10_ftz', 'e8m7_bias100', "
                f"with suffixes in that order, each at most once")
        e, m = int(match[1]), int(match[2])
        policy = {"fn": "finite", "fnan": "nan-only"}.get(match[3], "ieee")
        bias = None if match[6] is None else int(match[6])
        fmt = cls(e, m, bias=bias, subnormals=match[4] is None, policy=policy)
        if bias is not None and bias == standard_bias(e):
            raise ValueError(f"Unknown format {text!r}: {bias} is the default bias, write {fmt}")
        return fmt

    def __str__(self):
        text = f"e{self.exp_bits}m{self.man_bits}" + _POLICY_SUFFIX[self.policy]
        if not self.subnormals:
            text += "_ftz"
        if self.bias != standard_bias(self.exp_bits):
            text += f"_bias{self.bias}"
        return text

    @property
    def ident(self) -> str:
        """The name as a Verilog/Python identifier fragment (``-`` becomes ``m``)."""
        return str(self).replace("-", "m")

    # -- derived constants -----------------------------------------------------

    @property
    def width(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def exp_field_max(self) -> int:
        """The all-ones exponent field."""
        return (1 << self.exp_bits) - 1

    @property
    def inf_nan(self) -> bool:
        """``True`` for the ieee policy (the older boolean spelling of it)."""
        return self.policy == "ieee"

    @property
    def has_inf(self) -> bool:
        """Whether the format has infinities (ieee only)."""
        return self.policy == "ieee"

    @property
    def has_nan(self) -> bool:
        """Whether the format has NaN codes (ieee and nan-only)."""
        return self.policy != "finite"

    @property
    def emax(self) -> int:
        """Unbiased exponent of the largest finite value."""
        top = self.exp_field_max - (1 if self.policy == "ieee" else 0)
        return top - self.bias

    @property
    def max_frac(self) -> int:
        """Fraction field of the largest finite value (all ones but the NaN code's for nan-only)."""
        return (1 << self.man_bits) - (2 if self.policy == "nan-only" else 1)

    @property
    def emin(self) -> int:
        """Unbiased exponent of the smallest normal value (``1 - bias``)."""
        return 1 - self.bias

    @property
    def sign_bit(self) -> int:
        return 1 << (self.width - 1)

    @property
    def max_finite_bits(self) -> int:
        return ((self.emax + self.bias) << self.man_bits) | self.max_frac

    @property
    def max_significand(self) -> int:
        """Integer significand of the largest finite value: it is ``max_significand * 2^(emax - M)``."""
        return (1 << self.man_bits) | self.max_frac

    @property
    def inf_bits(self) -> int:
        if not self.has_inf:
            raise ValueError(f"Format {self} has no infinity")
        return self.exp_field_max << self.man_bits

    @property
    def nan_bits(self) -> int:
        """The canonical NaN (docs/arithmetic.md §3), sign 0: ieee exponent all ones and fraction
        ``1 << (M-1)``; nan-only exponent and fraction all ones."""
        if not self.has_nan:
            raise ValueError(f"Format {self} has no NaN")
        if self.policy == "nan-only":
            return (1 << (self.width - 1)) - 1
        return (self.exp_field_max << self.man_bits) | (1 << (self.man_bits - 1))

    def overflow_bits(self, rounding) -> int:
        """The code (sign bit clear) that an overflowing result becomes (docs/arithmetic.md §3):
        ieee+rne inf, nan-only+rne the canonical NaN, else max finite. The sign of
        the exact value is then applied, except to NaN (canonical, sign 0)."""
        if rounding == "rne" and self.policy != "finite":
            return self.inf_bits if self.has_inf else self.nan_bits
        return self.max_finite_bits

    @property
    def max_finite(self) -> float:
        return _ldexp(self.max_significand, self.emax - self.man_bits)

    @property
    def min_normal(self) -> float:
        return _ldexp(1, self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value (the smallest normal when subnormals are off)."""
        if not self.subnormals:
            return self.min_normal
        return _ldexp(1, self.emin - self.man_bits)

    # -- fields and classification ----------------------------------------------

    def fields(self, bits):
        """Split bit patterns into (sign, exponent field, fraction) uint64 arrays."""
        bits = np.asarray(bits, dtype=_U64)
        m, e = self.man_bits, self.exp_bits
        return ((bits >> _U64(m + e)) & _U64(1),
                (bits >> _U64(m)) & _U64((1 << e) - 1),
                bits & _U64((1 << m) - 1))

    def is_nan(self, bits):
        _, e, f = self.fields(bits)
        if self.policy == "finite":
            return np.zeros(e.shape, dtype=bool)
        top = e == _U64(self.exp_field_max)
        if self.policy == "nan-only":
            return top & (f == _U64((1 << self.man_bits) - 1))
        return top & (f != 0)

    def is_inf(self, bits):
        _, e, f = self.fields(bits)
        if not self.has_inf:
            return np.zeros(e.shape, dtype=bool)
        return (e == _U64(self.exp_field_max)) & (f == 0)

    def is_zero(self, bits):
        """True for ±0, and for subnormal codes when subnormals are off (they read as zero)."""
        _, e, f = self.fields(bits)
        return (e == 0) & ((f == 0) | (not self.subnormals))

    def is_subnormal(self, bits):
        _, e, f = self.fields(bits)
        return (e == 0) & (f != 0) & self.subnormals

    def is_normal(self, bits):
        _, e, _ = self.fields(bits)
        return (e != 0) & ~self.is_nan(bits) & ~self.is_inf(bits)

    def classify(self, bits):
        """Class names per element: 'zero', 'subnormal', 'normal', 'inf', 'nan'."""
        bits = np.asarray(bits, dtype=_U64)
        out = np.full(bits.shape, "normal", dtype=object)
        out[self.is_subnormal(bits)] = "subnormal"
        out[self.is_zero(bits)] = "zero"
        out[self.is_inf(bits)] = "inf"
        out[self.is_nan(bits)] = "nan"
        return out

    def unpack(self, bits):
        """Exact value of finite codes as ``(sign, sig, exp)``: ``(-1)^sign * sig * 2^exp``.

        ``sig`` and ``exp`` are uint64/int64 arrays; zeros (and ftz-read subnormals)
        give ``sig = 0``. Inf/NaN codes give meaningless ``sig``/``exp``; test them
        with :meth:`is_inf` / :meth:`is_nan` first.
        """
        s, e, f = self.fields(bits)
        normal = e != 0
        sig = np.where(normal, f | _U64(1 << self.man_bits), f if self.subnormals else _U64(0))
        exp = np.where(normal, e.astype(np.int64), np.int64(1)) - np.int64(self.bias + self.man_bits)
        return s, sig.astype(_U64), exp.astype(np.int64)

    # -- float64 conversion ------------------------------------------------------

    def decode(self, bits):
        """Bit patterns to float64 (exact whenever the value is a float64)."""
        bits = np.asarray(bits, dtype=_U64)
        s, sig, exp = self.unpack(bits)
        with np.errstate(over="ignore"):
            mag = np.ldexp(sig.astype(np.float64), exp.astype(np.int64))
        mag = np.where(self.is_inf(bits), np.inf, mag)
        mag = np.where(self.is_nan(bits), np.nan, mag)
        out = np.where(s.astype(bool), -mag, mag)
        return out if out.ndim else float(out)

    def encode(self, values, rounding="rne"):
        """Float64 values to bit patterns, rounded once by ``rounding`` (RNE default).

        NaN becomes the canonical NaN; infinities and overflow follow docs/arithmetic.md §3's
        overflow rule (finite formats saturate; nan-only formats give NaN under
        RNE, max finite under RTZ). Encoding NaN into a finite format, or an
        infinity into a nan-only one, raises ``ValueError``.
        """
        x = np.asarray(values, dtype=np.float64)
        nan = np.isnan(x)
        if nan.any() and not self.has_nan:
            raise ValueError(f"Format {self} has no NaN to encode")
        if self.policy == "nan-only" and np.isinf(x).any():
            raise ValueError(f"Format {self} has no infinity to encode")
        sign = np.signbit(x).astype(_U64)
        finite = np.isfinite(x)
        frac, exp = np.frexp(np.where(finite, np.abs(x), 1.0))
        sig = np.ldexp(frac, 53).astype(_U64)
        bits = round_pack(self, sign, sig, exp.astype(np.int64) - 53, rounding=rounding)
        inf = np.isinf(x)
        if inf.any():
            big = self.inf_bits if self.has_inf else self.max_finite_bits
            bits = np.where(inf, (sign << _U64(self.width - 1)) | _U64(big), bits)
        if nan.any():
            bits = np.where(nan, _U64(self.nan_bits), bits)
        return bits.astype(_U64)


def _ldexp(m, e):
    try:
        return math.ldexp(float(m), e)
    except OverflowError:
        return math.inf


FP32 = FloatFormat(8, 23)
FP16 = FloatFormat(5, 10)
BF16 = FloatFormat(8, 7)
#: OCP FP8 E5M2 (ml_dtypes ``float8_e5m2``): IEEE-style, with inf and NaN, max 57344.
FP8_E5M2 = FloatFormat(5, 2)
#: OCP FP8 E4M3 (ml_dtypes ``float8_e4m3fn``): nan-only, max 448, NaN at S.1111.111.
#: Not ``e4m3`` (IEEE-style, max 240) nor ``e4m3fn`` (finite, max 480).
FP8_E4M3FN = FloatFormat(4, 3, policy="nan-only")
#: OCP FP6 E2M3 and E3M2, FP4 E2M1 (ml_dtypes ``float6_e2m3fn`` ...): finite, no inf, no NaN.
FP6_E2M3FN = FloatFormat(2, 3, policy="finite")
FP6_E3M2FN = FloatFormat(3, 2, policy="finite")
FP4_E2M1FN = FloatFormat(2, 1, policy="finite")
#: The presets: the ML ecosystem's names (ml_dtypes/PyTorch/OCP) and meanings.
PRESETS = {"fp32": FP32, "fp16": FP16, "bf16": BF16, "fp8_e5m2": FP8_E5M2, "fp8_e4m3fn": FP8_E4M3FN,
           "fp6_e2m3fn": FP6_E2M3FN, "fp6_e3m2fn": FP6_E3M2FN, "fp4_e2m1fn": FP4_E2M1FN}
# Names people will try that are deliberately not presets.
_NOT_PRESETS = {
    "fp8_e4m3": "OCP's FP8 E4M3 is 'fp8_e4m3fn' (nan-only, max 448); the IEEE-style e4m3 "
                "(with inf, max 240) is 'e4m3'",
}


def check_feeds(src, dst, src_name="source", dst_name="destination"):
    """docs/arithmetic.md §3's mixed-policy rule for one stage: every special value that ``src``
    can hold must be representable in ``dst`` (NaN needs NaN, inf needs inf).

    Raises
    ------
    ValueError
        Naming both formats and what ``dst`` lacks.
    """
    for has, what in (("has_nan", "NaN"), ("has_inf", "infinity")):
        if getattr(src, has) and not getattr(dst, has):
            raise ValueError(
                f"{src_name} {src} ({src.policy}) can be {what}, which {dst_name} {dst} "
                f"({dst.policy}) cannot represent")


def accumulator_policy(*inputs) -> str:
    """The accumulator policy the planner gives products of ``inputs``: ``'finite'``
    when every input is finite, else ``'ieee'`` (it holds NaN and inf, and
    overflows to inf, so it satisfies :func:`check_feeds` for any input)."""
    return "finite" if all(f.policy == "finite" for f in inputs) else "ieee"


def bit_length(x):
    """Element-wise ``int.bit_length`` of a uint64 array (exact; no float conversion)."""
    x = np.asarray(x, dtype=_U64).copy()
    n = np.zeros(x.shape, dtype=np.int64)
    for s in (32, 16, 8, 4, 2, 1):
        big = x >= _U64(1 << s)
        n += np.where(big, s, 0)
        x = np.where(big, x >> _U64(s), x)
    return n + (x != 0)


def round_pack(fmt: FloatFormat, sign, sig, exp, sticky=None, rounding="rne"):
    """Round an exact value into ``fmt`` and encode it (docs/arithmetic.md §3).

    The value is ``(-1)^sign * (sig + eps) * 2^exp`` with ``eps = 0`` where
    ``sticky`` is false and some ``0 < eps < 1`` where it is true.

    Parameters
    ----------
    fmt : FloatFormat
    sign, sig, exp, sticky : array_like
        Broadcastable arrays: sign 0/1, ``sig < 2**62`` (uint64), ``exp`` int64,
        ``sticky`` bool (or None). Where ``sticky`` is set, ``sig`` must have at
        least ``fmt.man_bits + 2`` significant bits so that the rounding point lies
        above the sticky position.
    rounding : {'rne', 'rtz'}

    Returns
    -------
    numpy.ndarray of uint64
        Zero results keep ``sign`` (the caller picks the sign of an exact zero).
        Quantum ``2^(max(floor(log2|x|), emin) - M)`` (``emin`` unbounded below
        for ftz formats, where results under the smallest normal flush to zero);
        overflow gives ±inf for ieee+rne, the canonical NaN (sign 0) for
        nan-only+rne, else ±max finite.
    """
    check_rounding(rounding)
    M = fmt.man_bits
    sign = np.asarray(sign).astype(_U64)
    sig = np.asarray(sig).astype(_U64)
    exp = np.asarray(exp).astype(np.int64)
    sticky = np.zeros((), dtype=bool) if sticky is None else np.asarray(sticky, dtype=bool)
    sign, sig, exp, sticky = np.broadcast_arrays(sign, sig, exp, sticky)

    length = bit_length(sig)
    e_msb = exp + length - 1
    e_q = e_msb - M
    if fmt.subnormals:
        e_q = np.maximum(e_q, fmt.emin - M)
    shift = e_q - exp
    right = np.clip(shift, 0, 63).astype(_U64)
    left = np.clip(-shift, 0, 63).astype(_U64)
    kept = np.where(shift >= 0, sig >> right, sig << left)
    half_pos = np.maximum(right, _U64(1)) - _U64(1)
    rem = sig & ((_U64(1) << right) - _U64(1))
    half = _U64(1) << half_pos
    if rounding == "rne":
        # rem and half are meaningless where shift <= 0; nothing was cut off there.
        up = (shift > 0) & ((rem > half) | ((rem == half) & (sticky | ((kept & _U64(1)) == 1))))
    else:
        up = np.zeros(kept.shape, dtype=bool)
    mant = kept + up.astype(_U64)
    carry = mant >> _U64(M + 1) != 0
    mant = np.where(carry, mant >> _U64(1), mant)
    e_q = e_q + carry

    nonzero = mant != 0
    normal = mant >> _U64(M) != 0
    e_field = e_q + M + fmt.bias
    if not fmt.subnormals:
        nonzero &= e_field >= 1  # flush: rounded magnitude below the smallest normal
    overflow = nonzero & normal & (e_q + M > fmt.emax)
    if fmt.policy == "nan-only":   # the top binade's all-ones fraction is NaN, not a number
        overflow |= nonzero & (e_q + M == fmt.emax) & ((mant & _U64((1 << M) - 1)) > _U64(fmt.max_frac))
    exp_field = np.where(normal, e_field, 0)
    body = np.where(nonzero,
                    (np.clip(exp_field, 0, None).astype(_U64) << _U64(M)) | (mant & _U64((1 << M) - 1)),
                    _U64(0))
    big = fmt.overflow_bits(rounding)
    body = np.where(overflow, _U64(big), body)
    if fmt.has_nan and big == fmt.nan_bits:
        sign = np.where(overflow, _U64(0), sign)
    return (sign << _U64(fmt.width - 1)) | body


def check_format(name: str, value) -> FloatFormat:
    """``value`` as a :class:`FloatFormat`: one already, or its name (:meth:`FloatFormat.parse`).

    Raises
    ------
    TypeError
        Neither a format nor a string ("a_fmt must be a FloatFormat or a format name, not 3").
    ValueError
        An unknown name.
    """
    if isinstance(value, FloatFormat):
        return value
    if isinstance(value, str):
        return FloatFormat.parse(value)
    raise TypeError(f"{name} must be a FloatFormat or a format name, not {value!r}")


def accumulator_format(a_fmt: FloatFormat, b_fmt: FloatFormat, exp_bits: int, man_bits: int) -> FloatFormat:
    """The accumulator format with ``exp_bits``/``man_bits`` for ``a_fmt x b_fmt`` products.

    The one rule the precision model, the sweeps, ``generate`` and the flow use
    to turn chosen widths into a format: the bias is the IEEE bias of
    ``exp_bits`` plus the offset ``a_fmt`` has from its own IEEE bias (0 for
    standard formats); subnormals if either operand has them (an ftz accumulator
    would flush the other operand's small products); the policy
    :func:`accumulator_policy` gives the operands (ieee unless both are finite,
    so that docs/arithmetic.md §3's mixed-policy rule holds).

    Raises
    ------
    TypeError, ValueError
        As :class:`FloatFormat` (e.g. ``1 + exp_bits + man_bits > 64``).
    """
    offset = a_fmt.bias - standard_bias(a_fmt.exp_bits)
    return FloatFormat(exp_bits, man_bits, bias=standard_bias(exp_bits) + offset,
                       subnormals=a_fmt.subnormals or b_fmt.subnormals,
                       policy=accumulator_policy(a_fmt, b_fmt))
