# amaranth: UnusedElaboratable=no
# (The MAC builds its accumulate variant when it is built, and elaborates it with itself: a MAC
# that is never elaborated is reported where the MAC was created, not here.)
"""The floating-point multiply-accumulate unit (docs/arithmetic.md §2–5)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import MACConfig
from ..reachable import ACC_NEVER_SUBNORMAL, OUTER_NEVER_SUBNORMAL, simplifications
from .accumulate import (LOOP_CUTS, ChunkedAccumulate, PlainAccumulate, SharedAccumulate, Stage,
                         or_neg_zero, register)
from .float import Convert, Multiply, Unpack, product_spec, unpack_spec
from .lfsr import ChunkCounter

__all__ = ["MAC", "MACSignature", "Stage", "LOOP_CUTS"]


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

    Structure: the multiplier pipeline (unpack ``a`` and ``b``, multiply), the
    accumulate variant chosen at construction (:attr:`accumulate`, submodule
    ``accumulate``) and the output conversion round_OUT. The variant is
    :class:`~macgen.rtl.accumulate.PlainAccumulate` without chunking,
    :class:`~macgen.rtl.accumulate.SharedAccumulate` (one align/add/round for both
    levels) when ``outer_fmt == acc_fmt`` and every product is exactly an ``acc_fmt``
    value, else :class:`~macgen.rtl.accumulate.ChunkedAccumulate` (a second
    align/add/round for the outer accumulator); ``widths["shared_adder"]`` tells
    which. The MAC hands it the product, ``-0`` in bubbles (``acc + -0 = acc`` for
    every value a loop holds, so no accumulator register needs an enable). The
    position of a beat in its chunk is counted by a Galois LFSR
    (:class:`~macgen.rtl.lfsr.ChunkCounter`, ``bit_length(L - 1)`` bits, no
    incrementer); ``widths["chunk_counter"]`` names its polynomial.

    Latency: if the ``last`` beat is sampled at clock edge ``t``, ``result_valid``
    is high for the one cycle after edge ``t + latency - 1``, where
    ``latency = mul_stages + 1`` without chunking (``result`` is the accumulator
    register through round_OUT) and ``mul_stages + 2`` with it (shared datapath or
    not): the last chunk's outer addition and round_OUT happen in the cycle after
    the ``last`` beat and are registered on ``result``/``result_valid``, so that no
    output is combinational from the adder (or from ``a``/``b``, which feed it in
    that cycle).

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
        self._config = cfg = config
        signature = MACSignature(cfg, chunk_inputs=chunk_inputs)
        # A PE of an array takes its chunk boundaries from the array's one counter.
        self._chunk_inputs = signature.chunk_inputs
        # Every stage's widths are derived (and checked) here; elaborate() only
        # instantiates the stages.
        self._a_spec = unpack_spec(cfg.a_fmt, normalize=True)
        self._b_spec = unpack_spec(cfg.b_fmt, normalize=True)
        self._p_spec = product_spec(self._a_spec, self._b_spec, product_man_bits=cfg.product_man_bits)
        if not cfg.chunk_size:
            variant = PlainAccumulate
        elif SharedAccumulate.serves(cfg, self._p_spec):
            variant = SharedAccumulate
        else:
            variant = ChunkedAccumulate
        # Values the configuration proves cannot occur get no logic (macgen.reachable).
        self._simplifications = simplifications(cfg, shared=variant is SharedAccumulate) if simplify else ()
        rules = {r.name for r in self._simplifications}
        # Built now, so that it checks its configuration now; elaborated with the MAC.
        self._accumulate = variant(cfg, self._p_spec, acc_normal_only=ACC_NEVER_SUBNORMAL in rules,
                                   outer_normal_only=OUTER_NEVER_SUBNORMAL in rules,
                                   chunk_inputs=self._chunk_inputs)
        super().__init__(signature)

    @property
    def config(self) -> MACConfig:
        return self._config

    @property
    def latency(self) -> int:
        return self._config.latency

    @property
    def accumulate(self):
        """The accumulate variant (a :class:`~macgen.rtl.accumulate.PlainAccumulate`,
        :class:`~macgen.rtl.accumulate.SharedAccumulate` or
        :class:`~macgen.rtl.accumulate.ChunkedAccumulate`), submodule ``accumulate``."""
        return self._accumulate

    @property
    def widths(self) -> dict:
        """Derived datapath widths (for the emission sidecar); ``shared_adder`` tells
        whether one align/add/round serves the inner and the outer accumulation."""
        acc = self._accumulate
        out = {
            "product_sig": self._p_spec.sig_width,
            "product_exp_range": [self._p_spec.exp_lo, self._p_spec.exp_hi],
            "sum_window": acc.sum_spec.width,
            "shared_adder": isinstance(acc, SharedAccumulate),
            "acc_stages": self._config.acc_stages,
            "loop_cuts": list(LOOP_CUTS[self._config.acc_stages]),
        }
        if isinstance(acc, ChunkedAccumulate):
            out["outer_sum_window"] = acc.outer_sum_spec.width
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
            return register(m, value, name, reset_less=reset_less)

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

        m.submodules[Stage.ACCUMULATE] = acc = self._accumulate
        valid = ctl["valid"]
        m.d.comb += [
            acc.valid.eq(valid), acc.first.eq(ctl["first"]), acc.last.eq(ctl["last"]),
            acc.start.eq(Mux(ctl["init_en"], ctl["init"], 0) if cfg.init else Const(0, cfg.outer_fmt.width)),
            # A bubble adds -0 (acc + -0 = acc exactly, for every acc a loop can hold: it
            # only holds rounded values, NaN canonical).
            acc.product.eq(or_neg_zero(m, product, valid, "product_or_neg_zero",
                                       specials=self._p_spec.specials)),
        ]
        if self._chunk_inputs:
            m.d.comb += [acc.chunk_open.eq(ctl["chunk_open"]), acc.chunk_close.eq(ctl["chunk_close"])]

        m.submodules[Stage.CONVERT] = conv = Convert(cfg.outer_fmt, cfg.out_fmt, cfg.rounding)
        m.d.comb += conv.src.eq(acc.result)
        # Chunked, the final sum comes straight from the outer adder: registered here
        # (one more cycle of latency) so that the outputs start at flip-flops.
        domain = m.d.comb if acc.result_registered else m.d.sync
        domain += [self.result.eq(conv.dst), self.result_valid.eq(acc.result_valid)]
        return m
