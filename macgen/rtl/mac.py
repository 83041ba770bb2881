"""The floating-point multiply-accumulate unit (docs/arithmetic.md §2–5)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import MACConfig
from ..reachable import ACC_NEVER_SUBNORMAL, OUTER_NEVER_SUBNORMAL, simplifications
from .float import (AlignAdd, Convert, Cut, FloatSpec, Multiply, PackExact, Round, Unpack, add_spec,
                    packs_exactly, product_spec, unpack_spec)
from .lfsr import ChunkCounter, chunk_close

__all__ = ["MAC", "MACSignature", "Stage", "LOOP_CUTS"]

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

    :data:`macgen.area.STAGE_GROUPS` groups the area breakdown by these, so a
    renamed stage moves with its group instead of falling into "other".
    """

    UNPACK_A = "unpack_a"
    UNPACK_B = "unpack_b"
    MULTIPLY = "multiply"
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


class MACSignature(wiring.Signature):
    """The MAC's ports for a configuration: what :class:`MAC` has and an array wires to its PEs.

    ``valid``, ``first``, ``last``, ``a``, ``b``; ``init`` and ``init_en`` only with
    ``config.init``; ``chunk_open``/``chunk_close`` only with ``chunk_inputs`` and
    chunking (the MAC then has no chunk counter: they say where chunks begin and
    end); ``result``, ``result_valid``. Two signatures are equal when they are built
    from equal configurations and the same ``chunk_inputs``.
    """

    def __init__(self, config: MACConfig, *, chunk_inputs: bool = False):
        if not isinstance(config, MACConfig):
            raise TypeError(f"MAC configuration must be a MACConfig, not {config!r}")
        self._config = config
        self._chunk_inputs = bool(chunk_inputs) and bool(config.chunk_size)
        members = {
            "valid": In(1), "first": In(1), "last": In(1),
            "a": In(config.a_fmt.width), "b": In(config.b_fmt.width),
        }
        if config.init:
            members.update(init=In(config.outer_fmt.width), init_en=In(1))
        if self._chunk_inputs:
            members.update(chunk_open=In(1), chunk_close=In(1))
        members.update(result=Out(config.out_fmt.width), result_valid=Out(1))
        super().__init__(members)

    @property
    def config(self) -> MACConfig:
        return self._config

    @property
    def chunk_inputs(self) -> bool:
        return self._chunk_inputs

    def __eq__(self, other):
        return (type(other) is type(self) and other._config == self._config
                and other._chunk_inputs == self._chunk_inputs)

    def __hash__(self):
        return hash((self._config, self._chunk_inputs))

    def __repr__(self):
        return f"MACSignature({self._config.slug}{', chunk_inputs' if self._chunk_inputs else ''})"


class MAC(wiring.Component):
    """Floating-point MAC: dot products of ``a`` and ``b`` streams, bit-exact to docs/arithmetic.md §2–4.

    Every beat computes ``acc' = round_ACC(acc + a*b)`` with the exact product (or
    the product rounded to ``product_man_bits``), in one cycle of the accumulate
    loop. With ``chunk_size = L > 0`` every ``L`` products (and the last, shorter
    chunk) close a chunk whose sum is added, in the cycle after, into the outer
    accumulator in ``outer_fmt``. The result is
    ``round_OUT`` of the final (outer) accumulator. Rounding is ``config.rounding``
    everywhere (RNE: nearest, ties to even; RTZ: toward zero). Subnormals are
    kept or flushed per format; ieee formats produce the canonical quiet NaN and
    overflow to ±inf (RNE) or ±max finite (RTZ); finite formats saturate.

    Protocol: a beat is a cycle with ``valid``. ``first`` marks the first product
    of a dot product, ``last`` its last (both for length 1). On the ``first`` beat
    ``init_en`` starts the dot product from ``init`` (``outer_fmt`` bits), else from
    +0. Bubbles (``valid = 0``) may occur anywhere and change nothing; a new dot
    product may start right after a ``last`` beat.

    Shared datapath: when ``outer_fmt == acc_fmt`` and every product (exact, or
    rounded to ``product_man_bits``) is exactly a normal ``acc_fmt`` value (e.g.
    e5m2 x e5m2 into e7mX, X >= 5), one align/add/round serves both levels. A beat
    that opens a chunk computes ``t_1 = round_ACC(+0 + p) = p``: the product is only
    packed into the accumulator (``+0 + -0 = +0``, canonical NaN). In the cycle after
    a chunk closes the only beat that can arrive opens a chunk, so the adder then
    computes ``o' = round(o + t)`` (outer register as the adder's product-side operand,
    the closed chunk sum in the accumulator as the other). Otherwise a second
    align/add/round for the outer accumulator is built (``widths["shared_adder"]``
    tells which).

    The position of a beat in its chunk is counted by a Galois LFSR
    (:class:`~macgen.rtl.lfsr.ChunkCounter`, ``bit_length(L - 1)`` bits, no
    incrementer); ``widths["chunk_counter"]`` names its polynomial.

    Bubbles add ``-0`` to the accumulator (``acc + -0 = acc`` for every value the
    loop holds), so the accumulator register needs no enable.

    Latency: if the ``last`` beat is sampled at clock edge ``t``, ``result_valid``
    is high for the one cycle after edge ``t + latency - 1``, where
    ``latency = mul_stages + 1`` without chunking (``result`` is the accumulator
    register through round_OUT) and ``mul_stages + 2`` with it (shared datapath or
    not): the last chunk's outer addition and round_OUT happen in the cycle after
    the ``last`` beat, the adder's ``pending`` cycle, and are registered on
    ``result``/``result_valid``, so that no output is combinational from the adder
    (or from ``a``/``b``, which feed it in that cycle).

    Pipeline: ``mul_stages`` registers sit in the multiplier path at stage
    boundaries: 1 after the multiplier, 2 also after unpacking, 3 also on the
    inputs; control, ``init`` and ``init_en`` travel alongside. With
    ``acc_stages = 1`` the accumulate loop (align/add, normalize, round into ACC)
    closes in one cycle. With ``acc_stages = K > 1`` it has K register stages (at
    the :data:`LOOP_CUTS` of K) and holds K independent dot products: a beat
    continues the dot product of the beat K cycles before it, so K dot products
    are interleaved beat by beat, each with exactly the semantics above (bubbles
    and back-to-back dot products per interleaved stream). The latency is then
    ``mul_stages + K`` without chunking and ``mul_stages + 2K`` with it.

    Parameters
    ----------
    config : MACConfig
    chunk_inputs : bool
        With chunking: no chunk counter; the ``chunk_open``/``chunk_close`` inputs
        (beside ``first``/``last``, same timing) mark each beat that opens / closes a
        chunk. A systolic array's PEs use this: one counter serves them all.
    simplify : bool
        Leave out the logic for values the configuration proves cannot occur
        (:mod:`macgen.reachable`, listed in :attr:`simplifications`). ``False``
        builds it anyway: the same results, to measure what the rules save.

    Members
    -------
    (The members of :class:`MACSignature`, also reachable as ``MAC.Signature``.)

    valid, first, last, init_en : In(1)
    a : In(a_fmt.width)
    b : In(b_fmt.width)
    init : In(outer_fmt.width)
        ``init`` and ``init_en`` only with ``config.init``; without, every dot
        product starts from +0.
    chunk_open, chunk_close : In(1)
        Only with ``chunk_inputs`` and chunking.
    result : Out(out_fmt.width)
    result_valid : Out(1)

    Raises
    ------
    TypeError
        If ``config`` is not a :class:`MACConfig`.
    """

    #: The MAC's signature class: ``MAC.Signature(config, chunk_inputs=...)``.
    Signature = MACSignature

    def __init__(self, config, *, chunk_inputs: bool = False, simplify: bool = True):
        if not isinstance(config, MACConfig):
            raise TypeError(f"MAC configuration must be a MACConfig, not {config!r}")
        if not isinstance(chunk_inputs, bool):
            raise TypeError(f"chunk_inputs must be a bool, not {chunk_inputs!r}")
        if not isinstance(simplify, bool):
            raise TypeError(f"simplify must be a bool, not {simplify!r}")
        self._config = config
        cfg = config
        signature = MACSignature(cfg, chunk_inputs=chunk_inputs)
        # A PE of an array takes its chunk boundaries from the array's one counter.
        self._chunk_inputs = signature.chunk_inputs
        # Every stage's widths are derived (and checked) here; elaborate() only
        # instantiates the stages.
        self._a_spec = unpack_spec(cfg.a_fmt, normalize=True)
        self._b_spec = unpack_spec(cfg.b_fmt, normalize=True)
        self._p_spec = product_spec(self._a_spec, self._b_spec, product_man_bits=cfg.product_man_bits)
        # Shared datapath (see the class docstring): one align/add/round for the inner
        # and the outer accumulation when the outer format is the accumulator's and
        # every product is exactly an accumulator value (chunk-opening beats then
        # only pack the product).
        self._shared = bool(cfg.chunk_size) and cfg.outer_fmt == cfg.acc_fmt and \
            packs_exactly(self._p_spec, cfg.acc_fmt)
        # Values the configuration proves cannot occur get no logic (macgen.reachable).
        self._simplifications = simplifications(cfg, shared=self._shared) if simplify else ()
        rules = {r.name for r in self._simplifications}
        self._acc_normal = ACC_NEVER_SUBNORMAL in rules
        self._outer_normal = OUTER_NEVER_SUBNORMAL in rules
        self._acc_spec = unpack_spec(cfg.acc_fmt, normal_only=self._acc_normal)
        if self._shared:
            p, a = self._p_spec, self._acc_spec
            # The adder's x operand is the product or the outer accumulator (acc bits,
            # not normalized: its exponent is then never below y's lowest).
            self._x_spec = FloatSpec(min(p.exp_lo, a.exp_lo), max(p.exp_hi, a.exp_hi),
                                     max(p.sig_width, a.sig_width), max(p.lead, a.lead),
                                     p.nan or a.nan, p.inf or a.inf)
        else:
            self._x_spec = self._p_spec
        self._sum_spec = add_spec(self._x_spec, self._acc_spec, cfg.acc_fmt)
        if cfg.chunk_size and not self._shared:
            # The chunk sum only needs normalizing when the outer format reaches below
            # the accumulator's subnormals (else a subnormal chunk sum is never the
            # larger operand of the outer addition).
            self._t_norm = cfg.acc_fmt.subnormals and cfg.outer_fmt.emin < cfg.acc_fmt.emin and \
                not self._acc_normal
            self._t_spec = unpack_spec(cfg.acc_fmt, normalize=self._t_norm, normal_only=self._acc_normal)
            self._outer_spec = unpack_spec(cfg.outer_fmt, normal_only=self._outer_normal)
            self._outer_sum_spec = add_spec(self._t_spec, self._outer_spec, cfg.outer_fmt)
        super().__init__(signature)


    @property
    def config(self) -> MACConfig:
        return self._config

    @property
    def latency(self) -> int:
        return self._config.latency

    @property
    def widths(self) -> dict:
        """Derived datapath widths (for the emission sidecar); ``shared_adder`` tells
        whether one align/add/round serves the inner and the outer accumulation."""
        out = {
            "product_sig": self._p_spec.sig_width,
            "product_exp_range": [self._p_spec.exp_lo, self._p_spec.exp_hi],
            "sum_window": self._sum_spec.width,
            "shared_adder": self._shared,
            "acc_stages": self._config.acc_stages,
            "loop_cuts": list(LOOP_CUTS[self._config.acc_stages]),
        }
        if self._config.chunk_size and not self._shared:
            out["outer_sum_window"] = self._outer_sum_spec.width
        if self._config.chunk_size > 2:
            poly = ChunkCounter.polynomial_for(self._config.chunk_size)
            out["chunk_counter"] = {"lfsr_bits": poly.bit_length() - 1, "polynomial": hex(poly)}
        return out

    @property
    def simplifications(self) -> tuple:
        """The rules of :mod:`macgen.reachable` this MAC was built with: logic for
        values its configuration proves cannot occur is left out (the sidecar records
        them)."""
        return self._simplifications

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        stages = cfg.mul_stages

        def reg(value, name, *, reset_less=True):
            return _register(m, value, name, reset_less=reset_less)

        # Control and init travel with the operands through the multiplier pipeline.
        ctl = {"valid": self.valid, "first": self.first, "last": self.last}
        if cfg.init:
            ctl.update(init_en=self.init_en, init=self.init)
        if self._chunk_inputs:
            ctl.update(chunk_open=self.chunk_open, chunk_close=self.chunk_close)

        def delay(ctl, tag):
            return {k: reg(v, f"{k}_{tag}", reset_less=(k != "valid")) for k, v in ctl.items()}

        a_bits, b_bits = self.a, self.b
        if stages >= 3:
            a_bits, b_bits = reg(a_bits, "a_s0"), reg(b_bits, "b_s0")
            ctl = delay(ctl, "s0")

        m.submodules[Stage.UNPACK_A] = ua = Unpack(cfg.a_fmt, normalize=True)
        m.submodules[Stage.UNPACK_B] = ub = Unpack(cfg.b_fmt, normalize=True)
        m.d.comb += [ua.bits.eq(a_bits), ub.bits.eq(b_bits)]
        a_val, b_val = ua.value, ub.value
        if stages >= 2:
            a_val, b_val = reg(a_val, "a_s1"), reg(b_val, "b_s1")
            ctl = delay(ctl, "s1")

        m.submodules[Stage.MULTIPLY] = mul = Multiply(self._a_spec, self._b_spec,
                                                   product_man_bits=cfg.product_man_bits,
                                                   rounding=cfg.rounding)
        m.d.comb += [mul.a.eq(a_val), mul.b.eq(b_val)]
        product = mul.product
        if stages >= 1:
            product = reg(product, "product_s2")
            ctl = delay(ctl, "s2")

        valid, first, last = ctl["valid"], ctl["first"], ctl["last"]
        # (With chunk inputs, _chunk_control takes the boundaries from here.)
        self._chunk_ctl = (ctl["chunk_open"], ctl["chunk_close"]) if self._chunk_inputs else None
        start = Mux(ctl["init_en"], ctl["init"], 0) if cfg.init else Const(0, cfg.outer_fmt.width)
        # A bubble adds -0 (acc + -0 = acc exactly, for every acc the loop can hold: it
        # only holds rounded values, NaN canonical), so the accumulator needs no enable.
        # In a bubble `first` is junk: it only counts with `valid`.
        first = valid & first
        product = _or_neg_zero(m, product, valid, "product_or_neg_zero", specials=self._p_spec.specials)

        final = Signal(cfg.outer_fmt.width)
        result_valid = Signal()
        if cfg.acc_stages > 1:
            self._elaborate_pipelined(m, valid, first, last, start, product, final, result_valid)
            return self._elaborate_result(m, final, result_valid)

        m.submodules[Stage.UNPACK_ACC] = uacc = Unpack(cfg.acc_fmt, normal_only=self._acc_normal)
        m.submodules[Stage.ADD] = add = AlignAdd(self._x_spec, self._acc_spec, cfg.acc_fmt)
        m.submodules[Stage.ROUND] = rnd = Round(add.spec, cfg.acc_fmt, cfg.rounding,
                                                normal_only=self._acc_normal)
        acc = Signal(cfg.acc_fmt.width, reset_less=True)
        m.d.comb += [add.y.eq(uacc.value), rnd.sum.eq(add.sum)]

        if self._shared:
            self._elaborate_shared(m, valid, first, last, start, product, uacc, add, rnd, acc,
                                   final, result_valid)
        elif not cfg.chunk_size:
            m.d.comb += add.x.eq(product)
            m.d.comb += uacc.bits.eq(Mux(first, start, acc))
            m.d.sync += acc.eq(rnd.bits)
            rv = Signal()
            m.d.sync += rv.eq(valid & last)
            m.d.comb += result_valid.eq(rv)
            m.d.comb += final.eq(acc)
        else:
            m.d.comb += add.x.eq(product)
            opens, pending, pend_last = self._chunk_control(m, valid, first, last)
            m.d.comb += uacc.bits.eq(Mux(opens, 0, acc))
            with m.If(valid):
                m.d.sync += acc.eq(rnd.bits)
            # A closed chunk sits in `acc` for one cycle, in which it is added to the outer
            # accumulator. The dot product's final sum is not stored: it is the result
            # (through round_OUT) in that cycle, so the outer register is free to take
            # the next dot product's init on a back-to-back first beat.
            outer = Signal(cfg.outer_fmt.width, reset_less=True)
            m.submodules[Stage.UNPACK_CHUNK] = ut = Unpack(cfg.acc_fmt, normalize=self._t_norm,
                                                           normal_only=self._acc_normal)
            m.submodules[Stage.UNPACK_OUTER] = uo = Unpack(cfg.outer_fmt, normal_only=self._outer_normal)
            m.submodules[Stage.OUTER_ADD] = oadd = AlignAdd(self._t_spec, self._outer_spec, cfg.outer_fmt)
            m.submodules[Stage.OUTER_ROUND] = ornd = Round(oadd.spec, cfg.outer_fmt, cfg.rounding,
                                                           normal_only=self._outer_normal)
            m.d.comb += [
                ut.bits.eq(acc), uo.bits.eq(outer),
                oadd.x.eq(ut.value), oadd.y.eq(uo.value), ornd.sum.eq(oadd.sum),
            ]
            self._outer_step(m, valid & first, start, pending, pend_last, outer, ornd.bits,
                             final, result_valid)

        return self._elaborate_result(m, final, result_valid)

    def _elaborate_result(self, m, final, result_valid):
        cfg = self._config
        m.submodules[Stage.CONVERT] = conv = Convert(cfg.outer_fmt, cfg.out_fmt, cfg.rounding)
        m.d.comb += conv.src.eq(final)
        # Chunked, the final sum comes straight from the outer adder: registered here
        # (one more cycle of latency) so that the outputs start at flip-flops.
        domain = m.d.sync if cfg.chunk_size else m.d.comb
        domain += [self.result.eq(conv.dst), self.result_valid.eq(result_valid)]
        return m

    def _elaborate_pipelined(self, m, valid, first, last, start, product, final, result_valid):
        """The K-stage accumulate loop, K = ``acc_stages`` > 1.

        The loop's K registers (the :data:`LOOP_CUTS` of K inside align/add/round,
        and the accumulator register) hold the states of K dot products, one per
        stage: the state a beat meets at the loop's entry is that of the beat K cycles
        earlier, its own dot product's. Everything a dot product keeps (chunk position,
        "the next beat opens a chunk", a closed chunk waiting for the outer addition,
        the outer accumulator) circulates in K-register rings of the same length, so
        the interleaved dot products never see each other. Bubbles add ``-0``, as in
        the one-stage loop.

        Chunked, the outer accumulation is a second K-stage loop in step with the
        first: when a dot product's closed chunk ``t`` arrives at the accumulator
        register, its outer value arrives at the outer register, and the outer loop
        computes ``o' = round(o + t)`` while the inner loop starts the next chunk
        (from +0, or the next dot product's first chunk); in the other rounds it adds
        ``-0`` (``o + -0 = o`` for every value it holds). The sum of a dot product's
        last chunk leaves the outer loop as the result (registered, as in the
        one-stage MAC), and the outer register takes the next dot product's initial
        value instead (delayed K - 1 cycles alongside the outer loop). With the shared
        datapath (see the class docstring) there is no outer loop: the outer value and
        the packed chunk-opening product travel beside the one adder instead.
        """
        cfg = self._config
        K = cfg.acc_stages
        cuts = LOOP_CUTS[K]
        add_cuts = [c for c in cuts if c in AlignAdd.CUTS]
        rnd_cuts = [c for c in cuts if c in Round.CUTS]

        def loop(name, x_spec, x, y_fmt, y_bits, fmt, suffix, normal_only):
            # One K-stage loop: unpack y, align/add x, round into fmt; returns the bits
            # that enter the loop's last register.
            m.submodules[name[0]] = uy = Unpack(y_fmt, normal_only=normal_only)
            m.submodules[name[1]] = add = AlignAdd(x_spec, uy.spec, fmt, cuts=add_cuts)
            m.submodules[name[2]] = rnd = Round(add.spec, fmt, cfg.rounding, cuts=rnd_cuts,
                                                normal_only=normal_only)
            m.d.comb += uy.bits.eq(y_bits)
            xv, yv = x, uy.value
            if Cut.UNPACKED in cuts:
                xv, yv = _register(m, xv, f"x_{suffix}"), _register(m, yv, f"y_{suffix}")
            m.d.comb += [add.x.eq(xv), add.y.eq(yv), rnd.sum.eq(add.sum)]
            return rnd.bits

        acc = Signal(cfg.acc_fmt.width, reset_less=True)
        if self._shared:
            # One datapath for both levels, as in the one-stage loop: in the round after a
            # chunk closes, the adder computes o' = round(o + t) while the chunk-opening
            # product, packed, travels beside it (K - 1 registers) into the accumulator
            # register. The outer register's value travels the same way, so it meets
            # the adder's result (or the next dot product's initial value) at the end.
            opens, pending, pend_last = self._chunk_control(m, valid, first, last)
            m.submodules[Stage.PACK_PRODUCT] = pack = PackExact(self._p_spec, cfg.acc_fmt)
            m.d.comb += pack.value.eq(product)
            outer = Signal(cfg.outer_fmt.width, reset_less=True)
            m.submodules[Stage.UNPACK_OUTER] = uo = Unpack(cfg.outer_fmt, normal_only=self._acc_normal)
            m.d.comb += uo.bits.eq(outer)
            x = self._shared_x(m, pending, uo.value, product)
            summed = loop((Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND), self._x_spec, x,
                          cfg.acc_fmt, acc, cfg.acc_fmt, "acc", self._acc_normal)
            d = K - 1
            opened = _delay(m, opens, d, "opened", reset_less=True)
            packed = _delay(m, pack.bits, d, "packed")
            pending_d = _delay(m, pending, d, "pending_out")
            done = _delay(m, pending & pend_last, d, "done")
            load = _delay(m, valid & first, d, "load", reset_less=True)
            load_value = _delay(m, start, d, "init")
            kept = _delay(m, outer, d, "outer_kept")
            m.d.sync += [acc.eq(Mux(opened, packed, summed)),
                         outer.eq(Mux(load, load_value, Mux(pending_d, summed, kept)))]
            m.d.comb += [final.eq(summed), result_valid.eq(done)]
            return
        if not cfg.chunk_size:
            summed = loop((Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND), self._x_spec, product,
                          cfg.acc_fmt, Mux(first, start, acc), cfg.acc_fmt, "acc", self._acc_normal)
            m.d.sync += acc.eq(summed)
            m.d.comb += [final.eq(acc), result_valid.eq(_delay(m, valid & last, K, "done"))]
            return

        opens, pending, pend_last = self._chunk_control(m, valid, first, last)
        summed = loop((Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND), self._x_spec, product,
                      cfg.acc_fmt, Mux(opens, 0, acc), cfg.acc_fmt, "acc", self._acc_normal)
        m.d.sync += acc.eq(summed)
        # The closed chunk, or -0 in the rounds without one.
        m.submodules[Stage.UNPACK_CHUNK] = ut = Unpack(cfg.acc_fmt, normalize=self._t_norm,
                                                       normal_only=self._acc_normal)
        m.d.comb += ut.bits.eq(acc)
        chunk = _or_neg_zero(m, ut.value, pending, "chunk_or_neg_zero", specials=self._t_spec.specials)
        outer = Signal(cfg.outer_fmt.width, reset_less=True)
        outer_sum = loop((Stage.UNPACK_OUTER, Stage.OUTER_ADD, Stage.OUTER_ROUND), self._t_spec, chunk,
                         cfg.outer_fmt, outer, cfg.outer_fmt, "outer", self._outer_normal)
        load = _delay(m, valid & first, K - 1, "load", reset_less=True)
        load_value = _delay(m, start, K - 1, "init")
        m.d.sync += outer.eq(Mux(load, load_value, outer_sum))
        m.d.comb += [final.eq(outer_sum),
                     result_valid.eq(_delay(m, pending & pend_last, K - 1, "done"))]

    def _chunk_control(self, m, valid, first, last):
        """Chunk bookkeeping shared by both chunked datapaths.

        Returns ``(opens, pending, pend_last)``: this beat opens a chunk (its inner sum
        starts from +0); a chunk closed on the previous beat (its sum is in the inner
        register now); and that chunk was its dot product's last.
        """
        size = self._config.chunk_size
        K = self._config.acc_stages
        if self._chunk_inputs:
            # The array's chunk control says where chunks begin and end.
            opens, close = self._chunk_ctl
            pending = _delay(m, valid & close, K, "pending")
            pend_last = _delay(m, last, K, "pend_last", reset_less=True)
            return opens, pending, pend_last
        # Housekeeping registers need no reset: the first beat of a dot product
        # (first = 1) overrides all of them. With K > 1 each is a ring of K registers
        # (one per interleaved dot product).
        if K == 1:
            chunk_start = Signal(reset_less=True)   # the next beat opens a chunk (from +0)
        else:
            chunk_start_next = Signal(name="chunk_start_next")
            chunk_start = _delay(m, chunk_start_next, K, "chunk_start", reset_less=True)
        opens = first | chunk_start             # this beat is position 0 of its chunk
        # A Galois LFSR finds the chunk's last beat: no incrementer (see ChunkCounter).
        close = chunk_close(m, size, opens=opens, last=last, advance=valid, depth=K,
                            name=Stage.CHUNK_COUNTER)
        if K == 1:
            with m.If(valid):
                m.d.sync += chunk_start.eq(close)
            pending = Signal()
            m.d.sync += pending.eq(valid & close)
            pend_last = Signal(reset_less=True)
            m.d.sync += pend_last.eq(last)
        else:
            m.d.comb += chunk_start_next.eq(Mux(valid, close, chunk_start))
            pending = _delay(m, valid & close, K, "pending")
            pend_last = _delay(m, last, K, "pend_last", reset_less=True)
        return opens, pending, pend_last

    @staticmethod
    def _outer_step(m, load, start, pending, pend_last, outer, summed, final, result_valid):
        """The outer register and the result, the same for both chunked datapaths.

        A dot product's first beat (``load``) loads the initial value; the cycle after
        a chunk closes (``pending``) stores the outer sum ``summed``. The final outer sum
        is not stored: it is the result in that cycle, so a back-to-back first beat
        can load the next initial value.
        """
        with m.If(load):
            m.d.sync += outer.eq(start)
        with m.Elif(pending):
            m.d.sync += outer.eq(summed)
        m.d.comb += [
            result_valid.eq(pending & pend_last),
            final.eq(summed),
        ]

    def _shared_x(self, m, pending, o, product):
        """The shared adder's x operand: the outer value ``o`` in a ``pending`` cycle (the
        closed chunk sum is the other operand), else the product."""
        xs, ps = self._x_spec, self._p_spec
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

    def _elaborate_shared(self, m, valid, first, last, start, product, uacc, add, rnd, acc,
                          final, result_valid):
        cfg = self._config
        # (Bubbles after a close write a dead acc.)
        opens, pending, pend_last = self._chunk_control(m, valid, first, last)
        # A chunk-opening beat computes t_1 = round_ACC(+0 + p) = p exactly: packing only.
        m.submodules[Stage.PACK_PRODUCT] = pack = PackExact(self._p_spec, cfg.acc_fmt)
        m.d.comb += pack.value.eq(product)
        # A closed chunk t sits in `acc` for one cycle (`pending`), in which the only beat
        # that can arrive opens a chunk: the adder is free for o' = round(o + t), with
        # the outer accumulator as x and t as y. The dot product's final sum is not
        # stored: it is the result (through round_OUT) in that cycle, so the outer
        # register is free to take the next dot product's init on a back-to-back first beat.
        outer = Signal(cfg.outer_fmt.width, reset_less=True)
        m.submodules[Stage.UNPACK_OUTER] = uo = Unpack(cfg.outer_fmt, normal_only=self._acc_normal)
        m.d.comb += [uo.bits.eq(outer), uacc.bits.eq(acc)]
        m.d.comb += add.x.eq(self._shared_x(m, pending, uo.value, product))
        m.d.sync += acc.eq(Mux(opens, pack.bits, rnd.bits))
        self._outer_step(m, valid & first, start, pending, pend_last, outer, rnd.bits,
                         final, result_valid)


def _register(m, value, name, *, reset_less=True):
    """``value`` (a signal or a layout view) through one ``sync`` register."""
    r = Signal.like(value, name=name, reset_less=reset_less)
    m.d.sync += r.eq(value)
    return r


def _delay(m, value, cycles, name, *, reset_less=None):
    """``value`` delayed by ``cycles`` registers; one-bit flags keep a reset (they
    qualify outputs after reset) unless ``reset_less`` says otherwise."""
    if reset_less is None:
        reset_less = len(value) != 1
    for n in range(cycles):
        r = Signal(len(value), name=f"{name}_d{n + 1}", reset_less=reset_less)
        m.d.sync += r.eq(value)
        value = r
    return value


def _or_neg_zero(m, value, keep, name, *, specials=True):
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
