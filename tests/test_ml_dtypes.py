"""The ML presets against ml_dtypes, the encoding reference of JAX and TensorFlow (docs/arithmetic.md §1).

For every preset that ml_dtypes has: decode of every code, RNE conversion of
float32 values (a large seeded sample of bit patterns plus every midpoint and
boundary of the format), and products and sums of every operand pair where
ml_dtypes' own float32 computation is exact (so that its one rounding into the
format is the only one).

NaN: ml_dtypes keeps the sign of a NaN it converts (and turns a negative
overflow into the NaN ``0xFF`` of ``float8_e4m3fn``); macgen writes the
canonical NaN of docs/arithmetic.md §2–4 (sign 0). Wherever ml_dtypes gives NaN, macgen must give
its canonical NaN; every other result must be the same code.
"""

import ml_dtypes
import numpy as np
import pytest

from macgen import golden
from macgen.config import MACConfig
from macgen.formats import PRESETS, FloatFormat

ML_TYPES = {
    "fp8_e4m3fn": ml_dtypes.float8_e4m3fn, "fp8_e5m2": ml_dtypes.float8_e5m2,
    "fp6_e2m3fn": ml_dtypes.float6_e2m3fn, "fp6_e3m2fn": ml_dtypes.float6_e3m2fn,
    "fp4_e2m1fn": ml_dtypes.float4_e2m1fn, "bf16": ml_dtypes.bfloat16,
}
NARROW = [k for k in ML_TYPES if k != "bf16"]


def _codes_dtype(fmt):
    return np.uint8 if fmt.width <= 8 else np.uint16


def _ml_bits(values, name):
    """ml_dtypes' codes (uint64) of float32 values converted to type ``name``."""
    fmt = PRESETS[name]
    with np.errstate(all="ignore"):
        return np.asarray(values, np.float32).astype(ML_TYPES[name]).view(_codes_dtype(fmt)).astype(np.uint64)


def _ml_nan(name, bits):
    fmt = PRESETS[name]
    with np.errstate(all="ignore"):
        return np.isnan(bits.astype(_codes_dtype(fmt)).view(ML_TYPES[name]).astype(np.float32))


def assert_same(name, got, want):
    """Same code everywhere, except that an ml_dtypes NaN must be macgen's canonical NaN."""
    fmt = PRESETS[name]
    nan = _ml_nan(name, want)
    bad = np.flatnonzero(np.where(nan, got != fmt.nan_bits if fmt.has_nan else True, got != want))
    assert not len(bad), "\n".join(
        f"{i}: got {golden.describe(fmt, got[i])}, ml_dtypes {golden.describe(fmt, want[i])}"
        for i in bad[:10]) + f"\n({len(bad)} of {len(got)})"
    return len(got)


def test_every_ml_preset_is_covered():
    assert set(ML_TYPES) == {k for k in PRESETS if k not in ("fp32", "fp16")}


@pytest.mark.parametrize("name", ML_TYPES)
def test_decode_every_code(name):
    fmt = PRESETS[name]
    codes = np.arange(1 << fmt.width, dtype=np.uint64)
    with np.errstate(invalid="ignore"):
        want = codes.astype(_codes_dtype(fmt)).view(ML_TYPES[name]).astype(np.float64)
    got = fmt.decode(codes)
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all() and (fmt.is_nan(codes) == nan).all()
    assert (got[~nan] == want[~nan]).all()
    assert (np.signbit(got[~nan]) == np.signbit(want[~nan])).all()     # signed zeros
    assert (fmt.is_inf(codes) == np.isinf(want)).all()
    info = ml_dtypes.finfo(ML_TYPES[name])
    assert fmt.max_finite == float(info.max) and fmt.min_normal == float(info.smallest_normal)
    assert fmt.min_subnormal == float(info.smallest_subnormal)


def _boundaries(fmt):
    """Every finite value, every midpoint between neighbours (and above max finite), and
    the float32 values just beside each midpoint, both signs."""
    codes = np.arange(1 << (fmt.width - 1), dtype=np.uint64)
    v = fmt.decode(codes[~fmt.is_nan(codes) & ~fmt.is_inf(codes)])
    v = np.sort(v)
    step_top = v[-1] - v[-2]
    mids = np.concatenate([(v[1:] + v[:-1]) / 2, [v[-1] + step_top / 2, v[-1] + step_top, v[-1] * 4]])
    with np.errstate(over="ignore"):
        x = np.concatenate([v, mids]).astype(np.float32)
    x = x[np.isfinite(x)]
    x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(0))])
    x = x[np.isfinite(x)]
    return np.concatenate([x, -x, [np.float32(3.4e38), np.float32(1e-45)]])


@pytest.mark.parametrize("name", ML_TYPES)
def test_convert_float32_boundaries_rne(name):
    fmt = PRESETS[name]
    x = _boundaries(fmt)
    assert assert_same(name, fmt.encode(x.astype(np.float64)), _ml_bits(x, name)) > 4 * (1 << fmt.width)


@pytest.mark.parametrize("name", ML_TYPES)
def test_convert_float32_random_sample_rne(name):
    """1,000,000 float32 bit patterns per format (seeded), infinities and NaNs left out
    (macgen rejects those conversions where a format cannot hold them), plus a
    log-uniform sample over the format's own range."""
    fmt = PRESETS[name]
    rng = np.random.default_rng(12)
    raw = rng.integers(0, 1 << 32, size=600_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = (rng.standard_normal(400_000) * 2.0 ** rng.uniform(np.log2(fmt.min_subnormal) - 2,
                                                                np.log2(fmt.max_finite) + 2, 400_000))
    with np.errstate(over="ignore"):
        x = np.concatenate([raw, near.astype(np.float32)])
    x = x[np.isfinite(x)]
    assert len(x) > 990_000
    assert_same(name, fmt.encode(x.astype(np.float64)), _ml_bits(x, name))


def test_convert_specials_where_ml_dtypes_differs_by_design():
    """Where a format cannot hold a value ml_dtypes still converts it; macgen refuses."""
    e4m3 = PRESETS["fp8_e4m3fn"]
    assert _ml_bits([np.inf], "fp8_e4m3fn")[0] == 0x7F          # ml_dtypes: inf -> NaN
    with pytest.raises(ValueError, match="has no infinity"):
        e4m3.encode(np.inf)
    assert _ml_bits([np.nan], "fp4_e2m1fn")[0] == 0x8              # ml_dtypes: NaN -> -0
    with pytest.raises(ValueError, match="has no NaN"):
        PRESETS["fp4_e2m1fn"].encode(np.nan)
    assert int(e4m3.encode(-1e6)) == 0x7F and _ml_bits([-1e6], "fp8_e4m3fn")[0] == 0xFF   # NaN sign


def _all_pairs(fmt):
    codes = np.arange(1 << fmt.width, dtype=np.uint64)
    return np.repeat(codes, len(codes)), np.tile(codes, len(codes))


def _ml_values(name, bits):
    return bits.astype(_codes_dtype(PRESETS[name])).view(ML_TYPES[name])


@pytest.mark.parametrize("name", NARROW)
def test_products_of_every_pair(name):
    """ml_dtypes multiplies in float32, exactly for these widths, then rounds once (RNE)."""
    fmt = PRESETS[name]
    a, b = _all_pairs(fmt)
    with np.errstate(all="ignore"):
        want = (_ml_values(name, a) * _ml_values(name, b)).view(_codes_dtype(fmt)).astype(np.uint64)
    # Exactness of ml_dtypes' float32 product: float64 holds it exactly.
    fa, fb = fmt.decode(a), fmt.decode(b)
    with np.errstate(invalid="ignore"):
        p = fa * fb
    assert (p.astype(np.float32).astype(np.float64) == p)[np.isfinite(p)].all()
    # -0 + p = p exactly for every p (zeros keep the product's sign).
    cfg = MACConfig(fmt, fmt, fmt)
    got = golden.mac(cfg, np.uint64(fmt.sign_bit), a, b)
    assert assert_same(name, got, want) == 1 << (2 * fmt.width)


@pytest.mark.parametrize("name", NARROW)
def test_sums_of_every_pair_where_float32_is_exact(name):
    fmt = PRESETS[name]
    a, b = _all_pairs(fmt)
    with np.errstate(invalid="ignore", over="ignore"):
        s32 = (_ml_values(name, a).astype(np.float32) + _ml_values(name, b).astype(np.float32))
        s64 = fmt.decode(a) + fmt.decode(b)
        exact = (s32.astype(np.float64) == s64) | np.isnan(s64) | np.isinf(s64)
    with np.errstate(all="ignore"):
        want = (_ml_values(name, a) + _ml_values(name, b)).view(_codes_dtype(fmt)).astype(np.uint64)
    got = golden.add(fmt, a, b)
    n = assert_same(name, got[exact], want[exact])
    assert n >= (0.9 if name == "fp8_e5m2" else 1.0) * len(a)
