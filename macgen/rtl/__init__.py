"""Amaranth components of macgen: unpacked-float layout, arithmetic stages, accumulate
variants, MAC, PE and array."""

from .float import (AlignAdd, Convert, FloatSpec, Multiply, Round, SumSpec, Unpack,
                    float_layout, sum_layout)
from .mac import MAC

__all__ = ["MAC", "SystolicArray", "FloatSpec", "SumSpec", "float_layout", "sum_layout",
           "Unpack", "Multiply", "AlignAdd", "Round", "Convert"]


def __getattr__(name):
    # The array lives in its own module (another engineer's); import it on demand so
    # that the MAC does not depend on it.
    if name == "SystolicArray":
        from .array import SystolicArray
        return SystolicArray
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
