"""The golden model (macgen.golden) against independent oracles (tests/oracle.py).

Vector counts (default run) are listed in the docstring of each test and
summed in the module's closing comment.
"""

import numpy as np
import pytest

from macgen import golden
from macgen.config import MACConfig
from macgen.formats import BF16, FP16, FP32, FP8_E5M2, FloatFormat

from macgen.verify.oracle import decode, mpfr_mac_many, ref_convert, ref_dot, ref_fma, ref_mac, ref_matmul
from macgen.verify.stimulus import biased_fma_operands

F = FloatFormat.parse
E4M3_IEEE = F("e4m3")   # IEEE-style e4m3 (inf, max 240): not OCP's E4M3 (fp8_e4m3fn)


def assert_bits(fmt, got, expected, inputs=None, nan_equal=False):
    got = np.asarray(got, dtype=np.uint64)
    expected = np.asarray(expected, dtype=np.uint64)
    assert got.shape == expected.shape
    report = golden.mismatch_report(fmt, got, expected, inputs, nan_equal=nan_equal)
    assert not report, report


def all_codes(fmt):
    return np.arange(1 << fmt.width, dtype=np.uint64)


def acc_states(fmt, count, seed):
    """Zeros, subnormals, min normal, max, inf, NaN and random codes of ``fmt``."""
    M = fmt.man_bits
    s = fmt.sign_bit
    named = [0, s, 1, s | 1, (1 << M) - 1, 1 << M, s | (1 << M), fmt.max_finite_bits,
             s | fmt.max_finite_bits, fmt.max_finite_bits - 1,
             (fmt.bias << M), s | (fmt.bias << M), ((fmt.bias + 3) << M) | 5]
    if fmt.inf_nan:
        named += [fmt.inf_bits, s | fmt.inf_bits, fmt.nan_bits, s | fmt.nan_bits | 1]
    rng = np.random.default_rng(seed)
    rand = rng.integers(0, 1 << fmt.width, size=count - len(named), dtype=np.uint64)
    return np.array(named, dtype=np.uint64), np.concatenate([np.array(named, dtype=np.uint64), rand])


# -- tier 1: named corner cases -----------------------------------------------

@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_fma_corner_cases_fp16(rounding):
    enc = FP16.encode
    one, two = int(enc(1.0)), int(enc(2.0))
    z, nz = 0x0000, 0x8000
    inf, ninf, nan = 0x7C00, 0xFC00, FP16.nan_bits
    tiny = 0x0001
    cases = [
        # (a, b, c) -> expected, independent of any model
        ((z, z, z), z), ((nz, z, nz), nz), ((nz, z, z), z), ((z, z, nz), z),
        ((one, one, int(enc(-1.0))), z),               # exact cancellation: +0 in both modes
        ((int(enc(-1.0)), one, one), z),
        ((inf, z, one), nan), ((z, ninf, one), nan), ((inf, one, ninf), nan),
        ((inf, one, inf), inf), ((ninf, one, one), ninf), ((one, one, 0x7E01), nan),
        ((0xFE01, one, inf), nan),
        ((tiny, tiny, z), z),                          # underflow keeps the sign
        ((tiny, 0x8001, z), nz),
        ((two, 0x7BFF, z), inf if rounding == "rne" else 0x7BFF),
        ((int(enc(-2.0)), 0x7BFF, z), ninf if rounding == "rne" else 0xFBFF),
    ]
    for (a, b, c), want in cases:
        got = int(golden.fma(FP16, a, b, c, rounding))
        assert got == want, golden.describe(FP16, got) + " != " + golden.describe(FP16, want)


def test_fma_nan_is_canonical():
    """Every NaN produced is sign 0, exponent all ones, fraction 1 << (M-1)."""
    for fmt in (FP16, BF16, FP32, FP8_E5M2, E4M3_IEEE):
        codes = all_codes(fmt) if fmt.width <= 8 else np.array(
            [fmt.nan_bits | fmt.sign_bit | 1, fmt.inf_bits | 3, fmt.nan_bits], dtype=np.uint64)
        nans = codes[fmt.is_nan(codes)]
        out = golden.fma(fmt, nans, np.uint64(fmt.bias << fmt.man_bits), np.uint64(0))
        assert (out == fmt.nan_bits).all()


def test_describe_and_report():
    assert golden.describe(FP16, 0x3C00) == "0x3c00 (+1.0 normal)"
    assert golden.describe(FP16, 0x8000) == "0x8000 (-0 zero)"
    assert golden.describe(FP16, 0x0001) == "0x0001 (+5.960464477539063e-08 subnormal)"
    assert golden.describe(FP16, 0xFC00) == "0xfc00 (-inf inf)"
    assert golden.describe(FP16, 0x7E00) == "0x7e00 (NaN nan)"
    assert golden.describe(F("e4m3fn"), 0x7F) == "0x7f (+480.0 normal)"
    text = golden.mismatch_report(FP16, [0x3C00, 0x4000], [0x3C00, 0x4001],
                                  {"a": (FP8_E5M2, [0x3C, 0x40])})
    assert "1 mismatch(es) of 2" in text and "at (1,)" in text
    assert "0x40 (+2.0 normal) [e5m2]" in text
    assert "got = 0x4000 (+2.0 normal)" in text and "expected = 0x4001" in text
    assert golden.mismatch_report(FP16, [1, 2], [1, 2]) == ""
    assert golden.mismatch_report(FP16, [0x7E00], [0xFE01], nan_equal=True) == ""
    assert golden.mismatch_report(FP16, [0x7E00], [0xFE01]) != ""


def test_api_errors():
    cfg = MACConfig("e5m2", "e5m2", "e6m9")
    with pytest.raises(TypeError, match="MACConfig"):
        golden.mac("e6m9", 0, 0, 0)
    with pytest.raises(TypeError, match="FloatFormat"):
        golden.fma("fp16", 0, 0, 0)
    with pytest.raises(ValueError, match="'rnd'"):
        golden.add(FP16, 0, 0, rounding="rnd")
    with pytest.raises(ValueError, match="at least 1, not 0"):
        golden.dot(cfg, np.zeros((3, 0), np.uint64), np.zeros((3, 0), np.uint64))
    with pytest.raises(ValueError, match="scalars"):
        golden.dot(cfg, 0, 0)
    with pytest.raises(ValueError, match="Inner dimensions must agree, not 3 and 4"):
        golden.matmul(cfg, np.zeros((2, 3), np.uint64), np.zeros((4, 2), np.uint64))
    with pytest.raises(ValueError, match=r"^Source format e5m10 \(ieee\) can be NaN, which destination "
                                         r"format e5m10fn \(finite\) cannot represent$"):
        golden.convert(FP16, F("e5m10fn"), 0)
    with pytest.raises(ValueError, match="can be infinity, which destination format e4m3fnan"):
        golden.convert(FP16, F("fp8_e4m3fn"), 0)


# -- tier 3: exhaustive 8-bit operands against MPFR -----------------------------

def _product_classes(a_fmt, b_fmt):
    """Group all operand pairs by their exact product (value, zero sign, specials)."""
    da = [decode(a_fmt, i) for i in range(1 << a_fmt.width)]
    db = [decode(b_fmt, i) for i in range(1 << b_fmt.width)]
    keys = {}
    cls = np.empty(1 << (a_fmt.width + b_fmt.width), dtype=np.int64)
    reps = []
    for i, (ka, sa, ma) in enumerate(da):
        for j, (kb, sb, mb) in enumerate(db):
            if "nan" in (ka, kb) or (ka == "inf" and kb == "num" and mb == 0) \
                    or (kb == "inf" and ka == "num" and ma == 0):
                key = ("nan",)
            elif "inf" in (ka, kb):
                key = ("inf", sa ^ sb)
            else:
                key = ("num", sa ^ sb, ma * mb)
            k = keys.get(key)
            if k is None:
                k = keys[key] = len(reps)
                reps.append((i, j))
            cls[(i << b_fmt.width) | j] = k
    return cls, np.array(reps, dtype=np.uint64)


_CLASSES = {}


@pytest.mark.parametrize("op_fmt", [FP8_E5M2, E4M3_IEEE], ids=str)
@pytest.mark.parametrize("acc_fmt", [F("e6m9"), FP32, FP16, E4M3_IEEE], ids=str)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_exhaustive_fp8_pairs_vs_mpfr(op_fmt, acc_fmt, rounding):
    """All 65,536 operand pairs x 24 accumulator states = 1,572,864 golden MACs per case
    (16 cases: 25,165,824), checked against MPFR on every distinct exact product."""
    if op_fmt not in _CLASSES:
        _CLASSES[op_fmt] = _product_classes(op_fmt, op_fmt)
    cls, reps = _CLASSES[op_fmt]
    cfg = MACConfig(op_fmt, op_fmt, acc_fmt, rounding=rounding)
    _, accs = acc_states(acc_fmt, 24, seed=hash((str(op_fmt), str(acc_fmt))) % 1000)
    pairs = np.arange(1 << 16, dtype=np.uint64)
    a, b = pairs >> np.uint64(8), pairs & np.uint64(0xFF)
    got = golden.mac(cfg, accs[:, None], a[None, :], b[None, :])        # (24, 65536)
    # Oracle: one MPFR call per (accumulator, distinct product).
    n_cls = len(reps)
    acc_rep = np.repeat(accs, n_cls)
    a_rep = np.tile(reps[:, 0], len(accs))
    b_rep = np.tile(reps[:, 1], len(accs))
    want_cls = np.array(mpfr_mac_many(cfg, acc_rep, a_rep, b_rep), dtype=np.uint64).reshape(len(accs), n_cls)
    want = want_cls[:, cls]
    assert_bits(acc_fmt, got, want,
                {"acc": (acc_fmt, accs[:, None]), "a": (op_fmt, a[None, :]), "b": (op_fmt, b[None, :])})


E4M3FN = F("fp8_e4m3fn")
_OCP_PAIRS = [(E4M3FN, E4M3FN), (E4M3FN, FP8_E5M2)]
_OCP_ACCS = [FP32, BF16, F("e6m9")]


def _exhaustive_pairs_vs_mpfr(a_fmt, b_fmt, acc_fmt, rounding, n_states):
    key = (a_fmt, b_fmt)
    if key not in _CLASSES:
        _CLASSES[key] = _product_classes(a_fmt, b_fmt)
    cls, reps = _CLASSES[key]
    cfg = MACConfig(a_fmt, b_fmt, acc_fmt, rounding=rounding)
    _, accs = acc_states(acc_fmt, n_states, seed=hash((str(a_fmt), str(acc_fmt))) % 1000)
    pairs = np.arange(1 << 16, dtype=np.uint64)
    a, b = pairs >> np.uint64(8), pairs & np.uint64(0xFF)
    got = golden.mac(cfg, accs[:, None], a[None, :], b[None, :])
    acc_rep = np.repeat(accs, len(reps))
    a_rep = np.tile(reps[:, 0], len(accs))
    b_rep = np.tile(reps[:, 1], len(accs))
    want = np.array(mpfr_mac_many(cfg, acc_rep, a_rep, b_rep), dtype=np.uint64).reshape(len(accs), -1)[:, cls]
    assert_bits(acc_fmt, got, want,
                {"acc": (acc_fmt, accs[:, None]), "a": (a_fmt, a[None, :]), "b": (b_fmt, b[None, :])})
    return got.size


@pytest.mark.parametrize("a_fmt,b_fmt", _OCP_PAIRS, ids=lambda f: str(f))
@pytest.mark.parametrize("acc_fmt", _OCP_ACCS, ids=str)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_exhaustive_ocp_fp8_pairs_vs_mpfr(a_fmt, b_fmt, acc_fmt, rounding):
    """OCP E4M3 (nan-only) x E4M3 / E5M2 into ieee accumulators: all 65,536 operand pairs x
    18 accumulator states (zeros, subnormals, max, inf, NaN, random) = 1,179,648 MACs per case
    (12 cases: 14,155,776), against MPFR on every distinct exact product."""
    assert _exhaustive_pairs_vs_mpfr(a_fmt, b_fmt, acc_fmt, rounding, 18) == 18 << 16


@pytest.mark.slow
@pytest.mark.parametrize("a_fmt,b_fmt", _OCP_PAIRS + [(FP8_E5M2, E4M3FN)], ids=lambda f: str(f))
@pytest.mark.parametrize("acc_fmt", _OCP_ACCS, ids=str)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_exhaustive_ocp_fp8_pairs_vs_mpfr_many_states(a_fmt, b_fmt, acc_fmt, rounding):
    """As above with 200 accumulator states (18 cases: 235,929,600 MACs)."""
    assert _exhaustive_pairs_vs_mpfr(a_fmt, b_fmt, acc_fmt, rounding, 200) == 200 << 16


# -- tier 2: biased random FMAs against MPFR --------------------------------------

@pytest.mark.parametrize("fmt,count", [(FP16, 400_000), (BF16, 300_000), (FP32, 300_000)], ids=str)
def test_fma_random_vs_mpfr(fmt, count):
    """1,000,000 biased random FMAs in total (half RNE, half RTZ)."""
    for i, rounding in enumerate(("rne", "rtz")):
        a, b, c = biased_fma_operands(fmt, count // 2, seed=17 + i)
        got = golden.fma(fmt, a, b, c, rounding)
        want = np.array(mpfr_mac_many(MACConfig(fmt, fmt, fmt, rounding=rounding), c, a, b), dtype=np.uint64)
        assert_bits(fmt, got, want, {"a": (fmt, a), "b": (fmt, b), "c": (fmt, c)})


def test_biased_stimulus_covers_the_corners():
    """The random FMA stimulus really contains what it claims (else the test above is weak)."""
    a, b, c = biased_fma_operands(FP16, 20000, seed=17)
    out = golden.fma(FP16, a, b, c)
    for arr in (a, c):
        assert FP16.is_subnormal(arr).sum() > 200
        assert FP16.is_inf(arr).sum() > 100 and FP16.is_nan(arr).sum() > 100
        assert FP16.is_zero(arr).sum() > 100
    assert FP16.is_inf(out).sum() > 300                         # overflow
    assert (FP16.is_subnormal(out) & ~FP16.is_subnormal(c)).sum() > 50
    # Cancellation: results far smaller than the addend.
    mag = np.abs(FP16.decode(out))
    cm = np.abs(FP16.decode(c))
    assert ((mag < cm / 256) & (mag > 0)).sum() > 200


# -- finite formats, ftz, wide and extreme formats against Fractions -----------------

_FRACTION_CASES = [
    ("e4m3fn", "e4m3fn", "e4m3fn"), ("e5m10_ftz", "e5m10_ftz", "e5m10_ftz"),
    ("e3m2fn_ftz", "e3m2fn_ftz", "e3m2fn_ftz"), ("e8m7_ftz", "e8m7_ftz", "e8m7_ftz"),
    ("e4m3fn", "e4m3fn", "e6m9fn"), ("e5m2_ftz", "e5m2", "e6m9_ftz"), ("e5m2", "e5m2_ftz", "e4m3"),
    ("e5m2_bias9", "e4m3_bias3", "e6m9_bias40"), ("e8m30", "e8m30", "e8m30"),   # 62-bit products
    ("e11m52", "e11m52", "e11m52"), ("e3m58", "e3m58", "e3m58"), ("e13m2", "e13m2", "e4m3"),
    ("e2m1", "e2m1", "e2m3"), ("e12m3", "e2m1", "e4m5"), ("e5m10", "e5m10", "e2m61"),
    ("e7m3_bias-20", "e7m3_bias100", "e7m5"),
]


@pytest.mark.parametrize("names", _FRACTION_CASES, ids="-".join)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_mac_vs_fraction(names, rounding):
    """1,500 biased random MACs per case vs the Fraction reference (32 cases: 48,000)."""
    a_fmt, b_fmt, acc_fmt = (F(n) for n in names)
    cfg = MACConfig(a_fmt, b_fmt, acc_fmt, rounding=rounding)
    n = 1500
    a, _, _ = biased_fma_operands(a_fmt, n, seed=3)
    _, b, _ = biased_fma_operands(b_fmt, n, seed=4)
    _, _, c = biased_fma_operands(acc_fmt, n, seed=5)
    got = golden.mac(cfg, c, a, b)
    want = np.array([ref_mac(cfg, int(z), int(x), int(y)) for x, y, z in zip(a, b, c)], dtype=np.uint64)
    assert_bits(acc_fmt, got, want, {"acc": (acc_fmt, c), "a": (a_fmt, a), "b": (b_fmt, b)})


@pytest.mark.parametrize("src,dst", [("e5m10", "e4m3"), ("e8m23", "e5m10"), ("e4m3", "e5m2"),
                                     ("e5m10", "e6m9_ftz"), ("e8m7", "e5m2_bias20"), ("e4m3fn", "e3m2fn"),
                                     ("e5m2", "e5m2_ftz"), ("e11m52", "e8m23"), ("e2m61", "e11m52")])
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_convert_vs_fraction(src, dst, rounding):
    """Every code of 8-bit sources, else 4,000 biased ones (18 cases)."""
    src, dst = F(src), F(dst)
    if src.width <= 8:
        x = all_codes(src)
    else:
        x = np.concatenate(biased_fma_operands(src, 1400, seed=8))[:4000]
    got = golden.convert(src, dst, x, rounding)
    want = np.array([ref_convert(src, dst, int(v), rounding) for v in x], dtype=np.uint64)
    assert_bits(dst, got, want, {"x": (src, x)})


@pytest.mark.parametrize("fmt", [FP16, F("e4m3fn"), F("e5m10_ftz")], ids=str)
@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_add_vs_fraction(fmt, rounding):
    """5,000 biased random additions per case (6 cases: 30,000)."""
    x, y, _ = biased_fma_operands(fmt, 5000, seed=11)
    got = golden.add(fmt, x, y, rounding)
    one = fmt.bias << fmt.man_bits
    want = np.array([ref_fma(fmt, int(u), one, int(v), rounding) for u, v in zip(x, y)], dtype=np.uint64)
    assert_bits(fmt, got, want, {"x": (fmt, x), "y": (fmt, y)})


def test_exponent_extremes_do_not_overflow():
    """Width-64 formats with exponents near 2^61 (too big for Fractions): hand-derived results."""
    big = F("e62m1")                       # bias 2^61-1, emax 2^61-1, emin 2-2^61
    tiny = F("e2m5")
    neg = FloatFormat(62, 1, bias=-(1 << 61))
    one = big.bias << 1
    cases = [
        # (a_fmt, b_fmt, acc_fmt, acc, a, b, expected)
        (big, big, big, 0, one, one, one),
        (big, big, big, 0, big.max_finite_bits, big.max_finite_bits, big.inf_bits),
        # 1.5 * 2^emax * 2^(emin-1) = 1.5 * 2^0
        (big, big, big, 0, big.max_finite_bits, 1, one | 1),
        (big, big, big, 0, 1, big.sign_bit | 1, big.sign_bit),          # underflow keeps the sign
        (big, big, big, big.sign_bit | big.max_finite_bits, big.max_finite_bits, one, 0),  # exact: +0
        (big, big, tiny, 0, one, one, tiny.bias << 5),
        (big, big, tiny, 0, big.max_finite_bits, big.max_finite_bits, tiny.inf_bits),
        (big, big, tiny, 0, 1, one, 0),
        # (2 - 2^-5)^2 * 2^2 = 15.50390625 rounds to 16 = 2^4 with one fraction bit
        (tiny, tiny, big, 0, tiny.max_finite_bits, tiny.max_finite_bits, (big.bias + 4) << 1),
        # bias -2^61: exponents up to 1.5*2^62, so products of exponents exceed int64.
        # min_sub^2 = 2^(2*2^61) = 2^(2^62): field 2^62 + bias = 2^61.
        (neg, neg, neg, 0, 1, 1, 1 << 62),
        (neg, neg, neg, 0, neg.max_finite_bits, neg.max_finite_bits, neg.inf_bits),
        (neg, neg, tiny, 0, 1, 1, tiny.inf_bits),
        (neg, tiny, tiny, 0, 1, 0, 0),
        # (2 - 2^-23) * 2^-1 (bias 2^40-1: all values below 1) times 1.0 into fp32
        (F("e40m23_bias1099511627775"), F("e40m23"), FP32, 0,
         F("e40m23_bias1099511627775").max_finite_bits, F("e40m23").bias << 23, 0x3F7FFFFF),
    ]
    for a_fmt, b_fmt, acc_fmt, c, a, b, want in cases:
        got = int(golden.mac(MACConfig(a_fmt, b_fmt, acc_fmt), c, a, b))
        assert got == want, (str(a_fmt), str(acc_fmt), hex(a), hex(b), hex(c), hex(got), hex(want))


# -- dot products with chunking, outer/out formats, init, rounded products --------

_DOT_CONFIGS = [
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", chunk_size=4),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", rounding="rtz", chunk_size=3),
    dict(a_fmt="e4m3", b_fmt="e5m2", acc_fmt="e5m4", chunk_size=5, outer_fmt="e8m10", out_fmt="e5m2"),
    dict(a_fmt="e4m3", b_fmt="e4m3", acc_fmt="e5m10", product_man_bits=4),
    dict(a_fmt="e4m3", b_fmt="e4m3", acc_fmt="e5m3", product_man_bits=3, rounding="rtz", chunk_size=2),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e4m3", out_fmt="e3m2"),
    dict(a_fmt="e4m3fn", b_fmt="e4m3fn", acc_fmt="e5m6fn", chunk_size=4, outer_fmt="e6m9fn"),
    dict(a_fmt="e5m2_ftz", b_fmt="e5m2", acc_fmt="e6m9_ftz", chunk_size=3),
    dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp32", chunk_size=4, out_fmt="bf16"),
    dict(a_fmt="bf16", b_fmt="bf16", acc_fmt="e8m10", rounding="rtz", product_man_bits=9),
    dict(a_fmt="fp16", b_fmt="e5m2", acc_fmt="e5m10", chunk_size=6, outer_fmt="e5m10"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", chunk_size=4, outer_fmt="fp32", rounding="rtz"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m13", chunk_size=4, outer_fmt="e7m12"),
    # OCP formats and mixed policies (docs/arithmetic.md §2–4)
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="fp32"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e5m2", acc_fmt="bf16", rounding="rtz"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9", chunk_size=4, outer_fmt="fp32"),
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp4_e2m1fn", acc_fmt="e6m9", chunk_size=8),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e4m3fnan"),          # nan-only accumulator
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e4m3fnan", rounding="rtz", chunk_size=3,
         outer_fmt="e5m6fnan"),
    dict(a_fmt="fp6_e2m3fn", b_fmt="fp6_e3m2fn", acc_fmt="e5m6fnan", out_fmt="fp8_e4m3fn"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9fnan", out_fmt="fp8_e4m3fn", chunk_size=5),
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp6_e2m3fn", acc_fmt="e3m4fn", out_fmt="fp16"),
]


def _dot_operands(cfg, rows, n, seed):
    a, _, _ = biased_fma_operands(cfg.a_fmt, rows * n, seed=seed)
    _, b, _ = biased_fma_operands(cfg.b_fmt, rows * n, seed=seed + 1)
    rng = np.random.default_rng(seed)
    # Mostly finite, moderately sized operands so that long sums stay interesting.
    keep = rng.random(rows * n) < 0.6
    ga = cfg.a_fmt.encode(rng.standard_normal(rows * n))
    gb = cfg.b_fmt.encode(rng.standard_normal(rows * n) * 4)
    a = np.where(keep, ga, a).reshape(rows, n)
    b = np.where(keep, gb, b).reshape(rows, n)
    _, _, init = biased_fma_operands(cfg.outer_fmt, rows, seed=seed + 2)
    return a, b, init


@pytest.mark.parametrize("kw", _DOT_CONFIGS, ids=lambda kw: MACConfig(**kw).slug)
def test_dot_vs_fraction(kw):
    """40 rows of length 1..23 with and without init, then 40 full rows, per config (14 configs: 1,680 dots)."""
    cfg = MACConfig(**kw)
    rows, n = 40, 23
    a, b, init = _dot_operands(cfg, rows, n, seed=21)
    lengths = 1 + np.arange(rows) % n
    for use_init in (False, True):
        got = np.array([golden.dot(cfg, a[i:i + 1, :lengths[i]], b[i:i + 1, :lengths[i]],
                                   init[i] if use_init else None)[0] for i in range(rows)], dtype=np.uint64)
        want = np.array([ref_dot(cfg, list(a[i, :lengths[i]]), list(b[i, :lengths[i]]),
                                 init[i] if use_init else None) for i in range(rows)], dtype=np.uint64)
        assert_bits(cfg.out_fmt, got, want, {"row": (FP32, np.arange(rows))})
    # Batched call equals the row-by-row results (full length).
    batched = golden.dot(cfg, a, b, init)
    want = np.array([ref_dot(cfg, list(a[i]), list(b[i]), init[i]) for i in range(rows)], dtype=np.uint64)
    assert_bits(cfg.out_fmt, batched, want)


def test_matmul_vs_fraction():
    cfg = MACConfig("e4m3", "e5m2", "e6m9", chunk_size=3, out_fmt="fp16")
    rng = np.random.default_rng(5)
    A = cfg.a_fmt.encode(rng.standard_normal((5, 7)))
    B = cfg.b_fmt.encode(rng.standard_normal((7, 4)))
    C = cfg.outer_fmt.encode(rng.standard_normal((5, 4)))
    assert_bits(cfg.out_fmt, golden.matmul(cfg, A, B, C), ref_matmul(cfg, A, B, C))
    assert_bits(cfg.out_fmt, golden.matmul(cfg, A, B), ref_matmul(cfg, A, B))


def test_dot_chunking_changes_the_result():
    """Chunked and unchunked sums differ on long swamping sums (the test can see chunking)."""
    n = 256
    a = np.full((1, n), FP8_E5M2.encode(1.0), dtype=np.uint64)
    b = a.copy()
    plain = golden.dot(MACConfig("e5m2", "e5m2", "e4m3"), a, b)
    chunked = golden.dot(MACConfig("e5m2", "e5m2", "e4m3", chunk_size=16, outer_fmt="e8m10"), a, b)
    assert E4M3_IEEE.decode(plain)[0] == 16.0          # swamping: 16 + 1 rounds back to 16
    assert F("e8m10").decode(chunked)[0] == 256.0


# -- the table-driven fast path agrees with the general path ----------------------

_FAST_CONFIGS = [
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", rounding="rtz"),
    dict(a_fmt="e4m3", b_fmt="e4m3", acc_fmt="e5m10"),                  # int64 kernel
    dict(a_fmt="e4m3", b_fmt="e5m2", acc_fmt="e4m3", rounding="rtz"),
    dict(a_fmt="e4m3fn", b_fmt="e4m3fn", acc_fmt="e5m7fn"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", product_man_bits=3),
    dict(a_fmt="e2m5", b_fmt="e3m4", acc_fmt="e3m12"),
    dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp16"),                    # products computed per block
    dict(a_fmt="bf16", b_fmt="e4m3", acc_fmt="bf16", rounding="rtz"),
    dict(a_fmt="e5m2_bias9", b_fmt="e4m3_bias3", acc_fmt="e6m9_bias40"),     # custom biases
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e5m6_bias-3", rounding="rtz"),  # mostly underflow
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m13", chunk_size=8),          # 20-bit accumulator
    dict(a_fmt="bf16", b_fmt="bf16", acc_fmt="fp32"),                         # decoded arithmetically
    dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp32", rounding="rtz"),
    dict(a_fmt="e5m2", b_fmt="e4m3", acc_fmt="e8m15"),
    dict(a_fmt="e4m3fn", b_fmt="e4m3fn", acc_fmt="e8m17fn", rounding="rtz"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="fp32"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9", rounding="rtz"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e5m2", acc_fmt="bf16"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e4m3fnan"),          # overflow to NaN
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e5m6fnan", rounding="rtz"),
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp4_e2m1fn", acc_fmt="e6m9"),
]


@pytest.mark.parametrize("kw", _FAST_CONFIGS, ids=lambda kw: MACConfig(**kw).slug)
@pytest.mark.parametrize("data", ["random_codes", "gaussian"])
def test_table_path_matches_general_path(kw, data):
    """512 rows x 96 steps per case through both implementations (32 cases: 1,572,864 MACs in all)."""
    cfg = MACConfig(**kw)
    assert "table" in golden.backends(cfg)
    rows, n = 512, 96
    rng = np.random.default_rng(len(str(kw)))
    if data == "random_codes":
        a = rng.integers(0, 1 << cfg.a_fmt.width, size=(rows, n), dtype=np.uint64)
        b = rng.integers(0, 1 << cfg.b_fmt.width, size=(rows, n), dtype=np.uint64)
        init = rng.integers(0, 1 << cfg.acc_fmt.width, size=rows, dtype=np.uint64)
    else:
        a = cfg.a_fmt.encode(rng.standard_normal((rows, n)))
        b = cfg.b_fmt.encode(rng.standard_normal((rows, n)) * rng.choice([1, 64, 1 / 64], size=(rows, 1)))
        init = cfg.acc_fmt.encode(rng.standard_normal(rows))
    got = golden.dot(cfg, a, b, init, backend="table")
    want = golden.dot(cfg, a, b, init, backend="generic")
    assert_bits(cfg.out_fmt, got, want, {"init": (cfg.acc_fmt, init)})


@pytest.mark.parametrize("seed", [1, 2])
def test_fast_path_random_configs(seed):
    """~25 random fast-path configs per seed (ieee/finite, ftz operands, custom biases, rounded
    products), 200 rows x 32 steps of random codes and of scaled Gaussians each, vs the general path."""
    rng = np.random.default_rng(seed)
    ops = ["e5m2", "e4m3", "e2m1", "e3m2", "e5m2_ftz", "e4m3_bias3", "e5m10", "e8m7", "e6m1"]
    accs = ["e6m9", "e5m10", "e4m3", "e8m7", "e8m23", "e6m13", "e3m4", "e5m6_bias20", "e7m12_bias-5", "e9m14"]
    checked = 0
    while checked < 25:
        a_name, b_name, acc_name = rng.choice(ops), rng.choice(ops), rng.choice(accs)
        if rng.random() < 0.25:
            a_name, b_name, acc_name = (n.split("_")[0] + "fn" for n in (a_name, b_name, acc_name))
        fa, fb = F(a_name), F(b_name)
        kw = dict(rounding=str(rng.choice(["rne", "rtz"])))
        if rng.random() < 0.3:
            kw["product_man_bits"] = int(rng.integers(1, fa.man_bits + fb.man_bits + 1))
        cfg = MACConfig(fa, fb, acc_name, **kw)
        if "table" not in golden.backends(cfg):
            continue
        checked += 1
        rows, n = 200, 32
        a = rng.integers(0, 1 << fa.width, size=(rows, n), dtype=np.uint64)
        b = rng.integers(0, 1 << fb.width, size=(rows, n), dtype=np.uint64)
        scale = float(rng.choice([1.0, 1e3, 1e-3]))
        gauss = np.where(rng.random((rows, n)) < 0.8, fa.encode(rng.standard_normal((rows, n)) * scale), a)
        init = rng.integers(0, 1 << cfg.acc_fmt.width, size=rows, dtype=np.uint64)
        for x in (a, gauss):
            assert_bits(cfg.acc_fmt, golden.dot(cfg, x, b, init, backend="table"),
                        golden.dot(cfg, x, b, init, backend="generic"), {"init": (cfg.acc_fmt, init)})


def test_fast_path_exact_cancellation_of_large_values():
    """2^100 + 2^99 * -2 is exactly +0; the rare-row path once indexed out of range here."""
    e2m1 = F("e2m1")
    for cfg in (MACConfig(BF16, e2m1, BF16), MACConfig("e8m7fn", "e2m1fn", "e8m7fn", rounding="rtz")):
        assert "table" in golden.backends(cfg)
        big, a = cfg.acc_fmt.encode(2.0 ** 100), cfg.a_fmt.encode(2.0 ** 99)
        minus2, plus2 = cfg.b_fmt.encode(-2.0), cfg.b_fmt.encode(2.0)
        out = golden.dot(cfg, np.array([[a], [a]]), np.array([[minus2], [plus2]]), np.array([big, big]),
                         backend="table")
        assert out.tolist() == [0, int(cfg.acc_fmt.encode(2.0 ** 101))]


def test_outer_table_adder_matches_general_add():
    """Every e6m9 accumulator code against 8 random e6m9 chunk sums, both modes (1,048,576 adds)."""
    fmt = F("e6m9")
    rng = np.random.default_rng(9)
    acc = all_codes(fmt)
    for rounding in ("rne", "rtz"):
        for _ in range(8):
            x = rng.integers(0, 1 << 16, size=acc.shape, dtype=np.uint64)
            assert_bits(fmt, golden.add(fmt, acc, x, rounding, backend="table"),
                        golden.add(fmt, acc, x, rounding, backend="generic"),
                        {"acc": (fmt, acc), "x": (fmt, x)})


# -- NumPy's IEEE arithmetic -----------------------------------------------------------

def _np_bits(values, dtype):
    return values.astype(dtype).view({np.float16: np.uint16, np.float32: np.uint32}[dtype]).astype(np.uint64)


@pytest.mark.parametrize("fmt,dtype", [(FP16, np.float16), (FP32, np.float32)], ids=["fp16", "fp32"])
def test_mul_add_vs_numpy(fmt, dtype):
    """200,000 products and 200,000 sums per format against NumPy (NaN compared as NaN)."""
    a, b, c = biased_fma_operands(fmt, 200_000, seed=31)
    udt = {np.float16: np.uint16, np.float32: np.uint32}[dtype]
    x, y, z = (v.astype(udt).view(dtype) for v in (a, b, c))
    with np.errstate(all="ignore"):
        prod = _np_bits(x * y, dtype)
        total = _np_bits(x + z, dtype)
    cfg = MACConfig(fmt, fmt, fmt)
    # a*b exactly as mac(acc=-0): -0 + p is p for every p, including both zeros.
    got_prod = golden.mac(cfg, np.uint64(fmt.sign_bit), a, b)
    # a+c as mac(acc=c, a, 1.0).
    got_sum = golden.mac(cfg, c, a, np.uint64(fmt.bias << fmt.man_bits))
    assert_bits(fmt, got_prod, prod, {"a": (fmt, a), "b": (fmt, b)}, nan_equal=True)
    assert_bits(fmt, got_sum, total, {"a": (fmt, a), "c": (fmt, c)}, nan_equal=True)


# -- the compiled kernel agrees with the NumPy paths -----------------------------------

_KERNEL_CONFIGS = _FAST_CONFIGS + _DOT_CONFIGS + [
    dict(a_fmt="fp32", b_fmt="fp32", acc_fmt="fp32"),                       # general (jam) path
    dict(a_fmt="fp32", b_fmt="fp32", acc_fmt="fp32", rounding="rtz", chunk_size=7, out_fmt="fp16"),
    dict(a_fmt="fp16", b_fmt="fp32", acc_fmt="e8m30", chunk_size=5, outer_fmt="e9m40"),
    dict(a_fmt="fp32", b_fmt="fp32", acc_fmt="e8m23_ftz", product_man_bits=30),
    dict(a_fmt="e5m2fn", b_fmt="e4m3fn", acc_fmt="e6m9fn", rounding="rtz"),  # finite, saturating
    dict(a_fmt="e5m10_ftz", b_fmt="e5m10_ftz", acc_fmt="e5m10_ftz"),
]


def _kernel_operands(cfg, rows, n, data, seed):
    """Random codes (specials, subnormals: every class) or Gaussians scaled per row by 1, 2^12 or
    2^-12 (overflow, underflow and subnormal sums), plus random initial codes."""
    rng = np.random.default_rng(seed)
    fa, fb = cfg.a_fmt, cfg.b_fmt
    ra = rng.integers(0, 1 << fa.width, size=(rows, n), dtype=np.uint64)
    rb = rng.integers(0, 1 << fb.width, size=(rows, n), dtype=np.uint64)
    if data == "gaussian":
        scale = rng.choice([1.0, 2.0 ** 12, 2.0 ** -12], size=(rows, 1))
        ra = np.where(rng.random((rows, n)) < 0.95, fa.encode(rng.standard_normal((rows, n)) * scale), ra)
        rb = np.where(rng.random((rows, n)) < 0.95, fb.encode(rng.standard_normal((rows, n)) * scale), rb)
    init = rng.integers(0, 1 << cfg.outer_fmt.width, size=rows, dtype=np.uint64)
    return ra, rb, init


def test_kernel_is_installed_and_covers_both_paths():
    """numba is a dependency: the kernel exists; the configs below exercise its narrow and general paths."""
    from macgen import golden_kernel
    narrow = {bool(golden_kernel.narrow_params(MACConfig(**kw))[0]) for kw in _KERNEL_CONFIGS}
    assert narrow == {True, False}
    assert all("numba" in golden.backends(MACConfig(**kw)) for kw in _KERNEL_CONFIGS)
    assert "numba" not in golden.backends(MACConfig("e11m52", "e8m23", "fp32", product_man_bits=23))


@pytest.mark.parametrize("kw", _KERNEL_CONFIGS, ids=lambda kw: MACConfig(**kw).slug)
@pytest.mark.parametrize("data", ["random_codes", "gaussian"])
def test_kernel_matches_numpy_path(kw, data, monkeypatch):
    """150 dot products of length 41 (a partial block of lanes, chunks with a short tail) and a
    9 x 41 @ 41 x 70 matmul with C per case, compiled kernel vs the NumPy paths
    (104 cases: 1.3 M MACs through each)."""
    cfg = MACConfig(**kw)
    rows, n = 150, 41
    a, b, init = _kernel_operands(cfg, rows, n, data, seed=len(str(kw)) + (data == "gaussian"))
    got = golden.dot(cfg, a, b, init, backend="numba")
    want = golden.dot(cfg, a, b, init, backend="numpy")
    assert_bits(cfg.out_fmt, got, want, {"init": (cfg.outer_fmt, init)})
    A, Bt, C = a[:9], b[:70], init[:70][None, :].repeat(9, axis=0)
    monkeypatch.setenv("MACGEN_GOLDEN", "numba")           # the environment's choice, too
    got = golden.matmul(cfg, A, Bt.T, C)
    monkeypatch.setenv("MACGEN_GOLDEN", "numpy")
    assert_bits(cfg.out_fmt, got, golden.matmul(cfg, A, Bt.T, C))


def test_backend_choice(monkeypatch):
    cfg = MACConfig("e5m2", "e5m2", "e6m9")
    assert golden.choose_backend(cfg, 10) == "table"
    assert golden.choose_backend(cfg, 1 << 20) == "numba"
    assert golden.choose_backend(MACConfig("e11m52", "e8m23", "fp32", product_man_bits=23), 1 << 20) == "generic"
    monkeypatch.setenv("MACGEN_GOLDEN", "numpy")
    assert golden.choose_backend(cfg, 1 << 20) == "table"
    monkeypatch.setenv("MACGEN_GOLDEN", "fast")
    with pytest.raises(ValueError, match="MACGEN_GOLDEN must be one of auto, numpy, numba, not 'fast'"):
        golden.dot(cfg, np.zeros((1, 2), np.uint64), np.zeros((1, 2), np.uint64))


def test_dot_broadcasts_without_copies():
    """matmul's broadcast operands and other broadcast shapes agree with explicit copies."""
    cfg = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=3)
    rng = np.random.default_rng(4)
    a = cfg.a_fmt.encode(rng.standard_normal((4, 1, 10)))
    b = cfg.b_fmt.encode(rng.standard_normal((1, 5, 10)))
    init = cfg.outer_fmt.encode(rng.standard_normal(5))
    full_a, full_b = (np.ascontiguousarray(x) for x in np.broadcast_arrays(a, b))
    want = golden.dot(cfg, full_a, full_b, np.broadcast_to(init, (4, 5)).copy())
    assert_bits(cfg.out_fmt, golden.dot(cfg, a, b, init), want)
    assert golden.dot(cfg, a, b, init).shape == (4, 5)


# -- operand codes are checked (issue 11, item 15) ----------------------------------

def test_dot_rejects_bad_codes():
    cfg = MACConfig("e5m2", "e5m2", "e6m9")
    ok = np.zeros((2, 3), np.uint64)
    with pytest.raises(ValueError, match=r"^Operand a must be codes of e5m2 \(integers from 0 to 0xff\), not 0x1ff$"):
        golden.dot(cfg, np.full((2, 3), 0x1FF, np.uint64), ok)
    with pytest.raises(ValueError, match=r"^Operand b must be codes of e5m2 .*, not -1$"):
        golden.dot(cfg, ok, np.array([[0, -1, 0]]))
    with pytest.raises(ValueError, match=r"not 0x10000000000000000$"):
        golden.dot(cfg, ok, [[0, 2 ** 64, 0]])
    with pytest.raises(TypeError, match=r"not an array of float64"):
        golden.dot(cfg, ok, np.ones((2, 3)))
    for backend in ("numpy", "numba"):         # init: checked before either path runs
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MACGEN_GOLDEN", backend)
            with pytest.raises(ValueError, match=r"^Initial value init must be codes of e6m9 "
                                                 r"\(integers from 0 to 0xffff\), not 0x10000$"):
                golden.dot(cfg, ok, ok, init=np.array([0, 0x10000]))
            with pytest.raises(ValueError, match=r"init must have a shape broadcastable to \(2,\), not \(3,\)"):
                golden.dot(cfg, ok, ok, init=np.zeros(3, np.uint64))
    with pytest.raises(ValueError, match=r"^Initial value init must be codes of e6m9 .*, not 0x10000$"):
        golden.matmul(cfg, ok, ok.T, np.full((2, 2), 0x10000))
    with pytest.raises(ValueError, match=r"^Accumulator acc must be codes of e6m9 .*, not -3$"):
        golden.mac(cfg, -3, 0, 0)
    with pytest.raises(ValueError, match=r"^Input bits must be codes of e5m10 .*, not 0x10000$"):
        golden.convert(FP16, FP32, 0x10000)
    with pytest.raises(ValueError, match="same length, not 3 and 2"):
        golden.dot(cfg, ok, np.zeros((2, 2), np.uint64))


# -- products wider than 64 bits, rounded by product_man_bits (issue 11, item 14) ----------

@pytest.mark.parametrize("acc,pmb", [("fp32", 23), ("fp32", 59), ("e11m52", 59), ("e11m52", 60),
                                     ("e11m52", 70)], ids=str)
def test_wide_rounded_products_vs_fraction(acc, pmb):
    """e11m52 x e8m23 (77-bit exact products) rounded to pmb bits: 300 MACs, 20 dots of length 9."""
    cfg = MACConfig("e11m52", "e8m23", acc, product_man_bits=pmb)
    a, _, _ = biased_fma_operands(cfg.a_fmt, 300, seed=pmb)
    _, b, _ = biased_fma_operands(cfg.b_fmt, 300, seed=pmb + 1)
    _, _, c = biased_fma_operands(cfg.acc_fmt, 300, seed=pmb + 2)
    want = np.array([ref_mac(cfg, int(x), int(y), int(z)) for x, y, z in zip(c, a, b)], dtype=np.uint64)
    assert_bits(cfg.acc_fmt, golden.mac(cfg, c, a, b), want)
    a2, b2 = a[:180].reshape(20, 9), b[:180].reshape(20, 9)
    want = np.array([ref_dot(cfg, list(x), list(y), int(z)) for x, y, z in zip(a2, b2, c[:20])], dtype=np.uint64)
    assert_bits(cfg.out_fmt, golden.dot(cfg, a2, b2, c[:20]), want)


def test_importing_golden_loads_no_numba():
    """numba (and its compile time) is paid only by a dot product that uses the kernel."""
    import subprocess
    import sys
    code = ("import sys, macgen.golden, macgen.montecarlo, macgen.precision, macgen.cli; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"
    code = ("import sys, numpy as np; from macgen import golden; from macgen.config import MACConfig; "
            "z = np.zeros((512, 512), np.uint64); golden.dot(MACConfig('e5m2', 'e5m2', 'e6m9'), z, z); "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "True"      # the check can fail: a large dot product does load it


# -- every fast backend against the readable reference (macgen.golden_reference) ----------

_REFERENCE_CONFIGS = [
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", rounding="rtz", chunk_size=5),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9", chunk_size=3, outer_fmt="e8m15", out_fmt="fp16"),
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e5m2", rounding="rtz"),               # saturating rtz
    dict(a_fmt="e4m3", b_fmt="e4m3", acc_fmt="e5m10", product_man_bits=4),          # rounded products
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="fp32"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e4m3fnan"),                # overflow to NaN
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e5m2", acc_fmt="bf16", rounding="rtz", product_man_bits=2),
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp6_e3m2fn", acc_fmt="e4m5fn", rounding="rtz"),  # finite formats
    dict(a_fmt="fp6_e2m3fn", b_fmt="fp6_e2m3fn", acc_fmt="e3m6fn"),
    dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp16"),
    dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp16", rounding="rtz", chunk_size=4),
    dict(a_fmt="e5m10_ftz", b_fmt="e5m10_ftz", acc_fmt="e5m10_ftz"),
    dict(a_fmt="e5m2_ftz", b_fmt="e5m2", acc_fmt="e6m9_ftz", rounding="rtz"),
    dict(a_fmt="bf16", b_fmt="bf16", acc_fmt="fp32", chunk_size=4, out_fmt="bf16"),
    dict(a_fmt="bf16", b_fmt="bf16", acc_fmt="bf16"),
    dict(a_fmt="fp32", b_fmt="fp32", acc_fmt="fp32"),
    dict(a_fmt="fp32", b_fmt="fp32", acc_fmt="e8m23_ftz", product_man_bits=30, rounding="rtz"),
    dict(a_fmt="fp16", b_fmt="fp32", acc_fmt="e8m30", chunk_size=5, outer_fmt="e9m40"),
    dict(a_fmt="e5m2_bias9", b_fmt="e4m3_bias3", acc_fmt="e6m9_bias40"),             # custom biases
    dict(a_fmt="e11m52", b_fmt="e8m23", acc_fmt="e11m52", product_man_bits=60),      # wide: generic only
]


def _named_codes(fmt):
    """Zeros, the smallest and largest subnormals, the smallest normal, ±1, 1.5, near max,
    max, and (where the format has them) inf and NaN codes of both signs."""
    M, s = fmt.man_bits, fmt.sign_bit
    one = fmt.bias << M
    codes = [0, s, 1, s | 1, (1 << M) - 1, 1 << M, s | (1 << M), one, s | one, one | (1 << (M - 1)),
             fmt.max_finite_bits, s | fmt.max_finite_bits, fmt.max_finite_bits - 1]
    if fmt.has_inf:
        codes += [fmt.inf_bits, s | fmt.inf_bits]
    if fmt.has_nan:
        codes += [fmt.nan_bits, s | fmt.nan_bits]
    return np.array(codes, dtype=np.uint64)


def _corner_operands(cfg, rows, n, seed):
    """Rows drawn from the named codes, and rows that cancel exactly: a_k*b_k then -a_k*b_k."""
    rng = np.random.default_rng(seed)
    na, nb, ni = _named_codes(cfg.a_fmt), _named_codes(cfg.b_fmt), _named_codes(cfg.outer_fmt)
    a = rng.choice(na, size=(rows, n))
    b = rng.choice(nb, size=(rows, n))
    init = rng.choice(ni, size=rows)
    half = rows // 2
    a[half:, 1::2] = a[half:, 0:n - 1:2] ^ np.uint64(cfg.a_fmt.sign_bit)
    b[half:, 1::2] = b[half:, 0:n - 1:2]
    init[half::2] = 0
    return a, b, init


@pytest.mark.parametrize("kw", _REFERENCE_CONFIGS, ids=lambda kw: MACConfig(**kw).slug)
@pytest.mark.parametrize("data", ["corner_cases", "random_codes", "gaussian"])
def test_backends_match_reference(kw, data):
    """Every backend that applies (generic, table, numba) against golden_reference, bit for bit:
    48 dot products of length 19 (chunk tails, a partial block of lanes) and a 6 x 19 @ 19 x 8
    matmul with C per case (21 configs x 3 kinds of data: 63 cases, 2,736 reference dot products)."""
    cfg = MACConfig(**kw)
    rows, n = 48, 19
    seed = len(str(kw)) + 7 * ["corner_cases", "random_codes", "gaussian"].index(data)
    if data == "corner_cases":
        a, b, init = _corner_operands(cfg, rows, n, seed)
    else:
        a, b, init = _kernel_operands(cfg, rows, n, data, seed)
    want = golden.dot(cfg, a, b, init, backend="reference")
    A, B, C = a[:6], b[:8].T, init[:8][None, :].repeat(6, axis=0)
    want_mm = golden.matmul(cfg, A, B, C, backend="reference")
    fast = [name for name in golden.backends(cfg) if name != "reference"]
    assert fast and fast[0] == "generic"
    for name in fast:
        assert_bits(cfg.out_fmt, golden.dot(cfg, a, b, init, backend=name), want,
                    {"init": (cfg.outer_fmt, init)})
        assert_bits(cfg.out_fmt, golden.matmul(cfg, A, B, C, backend=name), want_mm)


def test_reference_configs_cover_every_backend():
    """The configurations above reach the table path, the kernel's narrow and general paths and
    the generic path alone (so the test above can fail for each)."""
    from macgen import golden_kernel
    cfgs = [MACConfig(**kw) for kw in _REFERENCE_CONFIGS]
    names = [golden.backends(cfg) for cfg in cfgs]
    assert ("reference", "generic", "table", "numba") in names
    assert ("reference", "generic") in names
    assert any("table" not in n and "numba" in n for n in names)
    narrow = {bool(golden_kernel.narrow_params(cfg)[0]) for cfg, n in zip(cfgs, names) if "numba" in n}
    assert narrow == {True, False}


@pytest.mark.parametrize("kw", _REFERENCE_CONFIGS, ids=lambda kw: MACConfig(**kw).slug)
def test_mac_and_convert_match_reference(kw):
    """golden.mac on 400 random and 400 named-code triples, golden.add (generic and, where it
    applies, table) on 400 pairs, and golden.convert ACC -> OUT of 400 codes against the
    reference (21 configs: 42,000 operations)."""
    from macgen import golden_reference as R
    cfg = MACConfig(**kw)
    rng = np.random.default_rng(len(str(kw)))
    count = 400
    fa, fb, fc = cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt
    for pick in (lambda f: rng.integers(0, 1 << f.width, size=count, dtype=np.uint64),
                 lambda f: rng.choice(_named_codes(f), size=count)):
        a, b, c = pick(fa), pick(fb), pick(fc)
        want = np.array([R.mac(cfg, z, x, y) for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())],
                        dtype=np.uint64)
        assert_bits(fc, golden.mac(cfg, c, a, b), want, {"acc": (fc, c), "a": (fa, a), "b": (fb, b)})
    x, y = (rng.integers(0, 1 << fc.width, size=count, dtype=np.uint64) for _ in range(2))
    want = golden.add(fc, x, y, cfg.rounding, backend="reference")
    assert_bits(fc, golden.add(fc, x, y, cfg.rounding), want)
    if fc.width <= 16 and cfg.acc_fmt.subnormals:
        assert_bits(fc, golden.add(fc, x, y, cfg.rounding, backend="table"), want)
    if cfg.out_fmt != fc:
        src = cfg.outer_fmt
        x = rng.integers(0, 1 << src.width, size=count, dtype=np.uint64)
        want = np.array([R.convert(src, cfg.out_fmt, v, cfg.rounding) for v in x.tolist()], dtype=np.uint64)
        assert_bits(cfg.out_fmt, golden.convert(src, cfg.out_fmt, x, cfg.rounding), want)


@pytest.mark.parametrize("kw", [dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9"),
                                dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e4m3fnan", rounding="rtz"),
                                dict(a_fmt="e3m2fn", b_fmt="e2m1fn", acc_fmt="e3m3fn"),
                                dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e5m3_ftz", product_man_bits=2),
                                dict(a_fmt="fp16", b_fmt="fp16", acc_fmt="fp16", rounding="rtz")],
                         ids=lambda kw: MACConfig(**kw).slug)
def test_reference_matches_oracle(kw):
    """The reference against the independent Fraction oracle (macgen.verify.oracle): 1,500 MACs
    of random and named codes and 30 chunked dot products of length 10 per config."""
    from macgen import golden_reference as R
    cfg = MACConfig(**kw)
    rng = np.random.default_rng(5)
    fa, fb, fc = cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt
    a = np.concatenate([rng.integers(0, 1 << fa.width, 1000, dtype=np.uint64), rng.choice(_named_codes(fa), 500)])
    b = np.concatenate([rng.integers(0, 1 << fb.width, 1000, dtype=np.uint64), rng.choice(_named_codes(fb), 500)])
    c = np.concatenate([rng.integers(0, 1 << fc.width, 1000, dtype=np.uint64), rng.choice(_named_codes(fc), 500)])
    for x, y, z in zip(a.tolist(), b.tolist(), c.tolist()):
        assert R.mac(cfg, z, x, y) == ref_mac(cfg, z, x, y), (golden.describe(fc, z), golden.describe(fa, x),
                                                              golden.describe(fb, y))
    chunked = MACConfig(**kw, chunk_size=3)
    for r in range(30):
        row_a, row_b = a[r * 10:(r + 1) * 10].tolist(), b[r * 10:(r + 1) * 10].tolist()
        assert R.dot(chunked, row_a, row_b, int(c[r])) == ref_dot(chunked, row_a, row_b, int(c[r]))


def test_reference_far_apart_addends_round_alike():
    """golden_reference.add_exact's stand-in for a far smaller addend (used beyond EXACT_GAP bits)
    changes no result: with the threshold at 0 it is used wherever it may be, on 3,000 fp32 MACs
    and 3,000 e5m2 -> e5m3_ftz MACs with rounded products."""
    from macgen import golden_reference as R
    for cfg in (MACConfig("fp32", "fp32", "fp32"), MACConfig("e5m2", "e5m2", "e5m3_ftz", product_man_bits=1,
                                                            rounding="rtz")):
        a, b, c = biased_fma_operands(cfg.acc_fmt, 3000, seed=8)
        if cfg.a_fmt != cfg.acc_fmt:
            a, b, _ = biased_fma_operands(cfg.a_fmt, 3000, seed=9)
        want = [R.mac(cfg, z, x, y) for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())]
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(R, "EXACT_GAP", 0)
            got = [R.mac(cfg, z, x, y) for x, y, z in zip(a.tolist(), b.tolist(), c.tolist())]
        assert got == want
        assert golden.mac(cfg, c, a, b).tolist() == want


def test_backend_names_are_checked():
    cfg = MACConfig("e5m2", "e5m2", "e6m9")
    ok = np.zeros((2, 3), np.uint64)
    with pytest.raises(ValueError, match="Backend must be one of auto, numpy, reference, generic, table, "
                                         "numba, not 'fast'"):
        golden.dot(cfg, ok, ok, backend="fast")
    wide = MACConfig("e11m52", "e8m23", "fp32", product_man_bits=23)
    with pytest.raises(ValueError, match=r"^Backend 'table' does not apply to .*; these do: reference, generic$"):
        golden.matmul(wide, ok, ok.T, backend="table")
    with pytest.raises(ValueError, match="Backend 'table' does not apply to adding e8m23 codes"):
        golden.add(FP32, 0, 0, backend="table")
