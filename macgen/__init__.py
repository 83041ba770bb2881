"""macgen: accumulator-precision planning and bit-exact floating-point MAC generation.

The names most programs need are here: the formats, :class:`MACConfig` and
:class:`ArrayConfig`, :func:`emit` (Verilog + sidecar) and the :mod:`golden` model.
``emit`` and ``golden`` are imported on first use, so that ``import macgen`` (and the
model modules) stay free of Amaranth and quick to import.
"""

import importlib

from .formats import (FloatFormat, FP32, FP16, BF16, FP8_E5M2, FP8_E4M3FN, FP6_E2M3FN, FP6_E3M2FN,
                      FP4_E2M1FN)
from .config import ArrayConfig, MACConfig

__all__ = ["FloatFormat", "FP32", "FP16", "BF16", "FP8_E5M2", "FP8_E4M3FN", "FP6_E2M3FN", "FP6_E3M2FN",
           "FP4_E2M1FN", "MACConfig", "ArrayConfig", "emit", "golden"]
__version__ = "0.1.0"

#: Imported on first access (PEP 562): ``emit`` pulls in Amaranth. ``macgen.emit`` is the module, callable
#: as its function :func:`macgen.emit.emit` (whichever was imported first).
_LAZY = {"emit": ("macgen.emit", None), "golden": ("macgen.golden", None)}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'macgen' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    value = value if attr is None else getattr(value, attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
