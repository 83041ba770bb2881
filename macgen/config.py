"""Hardware configurations: frozen, validated dataclasses with a slug and JSON form.

No Amaranth here: the golden model, the planner and the generator all read these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from .formats import FloatFormat, check_feeds, check_format, check_rounding
from .validate import check_bool, check_int

__all__ = ["MACConfig", "ArrayConfig", "check_product_man_bits", "MAX_ACC_STAGES"]

#: The deepest accumulate loop the RTL builds (registers at every cut point of
#: align/add/round, see :data:`macgen.rtl.mac.LOOP_CUTS`).
MAX_ACC_STAGES = 8


def check_product_man_bits(product_man_bits, a_man_bits: int, b_man_bits: int, *,
                           operands: str = "") -> int | None:
    """The product-width rule: ``None`` (exact product, ``Ma + Mb + 1`` fraction bits) or a
    rounded product width from 1 to ``Ma + Mb`` (fewer bits than the exact product).

    Used by :class:`MACConfig`, the precision model and the RTL's multiplier;
    ``operands`` (e.g. ``"e5m2 x e5m2"``) names the product in the message.

    Raises
    ------
    TypeError, ValueError
    """
    if product_man_bits is None:
        return None
    exact = a_man_bits + b_man_bits + 1
    pmb = check_int("product_man_bits", product_man_bits)
    if not 1 <= pmb < exact:
        raise ValueError(f"product_man_bits must be between 1 and {exact - 1} "
                         f"(the exact product{' of ' + operands if operands else ''} has {exact}), not {pmb}")
    return pmb


@dataclass(frozen=True)
class MACConfig:
    """A multiply-accumulate unit: operand, accumulator and output formats (docs/arithmetic.md §3).

    ``acc' = round_ACC(acc + a*b)`` with the exact (or ``product_man_bits``-rounded)
    product; with ``chunk_size > 0`` every ``chunk_size`` products are summed in an
    inner ACC accumulator that starts at +0 and is then added into an outer
    accumulator in ``outer_fmt``; the dot product's result is rounded into
    ``out_fmt``. The initial value of a dot product is in ``outer_fmt``.

    Parameters
    ----------
    a_fmt, b_fmt, acc_fmt : FloatFormat or str
        Multiplicand, multiplier and accumulator formats.
    rounding : {'rne', 'rtz'}
        Rounding of every step.
    product_man_bits : int or None
        ``None``: exact product (``Ma + Mb + 1`` fraction bits). Otherwise the
        product is rounded to this many fraction bits, ``1 <= p <= Ma + Mb``.
    chunk_size : int
        0: no chunking; else the chunk length L.
    outer_fmt : FloatFormat or str, optional
        Outer (inter-chunk) accumulator; defaults to ``acc_fmt``. Only with chunking.
    out_fmt : FloatFormat or str, optional
        Result format; defaults to ``outer_fmt``.
    mul_stages : int
        Pipeline registers in the multiplier path of the RTL (0-3); does not change
        arithmetic, only latency.
    acc_stages : int
        Register stages K of the RTL's accumulate loop (1 to :data:`MAX_ACC_STAGES`).
        With K > 1 the MAC interleaves K independent dot products (beats K cycles
        apart belong to the same one); does not change arithmetic, only timing,
        area and latency.
    init : bool
        Whether dot products can start from an initial value (the RTL's ``init`` and
        ``init_en`` inputs). ``False``: every dot product starts from +0, which lets
        the RTL leave out logic for values that can then not occur
        (:mod:`macgen.reachable`).

    Raises
    ------
    TypeError, ValueError
        For wrong types, out-of-range values, and special-value policies that
        break docs/arithmetic.md §3's mixed-policy rule (:func:`macgen.formats.check_feeds`): a
        NaN-capable (or inf-capable) operand into an accumulator without NaN
        (inf), an ieee accumulator into an outer or output format without inf,
        and the same from the outer to the output format. Finite operands feed
        any accumulator.
    """

    a_fmt: FloatFormat
    b_fmt: FloatFormat
    acc_fmt: FloatFormat
    rounding: str = "rne"
    product_man_bits: int | None = None
    chunk_size: int = 0
    outer_fmt: FloatFormat | None = None
    out_fmt: FloatFormat | None = None
    mul_stages: int = 0
    acc_stages: int = 1
    init: bool = True

    def __post_init__(self):
        a = check_format("a_fmt", self.a_fmt)
        b = check_format("b_fmt", self.b_fmt)
        acc = check_format("acc_fmt", self.acc_fmt)
        check_rounding(self.rounding)
        pmb = check_product_man_bits(self.product_man_bits, a.man_bits, b.man_bits, operands=f"{a} x {b}")
        chunk = check_int("chunk_size", self.chunk_size)
        if chunk < 0:
            raise ValueError(f"chunk_size must be 0 (no chunking) or positive, not {chunk}")
        if self.outer_fmt is not None:
            outer = check_format("outer_fmt", self.outer_fmt)
            if chunk == 0 and outer != acc:
                raise ValueError(f"outer_fmt {outer} needs chunking (chunk_size > 0); "
                                 f"without it the accumulator is {acc}")
        else:
            outer = acc
        out = outer if self.out_fmt is None else check_format("out_fmt", self.out_fmt)
        stages = check_int("mul_stages", self.mul_stages, minimum=0, maximum=3)
        acc_stages = check_int("acc_stages", self.acc_stages, minimum=1, maximum=MAX_ACC_STAGES)
        init = check_bool("init", self.init)
        named = {"a_fmt": a, "b_fmt": b, "acc_fmt": acc, "outer_fmt": outer, "out_fmt": out}
        # docs/arithmetic.md §3's mixed-policy rule: each stage holds every special value the stage
        # before it can produce (an ieee accumulator can overflow to inf).
        for src, dst in (("a_fmt", "acc_fmt"), ("b_fmt", "acc_fmt"), ("acc_fmt", "outer_fmt"),
                         ("outer_fmt", "out_fmt")):
            check_feeds(named[src], named[dst], src, dst)
        for k, f in named.items():
            object.__setattr__(self, k, f)
        object.__setattr__(self, "product_man_bits", pmb)
        object.__setattr__(self, "chunk_size", chunk)
        object.__setattr__(self, "mul_stages", stages)
        object.__setattr__(self, "acc_stages", acc_stages)
        object.__setattr__(self, "init", init)

    # -- derived -------------------------------------------------------------

    @property
    def product_frac_bits(self) -> int:
        """Fraction bits of the product as it enters the adder (``m_p``)."""
        if self.product_man_bits is None:
            return self.a_fmt.man_bits + self.b_fmt.man_bits + 1
        return self.product_man_bits

    @property
    def latency(self) -> int:
        """Cycles of the RTL MAC from a ``last`` beat to its result (``macgen.rtl.MAC.latency``):
        ``mul_stages + acc_stages``, and ``acc_stages`` more with chunking (the outer addition)."""
        return self.mul_stages + self.acc_stages * (1 + bool(self.chunk_size))

    @property
    def ieee(self) -> bool:
        """Whether the accumulator has the ieee policy (inf and NaN)."""
        return self.acc_fmt.policy == "ieee"

    @property
    def slug(self) -> str:
        """Deterministic identifier (Verilog module and file names)."""
        parts = [f"mac_{self.a_fmt.ident}x{self.b_fmt.ident}_acc{self.acc_fmt.ident}", self.rounding]
        if self.product_man_bits is not None:
            parts.append(f"p{self.product_man_bits}")
        if self.chunk_size:
            parts.append(f"c{self.chunk_size}")
            if self.outer_fmt != self.acc_fmt:
                parts.append(f"o{self.outer_fmt.ident}")
        if self.out_fmt != self.outer_fmt:
            parts.append(f"y{self.out_fmt.ident}")
        if self.mul_stages:
            parts.append(f"s{self.mul_stages}")
        if self.acc_stages > 1:
            parts.append(f"k{self.acc_stages}")
        if not self.init:
            parts.append("noinit")
        return "_".join(parts)

    # -- JSON ----------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "a_fmt": str(self.a_fmt), "b_fmt": str(self.b_fmt), "acc_fmt": str(self.acc_fmt),
            "rounding": self.rounding, "product_man_bits": self.product_man_bits,
            "chunk_size": self.chunk_size, "outer_fmt": str(self.outer_fmt),
            "out_fmt": str(self.out_fmt), "mul_stages": self.mul_stages,
            "acc_stages": self.acc_stages, "init": self.init,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "MACConfig":
        if not isinstance(data, dict):
            raise TypeError(f"MAC configuration must be a JSON object, not {data!r}")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown MAC configuration field(s): {', '.join(unknown)}")
        missing = [k for k in ("a_fmt", "b_fmt", "acc_fmt") if k not in data]
        if missing:
            raise ValueError(f"MAC configuration lacks {', '.join(missing)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "MACConfig":
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class ArrayConfig:
    """An output-stationary ``rows x cols`` systolic array of :class:`MACConfig` PEs.

    Parameters
    ----------
    rows, cols : int
        Array shape, 1 to 64 each.
    mac : MACConfig or dict
        The processing element.
    preload : bool
        Give the array an ``init``/``init_en`` input so that each tile can start
        from a preloaded ``C0`` (``A @ B + C0``, C0 in the MAC's ``outer_fmt``).
        Off by default: the preload path costs delay registers (see
        :class:`macgen.rtl.array.SystolicArray`).  It needs ``mac.init``; the PEs have an
        init input only with it (:attr:`pe`).

    Raises
    ------
    TypeError, ValueError
    """

    rows: int
    cols: int
    mac: MACConfig
    preload: bool = False

    def __post_init__(self):
        for name in ("rows", "cols"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=1, maximum=64))
        mac = self.mac
        if isinstance(mac, dict):
            mac = MACConfig.from_dict(mac)
        if not isinstance(mac, MACConfig):
            raise TypeError(f"mac must be a MACConfig, not {mac!r}")
        object.__setattr__(self, "preload", check_bool("preload", self.preload))
        if self.preload and not mac.init:
            raise ValueError("preload needs a MAC with an init input (MACConfig init=True)")
        object.__setattr__(self, "mac", mac)

    @property
    def pe(self) -> MACConfig:
        """The configuration the PEs are built with: the MAC's, with an ``init`` input
        exactly when the array has ``preload`` (without, every tile starts from +0 and
        the PEs leave out what that proves unreachable, see :mod:`macgen.reachable`)."""
        return replace(self.mac, init=self.preload)

    @property
    def slug(self) -> str:
        preload = "_c0" if self.preload else ""
        return f"array{self.rows}x{self.cols}{preload}_{self.mac.slug}"

    def to_dict(self) -> dict:
        return {"rows": self.rows, "cols": self.cols, "mac": self.mac.to_dict(), "preload": self.preload}

    @classmethod
    def from_dict(cls, data: dict) -> "ArrayConfig":
        if not isinstance(data, dict):
            raise TypeError(f"Array configuration must be a JSON object, not {data!r}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Unknown array configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ArrayConfig":
        return cls.from_dict(json.loads(text))
