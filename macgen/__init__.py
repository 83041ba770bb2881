"""macgen: accumulator-precision planning and bit-exact floating-point MAC generation."""

from .formats import (FloatFormat, FP32, FP16, BF16, FP8_E5M2, FP8_E4M3FN, FP6_E2M3FN, FP6_E3M2FN,
                      FP4_E2M1FN)
from .config import MACConfig

__all__ = ["FloatFormat", "FP32", "FP16", "BF16", "FP8_E5M2", "FP8_E4M3FN", "FP6_E2M3FN", "FP6_E3M2FN",
           "FP4_E2M1FN", "MACConfig"]
__version__ = "0.1.0"
