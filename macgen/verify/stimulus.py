"""Seeded, biased random stimulus: the one family of operand generators.

Every bench draws operands here: :func:`biased_operands` for streams of single
operands (the MAC's dot products, the array's tiles, the Amaranth unit tests),
:func:`biased_fma_operands` for correlated ``(a, b, c)`` triples (FMA tests and
TestFloat vectors: ``c`` close to ``-a*b`` for deep cancellation),
:func:`smallest_operands` for the bottom of a format's range (products and sums
on the finest grid, where accumulators reach their smallest normals and
subnormals). Each takes an
explicit random generator or seed; nothing here draws from global state.
"""

from __future__ import annotations

import numpy as np

from ..formats import FloatFormat

__all__ = ["corner_codes", "biased_operands", "biased_fma_operands", "smallest_operands"]


def corner_codes(fmt: FloatFormat) -> list[int]:
    """Named corner codes of a format, both signs: zeros, subnormals, min normal, one,
    max finite, inf and NaNs (ieee), NaN (nan-only)."""
    M = fmt.man_bits
    codes = {0, 1, (1 << M) - 1, 1 << M, fmt.bias << M, (fmt.bias << M) | 1,
             fmt.max_finite_bits, fmt.max_finite_bits - 1}
    if fmt.has_inf:
        codes |= {fmt.inf_bits, fmt.inf_bits | 1}
    if fmt.has_nan:
        codes |= {fmt.nan_bits}
    codes = sorted(codes)
    return codes + [c | fmt.sign_bit for c in codes]


def biased_operands(fmt: FloatFormat, shape, rng: np.random.Generator) -> np.ndarray:
    """Random bit patterns of ``fmt`` (uint64 array of ``shape``), biased toward the hard cases.

    Per element, out of ten: three uniform codes (either sign), three exponents
    within 3 of the bias (sums cancel and round), one subnormal-or-zero field, one
    named corner (:func:`corner_codes`), one exponent near the top (overflow), one
    near-bias value with a short fraction (ties).
    """
    M = fmt.man_bits
    u = np.uint64
    sign = rng.integers(0, 2, shape, dtype=u) << u(fmt.width - 1)
    frac = rng.integers(0, 1 << M, shape, dtype=u)
    kind = rng.integers(0, 10, shape)
    uniform = rng.integers(0, 1 << (fmt.width - 1), shape, dtype=u)
    lo, hi = max(1, fmt.bias - 3), min(fmt.exp_field_max - 1, fmt.bias + 3)
    band = rng.integers(lo, hi + 1, shape).astype(u)
    top_hi = fmt.exp_field_max + (0 if fmt.has_inf else 1)
    top = rng.integers(max(1, fmt.exp_field_max - 3), top_hi, shape).astype(u)
    corners = np.array(corner_codes(fmt), dtype=u)
    special = corners[rng.integers(0, len(corners), shape)]
    short = frac & ~u((1 << max(0, M - 2)) - 1)
    body = np.select(
        [kind < 3, kind < 6, kind == 6, kind == 7, kind == 8],
        [uniform, (band << u(M)) | frac, frac, special, (top << u(M)) | frac],
        (band << u(M)) | short)
    return (sign | body).astype(u)


def smallest_operands(fmt: FloatFormat, shape, rng: np.random.Generator) -> np.ndarray:
    """Random codes of ``fmt`` from the bottom of its range (uint64 array of ``shape``).

    Either sign; exponent field 0 (subnormals and zeros) or 1 (the smallest
    normals), with a short fraction one time in four (sums of a few such products
    then land exactly on small multiples of the grid, e.g. the accumulator's
    smallest normal or subnormal).
    """
    M = fmt.man_bits
    u = np.uint64
    sign = rng.integers(0, 2, shape, dtype=u) << u(fmt.width - 1)
    field = rng.integers(0, 2, shape, dtype=u)
    frac = rng.integers(0, 1 << M, shape, dtype=u)
    frac = np.where(rng.random(shape) < 0.25, frac & u(3), frac)
    return (sign | (field << u(M)) | frac).astype(u)


def biased_fma_operands(fmt: FloatFormat, n: int, seed: int):
    """Biased random ``(a, b, c)`` uint64 arrays for FMA tests of ``fmt``.

    Mix (by thirds-ish): uniform random codes; products whose exponents sum
    near the addend's (close exponents) with ``c`` close to ``-a*b``
    (cancellation); exponents near the subnormal range and near overflow; and
    a sprinkling of zeros, infinities and NaNs of both signs.
    """
    rng = np.random.default_rng(seed)
    E, M, bias = fmt.exp_bits, fmt.man_bits, fmt.bias
    fmax = (1 << E) - 1
    top_finite = fmax - 1 if fmt.policy == "ieee" else fmax

    def make(sign, field, frac):
        return ((sign.astype(np.uint64) << np.uint64(E + M))
                | (np.clip(field, 0, fmax).astype(np.uint64) << np.uint64(M))
                | frac.astype(np.uint64))

    def rfrac(k):
        hi = rng.integers(0, 1 << min(M, 62), size=k, dtype=np.uint64)
        return hi & np.uint64((1 << M) - 1)

    def rsign(k):
        return rng.integers(0, 2, size=k)

    cat = rng.integers(0, 6, size=n)
    a = np.zeros(n, np.uint64)
    b = np.zeros(n, np.uint64)
    c = np.zeros(n, np.uint64)
    width_mask = (1 << fmt.width) - 1
    # 0: uniform codes
    k = cat == 0
    for arr in (a, b, c):
        arr[k] = rng.integers(0, width_mask, size=k.sum(), dtype=np.uint64, endpoint=True)
    # 1, 2: close exponents / cancellation: ea + eb - bias ≈ ec
    for cc in (1, 2):
        k = cat == cc
        m = int(k.sum())
        ea = rng.integers(1, top_finite + 1, size=m)
        centre = int(np.clip(bias, 1, top_finite))          # field of 1.0 (clipped for odd biases)
        spread = max(min(abs(bias), top_finite) // 2, 1)
        eb = np.clip(centre + rng.integers(-3, 4, size=m) + rng.integers(-spread, spread + 1, size=m),
                     1, top_finite)
        ec = np.clip(ea + eb - centre + rng.integers(-2, 3, size=m), 1, top_finite)
        sa, sb = rsign(m), rsign(m)
        a[k] = make(sa, ea, rfrac(m))
        b[k] = make(sb, eb, rfrac(m))
        sc = (sa ^ sb) ^ 1 if cc == 2 else rsign(m)    # opposite sign: cancellation
        fc = rfrac(m)
        c[k] = make(sc, ec, fc)
        if cc == 2:
            # c within a few units in the last place of -a*b: deep cancellation.
            with np.errstate(all="ignore"):
                prod = fmt.decode(a[k]) * fmt.decode(b[k])
                prod = np.where(np.isfinite(prod), prod, 0.0)
                near = fmt.encode(-prod) ^ np.uint64(0)
            step = rng.integers(-2, 3, size=m)
            body = near & np.uint64(fmt.sign_bit - 1)
            body = np.where((step < 0) & (body < np.uint64(3)), body, body + step.astype(np.int64).astype(np.uint64))
            near = (near & np.uint64(fmt.sign_bit)) | (body & np.uint64(fmt.sign_bit - 1))
            c[k] = near
    # 3: subnormal range
    k = cat == 3
    m = int(k.sum())
    a[k] = make(rsign(m), rng.integers(0, 3, size=m) + rng.integers(0, 2, size=m) * max(bias // 2, 0), rfrac(m))
    b[k] = make(rsign(m), rng.integers(0, max(min(bias, top_finite), 0) + 3, size=m), rfrac(m))
    c[k] = make(rsign(m), rng.integers(0, 3, size=m), rfrac(m))
    # 4: near overflow
    k = cat == 4
    m = int(k.sum())
    a[k] = make(rsign(m), top_finite - rng.integers(0, 3, size=m), rfrac(m))
    b[k] = make(rsign(m), int(np.clip(bias, 1, top_finite)) + rng.integers(-1, 3, size=m), rfrac(m))
    c[k] = make(rsign(m), top_finite - rng.integers(0, 3, size=m), rfrac(m))
    # 5: specials and zeros mixed into finite random operands
    k = np.flatnonzero(cat == 5)
    m = len(k)
    for arr in (a, b, c):
        arr[k] = make(rsign(m), rng.integers(0, top_finite + 1, size=m), rfrac(m))
        pick = rng.integers(0, 4, size=m)
        zero = rsign(m).astype(np.uint64) << np.uint64(E + M)
        specials = [zero]
        if fmt.policy == "nan-only":
            specials.append(np.uint64((1 << (E + M)) - 1) | (rsign(m).astype(np.uint64) << np.uint64(E + M)))
        if fmt.policy == "ieee":
            specials.append(zero | np.uint64(fmt.inf_bits))
            specials.append(np.uint64(fmt.nan_bits) | (rsign(m).astype(np.uint64) << np.uint64(E + M))
                            | rfrac(m) & np.uint64((1 << max(M - 1, 0)) - 1))
        for j, sp in enumerate(specials):
            sel = pick == j + 1
            arr[k[sel]] = np.broadcast_to(sp, (m,))[sel]
    return a, b, c
