"""Argument checking shared by every module, in Amaranth's message grammar.

"Exponent width must be between 2 and 15, not 1": each helper names the
argument, says what it must be, and shows the value it got. ``TypeError`` for
a wrong type, ``ValueError`` for a bad value. ``bool`` is never accepted
where a number is expected; NumPy integers and floats are accepted and
returned as Python ``int``/``float``. No Amaranth: the model and the golden
modules use these too.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_int", "check_real", "check_bool", "check_choice"]


def _is_bool(value) -> bool:
    return isinstance(value, (bool, np.bool_))


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or NumPy integer, not ``bool``) within the bounds given.

    Raises
    ------
    TypeError
        Not an integer.
    ValueError
        Outside ``[minimum, maximum]`` ("... must be between 2 and 15, not 1",
        "... must be at least 1, not 0", "... must be at most 64, not 65").
    """
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    value = int(value)
    _check_range(name, value, minimum, maximum)
    return value


def check_real(name: str, value, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a finite-or-infinite, non-NaN ``float`` within the bounds given.

    Raises
    ------
    TypeError
        Not a real number (``bool`` included).
    ValueError
        NaN, or outside ``[minimum, maximum]``.
    """
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, not nan")
    _check_range(name, value, minimum, maximum)
    return value


def check_bool(name: str, value) -> bool:
    """``value`` as a ``bool`` (Python or NumPy), else :class:`TypeError`."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return bool(value)


def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices`` ("... must be one of rne, rtz, not 'x'")."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, not {value!r}")
    return value


def _check_range(name, value, minimum, maximum):
    if minimum is not None and maximum is not None:
        if not minimum <= value <= maximum:
            raise ValueError(f"{name} must be between {minimum} and {maximum}, not {value}")
    elif minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    elif maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, not {value}")
