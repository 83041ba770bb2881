"""The MAC's accumulate datapaths, one component per variant (docs/arithmetic.md §2–4).

A :class:`~macgen.rtl.mac.MAC` is a multiplier pipeline, one of these and an output
conversion. Which one follows from the configuration:

- :class:`PlainAccumulate`: no chunking, one align/add/round loop;
- :class:`SharedAccumulate`: chunking where the outer format is the accumulator's and
  every product is exactly an accumulator value: one align/add/round for both levels;
- :class:`ChunkedAccumulate`: any other chunking: an inner loop and a separate outer one.

Each handles every loop depth ``K = acc_stages`` (:data:`LOOP_CUTS`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import MACConfig
from .float import (AlignAdd, Cut, FloatSpec, PackExact, Round, Unpack, add_spec, packs_exactly,
                    unpack_spec)
from .lfsr import chunk_close

__all__ = ["PlainAccumulate", "ChunkedAccumulate", "SharedAccumulate", "LOOP_CUTS", "Stage",
           "register", "delay", "or_neg_zero"]

#: Where a K-stage accumulate loop puts its K - 1 inner registers (the K-th is the
#: accumulator register itself), for K = 1 .. MAX_ACC_STAGES. The cuts split the
#: loop (unpack, exponent compare, alignment shift, add/negate, leading-zero count,
#: normalizing shift, rounding increment, pack) into segments of similar logic depth
#: (measured with ``ltp -noff`` on e5m2 x e5m2 -> e7m10 and fp16 MACs).
LOOP_CUTS = {
    1: (),
    2: (Cut.ADDED,),
    3: (Cut.ALIGNED, Cut.COUNTED),
    4: (Cut.COMPARED, Cut.ADDED, Cut.NORMALIZED),
    5: (Cut.COMPARED, Cut.ALIGNED, Cut.ADDED, Cut.NORMALIZED),
    6: (Cut.COMPARED, Cut.ALIGNED, Cut.ADDED, Cut.COUNTED, Cut.NORMALIZED),
    7: (Cut.COMPARED, Cut.ALIGNED, Cut.ADDED, Cut.COUNTED, Cut.NORMALIZED, Cut.ROUNDED),
    8: Cut.ORDER,
}


class Stage:
    """Submodule names of the MAC's stages (hierarchy names in the emitted Verilog).

    The MAC's own: :data:`UNPACK_A`, :data:`UNPACK_B`, :data:`MULTIPLY`,
    :data:`ACCUMULATE` (the accumulate variant) and :data:`CONVERT`; the others are
    the variant's, one level below :data:`ACCUMULATE`.
    :data:`macgen.area.STAGE_GROUPS` groups the area breakdown by these, so a
    renamed stage moves with its group instead of falling into "other".
    """

    UNPACK_A = "unpack_a"
    UNPACK_B = "unpack_b"
    MULTIPLY = "multiply"
    ACCUMULATE = "accumulate"
    UNPACK_ACC = "unpack_acc"
    ADD = "add"
    ROUND = "round"
    PACK_PRODUCT = "pack_product"
    UNPACK_CHUNK = "unpack_chunk"
    UNPACK_OUTER = "unpack_outer"
    OUTER_ADD = "outer_add"
    OUTER_ROUND = "outer_round"
    CHUNK_COUNTER = "chunk_counter"
    CONVERT = "convert"


#: The stages of the accumulator's loop and of the outer accumulator's (two datapaths).
_INNER = (Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND)
_OUTER = (Stage.UNPACK_OUTER, Stage.OUTER_ADD, Stage.OUTER_ROUND)


class _Accumulate(wiring.Component):
    """What the variants share: construction, ports, the loop and the chunk control.

    Parameters
    ----------
    config : MACConfig
    product_spec : FloatSpec
        The multiplier's product (:func:`~macgen.rtl.float.product_spec`): the layout
        of the ``product`` input.
    acc_normal_only : bool
        The accumulator never holds a subnormal (:mod:`macgen.reachable`): its
        subnormal decode and normalization limit are left out.
    outer_normal_only : bool
        The same for a separate outer accumulator (:class:`ChunkedAccumulate` only).
    chunk_inputs : bool
        No chunk counter: the ``chunk_open``/``chunk_close`` inputs mark each beat
        that opens / closes a chunk (chunking only).

    Members
    -------
    valid, first, last : In(1)
        The MAC's protocol (see :class:`~macgen.rtl.mac.MAC`), after the multiplier
        pipeline; ``first`` counts only with ``valid``.
    start : In(outer_fmt.width)
        The value the dot product of a ``first`` beat starts from (its initial value,
        or +0).
    product : In(product_spec.layout)
        The beat's product, ``-0`` in bubbles (``x + -0 = x`` for every value a loop
        holds, so no accumulator register needs an enable).
    chunk_open, chunk_close : In(1)
        Only with ``chunk_inputs``.
    result : Out(outer_fmt.width)
        The dot product's sum, in the cycle ``result_valid`` is high.
    result_valid : Out(1)
        High for one cycle per dot product, :attr:`latency` cycles after its ``last``
        beat.
    """

    #: Whether ``result`` and ``result_valid`` come from flip-flops (else from the adder).
    result_registered = False

    def __init__(self, config: MACConfig, product_spec: FloatSpec, *, acc_normal_only: bool = False,
                 outer_normal_only: bool = False, chunk_inputs: bool = False):
        name = type(self).__name__
        if not isinstance(config, MACConfig):
            raise TypeError(f"{name} configuration must be a MACConfig, not {config!r}")
        if not isinstance(product_spec, FloatSpec):
            raise TypeError(f"Product spec must be a FloatSpec, not {product_spec!r}")
        for flag, value in (("acc_normal_only", acc_normal_only), ("outer_normal_only", outer_normal_only),
                            ("chunk_inputs", chunk_inputs)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be a bool, not {value!r}")
        self._config = config
        self._p_spec = product_spec
        self._acc_normal = acc_normal_only
        self._outer_normal = outer_normal_only
        self._chunk_inputs = chunk_inputs
        self._setup()
        self._acc_spec = unpack_spec(config.acc_fmt, normal_only=acc_normal_only)
        self._x_spec = self._adder_x_spec()
        self._sum_spec = add_spec(self._x_spec, self._acc_spec, config.acc_fmt)
        outer = config.outer_fmt.width
        members = {"valid": In(1), "first": In(1), "last": In(1),
                   "start": In(outer), "product": In(product_spec.layout)}
        if chunk_inputs:
            members.update(chunk_open=In(1), chunk_close=In(1))
        members.update(result=Out(outer), result_valid=Out(1))
        super().__init__(members)

    def _setup(self):
        """Reject what the variant does not serve (``ValueError``); derive its own specs."""

    def _adder_x_spec(self) -> FloatSpec:
        """The accumulator adder's x operand (the other is the accumulator)."""
        return self._p_spec

    def _reject(self, what, value, flag=True):
        if flag:
            raise ValueError(f"{type(self).__name__} {what}, not {value}")

    @property
    def config(self) -> MACConfig:
        return self._config

    @property
    def latency(self) -> int:
        """Cycles from a ``last`` beat to ``result_valid``: K through the loop, and with
        chunking K - 1 more until the outer sum (the chunk closes in the loop's last round).
        The MAC's latency (:attr:`MACConfig.latency`) less its multiplier pipeline and, where
        the result is not registered here, the MAC's output register."""
        cfg = self._config
        return cfg.latency - cfg.mul_stages - (not self.result_registered)

    @property
    def sum_spec(self):
        """The accumulator adder's unrounded sum (:class:`~macgen.rtl.float.SumSpec`)."""
        return self._sum_spec

    def _loop(self, m, names, x_spec, x, fmt, y_bits, normal_only, suffix):
        """One K-stage loop: unpack ``y_bits``, align/add ``x``, round into ``fmt``, cut at
        the :data:`LOOP_CUTS` of K; returns the bits that enter the loop's last register."""
        cuts = LOOP_CUTS[self._config.acc_stages]
        unpack_name, add_name, round_name = names
        m.submodules[unpack_name] = uy = Unpack(fmt, normal_only=normal_only)
        m.submodules[add_name] = add = AlignAdd(x_spec, uy.spec, fmt,
                                                cuts=[c for c in cuts if c in AlignAdd.CUTS])
        m.submodules[round_name] = rnd = Round(add.spec, fmt, self._config.rounding, normal_only=normal_only,
                                               cuts=[c for c in cuts if c in Round.CUTS])
        m.d.comb += uy.bits.eq(y_bits)
        xv, yv = x, uy.value
        if Cut.UNPACKED in cuts:
            xv, yv = register(m, xv, f"x_{suffix}"), register(m, yv, f"y_{suffix}")
        m.d.comb += [add.x.eq(xv), add.y.eq(yv), rnd.sum.eq(add.sum)]
        return rnd.bits

    def _chunk_control(self, m, first):
        """Chunk bookkeeping of both chunked variants.

        Returns ``(opens, pending, pend_last)``: this beat opens a chunk (its inner sum
        starts from +0); a chunk closed K cycles ago (its sum is in the accumulator
        register now); and that chunk was its dot product's last.
        """
        K = self._config.acc_stages
        valid, last = self.valid, self.last
        if self._chunk_inputs:
            # The array's chunk control says where chunks begin and end.
            opens, close = self.chunk_open, self.chunk_close
        else:
            # Housekeeping registers need no reset: the first beat of a dot product
            # (first = 1) overrides all of them. With K > 1 each is a ring of K registers
            # (one per interleaved dot product).
            if K == 1:
                chunk_start = Signal(reset_less=True)   # the next beat opens a chunk (from +0)
            else:
                chunk_start_next = Signal(name="chunk_start_next")
                chunk_start = delay(m, chunk_start_next, K, "chunk_start", reset_less=True)
            opens = first | chunk_start             # this beat is position 0 of its chunk
            # A Galois LFSR finds the chunk's last beat: no incrementer (see ChunkCounter).
            close = chunk_close(m, self._config.chunk_size, opens=opens, last=last, advance=valid,
                                depth=K, name=Stage.CHUNK_COUNTER)
            if K == 1:
                with m.If(valid):
                    m.d.sync += chunk_start.eq(close)
            else:
                m.d.comb += chunk_start_next.eq(Mux(valid, close, chunk_start))
        pending = delay(m, valid & close, K, "pending")
        pend_last = delay(m, last, K, "pend_last", reset_less=True)
        return opens, pending, pend_last

    def _outer_step(self, m, outer, first, pending, pend_last, summed, *, hold):
        """The outer register and the result, for both chunked variants.

        A dot product's first beat loads its start value; the round after a chunk
        closes (``pending``) stores the outer sum ``summed``, every other round keeps the
        register (``hold``; without it, ``summed`` is the register plus ``-0`` in those
        rounds). Both travel K - 1 registers beside the loop, so that they meet the
        outer sum of the same dot product. A dot product's final outer sum is not
        stored: it is the result in that round, so a back-to-back first beat can load
        the next start value.
        """
        d = self._config.acc_stages - 1
        # (`first` is already qualified by `valid`: the repeated AND, which ABC removes,
        # keeps the flattened netlist the one the MAC had before this component existed.)
        load = delay(m, self.valid & first, d, "load", reset_less=True)
        if d == 0 and hold:
            with m.If(load):
                m.d.sync += outer.eq(self.start)
            with m.Elif(pending):
                m.d.sync += outer.eq(summed)
        else:
            kept = summed
            if hold:
                kept = Mux(delay(m, pending, d, "pending_out"), summed, delay(m, outer, d, "outer_kept"))
            m.d.sync += outer.eq(Mux(load, delay(m, self.start, d, "init"), kept))
        m.d.comb += [self.result.eq(summed), self.result_valid.eq(delay(m, pending & pend_last, d, "done"))]


class PlainAccumulate(_Accumulate):
    """Accumulate without chunking: ``acc' = round_ACC(acc + p)`` every beat.

    One loop: unpack the accumulator, align/add the product, round into ``acc_fmt``,
    into the accumulator register. A dot product's first beat adds its product to
    ``start`` instead of the accumulator. Bubbles add ``-0``.

    With ``acc_stages = K > 1`` the loop has K registers (the :data:`LOOP_CUTS` of K
    and the accumulator register) and holds K interleaved dot products: the state a
    beat meets at the loop's entry is that of the beat K cycles before it, its own
    dot product's.

    Latency: ``K`` cycles; ``result`` is the accumulator register (registered).

    Parameters
    ----------
    config : MACConfig
        ``chunk_size`` 0.
    product_spec : FloatSpec
    acc_normal_only : bool
    outer_normal_only, chunk_inputs : bool
        Must be False (no outer accumulator, no chunks).

    Members
    -------
    valid, first, last : In(1)
    start : In(outer_fmt.width)
    product : In(product_spec.layout)
    result : Out(outer_fmt.width)
    result_valid : Out(1)
        As in :class:`ChunkedAccumulate`; ``result`` is registered.

    Raises
    ------
    TypeError
        A wrong type of argument.
    ValueError
        With chunking, ``outer_normal_only`` or ``chunk_inputs``.
    """

    result_registered = True

    def _setup(self):
        self._reject("chunk size must be 0", self._config.chunk_size, self._config.chunk_size != 0)
        self._reject("outer_normal_only must be False (no outer accumulator)", True, self._outer_normal)
        self._reject("chunk_inputs must be False (no chunks)", True, self._chunk_inputs)

    def elaborate(self, platform):
        m = Module()
        first = self.valid & self.first
        acc = Signal(self._config.acc_fmt.width, reset_less=True)
        m.d.sync += acc.eq(self._loop(m, _INNER, self._x_spec, self.product, self._config.acc_fmt,
                                      Mux(first, self.start, acc), self._acc_normal, "acc"))
        m.d.comb += [self.result.eq(acc),
                     self.result_valid.eq(delay(m, self.valid & self.last, self._config.acc_stages, "done"))]
        return m


class ChunkedAccumulate(_Accumulate):
    """Chunked accumulation with two datapaths: an inner loop and a separate outer one.

    Every ``L = chunk_size`` products (and the last, shorter chunk) close a chunk: the
    inner loop (accumulator in ``acc_fmt``) sums a chunk from +0, and in the round after
    it closes its sum ``t`` is added into the outer accumulator:
    ``o' = round_OUTER(o + t)``, ``o`` starting from ``start``. The closed chunk sits in
    the accumulator register for that round; the inner loop meanwhile starts the next
    chunk. The chunk sum is normalized before the outer addition only when the outer
    format reaches below the accumulator's subnormals. Chunk boundaries come from a
    Galois LFSR (:class:`~macgen.rtl.lfsr.ChunkCounter`), or from the
    ``chunk_open``/``chunk_close`` inputs.

    With ``acc_stages = K > 1`` both loops have K registers (the :data:`LOOP_CUTS` of
    K), in step, and hold K interleaved dot products; everything a dot product keeps
    (chunk position, "the next beat opens a chunk", a closed chunk waiting for the
    outer addition) circulates in K-register rings. The outer loop adds ``-0`` in the
    rounds without a closed chunk; the start value travels K - 1 registers beside it.
    (With K = 1 the accumulator keeps its value in bubbles and the outer register
    outside the round after a close, by enables, and the chunk sum needs no ``-0``.)

    Latency: ``2K - 1`` cycles; ``result`` comes from the outer round stage in the
    round after the last chunk closes (not registered: the MAC registers it).

    Parameters
    ----------
    config : MACConfig
        ``chunk_size`` > 0.
    product_spec : FloatSpec
    acc_normal_only, outer_normal_only : bool
        For the accumulator and the outer accumulator.
    chunk_inputs : bool

    Members
    -------
    valid, first, last : In(1)
        The MAC's protocol after its multiplier pipeline; ``first`` counts only with
        ``valid``.
    start : In(outer_fmt.width)
        The value a ``first`` beat's dot product starts from (its initial value, or +0).
    product : In(product_spec.layout)
        ``-0`` in bubbles.
    chunk_open, chunk_close : In(1)
        Only with ``chunk_inputs``: this beat opens / closes a chunk.
    result : Out(outer_fmt.width)
        The dot product's sum in ``outer_fmt``, while ``result_valid``.
    result_valid : Out(1)
        One cycle per dot product, :attr:`latency` cycles after its ``last`` beat.

    Raises
    ------
    TypeError
        A wrong type of argument.
    ValueError
        Without chunking.
    """

    def _setup(self):
        self._reject("chunk size must be positive", 0, not self._config.chunk_size)
        cfg = self._config
        # The chunk sum only needs normalizing when the outer format reaches below the
        # accumulator's subnormals (else a subnormal chunk sum is never the larger
        # operand of the outer addition).
        self._t_norm = cfg.acc_fmt.subnormals and cfg.outer_fmt.emin < cfg.acc_fmt.emin and \
            not self._acc_normal
        self._t_spec = unpack_spec(cfg.acc_fmt, normalize=self._t_norm, normal_only=self._acc_normal)
        outer_spec = unpack_spec(cfg.outer_fmt, normal_only=self._outer_normal)
        self._outer_sum_spec = add_spec(self._t_spec, outer_spec, cfg.outer_fmt)

    @property
    def outer_sum_spec(self):
        """The outer adder's unrounded sum (:class:`~macgen.rtl.float.SumSpec`)."""
        return self._outer_sum_spec

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        first = self.valid & self.first
        opens, pending, pend_last = self._chunk_control(m, first)
        acc = Signal(cfg.acc_fmt.width, reset_less=True)
        summed = self._loop(m, _INNER, self._x_spec, self.product, cfg.acc_fmt, Mux(opens, 0, acc),
                            self._acc_normal, "acc")
        m.submodules[Stage.UNPACK_CHUNK] = ut = Unpack(cfg.acc_fmt, normalize=self._t_norm,
                                                       normal_only=self._acc_normal)
        m.d.comb += ut.bits.eq(acc)
        outer = Signal(cfg.outer_fmt.width, reset_less=True)
        if cfg.acc_stages == 1:
            # One stage: the outer adder's sum only counts in a pending cycle, and the
            # registers keep their values otherwise.
            with m.If(self.valid):
                m.d.sync += acc.eq(summed)
            chunk = ut.value
        else:
            m.d.sync += acc.eq(summed)
            # The closed chunk, or -0 in the rounds without one.
            chunk = or_neg_zero(m, ut.value, pending, "chunk_or_neg_zero", specials=self._t_spec.specials)
        outer_sum = self._loop(m, _OUTER, self._t_spec, chunk, cfg.outer_fmt, outer, self._outer_normal,
                               "outer")
        self._outer_step(m, outer, first, pending, pend_last, outer_sum, hold=cfg.acc_stages == 1)
        return m


class SharedAccumulate(_Accumulate):
    """Chunked accumulation on one datapath: one align/add/round for both levels.

    Possible when the outer format is the accumulator's and every product is exactly
    a normal accumulator value (:meth:`serves`; e.g. e5m2 x e5m2 into e7mX, X >= 5). A
    beat that opens a chunk computes ``t_1 = round_ACC(+0 + p) = p``: the product is
    only packed into the accumulator (``+0 + -0 = +0``, canonical NaN). In the round
    after a chunk closes the only beat that can arrive opens a chunk, so the adder then
    computes ``o' = round(o + t)``: the outer register (unpacked, not normalized) is
    its product-side operand, the closed chunk sum in the accumulator the other.
    Chunk boundaries as in :class:`ChunkedAccumulate`.

    With ``acc_stages = K > 1`` the loop has K registers (the :data:`LOOP_CUTS` of K):
    the packed chunk-opening product and the outer register's value travel K - 1
    registers beside the adder, so that they meet its result (or the next dot
    product's start value) at the end.

    Latency: ``2K - 1`` cycles; ``result`` comes from the round stage (not registered:
    the MAC registers it).

    Parameters
    ----------
    config : MACConfig
        Chunked, ``outer_fmt == acc_fmt``.
    product_spec : FloatSpec
        Every product exactly an ``acc_fmt`` value
        (:func:`~macgen.rtl.float.packs_exactly`).
    acc_normal_only : bool
        For the accumulator, which also holds the outer sums.
    outer_normal_only : bool
        Must be False (the outer register is in the accumulator's format).
    chunk_inputs : bool

    Members
    -------
    valid, first, last : In(1)
    start : In(outer_fmt.width)
    product : In(product_spec.layout)
    chunk_open, chunk_close : In(1)
        Only with ``chunk_inputs``.
    result : Out(outer_fmt.width)
    result_valid : Out(1)
        As in :class:`ChunkedAccumulate`.

    Raises
    ------
    TypeError
        A wrong type of argument.
    ValueError
        If the configuration is not one :meth:`serves`, or with ``outer_normal_only``.
    """

    @staticmethod
    def serves(config: MACConfig, product_spec: FloatSpec) -> bool:
        """Whether one datapath serves both levels of ``config``'s chunked accumulation."""
        return bool(config.chunk_size) and config.outer_fmt == config.acc_fmt and \
            packs_exactly(product_spec, config.acc_fmt)

    def _setup(self):
        cfg = self._config
        self._reject("chunk size must be positive", 0, not cfg.chunk_size)
        self._reject(f"outer format must be the accumulator's {cfg.acc_fmt}", cfg.outer_fmt,
                     cfg.outer_fmt != cfg.acc_fmt)
        p = self._p_spec
        self._reject(f"products must all be exactly {cfg.acc_fmt} values",
                     f"{p.sig_width}-bit significands with exponents {p.exp_lo - p.lead}..{p.exp_hi}",
                     not packs_exactly(p, cfg.acc_fmt))
        self._reject("outer_normal_only must be False (the accumulator's applies)", True, self._outer_normal)

    def _adder_x_spec(self) -> FloatSpec:
        # The product, or the outer accumulator (acc bits, not normalized: its exponent
        # is then never below y's lowest).
        p, a = self._p_spec, self._acc_spec
        return FloatSpec(min(p.exp_lo, a.exp_lo), max(p.exp_hi, a.exp_hi), max(p.sig_width, a.sig_width),
                         max(p.lead, a.lead), p.nan or a.nan, p.inf or a.inf)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        first = self.valid & self.first
        opens, pending, pend_last = self._chunk_control(m, first)
        # A chunk-opening beat computes t_1 = round_ACC(+0 + p) = p exactly: packing only.
        m.submodules[Stage.PACK_PRODUCT] = pack = PackExact(self._p_spec, cfg.acc_fmt)
        m.d.comb += pack.value.eq(self.product)
        outer = Signal(cfg.outer_fmt.width, reset_less=True)
        m.submodules[Stage.UNPACK_OUTER] = uo = Unpack(cfg.outer_fmt, normal_only=self._acc_normal)
        m.d.comb += uo.bits.eq(outer)
        acc = Signal(cfg.acc_fmt.width, reset_less=True)
        summed = self._loop(m, _INNER, self._x_spec, self._x(m, pending, uo.value), cfg.acc_fmt, acc,
                            self._acc_normal, "acc")
        d = cfg.acc_stages - 1
        opened = delay(m, opens, d, "opened", reset_less=True)
        m.d.sync += acc.eq(Mux(opened, delay(m, pack.bits, d, "packed"), summed))
        self._outer_step(m, outer, first, pending, pend_last, summed, hold=True)
        return m

    def _x(self, m, pending, o):
        """The adder's x operand: the outer value ``o`` in a ``pending`` round (the closed
        chunk sum is the other operand), else the product."""
        xs, ps, product = self._x_spec, self._p_spec, self.product
        x = Signal(xs.layout, name="shared_x")
        shift = xs.sig_width - ps.sig_width
        m.d.comb += [
            x.sig.eq(Mux(pending, o.sig, product.sig << shift)),
            x.exp.eq(Mux(pending, o.exp, product.exp)),
            x.sign.eq(Mux(pending, o.sign, product.sign)),
            # x.zero only keeps a zero product from being the larger operand; a zero
            # outer value has exponent emin, at or below the accumulator's.
            x.zero.eq(~pending & product.zero),
        ]
        if xs.specials:
            m.d.comb += [x.inf.eq(Mux(pending, o.inf, product.inf)),
                         x.nan.eq(Mux(pending, o.nan, product.nan))]
        return x


def register(m, value, name, *, reset_less=True):
    """``value`` (a signal or a layout view) through one ``sync`` register."""
    r = Signal.like(value, name=name, reset_less=reset_less)
    m.d.sync += r.eq(value)
    return r


def delay(m, value, cycles, name, *, reset_less=None):
    """``value`` delayed by ``cycles`` registers; one-bit flags keep a reset (they
    qualify outputs after reset) unless ``reset_less`` says otherwise."""
    if reset_less is None:
        reset_less = len(value) != 1
    for n in range(cycles):
        r = Signal(len(value), name=f"{name}_d{n + 1}", reset_less=reset_less)
        m.d.sync += r.eq(value)
        value = r
    return value


def or_neg_zero(m, value, keep, name, *, specials=True):
    """The unpacked ``value`` where ``keep``, else ``-0`` (which adds nothing: ``x + -0 = x``
    for every value an accumulate loop holds, NaN canonical)."""
    out = Signal.like(value, name=name)
    m.d.comb += [
        out.sig.eq(Mux(keep, value.sig, 0)),
        out.exp.eq(value.exp),
        out.sign.eq(value.sign | ~keep),
        out.zero.eq(value.zero | ~keep),
    ]
    if specials:
        m.d.comb += [out.inf.eq(value.inf & keep), out.nan.eq(value.nan & keep)]
    return out
