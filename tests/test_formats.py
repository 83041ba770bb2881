"""macgen.formats: names, presets, derived constants, classification, encode/decode, validation."""

import math
from fractions import Fraction

import numpy as np
import pytest

from macgen.formats import (BF16, FP4_E2M1FN, FP6_E2M3FN, FP6_E3M2FN, FP8_E4M3FN, FP8_E5M2, FP16, FP32,
                            PRESETS, FloatFormat, accumulator_policy, bit_length, check_feeds,
                            round_pack)

from macgen.verify.oracle import decode as ref_decode
from macgen.verify.oracle import round_exact


# -- names ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["e5m2", "e8m23", "e4m3fn", "e4m3fnan", "e5m10_ftz", "e4m3fn_ftz", "e8m7_bias100",
                                  "e5m2_bias-3", "e6m9fn_ftz_bias20", "e4m3fnan_ftz_bias3", "e2m1", "e2m1fn",
                                  "e62m1", "e2m61"])
def test_name_round_trip(text):
    fmt = FloatFormat.parse(text)
    assert str(fmt) == text
    assert FloatFormat.parse(str(fmt)) == fmt
    assert FloatFormat.parse(text.upper()) == fmt


def test_name_identity():
    assert FloatFormat.parse("e5m2_ftz_bias9") == FloatFormat(5, 2, bias=9, subnormals=False)
    assert str(FloatFormat(5, 2, bias=15)) == "e5m2"            # default bias is not spelled out
    assert FloatFormat.parse("e4m3fnan") == FloatFormat(4, 3, policy="nan-only") == FP8_E4M3FN
    assert FloatFormat.parse("e5m2_bias-3").ident == "e5m2_biasm3"
    assert FloatFormat.parse(FP16) is FP16


@pytest.mark.parametrize("name,fmt,text,policy,max_finite", [
    ("fp32", FP32, "e8m23", "ieee", (2 - 2.0 ** -23) * 2.0 ** 127),
    ("fp16", FP16, "e5m10", "ieee", 65504.0),
    ("bf16", BF16, "e8m7", "ieee", (2 - 2.0 ** -7) * 2.0 ** 127),
    ("fp8_e5m2", FP8_E5M2, "e5m2", "ieee", 57344.0),
    ("fp8_e4m3fn", FP8_E4M3FN, "e4m3fnan", "nan-only", 448.0),
    ("fp6_e2m3fn", FP6_E2M3FN, "e2m3fn", "finite", 7.5),
    ("fp6_e3m2fn", FP6_E3M2FN, "e3m2fn", "finite", 28.0),
    ("fp4_e2m1fn", FP4_E2M1FN, "e2m1fn", "finite", 6.0),
])
def test_presets(name, fmt, text, policy, max_finite):
    assert PRESETS[name] is fmt
    assert FloatFormat.parse(name) is fmt
    assert FloatFormat.parse(f" {name.upper()} ") is fmt
    assert str(fmt) == text and FloatFormat.parse(text) == fmt
    assert fmt.policy == policy and fmt.subnormals and fmt.max_finite == max_finite


@pytest.mark.parametrize("text", ["e5", "m2", "e5m2x", "fp64", "e5m2_bias", "e5m2_ftzz", "", "e5m-2",
                                  # strict: repeated, conflicting or out-of-order suffixes, leading zeros
                                  "e5m2_ftz_ftz", "e5m2_bias3_bias4", "e4m3fnfn", "e4m3fnanfn", "e4m3fnfnan",
                                  "e5m2_bias9_ftz", "e5m2_ftzfn", "e05m2", "e5m02", "e4m3fnuz",
                                  "float8_e4m3fn"])
def test_parse_rejects_bad_names(text):
    with pytest.raises(ValueError, match=repr(text).replace("[", r"\[")):
        FloatFormat.parse(text)


def test_parse_rejects_spelled_out_default_bias():
    with pytest.raises(ValueError, match="15 is the default bias, write e5m2$"):
        FloatFormat.parse("e5m2_bias15")


def test_ieee_e4m3_is_not_a_preset():
    """The IEEE-style e4m3 (max 240) is 'e4m3'; 'fp8_e4m3' would be mistaken for OCP's."""
    assert "fp8_e4m3" not in PRESETS
    with pytest.raises(ValueError, match="'fp8_e4m3': OCP's FP8 E4M3 is 'fp8_e4m3fn'.*'e4m3'"):
        FloatFormat.parse("fp8_e4m3")
    assert FloatFormat.parse("e4m3").max_finite == 240.0 and FloatFormat.parse("e4m3").policy == "ieee"


def test_parse_rejects_non_strings():
    with pytest.raises(TypeError, match="not 5"):
        FloatFormat.parse(5)


# -- validation -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(exp_bits=1, man_bits=2), ValueError, "Exponent width must be at least 2, not 1"),
    (dict(exp_bits=5, man_bits=0), ValueError, "Mantissa width must be at least 1, not 0"),
    (dict(exp_bits=8, man_bits=56), ValueError, "1\\+8\\+56 = 65 exceeds 64"),
    (dict(exp_bits=True, man_bits=2), TypeError, "Exponent width must be an integer, not True"),
    (dict(exp_bits=5.0, man_bits=2), TypeError, "not 5.0"),
    (dict(exp_bits=5, man_bits="2"), TypeError, "Mantissa width must be an integer, not '2'"),
    (dict(exp_bits=5, man_bits=2, bias=1.5), TypeError, "Bias must be an integer, not 1.5"),
    (dict(exp_bits=5, man_bits=2, bias=False), TypeError, "Bias must be an integer, not False"),
    (dict(exp_bits=5, man_bits=2, bias=32), ValueError, "between -16 and 31, not 32"),
    (dict(exp_bits=5, man_bits=2, bias=-17), ValueError, "between -16 and 31, not -17"),
    (dict(exp_bits=5, man_bits=2, bias=10 ** 30), ValueError, "not 1000000000000000000000000000000"),
    (dict(exp_bits=5, man_bits=2, subnormals=1), TypeError, "subnormals must be a bool, not 1"),
    (dict(exp_bits=5, man_bits=2, inf_nan="no"), TypeError, "inf_nan must be a bool, not 'no'"),
    (dict(exp_bits=5, man_bits=2, policy="ocp"), ValueError,
     "policy must be one of ieee, finite, nan-only, not 'ocp'"),
    (dict(exp_bits=5, man_bits=2, policy="nan-only", inf_nan=True), ValueError,
     "policy 'nan-only' conflicts with inf_nan=True"),
])
def test_invalid_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        FloatFormat(**kwargs)


def test_inf_nan_is_the_older_spelling_of_the_policy():
    assert FloatFormat(4, 3, inf_nan=False) == FloatFormat(4, 3, policy="finite")
    assert FloatFormat(4, 3, inf_nan=True) == FloatFormat(4, 3)
    assert FloatFormat(4, 3).inf_nan and not FP8_E4M3FN.inf_nan and not FP6_E2M3FN.inf_nan


def test_extreme_valid_formats():
    assert FloatFormat(62, 1).width == 64 and FloatFormat(2, 61).width == 64
    assert FloatFormat(5, 2, bias=-16).emin == 17 and FloatFormat(5, 2, bias=31).emax == -1


# -- derived constants -----------------------------------------------------------------------

def test_fp16_constants():
    assert (FP16.emax, FP16.emin, FP16.bias) == (15, -14, 15)
    assert FP16.max_finite == 65504.0 and FP16.min_normal == 2.0 ** -14
    assert FP16.min_subnormal == 2.0 ** -24
    assert (FP16.max_finite_bits, FP16.inf_bits, FP16.nan_bits, FP16.sign_bit) == (0x7BFF, 0x7C00, 0x7E00, 0x8000)
    assert FP16.exp_field_max == 31


@pytest.mark.parametrize("fmt,max_finite,min_sub", [
    (FP32, (2 - 2.0 ** -23) * 2.0 ** 127, 2.0 ** -149), (BF16, (2 - 2.0 ** -7) * 2.0 ** 127, 2.0 ** -133),
    (FP8_E5M2, 57344.0, 2.0 ** -16), (FloatFormat.parse("e4m3"), 240.0, 2.0 ** -9),
    (FP8_E4M3FN, 448.0, 2.0 ** -9), (FloatFormat.parse("e4m1fnan"), 256.0, 2.0 ** -7),
    (FloatFormat.parse("e4m3fn"), 480.0, 2.0 ** -9), (FloatFormat.parse("e5m10_ftz"), 65504.0, 2.0 ** -14),
    (FloatFormat.parse("e6m9"), (2 - 2.0 ** -9) * 2.0 ** 31, 2.0 ** -39),
])
def test_range_constants(fmt, max_finite, min_sub):
    assert fmt.max_finite == max_finite
    assert fmt.min_subnormal == min_sub
    assert fmt.decode(fmt.max_finite_bits) == max_finite


def test_finite_formats_have_no_specials():
    fn = FloatFormat.parse("e4m3fn")
    with pytest.raises(ValueError, match="e4m3fn has no infinity"):
        fn.inf_bits
    with pytest.raises(ValueError, match="e4m3fn has no NaN"):
        fn.nan_bits
    assert fn.max_finite_bits == 0x7F
    codes = np.arange(256, dtype=np.uint64)
    assert not fn.is_nan(codes).any() and not fn.is_inf(codes).any()


def test_nan_only_constants():
    f = FP8_E4M3FN
    assert (f.emax, f.max_finite_bits, f.nan_bits) == (8, 0x7E, 0x7F)
    assert f.has_nan and not f.has_inf
    with pytest.raises(ValueError, match="e4m3fnan has no infinity"):
        f.inf_bits
    codes = np.arange(256, dtype=np.uint64)
    assert np.flatnonzero(f.is_nan(codes)).tolist() == [0x7F, 0xFF]
    assert not f.is_inf(codes).any()
    assert (f.overflow_bits("rne"), f.overflow_bits("rtz")) == (0x7F, 0x7E)
    assert (FP16.overflow_bits("rne"), FP6_E2M3FN.overflow_bits("rne")) == (0x7C00, 0x1F)


def test_nan_only_overflow_and_encode():
    f = FP8_E4M3FN
    # 464 is the midpoint of 448 and the (NaN) code above: ties to even keep 448.
    assert f.encode([464.0, 465.0, -465.0, 1e6, -1e6]).tolist() == [0x7E, 0x7F, 0x7F, 0x7F, 0x7F]
    assert f.encode([465.0, -1e6], "rtz").tolist() == [0x7E, 0xFE]
    assert int(f.encode(np.nan)) == 0x7F
    with pytest.raises(ValueError, match="e4m3fnan has no infinity"):
        f.encode(np.inf)


def test_check_feeds_and_accumulator_policy():
    check_feeds(FP8_E4M3FN, FP32)
    check_feeds(FP4_E2M1FN, FP8_E4M3FN)
    check_feeds(FP8_E4M3FN, FloatFormat.parse("e6m9fnan"))
    with pytest.raises(ValueError, match=r"^a e4m3fnan \(nan-only\) can be NaN, which acc e6m9fn \(finite\)"):
        check_feeds(FP8_E4M3FN, FloatFormat.parse("e6m9fn"), "a", "acc")
    with pytest.raises(ValueError, match="e8m23 \\(ieee\\) can be infinity, which destination e4m3fnan"):
        check_feeds(FP32, FP8_E4M3FN)
    assert accumulator_policy(FP8_E4M3FN, FP8_E4M3FN) == "ieee"
    assert accumulator_policy(FP8_E4M3FN, FP4_E2M1FN) == "ieee"
    assert accumulator_policy(FP4_E2M1FN, FP6_E3M2FN) == "finite"


# -- classification and decode, exhaustively on 8-bit formats against the Fraction decoder -------

@pytest.mark.parametrize("text", ["e5m2", "e4m3", "e4m3fn", "e4m3fnan", "e5m2fnan", "e5m2_ftz", "e3m4fn_ftz",
                                  "e2m5", "e4m3_bias3", "e4m3fnan_ftz"])
def test_classify_and_decode_exhaustive(text):
    fmt = FloatFormat.parse(text)
    codes = np.arange(256, dtype=np.uint64)
    classes = fmt.classify(codes)
    values = fmt.decode(codes)
    for c in range(256):
        kind, sign, mag = ref_decode(fmt, c)
        field = (c >> fmt.man_bits) & fmt.exp_field_max
        if kind == "nan":
            assert classes[c] == "nan" and math.isnan(values[c])
        elif kind == "inf":
            assert classes[c] == "inf" and values[c] == (-math.inf if sign else math.inf)
        else:
            want = "zero" if mag == 0 else ("subnormal" if field == 0 else "normal")
            assert classes[c] == want, c
            assert values[c] == float(-mag if sign else mag)
            assert math.copysign(1.0, values[c]) == (-1.0 if sign else 1.0)
    assert fmt.is_zero(codes).sum() == (2 if fmt.subnormals else 2 << fmt.man_bits)


def test_unpack_is_exact_for_wide_formats():
    fmt = FloatFormat(2, 61)
    bits = np.array([fmt.max_finite_bits, 1, (1 << 61) | 12345], dtype=np.uint64)
    sign, sig, exp = fmt.unpack(bits)
    for i, b in enumerate(bits):
        kind, s, mag = ref_decode(fmt, int(b))
        assert Fraction(int(sig[i])) * Fraction(2) ** int(exp[i]) == mag and int(sign[i]) == s


# -- encode: float64 → format, one rounding ------------------------------------------------------

@pytest.mark.parametrize("text", ["e5m2", "e4m3", "e4m3fn", "e4m3fnan", "e2m1fn", "e5m10_ftz", "bf16",
                                  "e3m2fn_ftz", "e3m2fnan_ftz"])
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_encode_vs_fraction(text, rounding):
    fmt = FloatFormat.parse(text)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(3000) * 2.0 ** rng.integers(-30, 30, 3000),
                        [0.0, -0.0, fmt.max_finite * 1.01, -fmt.max_finite * 3, fmt.min_subnormal / 2,
                         -fmt.min_subnormal * 0.75, fmt.min_normal * (1 - 2 ** -12)]])
    got = fmt.encode(x, rounding)
    for v, g in zip(x, got):
        want = round_exact(fmt, int(math.copysign(1, v) < 0), abs(Fraction(v)), rounding)
        assert int(g) == want, (v, hex(int(g)), hex(want))


def test_encode_specials():
    assert int(FP16.encode(np.inf)) == 0x7C00 and int(FP16.encode(-np.inf)) == 0xFC00
    assert int(FP16.encode(np.nan)) == 0x7E00
    fn = FloatFormat.parse("e4m3fn")
    assert int(fn.encode(-np.inf)) == 0xFF                 # saturates
    with pytest.raises(ValueError, match="e4m3fn has no NaN"):
        fn.encode(np.nan)


def test_decode_encode_round_trip_fp16_exhaustive():
    codes = np.arange(1 << 16, dtype=np.uint64)
    back = FP16.encode(FP16.decode(codes))
    nan = FP16.is_nan(codes)
    assert (back[~nan] == codes[~nan]).all()
    assert (back[nan] == FP16.nan_bits).all()


# -- the rounding primitive ----------------------------------------------------------------------------

def test_bit_length_matches_python():
    vals = [0, 1, 2, 3, 255, 256, (1 << 52) + 1, (1 << 63), (1 << 64) - 1]
    assert bit_length(np.array(vals, dtype=np.uint64)).tolist() == [v.bit_length() for v in vals]


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_round_pack_with_sticky_vs_fraction(rounding):
    """The sticky contract: sig with >= M+2 bits, eps in (0, 1) beyond it."""
    fmt = FloatFormat.parse("e5m4")
    rng = np.random.default_rng(3)
    sig = rng.integers(1 << 6, 1 << 12, size=4000, dtype=np.uint64)
    exp = rng.integers(-30, 12, size=4000)
    sticky = rng.integers(0, 2, size=4000).astype(bool)
    sign = rng.integers(0, 2, size=4000)
    got = round_pack(fmt, sign, sig, exp, sticky, rounding)
    for i in range(4000):
        v = (Fraction(int(sig[i])) + (Fraction(1, 3) if sticky[i] else 0)) * Fraction(2) ** int(exp[i])
        assert int(got[i]) == round_exact(fmt, int(sign[i]), v, rounding), i


def test_round_pack_rejects_bad_mode():
    with pytest.raises(ValueError, match="'up'"):
        round_pack(FP16, 0, 1, 0, rounding="up")
