"""Which values a MAC configuration can hold, and the logic its RTL therefore leaves out.

No Amaranth here: :class:`macgen.rtl.MAC` asks :func:`simplifications` at
construction, the emitted sidecar records the answer, and the tests use it to pick
the configurations (and the boundaries) the verification must cover.

The grid argument (docs/arithmetic.md §8). Every value of a format ``F`` is an
integer multiple of ``2^q(F)``, ``q(F) = emin(F) - man_bits(F)`` (its subnormal
quantum, also the ulp of its smallest normals, with or without ftz). So every
exact product ``a*b`` is a multiple of ``2^g``, ``g = q(A) + q(B)``, and so is the
product rounded to ``product_man_bits`` (rounding moves a value onto a coarser
grid of its own binade, never off ``2^g``: where that binade's ulp is finer than
``2^g`` the value is already exact). Sums, differences and their roundings keep
the grid the same way. An accumulator that only ever holds such values (no
``init``, whose own grid is ``q(outer_fmt)``, far finer) is 0 or at least ``2^g``
in magnitude. When ``2^g >= 2^emin`` of the accumulator it never holds a
subnormal and no sum it rounds is below its smallest normal: the subnormal
decode of its unpacking, the normalization limit at ``emin`` (or the ftz flush)
of its rounding, and the normalization of a closed chunk sum before the outer
addition are dead logic, and are not built.

NaN and infinity detection follow the same principle from the formats alone (no
rule needed here): a stage builds logic only for the special values its inputs
can carry (:class:`macgen.rtl.float.FloatSpec` flags), so a NaN-free operand into
a finite accumulator builds none.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import MACConfig
from .formats import FloatFormat

__all__ = ["Simplification", "grid_exponent", "simplifications", "ACC_NEVER_SUBNORMAL",
           "OUTER_NEVER_SUBNORMAL"]

#: Rule names, as recorded in the sidecar.
ACC_NEVER_SUBNORMAL = "acc_never_subnormal"
OUTER_NEVER_SUBNORMAL = "outer_never_subnormal"


def grid_exponent(fmt: FloatFormat) -> int:
    """``q(fmt) = emin - man_bits``: every value of ``fmt`` is a multiple of ``2^q``."""
    return fmt.emin - fmt.man_bits


@dataclass(frozen=True)
class Simplification:
    """One rule the configuration satisfies: ``name`` and the reason, with its figures.

    ``grid`` is the exponent of the grid every value of the register lies on;
    ``emin`` that of its format's smallest normal; the rule holds because
    ``grid >= emin`` (the boundary is ``grid == emin``).
    """

    name: str
    register: str
    fmt: str
    grid: int
    emin: int
    removes: str

    def to_dict(self) -> dict:
        return {"rule": self.name, "register": self.register, "format": self.fmt, "grid_exp": self.grid,
                "emin": self.emin, "removes": self.removes,
                "why": (f"every value is a multiple of 2^{self.grid} >= 2^{self.emin}, the smallest "
                        f"normal of {self.fmt}: 0 or normal, never subnormal")}


def _grids(cfg: MACConfig) -> tuple[int, int]:
    """(grid of the inner sums, grid of the outer sums): products and, with ``init``,
    the initial values (which enter the outer level, or the only one)."""
    products = grid_exponent(cfg.a_fmt) + grid_exponent(cfg.b_fmt)
    outer = min(products, grid_exponent(cfg.outer_fmt)) if cfg.init else products
    return products, outer


def simplifications(cfg: MACConfig, *, shared: bool) -> tuple[Simplification, ...]:
    """The rules of this module that hold for ``cfg``, in datapath order.

    Parameters
    ----------
    cfg : MACConfig
    shared : bool
        Whether the RTL uses one datapath for the inner and the outer sums (then the
        accumulator's rounding also rounds the outer sums, initial values included).
    """
    if not isinstance(cfg, MACConfig):
        raise TypeError(f"MAC configuration must be a MACConfig, not {cfg!r}")
    inner, outer = _grids(cfg)
    two_datapaths = bool(cfg.chunk_size) and not shared
    rules = []

    def rule(name, register, fmt, grid, *extra):
        if grid >= fmt.emin:
            removes = ["subnormal decode and normalization limit" if fmt.subnormals
                       else "flush-to-zero of results below the smallest normal", *extra]
            rules.append(Simplification(name, register, str(fmt), grid, fmt.emin, ", ".join(removes)))

    acc = cfg.acc_fmt
    rule(ACC_NEVER_SUBNORMAL, "accumulator", acc, inner if two_datapaths else outer,
         *(["chunk-sum normalization"] if two_datapaths and acc.subnormals else []))
    if two_datapaths:
        rule(OUTER_NEVER_SUBNORMAL, "outer accumulator", cfg.outer_fmt, outer)
    return tuple(rules)
