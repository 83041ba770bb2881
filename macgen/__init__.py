"""macgen: accumulator-precision planning and bit-exact floating-point MAC generation."""

from .formats import FloatFormat, FP32, FP16, BF16, FP8_E5M2, FP8_E4M3
from .config import MACConfig

__all__ = ["FloatFormat", "FP32", "FP16", "BF16", "FP8_E5M2", "FP8_E4M3", "MACConfig"]
__version__ = "0.1.0"
