"""Floating-point datapath stages shared by the MAC and the array (Amaranth 0.5).

The stages follow Berkeley HardFloat's split: :class:`Unpack` (bits → unpacked
float), :class:`Multiply` (exact product, optionally rounded), :class:`AlignAdd`
(swap, align with sticky, add/subtract, negate) and :class:`Round` (normalize,
round, handle overflow/underflow/specials, pack); :class:`Convert` is
unpack → align → :class:`Round` for a change of format.

Values handed between stages use two layouts built by :func:`float_layout` and
:func:`sum_layout`. Every width is derived from the formats (the exponent range
a value can take, the significand widths), so that no datapath is wider than
the formats require; the Python-side :class:`FloatSpec` / :class:`SumSpec`
carry those ranges from stage to stage.

Exponent convention: an unpacked value is ``(-1)^sign * sig * 2^(exp - (len(sig) - 1))``,
i.e. ``exp`` is the weight of the top bit of ``sig``. ``lead`` tells how many
leading zeros a non-zero ``sig`` may have: 0 for normalized values, 1 for an
exact product of normalized significands (in ``[1, 4)``), ``len(sig) - 1`` for a
format with subnormals that is not normalized on unpacking.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..config import check_product_man_bits
from ..formats import FloatFormat, check_feeds

__all__ = [
    "FloatSpec", "SumSpec", "float_layout", "sum_layout", "unpack_spec", "product_spec", "add_spec",
    "Unpack", "Multiply", "AlignAdd", "Round", "Convert", "PackExact", "packs_exactly",
    "leading_zeros", "shift_right_sticky", "place", "rne_increment", "Cut",
]


def _exp_shape(lo, hi):
    return signed(max(bits_for(lo, True), bits_for(hi, True)))


class _SpecialFlags:
    """The ``nan``/``inf`` flags of a spec: ``inf`` defaults to ``nan`` (ieee)."""

    def __post_init__(self):
        if self.inf is None:
            object.__setattr__(self, "inf", self.nan)

    @property
    def specials(self) -> bool:
        """Whether ``inf`` or ``nan`` can be set."""
        return self.nan or self.inf


@dataclass(frozen=True)
class FloatSpec(_SpecialFlags):
    """Static description of an unpacked float: exponent range, significand width, specials.

    Members
    -------
    exp_lo, exp_hi : int
        Range of ``exp`` (weight of the top significand bit) for non-zero finite values.
    sig_width : int
        Significand width, hidden bit included.
    lead : int
        Largest number of leading zeros of a non-zero significand.
    nan : bool
        Whether ``nan`` can be set (ieee and nan-only formats).
    inf : bool, optional
        Whether ``inf`` can be set (ieee formats); defaults to ``nan``. No logic is
        built for a flag that cannot be set.
    """

    exp_lo: int
    exp_hi: int
    sig_width: int
    lead: int
    nan: bool
    inf: bool = None

    @property
    def layout(self):
        return float_layout(_exp_shape(self.exp_lo, self.exp_hi), self.sig_width)


@dataclass(frozen=True)
class SumSpec(_SpecialFlags):
    """Static description of an unrounded sum handed to :class:`Round`.

    ``vec`` has ``width`` bits; its bit ``width - 2`` weighs ``2^exp`` (the top bit
    is a carry position); bit 0 is sticky ("something non-zero at or below here");
    ``nan``/``inf`` as in :class:`FloatSpec`.
    """

    exp_lo: int
    exp_hi: int
    width: int
    nan: bool
    inf: bool = None

    @property
    def layout(self):
        return sum_layout(_exp_shape(self.exp_lo, self.exp_hi), self.width)


def float_layout(exp_shape, sig_width):
    """The unpacked-float layout shared by all stages.

    Fields: ``sig`` (significand, hidden bit included), ``exp`` (signed weight of
    the top ``sig`` bit), ``sign``, and the class flags ``zero``, ``inf``, ``nan``
    (when ``inf`` or ``nan`` is set, ``sig`` and ``exp`` are meaningless).
    """
    return data.StructLayout({
        "sig": sig_width, "exp": exp_shape, "sign": 1, "zero": 1, "inf": 1, "nan": 1,
    })


def sum_layout(exp_shape, width):
    """Layout of an exact-or-sticky sum before normalization and rounding.

    Fields: ``vec`` (magnitude, bit 0 sticky), ``exp`` (weight of bit ``width - 2``),
    ``sign`` (already the sign of an exact zero where ``vec`` is 0), ``inf``, ``nan``.
    """
    return data.StructLayout({"vec": width, "exp": exp_shape, "sign": 1, "inf": 1, "nan": 1})


def unpack_spec(fmt: FloatFormat, *, normalize=False, normal_only=False) -> FloatSpec:
    """The :class:`FloatSpec` of :class:`Unpack` ``(fmt, normalize=normalize, normal_only=normal_only)``."""
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"Format must be a FloatFormat, not {fmt!r}")
    subnormals = fmt.subnormals and not normal_only
    normalize = bool(normalize) and subnormals
    m = fmt.man_bits
    lo = fmt.emin - (m if normalize else 0)
    lead = 0 if (normalize or not subnormals) else m
    return FloatSpec(lo, fmt.emax, m + 1, lead, fmt.has_nan, fmt.has_inf)


def product_spec(a_spec: FloatSpec, b_spec: FloatSpec, *, product_man_bits=None) -> FloatSpec:
    """The :class:`FloatSpec` of :class:`Multiply`'s product."""
    if a_spec.lead or b_spec.lead:
        raise ValueError("Multiply needs normalized operands (lead 0)")
    width = a_spec.sig_width + b_spec.sig_width
    lo = a_spec.exp_lo + b_spec.exp_lo + 1
    hi = a_spec.exp_hi + b_spec.exp_hi + 1
    inf = a_spec.inf or b_spec.inf
    nan = a_spec.nan or b_spec.nan or inf       # inf x 0
    if product_man_bits is None:
        return FloatSpec(lo, hi, width, 1, nan, inf)
    check_product_man_bits(product_man_bits, a_spec.sig_width - 1, b_spec.sig_width - 1)
    return FloatSpec(lo - 1, hi + 1, product_man_bits + 1, 0, nan, inf)


def add_spec(x_spec: FloatSpec, y_spec: FloatSpec, result_fmt: FloatFormat) -> SumSpec:
    """The :class:`SumSpec` of :class:`AlignAdd` (window width and exponent range)."""
    # An x with leading zeros is fine only where it can never be the larger operand
    # with y's bits falling off the window: its (subnormal) exponent is y's lowest.
    if x_spec.lead > 1 and x_spec.exp_lo > y_spec.exp_lo:
        raise ValueError("AlignAdd needs x normalized (at most one leading zero) when its "
                         "exponent can be below y's")
    if y_spec.exp_lo < result_fmt.emin:
        raise ValueError("AlignAdd needs y exponents at or above the result's emin")
    # Window (above the bit-0 sticky position): no bit is lost where the operands can
    # cancel (x shifted by up to 1 below a normal y, y by up to 2 below an x in [1, 4)),
    # and where bits are lost the result keeps P bits and a round bit above bit 0.
    precision = result_fmt.man_bits + 1
    window = max(x_spec.sig_width + 1, y_spec.sig_width + 2, precision + 4)
    inf = x_spec.inf or y_spec.inf
    nan = x_spec.nan or y_spec.nan or (x_spec.inf and y_spec.inf)     # inf - inf
    return SumSpec(y_spec.exp_lo, max(x_spec.exp_hi, y_spec.exp_hi), window + 1, nan, inf)


# -- combinational building blocks ---------------------------------------------------


def _priority_lz(value, base, default):
    # base + (leading zeros of value), or default when value is zero.
    n = len(value)
    count = default
    for i in range(n):
        count = Mux(value[i], base + n - 1 - i, count)
    return count


def leading_zeros(m, value, *, group=16):
    """Leading-zero count of ``value`` (``len(value)`` when it is zero).

    Priority expressions over groups of ``group`` bits, then over the groups:
    synthesis turns them into compact encoders, and the simulator evaluates them in
    two steps (a single flat expression would nest too deeply for wide values).
    """
    n = len(value)
    width = bits_for(n)
    node = Signal(width, name="lz")
    if n <= 2 * group:
        m.d.comb += node.eq(_priority_lz(value, 0, n))
        return node
    count = Const(n, width)
    # Groups from the least significant end; the top group may be shorter.
    for lo in range(0, n, group):
        hi = min(n, lo + group)
        part = value[lo:hi]
        sub = Signal(width, name=f"lz_{lo}")
        m.d.comb += sub.eq(_priority_lz(part, n - hi, 0))
        count = Mux(part.any(), sub, count)
    m.d.comb += node.eq(count)
    return node


def _trailing_zeros(m, value, offset):
    """``offset`` + trailing zeros of ``value`` (any count when it is zero)."""
    n = len(value)
    rev = Cat(*(value[n - 1 - i] for i in range(n)))
    lz = leading_zeros(m, rev)
    out = Signal(bits_for(offset + n), name="tz")
    m.d.comb += out.eq(lz + offset)
    return out


def shift_right_sticky(m, value, amount):
    """Shift ``value`` right by ``amount``; bits shifted out are OR-ed into bit 0.

    Returns a value of ``value``'s width. ``amount`` may exceed the width.
    """
    width = len(value)
    if (1 << len(amount)) - 1 > width:
        # Beyond the width every bit is shifted out; clamp so that none is lost.
        amount = Mux(amount > width, width, amount)
    wide = Signal(2 * width, name="shr")
    m.d.comb += wide.eq(Cat(Const(0, width), value) >> amount)
    return wide[width:] | wide[:width].any()


def place(sig, width):
    """``sig`` at the top of a ``width``-bit sum window: its top bit at bit ``width - 2``
    (bit ``width - 1`` is the carry position), zeros below (the window's bit 0 is the
    sticky position of :func:`shift_right_sticky`)."""
    return Cat(Const(0, width - 1 - len(sig)), sig, Const(0, 1))


def rne_increment(m, value, keep):
    """The top ``keep`` bits of ``value`` rounded to nearest, ties to even: the round bit
    below them and the OR of everything under it (sticky) decide the increment.

    Returns a ``keep + 1``-bit signal: the rounded bits with the carry out on top (on
    a carry the low ``keep`` bits are all zero).
    """
    below = len(value) - keep
    if below < 1:
        raise ValueError(f"Rounding {len(value)} bits to {keep} needs at least one bit below them")
    kept = value[below:]
    sticky = value[:below - 1].any() if below > 1 else Const(0, 1)
    up = value[below - 1] & (sticky | kept[0])
    total = Signal(keep + 1, name="total")
    m.d.comb += total.eq(kept + up)
    return total


class Cut:
    """Names of the points where a pipelined accumulate loop can be cut by a register.

    In datapath order: after unpacking the operands (:data:`UNPACKED`, in the MAC),
    after the exponent compare and swap (:data:`COMPARED`) and after the alignment
    shift (:data:`ALIGNED`) in :class:`AlignAdd`, after the add (:data:`ADDED`,
    :class:`AlignAdd`'s output), and in :class:`Round` after the leading-zero count
    (:data:`COUNTED`), the normalizing shift (:data:`NORMALIZED`) and the rounding
    increment (:data:`ROUNDED`).
    """

    UNPACKED = "unpacked"
    COMPARED = "compared"
    ALIGNED = "aligned"
    ADDED = "added"
    COUNTED = "counted"
    NORMALIZED = "normalized"
    ROUNDED = "rounded"
    ORDER = (UNPACKED, COMPARED, ALIGNED, ADDED, COUNTED, NORMALIZED, ROUNDED)


def _check_cuts(cuts, allowed):
    cuts = frozenset(cuts)
    wrong = sorted(cuts - set(allowed))
    if wrong:
        raise ValueError(f"Cut points must be among {', '.join(allowed)}, not {', '.join(wrong)}")
    return cuts


def _cutter(m, cuts):
    """``cut(name, *values)``: the values, registered (``sync``, no reset) where ``name``
    is one of ``cuts``, unchanged otherwise (then no signal is created at all)."""

    def cut(name, *values):
        if name not in cuts:
            return values if len(values) != 1 else values[0]
        out = []
        for i, v in enumerate(values):
            shape = v.shape() if isinstance(v, data.View) else Value.cast(v).shape()
            r = Signal(shape, name=f"{name}_{i}", reset_less=True)
            m.d.sync += r.eq(v)
            out.append(r)
        return tuple(out) if len(out) != 1 else out[0]
    return cut


# -- stages ---------------------------------------------------------------------------


def _check_specials(spec, fmt):
    """A stage writing values of ``spec`` into ``fmt`` needs ``fmt`` to hold its specials
    (docs/arithmetic.md §2–4's mixed-policy rule; :class:`~macgen.config.MACConfig` enforces it)."""
    for flag, has, what in (("nan", "has_nan", "NaN"), ("inf", "has_inf", "infinity")):
        if getattr(spec, flag) and not getattr(fmt, has):
            raise ValueError(f"Values that can be {what} cannot be written into {fmt} ({fmt.policy})")


def _encode_specials(m, fmt, spec, value, body, sign):
    """Override a packed result with ±inf, or the canonical NaN (sign 0), where ``value``
    is one; only for the flags ``spec`` can set."""
    if spec.inf:
        with m.If(value.inf):
            m.d.comb += body.eq(fmt.inf_bits)
    if spec.nan:
        with m.If(value.nan):
            m.d.comb += [body.eq(fmt.nan_bits), sign.eq(0)]


class Unpack(wiring.Component):
    """Bits of a format → unpacked float.

    Parameters
    ----------
    fmt : FloatFormat
    normalize : bool
        Shift subnormal significands up so that the hidden bit is set (adds a
        leading-zero count and a shifter; only meaningful with subnormals).
    normal_only : bool
        The configuration proves that no subnormal code arrives
        (:mod:`macgen.reachable`): a zero exponent field means ±0, and no subnormal
        decode is built (as for an ftz format).

    Members
    -------
    bits : In(fmt.width)
    value : Out(spec.layout)
        ``zero`` is set for ±0 (and, in ftz formats, for subnormal codes).
    """

    def __init__(self, fmt: FloatFormat, *, normalize=False, normal_only=False):
        if not isinstance(fmt, FloatFormat):
            raise TypeError(f"Format must be a FloatFormat, not {fmt!r}")
        self._fmt = fmt
        self._subnormals = fmt.subnormals and not normal_only
        self._normalize = bool(normalize) and self._subnormals
        self.spec = unpack_spec(fmt, normalize=normalize, normal_only=normal_only)
        super().__init__({"bits": In(fmt.width), "value": Out(self.spec.layout)})

    def elaborate(self, platform):
        m = Module()
        fmt = self._fmt
        M, E = fmt.man_bits, fmt.exp_bits
        bits, v = self.bits, self.value
        frac = bits[:M]
        field = bits[M:M + E]
        sub = field == 0
        m.d.comb += v.sign.eq(bits[-1])
        if fmt.policy == "ieee":
            top = field == fmt.exp_field_max
            m.d.comb += [v.inf.eq(top & (frac == 0)), v.nan.eq(top & (frac != 0))]
        elif fmt.policy == "nan-only":
            # NaN is the code with exponent and fraction all ones; the rest of the top
            # binade is finite. (A finite format builds no detection at all.)
            m.d.comb += v.nan.eq(bits[:-1].all())
        if self._subnormals:
            m.d.comb += v.zero.eq(sub & (frac == 0))
            if self._normalize:
                lz = leading_zeros(m, frac)
                sub_sig = (frac << (lz + 1))[:M + 1]
                sub_exp = fmt.emin - 1 - lz
            else:
                sub_sig = frac
                sub_exp = fmt.emin
            m.d.comb += [
                v.sig.eq(Mux(sub, sub_sig, Cat(frac, Const(1, 1)))),
                v.exp.eq(Mux(sub, sub_exp, field - fmt.bias)),
            ]
        else:
            m.d.comb += [
                v.zero.eq(sub),
                v.sig.eq(Mux(sub, 0, Cat(frac, Const(1, 1)))),
                v.exp.eq(Mux(sub, fmt.emin, field - fmt.bias)),
            ]
        return m


class Multiply(wiring.Component):
    """Exact product of two normalized unpacked floats, optionally rounded.

    The exact product keeps all ``len(a.sig) + len(b.sig)`` bits (value in ``[1, 4)``,
    ``lead = 1``). With ``product_man_bits = p`` it is rounded by ``rounding`` to
    ``p`` fraction bits, exponent unbounded (``lead = 0``).

    Specials: NaN if either is NaN or for ``inf × 0``; else inf if either is inf
    (only the terms the operands' specs can set are built). The sign is always
    ``sa xor sb``.

    Parameters
    ----------
    a_spec, b_spec : FloatSpec
        Must be normalized (``lead == 0``).
    product_man_bits : int or None
    rounding : {'rne', 'rtz'}

    Members
    -------
    a, b : In(float layouts)
    product : Out(spec.layout)
    """

    def __init__(self, a_spec: FloatSpec, b_spec: FloatSpec, *, product_man_bits=None, rounding="rne"):
        self._a_spec, self._b_spec = a_spec, b_spec
        self._pmb = product_man_bits
        self._rounding = rounding
        self.spec = product_spec(a_spec, b_spec, product_man_bits=product_man_bits)
        super().__init__({
            "a": In(a_spec.layout), "b": In(b_spec.layout), "product": Out(self.spec.layout),
        })

    def elaborate(self, platform):
        m = Module()
        a, b, p = self.a, self.b, self.product
        width = self._a_spec.sig_width + self._b_spec.sig_width
        raw = Signal(width)
        raw_exp = Signal(_exp_shape(self.spec.exp_lo, self.spec.exp_hi))
        m.d.comb += [
            raw.eq(a.sig * b.sig),
            raw_exp.eq(a.exp + b.exp + 1),
            p.sign.eq(a.sign ^ b.sign),
            p.zero.eq(a.zero | b.zero),
        ]
        sa, sb = self._a_spec, self._b_spec
        if sa.specials and sb.specials and sa.inf == sb.inf:
            # Both can be NaN (and inf, or neither).
            nan = a.nan | b.nan
            if sa.inf:
                nan = nan | (a.inf & b.zero) | (a.zero & b.inf)
                m.d.comb += p.inf.eq((a.inf | b.inf) & ~nan)
            m.d.comb += p.nan.eq(nan)
        elif self.spec.specials:
            terms = []
            for x, y, sx in ((a, b, sa), (b, a, sb)):
                if sx.nan:
                    terms.append(x.nan)
                if sx.inf:
                    terms.append(x.inf & y.zero)
            nan = Signal(name="product_nan")
            m.d.comb += nan.eq(terms[0] if len(terms) == 1 else Cat(*terms).any())
            m.d.comb += p.nan.eq(nan)
            if self.spec.inf:
                inf = [x.inf for x, sx in ((a, sa), (b, sb)) if sx.inf]
                m.d.comb += p.inf.eq(Cat(*inf).any() & ~nan)
        pmb = self._pmb
        if pmb is None:
            m.d.comb += [p.sig.eq(raw), p.exp.eq(raw_exp)]
            return m
        top = raw[-1]
        norm = Mux(top, raw, raw << 1)[:width]
        if self._rounding == "rne":
            total = rne_increment(m, norm, pmb + 1)
        else:
            total = Cat(norm[width - 1 - pmb:], Const(0, 1))     # truncated: never a carry
        carry = total[-1]
        m.d.comb += [
            p.sig.eq(Mux(carry, 1 << pmb, total[:pmb + 1])),
            p.exp.eq(raw_exp - ~top + carry),
        ]
        return m


class AlignAdd(wiring.Component):
    """Exact-or-sticky sum of a normalized operand ``x`` and an accumulator operand ``y``.

    ``y`` is in the result format (its exponent is at least the format's ``emin``,
    zeros included), ``x`` has at most one leading zero. The operand with the
    larger exponent is placed at the top of a window of
    ``max(len(x.sig) + 1, len(y.sig) + 2, P + 4)`` bits (``P`` the result
    precision) plus a carry bit, the other is shifted right; bits shifted out of
    the window are OR-ed into its bit 0 (which then means "a fraction of up to two
    units of bit 0"), and the two are added or subtracted; a negative difference
    is negated. Where the operands can cancel no bit is lost; where bits are lost
    the result keeps ``P`` bits and a round bit above bit 0.

    Exact zeros follow docs/arithmetic.md §2–4: ``-0 + -0 = -0``, every other exact zero is +0.

    Parameters
    ----------
    x_spec, y_spec : FloatSpec
    result_fmt : FloatFormat

    Members
    -------
    x, y : In(float layouts)
    sum : Out(spec.layout)   (a :class:`SumSpec` layout)
    """

    #: The cut points :class:`AlignAdd` can register (see :class:`Cut`).
    CUTS = (Cut.COMPARED, Cut.ALIGNED, Cut.ADDED)

    def __init__(self, x_spec: FloatSpec, y_spec: FloatSpec, result_fmt: FloatFormat, *, cuts=()):
        self._x_spec, self._y_spec = x_spec, y_spec
        self._cuts = _check_cuts(cuts, self.CUTS)
        self.spec = add_spec(x_spec, y_spec, result_fmt)
        super().__init__({
            "x": In(x_spec.layout), "y": In(y_spec.layout), "sum": Out(self.spec.layout),
        })

    @property
    def cuts(self) -> frozenset:
        """The registered cut points: ``sum`` comes ``len(cuts)`` cycles after ``x``, ``y``."""
        return self._cuts

    def elaborate(self, platform):
        m = Module()
        x, y = self.x, self.y
        cut = _cutter(m, self._cuts)
        # With the ADDED cut the sum is computed into `out` and registered on `sum`.
        out = Signal(self.spec.layout, name="sum_comb") if Cut.ADDED in self._cuts else self.sum
        xs, ys = self._x_spec, self._y_spec
        wv = self.spec.width

        d_lo, d_hi = xs.exp_lo - ys.exp_hi, xs.exp_hi - ys.exp_lo
        d = Signal(_exp_shape(d_lo, d_hi))
        dist = Signal(bits_for(max(abs(d_lo), abs(d_hi))))
        x_big = Signal()
        m.d.comb += [
            d.eq(x.exp - y.exp),
            x_big.eq((d >= 0) & ~x.zero),
            dist.eq(Mux(d < 0, -d, d)),
        ]
        big = Mux(x_big, place(x.sig, wv), place(y.sig, wv))
        small = Mux(x_big, place(y.sig, wv), place(x.sig, wv))
        if self._cuts:
            # Pipelined: the sticky bit (a 1 of `small` shifted out) as "fewer trailing
            # zeros than the shift", counted beside the exponent compare, so that no OR
            # tree over the shifted-out bits sits between the shifter and the adder.
            tz_x = _trailing_zeros(m, x.sig, wv - 1 - xs.sig_width)
            tz_y = _trailing_zeros(m, y.sig, wv - 1 - ys.sig_width)
            tz_small = Mux(x_big, tz_y, tz_x)
            # (x and y travel whole through the cuts; synthesis drops the unused fields.)
            big, small, dist, tz_small, x_big, x, y = cut(Cut.COMPARED, big, small, dist, tz_small, x_big, x, y)
            shifted = Signal(wv, name="small_shifted")
            m.d.comb += shifted.eq(small >> dist)
            small_aligned = shifted | (small.any() & (tz_small < dist))
        else:
            big, small, dist, x_big, x, y = cut(Cut.COMPARED, big, small, dist, x_big, x, y)
            small_aligned = shift_right_sticky(m, small, dist)
        big, small_aligned, x_big, x, y = cut(Cut.ALIGNED, big, small_aligned, x_big, x, y)

        sub = x.sign ^ y.sign
        # Compound adder: s0 = big + ~small and s1 = s0 + 1 = big - small side by side; a
        # negative difference is -s1 = ~s0, so no negating incrementer follows the add
        # (measured: 5-7 fewer logic levels, and smaller for e7m10 and e8m23 accumulators).
        mag = Signal(wv)
        addend = Cat(small_aligned ^ sub.replicate(wv), sub)
        s0, s1 = Signal(wv + 1), Signal(wv + 1)
        m.d.comb += [s0.eq(Cat(big, Const(0, 1)) + addend),
                     s1.eq(Cat(big, Const(0, 1)) + addend + 1)]
        neg = sub & s1[wv]
        m.d.comb += mag.eq(Mux(sub, Mux(s1[wv], ~s0[:wv], s1[:wv]), s0[:wv]))

        # An exact zero sum is either two zeros (sign: both negative) or an exact
        # cancellation of non-zero values (signs differ): x.sign & y.sign in both cases.
        zero_sign = x.sign & y.sign
        late_zero = Cut.ADDED in self._cuts
        if late_zero:
            # The add ends a loop segment: the zero test (and the sign it selects) waits
            # until after the register, where nothing else needs the sign yet.
            exact_zero = Const(0, 1)
        elif self._cuts:
            # Pipelined (the add is a loop segment of its own): the sum is zero iff the
            # aligned operands are equal (difference) or both zero (sum), compared beside
            # the adder instead of after it (6 levels less, ~300 transistors more).
            exact_zero = Mux(sub, big == small_aligned, ~(big | small_aligned).any())
        else:
            exact_zero = mag == 0
        big_sign = Mux(x_big, x.sign, y.sign)
        m.d.comb += [
            out.vec.eq(mag),
            out.exp.eq(Mux(x_big, x.exp, y.exp)),
            out.sign.eq(Mux(exact_zero, zero_sign, big_sign ^ neg)),
        ]
        if xs.specials and ys.specials and xs.inf == ys.inf:
            nan = x.nan | y.nan
            if xs.inf:
                nan = nan | (x.inf & y.inf & sub)
                inf = (x.inf | y.inf) & ~nan
                m.d.comb += out.inf.eq(inf)
                with m.If(x.inf):
                    m.d.comb += out.sign.eq(x.sign)
                with m.Elif(y.inf):
                    m.d.comb += out.sign.eq(y.sign)
            m.d.comb += out.nan.eq(nan)
        elif self.spec.specials:
            # Mixed policies: only one side can be inf (so inf - inf cannot occur).
            nans = [v.nan for v, vs in ((x, xs), (y, ys)) if vs.nan]
            m.d.comb += out.nan.eq(Cat(*nans).any())
            for v, vs in ((x, xs), (y, ys)):
                if vs.inf:
                    m.d.comb += out.inf.eq(v.inf & ~out.nan)
                    with m.If(v.inf):
                        m.d.comb += out.sign.eq(v.sign)
        if late_zero:
            infs = [v.inf for v, vs in ((x, xs), (y, ys)) if vs.inf]
            inf_sign = Cat(*infs).any() if infs else Const(0, 1)     # the sign is an inf's
            held = Signal(self.spec.layout, name="sum_held")
            zero_sign_r, inf_sign_r = Signal(name="zero_sign"), Signal(name="inf_sign")
            m.d.sync += [held.eq(out), zero_sign_r.eq(zero_sign), inf_sign_r.eq(inf_sign)]
            m.d.comb += [
                self.sum.vec.eq(held.vec), self.sum.exp.eq(held.exp),
                self.sum.inf.eq(held.inf), self.sum.nan.eq(held.nan),
                self.sum.sign.eq(Mux(~inf_sign_r & (held.vec == 0), zero_sign_r, held.sign)),
            ]
        return m


class Round(wiring.Component):
    """Normalize, round and pack an unrounded sum into a format (docs/arithmetic.md §2–4).

    The quantum is ``2^(max(floor(log2|x|), emin) - M)`` (``emin`` unbounded below
    for ftz formats, whose results under the smallest normal flush to zero with
    their sign); RNE rounds to nearest, ties to even, RTZ truncates (no
    incrementer is built). Overflow gives ±inf for ieee + RNE, the canonical NaN
    for nan-only + RNE, else ±max finite (for nan-only formats the top binade's
    all-ones fraction, the NaN code, counts as overflow). NaN gives the
    canonical NaN of ``fmt``; inf passes through.

    Requires the sum's exponent to be at least ``emin - 1`` when the format has
    subnormals (true for :class:`AlignAdd` and :class:`Convert` outputs).

    With ``normal_only`` the configuration proves that every non-zero sum is at
    least ``2^emin`` in magnitude (:mod:`macgen.reachable`): no normalization limit
    at ``emin`` and no ftz flush are built.

    Members
    -------
    sum : In(sum layout)
    bits : Out(fmt.width)
    """

    #: The cut points :class:`Round` can register (see :class:`Cut`).
    CUTS = (Cut.COUNTED, Cut.NORMALIZED, Cut.ROUNDED)

    def __init__(self, sum_spec: SumSpec, fmt: FloatFormat, rounding="rne", *, cuts=(), normal_only=False):
        if sum_spec.width < fmt.man_bits + 4:
            raise ValueError(f"Sum width must be at least {fmt.man_bits + 4}, not {sum_spec.width}")
        _check_specials(sum_spec, fmt)
        self._sum_spec, self._fmt, self._rounding = sum_spec, fmt, rounding
        self._normal_only = bool(normal_only)
        self._cuts = _check_cuts(cuts, self.CUTS)
        super().__init__({"sum": In(sum_spec.layout), "bits": Out(fmt.width)})

    @property
    def cuts(self) -> frozenset:
        """The registered cut points: ``bits`` comes ``len(cuts)`` cycles after ``sum``."""
        return self._cuts

    def elaborate(self, platform):
        m = Module()
        fmt, spec, s = self._fmt, self._sum_spec, self.sum
        cut = _cutter(m, self._cuts)
        wv = spec.width
        P, M, E = fmt.man_bits + 1, fmt.man_bits, fmt.exp_bits
        lz = leading_zeros(m, s.vec)
        if fmt.subnormals and not self._normal_only:
            # Stop normalizing at emin: the subnormal quantum is fixed.
            lim_hi = spec.exp_hi + 1 - fmt.emin
            limit = Signal(_exp_shape(spec.exp_lo + 1 - fmt.emin, lim_hi))
            m.d.comb += limit.eq(s.exp + 1 - fmt.emin)
            if lim_hi > wv:
                limit = Mux(limit > wv, wv, limit)
            shift = Signal(bits_for(wv))
            m.d.comb += shift.eq(Mux(limit < lz, limit, lz))
        else:
            shift = Signal(bits_for(wv))
            m.d.comb += shift.eq(lz)
        shift, s = cut(Cut.COUNTED, shift, s)
        norm = Signal(wv)
        m.d.comb += norm.eq(s.vec << shift)
        e_lo, e_hi = spec.exp_lo + 1 - wv, spec.exp_hi + 2
        # Exponents from here on carry the format's bias (one constant folded into the
        # normalizing subtraction instead of a separate re-biasing adder).
        bias = fmt.bias
        e_top = Signal(_exp_shape(e_lo + bias, e_hi + bias))
        m.d.comb += e_top.eq(s.exp + (1 + bias) - shift)
        norm, e_top, s = cut(Cut.NORMALIZED, norm, e_top, s)

        sig = norm[wv - P:]
        if self._rounding == "rne":
            total = rne_increment(m, norm, P)
            carry = total[P]
            sig_f = Signal(P)
            e_f = Signal(_exp_shape(e_lo + bias, e_hi + 1 + bias))
            m.d.comb += [
                # On a carry total is exactly 2^P: its low P bits are zero.
                sig_f.eq(total[:P] | (carry << (P - 1))),
                e_f.eq(e_top + carry),
            ]
        else:
            sig_f, e_f = sig, e_top
        sig_f, e_f, s = cut(Cut.ROUNDED, sig_f, e_f, s)
        normal = sig_f[P - 1]
        nonzero = sig_f.any()
        if self._normal_only:
            # Every non-zero result is normal (and a zero one has body 0 anyway).
            field = e_f[:E]
        else:
            if not fmt.subnormals and e_lo < fmt.emin:
                nonzero = nonzero & (e_f >= fmt.emin + bias)
            field = Mux(normal, e_f, 0)[:E]
        body = Signal(fmt.width - 1)
        m.d.comb += body.eq(Mux(nonzero, Cat(sig_f[:M], field), 0))
        nan_only = fmt.policy == "nan-only"
        overflow = None
        if e_hi + 1 > fmt.emax or (nan_only and e_hi + 1 >= fmt.emax):
            if self._rounding == "rne" and Cut.ROUNDED not in self._cuts:
                # e_f = e_top + carry > top, compared on e_top beside the rounding increment.
                top = fmt.emax + bias
                overflow = normal & ((e_top > top) | ((e_top == top) & carry))
            else:
                overflow = normal & (e_f > fmt.emax + bias)
            if nan_only:    # the top binade's all-ones fraction is the NaN code
                overflow = overflow | (normal & (e_f == fmt.emax + bias) & sig_f[:M].all())
            big = fmt.overflow_bits(self._rounding)
            with m.If(overflow):
                m.d.comb += body.eq(big)
        sign = Signal()
        m.d.comb += sign.eq(s.sign)
        if overflow is not None and nan_only and big == fmt.nan_bits:
            with m.If(overflow):
                m.d.comb += sign.eq(0)      # canonical NaN
        _encode_specials(m, fmt, spec, s, body, sign)
        m.d.comb += self.bits.eq(Cat(body, sign))
        return m


class Convert(wiring.Component):
    """Round a value of one format into another: ``round_dst(x)`` (docs/arithmetic.md §2–4).

    Identity (wires only) when the formats are equal. Otherwise unpack, align to
    the destination's ``emin`` when the source can be smaller (with sticky), and
    :class:`Round`.

    Members
    -------
    src : In(src_fmt.width)
    dst : Out(dst_fmt.width)
    """

    def __init__(self, src_fmt: FloatFormat, dst_fmt: FloatFormat, rounding="rne"):
        check_feeds(src_fmt, dst_fmt, "Source format", "destination format")
        self._src_fmt, self._dst_fmt, self._rounding = src_fmt, dst_fmt, rounding
        super().__init__({"src": In(src_fmt.width), "dst": Out(dst_fmt.width)})

    def elaborate(self, platform):
        m = Module()
        src_fmt, dst_fmt = self._src_fmt, self._dst_fmt
        if src_fmt == dst_fmt:
            m.d.comb += self.dst.eq(self.src)
            return m
        m.submodules.unpack = unpack = Unpack(src_fmt)
        m.d.comb += unpack.bits.eq(self.src)
        x = unpack.value
        spec_x = unpack.spec
        psrc, p = src_fmt.man_bits + 1, dst_fmt.man_bits + 1
        wv = max(psrc + 3, p + 4)
        align = dst_fmt.subnormals and spec_x.exp_lo < dst_fmt.emin
        exp_lo = dst_fmt.emin if align else spec_x.exp_lo
        spec = SumSpec(exp_lo, spec_x.exp_hi, wv, spec_x.nan, spec_x.inf)
        m.submodules.round = rnd = Round(spec, dst_fmt, self._rounding)
        placed = place(x.sig, wv)
        s = rnd.sum
        m.d.comb += [s.sign.eq(x.sign), s.inf.eq(x.inf), s.nan.eq(x.nan)]
        if align:
            below = Signal()
            dist = Signal(bits_for(dst_fmt.emin - spec_x.exp_lo))
            m.d.comb += below.eq(x.exp < dst_fmt.emin)
            m.d.comb += dist.eq(dst_fmt.emin - x.exp)
            m.d.comb += [
                s.vec.eq(Mux(below, shift_right_sticky(m, placed, dist), placed)),
                s.exp.eq(Mux(below, dst_fmt.emin, x.exp)),
            ]
        else:
            m.d.comb += [s.vec.eq(placed), s.exp.eq(x.exp)]
        m.d.comb += self.dst.eq(rnd.bits)
        return m


def packs_exactly(spec: FloatSpec, fmt: FloatFormat) -> bool:
    """Whether every value of ``spec`` is exactly a normal (or zero, inf, NaN) of ``fmt``.

    Then :class:`PackExact` converts it without rounding: its significand (after at
    most ``spec.lead <= 1`` normalizing shift) fits in ``fmt``'s precision and its
    exponent range lies inside ``fmt``'s normal range.
    """
    if spec.lead > 1 or (spec.nan and not fmt.has_nan) or (spec.inf and not fmt.has_inf):
        return False
    # A nan-only format's top binade is not whole (its all-ones fraction is NaN).
    top = fmt.emax - (1 if fmt.policy == "nan-only" else 0)
    return (spec.sig_width - 1 <= fmt.man_bits and spec.exp_lo - spec.lead >= fmt.emin
            and spec.exp_hi <= top)


class PackExact(wiring.Component):
    """``round_fmt(+0 + x)`` of an unpacked value that ``fmt`` holds exactly (see
    :func:`packs_exactly`): a normalizing shift of at most one bit and a re-biased
    exponent. ±0 gives +0 (``+0 + -0 = +0``), NaN the canonical NaN, inf passes.

    Members
    -------
    value : In(spec.layout)
    bits : Out(fmt.width)

    Raises
    ------
    ValueError
        If ``spec`` is not exactly representable in ``fmt``.
    """

    def __init__(self, spec: FloatSpec, fmt: FloatFormat):
        if not packs_exactly(spec, fmt):
            raise ValueError(f"Values of {spec} are not all exactly representable in {fmt}")
        self._spec, self._fmt = spec, fmt
        super().__init__({"value": In(spec.layout), "bits": Out(fmt.width)})

    def elaborate(self, platform):
        m = Module()
        spec, fmt, v = self._spec, self._fmt, self.value
        W, M = spec.sig_width, fmt.man_bits
        if spec.lead:
            top = v.sig[-1]
            frac = Mux(top, v.sig[:W - 1], v.sig[:W - 2] << 1)[:W - 1]
            exp = v.exp - 1 + top
        else:
            frac, exp = v.sig[:W - 1], v.exp
        field = Signal(fmt.exp_bits)
        m.d.comb += field.eq(exp + fmt.bias)
        body = Signal(fmt.width - 1)
        sign = Signal()
        m.d.comb += [
            body.eq(Mux(v.zero, 0, Cat(Const(0, M - (W - 1)), frac, field))),
            sign.eq(v.sign & ~v.zero),
        ]
        _encode_specials(m, fmt, spec, v, body, sign)
        m.d.comb += self.bits.eq(Cat(body, sign))
        return m
