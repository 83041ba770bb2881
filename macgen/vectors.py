"""Berkeley TestFloat vector files for ``<fmt>_mulAdd``: read, write, replay.

TestFloat's ``testfloat_gen <fmt>_mulAdd`` prints one case a line::

    A B C RESULT FLAGS

in hexadecimal, where ``RESULT = fma(A, B, C)`` (``A*B + C`` rounded once) and
FLAGS are the IEEE exception flags (TestFloat's bits: inexact 0x01, underflow
0x02, overflow 0x04, infinite 0x08, invalid 0x10). FLAGS may be missing and
are never checked here. Blank lines and lines starting with ``#`` are skipped.

:func:`replay` runs every case through :func:`macgen.golden.fma` and returns
the mismatches. Any NaN result matches any NaN: TestFloat's NaN payloads and
signs depend on the platform it was generated on, while macgen always produces
the canonical NaN.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from . import golden
from .files import atomic_path
from .formats import FloatFormat

__all__ = ["Vector", "Mismatch", "parse_line", "read", "format_line", "write", "replay",
           "mismatch_text", "function_name"]

_TESTFLOAT_NAMES = {"f16": "e5m10", "f32": "e8m23", "f64": "e11m52", "bf16": "e8m7"}


@dataclass(frozen=True)
class Vector:
    """One case: operands, expected result (bit patterns), flags (None if absent), line number."""

    a: int
    b: int
    c: int
    result: int
    flags: int | None = None
    line: int = 0


@dataclass(frozen=True)
class Mismatch:
    """A case whose replayed result differs from the expected one."""

    vector: Vector
    got: int


def function_name(fmt: FloatFormat) -> str:
    """TestFloat's function name for ``fmt``'s fused multiply-add, e.g. ``f16_mulAdd``.

    Formats TestFloat does not know keep macgen's name (``e6m9_mulAdd``).
    """
    for tf, ours in _TESTFLOAT_NAMES.items():
        if FloatFormat.parse(ours) == fmt:
            return f"{tf}_mulAdd"
    return f"{fmt}_mulAdd"


def _hex(field, line_no, what, fmt):
    try:
        value = int(field, 16)
    except ValueError:
        raise ValueError(f"Line {line_no}: {what} must be hexadecimal, not {field!r}") from None
    if value < 0 or field.startswith(("-", "+")):
        raise ValueError(f"Line {line_no}: {what} must be a non-negative hexadecimal number, not {field!r}")
    if fmt is not None and what != "FLAGS" and value >> fmt.width:
        raise ValueError(f"Line {line_no}: {what} 0x{value:x} does not fit the {fmt.width}-bit format {fmt}")
    return value


def parse_line(text: str, line_no: int = 0, fmt: FloatFormat | None = None) -> Vector | None:
    """Parse one line; None for blank and ``#`` comment lines.

    Raises
    ------
    ValueError
        A malformed line (wrong field count, non-hex field, value wider than
        ``fmt``); the message names the line number.
    """
    body = text.strip()
    if not body or body.startswith("#"):
        return None
    fields = body.split()
    if len(fields) not in (4, 5):
        raise ValueError(f"Line {line_no}: expected 'A B C RESULT [FLAGS]' (4 or 5 hex fields), "
                         f"not {len(fields)} field(s): {body!r}")
    names = ("A", "B", "C", "RESULT", "FLAGS")
    values = [_hex(f, line_no, n, fmt) for f, n in zip(fields, names)]
    flags = values[4] if len(values) == 5 else None
    return Vector(*values[:4], flags=flags, line=line_no)


def read(source, fmt: FloatFormat | None = None) -> list[Vector]:
    """Read vectors from a path, an open text file or an iterable of lines.

    Parameters
    ----------
    source : str, os.PathLike, file or iterable of str
    fmt : FloatFormat, optional
        If given, every operand and result must fit its width.

    Raises
    ------
    ValueError
        A malformed line (the message names its number).
    OSError
        The file cannot be read.
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, encoding="ascii", errors="replace") as f:
            return read(f, fmt)
    out = []
    for i, text in enumerate(source, start=1):
        v = parse_line(text, i, fmt)
        if v is not None:
            out.append(v)
    return out


def format_line(fmt: FloatFormat, a: int, b: int, c: int, result: int, flags: int | None = None) -> str:
    """One TestFloat line (upper-case hex, operands zero-padded to the format width)."""
    d = (fmt.width + 3) // 4
    text = f"{int(a):0{d}X} {int(b):0{d}X} {int(c):0{d}X} {int(result):0{d}X}"
    if flags is not None:
        text += f" {int(flags):02X}"
    return text


def write(dest, fmt: FloatFormat, vectors) -> None:
    """Write vectors (``Vector`` objects) to a path or an open text file, one per line."""
    if isinstance(dest, (str, os.PathLike)):
        with atomic_path(dest) as tmp, open(tmp, "w", encoding="ascii") as f:
            write(f, fmt, vectors)
        return
    for v in vectors:
        dest.write(format_line(fmt, v.a, v.b, v.c, v.result, v.flags) + "\n")


def replay(fmt: FloatFormat, vectors, rounding: str = "rne") -> list[Mismatch]:
    """Run every vector through :func:`macgen.golden.fma` and return the mismatches.

    NaN results compare as NaN (any NaN matches any NaN); everything else must
    match bit for bit, signed zeros included. Flags are ignored.

    Parameters
    ----------
    fmt : FloatFormat
    vectors : sequence of Vector
    rounding : {'rne', 'rtz'}

    Returns
    -------
    list of Mismatch
        In input order; empty when everything matches.
    """
    vectors = list(vectors)
    if not vectors:
        return []
    a, b, c, want = (np.array([getattr(v, k) for v in vectors], dtype=np.uint64)
                     for k in ("a", "b", "c", "result"))
    got = golden.fma(fmt, a, b, c, rounding)
    bad = got != want
    if fmt.has_nan:
        bad &= ~(fmt.is_nan(got) & fmt.is_nan(want))
    return [Mismatch(vectors[i], int(got[i])) for i in np.flatnonzero(bad)]


def mismatch_text(fmt: FloatFormat, mismatches, limit: int = 20) -> str:
    """Human-readable report: per mismatch the line, inputs and both results, hex and decoded."""
    buf = io.StringIO()
    for m in mismatches[:limit]:
        v = m.vector
        buf.write(f"line {v.line}: {function_name(fmt)}\n")
        for name, bits in (("a", v.a), ("b", v.b), ("c", v.c), ("expected", v.result), ("got", m.got)):
            buf.write(f"  {name:>8} = {golden.describe(fmt, bits)}\n")
    if len(mismatches) > limit:
        buf.write(f"... and {len(mismatches) - limit} more\n")
    return buf.getvalue()
