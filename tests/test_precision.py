"""The accumulation-precision model (docs/model.md): VRR, chunking, sparsity, width choices."""

import json
import math

import pytest

from macgen import precision as P
from macgen.formats import FloatFormat


# -- an independent, plain-loop transcription of docs/model.md (the reference) ---------------

def _q(x):
    return math.erfc(x / math.sqrt(2)) / 2


def _vrr_plain(m, mp, n):
    if n <= 1:
        return 1.0

    def alpha(j):
        return (2.0 ** (m - 3 * mp) / 3) * sum(2 ** t * (2 ** t - 1) * (2 ** (t + 1) - 1)
                                               for t in range(1, j))

    a = alpha(mp + 1)
    num = k1 = k2 = 0.0
    for i in range(2, n):
        if i > a:
            q = 2 * _q(2 ** m / math.sqrt(i)) * (1 - 2 * _q(2 ** m / math.sqrt(i - 1)))
            num += (i - a) * q
            k1 += q
    for j in range(2, mp + 1):
        qp = (2.0 ** (m - mp + j) * 2 * _q(2.0 ** (m - mp + j - 1) / math.sqrt(n))
              * (1 - 2 * _q(2.0 ** (m - mp + j) / math.sqrt(n))))
        num += max(n - alpha(j), 0) * qp
        if n > alpha(j):
            k2 += qp
    k3 = 1 - 2 * _q(2.0 ** (m - mp + 1) / math.sqrt(n))
    num += n * k3
    return num / (n * (k1 + k2 + k3))


SPEC_REFERENCE = {4: 0.565327783577, 5: 0.709001649296, 6: 0.945290474751, 7: 0.998000849249,
                  8: 0.999520020880, 9: 0.999871301659, 10: 0.999945499932, 11: 0.999998052012}


@pytest.mark.parametrize("m_acc", sorted(SPEC_REFERENCE))
def test_vrr_spec_reference_values(m_acc):
    assert P.vrr(m_acc, 5, 1024) == pytest.approx(SPEC_REFERENCE[m_acc], abs=1e-9)


@pytest.mark.parametrize("m_acc,m_p,n", [
    (1, 5, 100), (3, 5, 5000), (6, 5, 20000), (8, 11, 30000), (12, 23, 100000),
    (2, 3, 50000), (10, 7, 3), (5, 5, 2), (15, 5, 200000), (9, 5, 4608), (4, 1, 1000),
    (20, 24, 10000), (7, 5, 1024), (11, 8, 70000),
])
def test_vrr_fast_matches_plain_sum(m_acc, m_p, n):
    assert abs(P.vrr(m_acc, m_p, n) - _vrr_plain(m_acc, m_p, n)) < 1e-12


def test_vrr_short_sums_are_one():
    assert P.vrr(5, 5, 1) == 1.0
    assert P.vrr(1, 30, 1) == 1.0


def test_vrr_million_terms_is_fast():
    import time
    P._vrr.cache_clear()
    t = time.perf_counter()
    assert P.min_acc_mantissa(3_000_000, 5) >= 14
    assert time.perf_counter() - t < 10.0  # about 1 s measured; margin for loaded CI


@pytest.mark.parametrize("n,expected", [(1024, 7), (2304, 8), (4608, 9)])
def test_min_acc_mantissa_spec_selection_points(n, expected):
    assert P.min_acc_mantissa(n, 5) == expected


@pytest.mark.parametrize("n,m_p", [(1024, 5), (2304, 5), (300, 3), (20000, 7), (64, 11)])
def test_min_acc_mantissa_is_smallest_passing(n, m_p):
    # the definition, by a linear scan with the plain formula: m fails below, and m and
    # every wider width (up to where the formula has settled) pass
    m = P.min_acc_mantissa(n, m_p)
    assert n * (1 - _vrr_plain(m - 1, m_p, n)) >= math.log(50) or m == 1
    for k in range(m, P._settled_width(m_p, n) + 3):
        assert n * (1 - _vrr_plain(k, m_p, n)) < math.log(50)


def test_min_acc_mantissa_cutoff_changes_choice():
    assert P.min_acc_mantissa(4608, 5, cutoff=1.5) > P.min_acc_mantissa(4608, 5, cutoff=1e6)


@pytest.mark.parametrize("m_p", [1, 3, 5, 11, 24])
@pytest.mark.parametrize("n", [8, 20, 100, 1000, 4608, 30000, 120000])
def test_vrr_monotone_in_m_acc_except_formula_dips(n, m_p):
    # VRR grows with m_acc, except for small dips that docs/model.md's formula itself has
    # (its q'_j terms): each must show in the plain transcription too, and stay small.
    values = [P.vrr(m, m_p, n) for m in range(1, 25)]
    dips = 0
    for m, (lo, hi) in enumerate(zip(values, values[1:]), start=1):
        if hi < lo - 1e-12:
            dips += 1
            assert lo - hi < 1e-4
            assert _vrr_plain(m + 1, m_p, n) < _vrr_plain(m, m_p, n)
    assert dips <= 2
    assert values[-1] > values[0]


@pytest.mark.parametrize("m_p", [1, 5, 24])
@pytest.mark.parametrize("n", [2, 10, 1000, 100000])
@pytest.mark.parametrize("chunk", [0, 16, 64])
def test_min_acc_mantissa_at_least_one_and_three_for_long(n, m_p, chunk):
    m = P.min_acc_mantissa(n, m_p, chunk=chunk)
    assert m >= 1
    if n >= 1000:
        assert m >= 3


# -- chunking -------------------------------------------------------------------------

@pytest.mark.parametrize("n,chunk", [(10, 16), (64, 64), (1, 8)])
def test_vrr_chunked_short_reduces_to_plain(n, chunk):
    assert P.vrr_chunked(7, 5, n, chunk) == P.vrr(7, 5, n)


def test_vrr_chunked_formula():
    n, n1, m, mp = 4608, 64, 8, 5
    n2 = math.ceil(n / n1)
    expected = P.vrr(m, mp, n1) * P.vrr(m, min(m, mp + math.ceil(math.log2(n1))), n2)
    assert P.vrr_chunked(m, mp, n, n1) == expected
    # ceil(n/n1) with a short last chunk; ceil(log2 n1) for non-powers of two
    expected = P.vrr(m, mp, 100) * P.vrr(m, min(m, mp + 7), math.ceil(4608 / 100))
    assert P.vrr_chunked(m, mp, 4608, 100) == expected


def test_vrr_chunked_no_chunking():
    assert P.vrr_chunked(8, 5, 4608, 0) == P.vrr(8, 5, 4608)


def test_chunking_needs_fewer_bits():
    assert P.min_acc_mantissa(4608, 5, chunk=64) < P.min_acc_mantissa(4608, 5)


def _brute_recommend(n, m_p):
    cands = []
    L = 2
    while L < n:
        cands.append((P.min_acc_mantissa(n, m_p, chunk=L), abs(L - math.sqrt(n)), L))
        L *= 2
    return min(cands)


@pytest.mark.parametrize("n", [3, 5, 64, 1000, 4608, 50176])
def test_recommend_chunk_rule(n):
    m, _, L = _brute_recommend(n, 5)
    assert P.recommend_chunk(n, 5) == (L, m)
    # L is the smallest width over all powers of two below n
    assert all(P.min_acc_mantissa(n, 5, chunk=1 << k) >= m for k in range(1, (n - 1).bit_length()))


def test_recommend_chunk_tie_goes_to_sqrt_n():
    n = 4608
    m = P.recommend_chunk(n, 5)[1]
    tied = [1 << k for k in range(1, 13) if P.min_acc_mantissa(n, 5, chunk=1 << k) == m]
    assert len(tied) > 1  # the tie-break is exercised
    assert P.recommend_chunk(n, 5)[0] == min(tied, key=lambda L: (abs(L - math.sqrt(n)), L))


def test_recommend_chunk_too_short():
    assert P.recommend_chunk(2, 5) == (0, P.min_acc_mantissa(2, 5))


# -- sparsity -------------------------------------------------------------------------

def test_nzr_uses_effective_length():
    assert P.effective_length(1000, 0.25) == 250
    assert P.effective_length(3, 0.1) == 1
    assert P.min_acc_mantissa(4608, 5, nzr=0.5) == P.min_acc_mantissa(2304, 5)
    assert P.vrr_chunked(8, 5, 4608, 0, nzr=0.5) == P.vrr(8, 5, 2304)


def test_nzr_chunked_inner_length():
    m, mp = 8, 5
    expected = P.vrr(m, mp, 32) * P.vrr(m, min(m, mp + 5), 72)
    assert P.vrr_chunked(m, mp, 4608, 64, nzr=0.5) == expected


def test_sparser_needs_no_more_bits():
    assert P.min_acc_mantissa(100000, 5, nzr=0.3) <= P.min_acc_mantissa(100000, 5)


# -- variance lost ---------------------------------------------------------------------

def test_variance_lost():
    assert P.variance_lost(1.0, 1000) == 1.0
    assert P.variance_lost(0.999, 1000) == pytest.approx(math.e)
    assert P.variance_lost(0.0, 10 ** 6) == math.inf


# -- exponent width ----------------------------------------------------------------------

def _value(fmt, sig, exp):
    from fractions import Fraction
    return Fraction(sig) * Fraction(2) ** exp


@pytest.mark.parametrize("a,b,n,expected", [
    # e5m2: max 57344 = 1.75*2^15, min normal 2^-14. Product max 3.0625*2^30, min 2^-28.
    # n = 1: 3.0625*2^30 needs emax >= 31 -> E = 6 (emax 31, max 1.98*2^31) ... and bias >= 29.
    ("e5m2", "e5m2", 1, 6),
    # n = 1024: 3.0625*2^40 needs emax >= 41 -> E = 7 (emax 63)
    ("e5m2", "e5m2", 1024, 7),
    # fp16 x fp16: 65504^2 = 4290774016 <= e6m10's max (2-2^-10) 2^31 = 4292870144,
    # min normal 2^-28 >= 2^-30: E = 6 at n = 1; twice that does not fit: E = 7
    ("fp16", "fp16", 1, 6),
    ("fp16", "fp16", 2, 7),
    # e4m3 (ieee, emax 7, max 240 = 1.875*2^7; min normal 2^-6): product max 3.52*2^14,
    # min normal 2^-12 needs bias >= 13 -> E = 5 (bias 15, emax 15) holds n <= 2^15/3.52/2^14 ...
    ("e4m3", "e4m3", 1, 5),
    ("e4m3", "e4m3", 2, 6),
    # bf16 x bf16: min normal 2^-252 needs bias >= 253 -> E = 9 (bias 255, emax 255 >= 255)
    ("bf16", "bf16", 1, 9),
])
def test_acc_exponent_bits_hand_checked(a, b, n, expected):
    assert P.acc_exponent_bits(FloatFormat.parse(a), FloatFormat.parse(b), n, man_bits=10) == expected


def test_acc_exponent_bits_rule_by_enumeration():
    from fractions import Fraction
    for a, b in [("e5m2", "e5m2"), ("e4m3fn", "e4m3fn"), ("e4m3", "e5m2"), ("e3m2", "e3m2"),
                 ("fp8_e4m3fn", "fp8_e4m3fn"), ("fp8_e4m3fn", "fp8_e5m2"), ("fp4_e2m1fn", "fp4_e2m1fn"),
                 ("fp4_e2m1fn", "fp8_e4m3fn")]:
        fa, fb = FloatFormat.parse(a), FloatFormat.parse(b)
        # The accumulator holds whatever specials the inputs can produce (docs/arithmetic.md §2–4).
        policy = "finite" if fa.policy == fb.policy == "finite" else "ieee"
        for n in (1, 7, 1000, 10 ** 6):
            e = P.acc_exponent_bits(fa, fb, n, man_bits=6)
            need_max = n * Fraction(fa.max_finite) * Fraction(fb.max_finite)
            need_min = Fraction(fa.min_normal) * Fraction(fb.min_normal)
            ok = [E for E in range(2, 11)
                  if Fraction(FloatFormat(E, 6, policy=policy).max_finite) >= need_max
                  and Fraction(FloatFormat(E, 6, policy=policy).min_normal) <= need_min]
            assert e == min(ok), (a, b, n)


def test_acc_exponent_bits_finite_policy_uses_all_codes():
    # e4m3fn: max 1.875*2^8 (all codes finite), so product max 3.52*2^16
    fa = FloatFormat.parse("e4m3fn")
    e = P.acc_exponent_bits(fa, fa, 1, man_bits=10)
    assert FloatFormat(e, 10, inf_nan=False).max_finite >= fa.max_finite ** 2
    assert FloatFormat(e - 1, 10, inf_nan=False).max_finite < fa.max_finite ** 2 or \
        FloatFormat(e - 1, 10, inf_nan=False).min_normal > fa.min_normal ** 2


def test_acc_exponent_bits_huge_formats_exact():
    # e30m1: emax = 2^29 - 1, max 1.5 2^emax; 1000 products reach 2.25*1000 2^(2^30-2)
    # ~ 2^(2^30+9.1), beyond E = 31's emax 2^30 - 1: E = 32. Floats would overflow here.
    f = FloatFormat(30, 1)
    assert P.acc_exponent_bits(f, f, 1000, man_bits=1) == 32
    assert P.acc_exponent_bits(f, f, 1, man_bits=1) == 31


def test_acc_exponent_bits_ocp_e4m3_real_range():
    # OCP E4M3: max 448 (not 480), min normal 2^-6. E = 5 (emax 15) cannot hold 448^2 ~ 2^17.6;
    # E = 6 (max (2-2^-6) 2^31 = 4,261,412,864) holds 21,232 products of 448^2 = 200,704 but
    # not 21,233 -- nor 20,000 products of 480^2, which the max-480 formula would assume.
    f = FloatFormat.parse("fp8_e4m3fn")
    assert P.acc_exponent_bits(f, f, 1, man_bits=6) == 6
    assert P.acc_exponent_bits(f, f, 21232, man_bits=6) == 6
    assert P.acc_exponent_bits(f, f, 21233, man_bits=6) == 7
    assert 480 ** 2 * 20000 > FloatFormat(6, 6).max_finite >= 448 ** 2 * 21232
    assert P.acc_exponent_bits(f, f, 20000, man_bits=6) == 6


def test_accumulator_choice_for_ocp_inputs():
    """m_p = 7 for E4M3 x E4M3; the accumulator is ieee (holds the inputs' NaN), and MACConfig takes it."""
    from macgen.config import MACConfig
    f = FloatFormat.parse("fp8_e4m3fn")
    d = P.decide_accumulator(4608, f, f)
    assert d.acc_fmt.policy == "ieee" and d.acc_fmt.man_bits == P.min_acc_mantissa(4608, 7)
    MACConfig(f, f, d.acc_fmt, chunk_size=d.chunk_size)
    fp4 = FloatFormat.parse("fp4_e2m1fn")
    assert P.decide_accumulator(4608, fp4, fp4).acc_fmt.policy == "finite"
    assert P.decide_accumulator(4608, fp4, f).acc_fmt.policy == "ieee"


# -- decide_accumulator -----------------------------------------------------------------

def test_decide_accumulator_plain():
    d = P.decide_accumulator(4608, "e5m2", "e5m2")
    assert (d.m_acc, d.m_acc_unchunked, d.chunk_size, d.m_p) == (9, 9, 0, 5)
    assert d.acc_fmt == FloatFormat(d.exp_bits, 9)
    assert d.exp_bits == P.acc_exponent_bits("e5m2", "e5m2", 4608, man_bits=9)
    assert d.v == pytest.approx(math.exp(4608 * (1 - P.vrr(9, 5, 4608))))
    assert d.v < 50 and d.method == "analytical"


def test_decide_accumulator_chunked_and_auto():
    d = P.decide_accumulator(4608, "e5m2", "e5m2", chunk=64)
    assert d.chunk_size == 64
    assert d.m_acc == P.min_acc_mantissa(4608, 5, chunk=64)
    assert d.m_acc_unchunked == 9
    auto = P.decide_accumulator(4608, "e5m2", "e5m2", chunk="auto")
    assert (auto.chunk_size, auto.m_acc) == P.recommend_chunk(4608, 5)
    # a chunk not shorter than n is no chunking
    assert P.decide_accumulator(64, "e5m2", "e5m2", chunk=64).chunk_size == 0


def test_decide_accumulator_product_man_bits_and_exp_override():
    d = P.decide_accumulator(1024, "fp16", "fp16", product_man_bits=5, exp_bits=9)
    assert d.m_p == 5 and d.m_acc == 7 and d.exp_bits == 9 and d.acc_fmt.exp_bits == 9
    assert P.decide_accumulator(1024, "fp16", "fp16").m_p == 21


def test_decide_accumulator_to_dict_is_json():
    d = P.decide_accumulator(2304, "e5m2", "e5m2", chunk="auto", nzr=0.5)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["acc_fmt"] == str(d.acc_fmt)
    assert data["n_eff"] == 1152 and data["nzr"] == 0.5
    with pytest.raises(AttributeError):
        d.m_acc = 3  # frozen


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(n=0), ValueError, "Accumulation length must be at least 1, not 0"),
    (dict(n=True), TypeError, "Accumulation length must be an integer"),
    (dict(n=1.5), TypeError, "Accumulation length must be an integer"),
    (dict(nzr=0.0), ValueError, r"Non-zero ratio must be in \(0, 1\], not 0.0"),
    (dict(nzr=1.5), ValueError, "Non-zero ratio"),
    (dict(cutoff=1.0), ValueError, "Cutoff must be a finite number greater than 1, not 1.0"),
    (dict(cutoff="50"), TypeError, "Cutoff must be a real number"),
    (dict(product_man_bits=0), ValueError, "product_man_bits must be between 1 and 4 \\(the exact product of e5m2 x e5m2 has 5\\), not 0"),
    # One product-width rule with MACConfig: the exact width is not a rounded product.
    (dict(product_man_bits=5), ValueError, "product_man_bits must be between 1 and 4 .*, not 5"),
    (dict(chunk="big"), ValueError, "Chunk must be"),
    (dict(chunk=-1), ValueError, "Chunk size must be at least 0, not -1"),
    (dict(method="guess"), ValueError, "Method must be one of analytical, simulated"),
    (dict(exp_bits=1), ValueError, "Exponent width must be at least 2, not 1"),
])
def test_decide_accumulator_rejects_bad_input(kwargs, exc, msg):
    args = dict(n=1024, a_fmt="e5m2", b_fmt="e5m2") | kwargs
    n = args.pop("n")
    with pytest.raises(exc, match=msg):
        P.decide_accumulator(n, **args)


@pytest.mark.parametrize("call,exc", [
    (lambda: P.vrr(0, 5, 10), ValueError),
    (lambda: P.vrr(5, 0, 10), ValueError),
    (lambda: P.vrr(5, -2, 10), ValueError),
    (lambda: P.vrr(5, 5, 0), ValueError),
    (lambda: P.vrr(5.0, 5, 10), TypeError),
    (lambda: P.min_acc_mantissa(100, 5, cutoff=0.5), ValueError),
    (lambda: P.min_acc_mantissa(100, 5, nzr=-0.1), ValueError),
    (lambda: P.vrr_chunked(5, 5, 100, 4, nzr=float("nan")), ValueError),
])
def test_guards(call, exc):
    with pytest.raises(exc):
        call()


def test_vrr_dips_in_m_acc_are_the_formulas():
    # docs/model.md's VRR is not monotone in m_acc: at n = 106788, m_p = 5 it dips from
    # m_acc = 13 to 14. The plain transcription shows the same dip, so this is the
    # formula's, not the fast sum's.
    n = 106788
    assert P.vrr(14, 5, n) < P.vrr(13, 5, n)
    assert _vrr_plain(14, 5, n) < _vrr_plain(13, 5, n)
    assert 13 in P.monotone_regions(5, n)


@pytest.mark.parametrize("n,m,rising", [(100000, 12, 13), (5_000_000, 18, 16)])
def test_min_acc_mantissa_monotone_rule(n, m, rising):
    # the cases: v(14) > v(13) at n = 1e5 (both pass), v(17) > v(16) at 5e6
    # (both fail): the choice is the smallest width from which every wider one passes
    assert rising in P.monotone_regions(5, n)
    assert P.variance_lost(P.vrr(rising + 1, 5, n), n) > P.variance_lost(P.vrr(rising, 5, n), n)
    assert P.min_acc_mantissa(n, 5) == m
    assert all(P.variance_lost(P.vrr(k, 5, n), n) < 50 for k in range(m, 40))
    assert P.variance_lost(P.vrr(m - 1, 5, n), n) >= 50


def test_min_acc_mantissa_monotone_rule_rejects_pass_below_fail():
    # n = 1e5: v(12) = 6.1, v(13) = 1.92, v(14) = 2.04, v(15) ~ 1. With cutoff 2, width 13
    # passes below the failing 14: the choice is 15, not 13
    n = 100000
    v = {k: P.variance_lost(P.vrr(k, 5, n), n) for k in (12, 13, 14, 15)}
    assert v[12] > 2 > v[13] and v[14] > 2 > v[15]
    assert P.min_acc_mantissa(n, 5, cutoff=2.0) == 15


@pytest.mark.parametrize("n,m", [(100000, 6), (100000, 9), (1_000_000, 12),
                                 pytest.param(1_000_000, 8, marks=pytest.mark.slow),
                                 pytest.param(3_211_264, 10, marks=pytest.mark.slow),
                                 pytest.param(3_211_264, 14, marks=pytest.mark.slow)])
def test_vrr_euler_maclaurin_matches_direct_sum(monkeypatch, n, m):
    P._vrr.cache_clear()
    fast = P.vrr(m, 5, n)
    monkeypatch.setattr(P, "_DIRECT", 1 << 40)
    P._vrr.cache_clear()
    direct = P.vrr(m, 5, n)
    P._vrr.cache_clear()
    assert abs(fast - direct) < 1e-12
    assert abs(n * (1 - fast) - n * (1 - direct)) < 1e-6 * max(1.0, n * (1 - direct))


# -- Monte-Carlo check (golden model) ------------------------------------------------------

def test_simulate_vrr_swamping_and_exactness():
    # 2 fraction bits swamp most of a 1024-term sum; 40 keep it essentially exact
    assert P.simulate_vrr(2, "e5m2", "e5m2", 1024, trials=64, seed=3) < 0.9
    # (e3m2 products need at most 28 bits for any 1024-term partial sum: 30 hold them all)
    assert P.simulate_vrr(30, "e3m2", "e3m2", 1024, trials=64, seed=3) == 1.0


def test_simulate_vrr_is_seeded():
    a = P.simulate_vrr(6, "e5m2", "e5m2", 256, trials=32, seed=7)
    assert a == P.simulate_vrr(6, "e5m2", "e5m2", 256, trials=32, seed=7)
    assert a != P.simulate_vrr(6, "e5m2", "e5m2", 256, trials=32, seed=8)


def test_simulate_vrr_uses_chunking():
    plain = P.simulate_vrr(4, "e5m2", "e5m2", 512, trials=32, seed=1)
    assert P.simulate_vrr(4, "e5m2", "e5m2", 512, chunk=512, trials=32, seed=1) == plain
    assert P.simulate_vrr(4, "e5m2", "e5m2", 512, chunk=16, trials=32, seed=1) != plain


def test_simulate_vrr_rejects_inexact_products():
    f = FloatFormat(11, 30)
    with pytest.raises(NotImplementedError):
        P.simulate_vrr(10, f, f, 16, trials=4)
    with pytest.raises(ValueError, match="Trial count must be at least 2, not 1"):
        P.simulate_vrr(10, "e5m2", "e5m2", 16, trials=1)


# -- one accumulator for several lengths ----------------------------------------------------

@pytest.mark.parametrize("chunk", [None, 64, "auto"])
def test_decide_shared_covers_every_length(chunk):
    lengths = [147, 576, 4608, 50176, 64]
    d = P.decide_shared(lengths, "e5m2", "e5m2", chunk=chunk)
    top = P.decide_accumulator(50176, "e5m2", "e5m2", chunk=chunk)
    assert d.n == 50176 and d.chunk_size == top.chunk_size
    L = d.chunk_size
    need = [P.min_acc_mantissa(n, 5, chunk=L if L < n else 0) for n in lengths]
    assert d.m_acc == max(need)
    assert d.m_acc_unchunked == max(P.min_acc_mantissa(n, 5) for n in lengths)
    assert d.exp_bits == P.acc_exponent_bits("e5m2", "e5m2", 50176, man_bits=d.m_acc)
    assert d.acc_fmt == FloatFormat(d.exp_bits, d.m_acc)
    assert d.v < 50


def test_decide_shared_rejects_empty():
    with pytest.raises(ValueError, match="at least one"):
        P.decide_shared([], "e5m2", "e5m2")
    with pytest.raises(TypeError):
        P.decide_shared(1024, "e5m2", "e5m2")


def test_vectorised_erf_erfc_accuracy():
    import numpy as np
    z = np.concatenate([np.linspace(0, 6, 20001), np.linspace(6, 27, 2001),
                        [1e-300, 0.5, 1.0, 1.25, 2.0, 3.5]])
    erfc, erf = P._erfc_erf(z)
    ref_c = np.array([math.erfc(v) for v in z])
    ref_e = np.array([math.erf(v) for v in z])
    # relative below 1e-14 until erfc reaches float64's subnormal range (z > 26.5)
    assert np.all(np.abs(erfc - ref_c) <= 1e-14 * ref_c + 1e-300)
    assert np.all(np.abs(erf - ref_e) <= 1e-14 * ref_e)


@pytest.mark.parametrize("value, expected", [
    (None, 0), ("none", 0), (" None ", 0), ("0", 0), (0, 0), ("auto", "auto"), ("64", 64), (2048, 2048)])
def test_parse_chunk_values(value, expected):
    from macgen.precision import parse_chunk
    assert parse_chunk(value) == expected


@pytest.mark.parametrize("value", ["sometimes", "-4", -4, True, 2.5])
def test_parse_chunk_rejects_naming_the_value(value):
    from macgen.precision import parse_chunk
    with pytest.raises(ValueError, match="Chunk must be none, auto or a positive integer"):
        parse_chunk(value)


def test_plan_workload_is_the_per_length_and_shared_rule():
    """One planning rule for plan and flow: rows are each length's own decision, shared
    entries decide_shared over a GEMM's lengths, overall over every length."""
    from macgen.workloads import get_workload
    items = [(layer.name, g, n) for layer, g, n in get_workload("resnet32-cifar10").lengths(("fwd", "grad"))]
    plan = P.plan_workload(items, "e5m2", "e5m2", chunk="auto", cutoff=50.0)
    assert [(r["layer"], r["gemm"], r["length"]) for r in plan.rows] == items
    for r in plan.rows[:5]:
        assert r["decision"] == P.decide_accumulator(r["length"], "e5m2", "e5m2", chunk="auto")
    assert set(plan.shared) == {"fwd", "grad"}
    grad = [n for _, g, n in items if g == "grad"]
    assert plan.by_gemm["grad"] == grad
    assert plan.shared["grad"] == P.decide_shared(grad, "e5m2", "e5m2", chunk="auto")
    assert plan.overall == P.decide_shared([n for *_, n in items], "e5m2", "e5m2", chunk="auto")
    # the overall MAC is wider than the FWD-only one on this network (the check can fail)
    assert plan.overall.m_acc > plan.shared["fwd"].m_acc
    one = P.plan_workload([("-", "dot", 4608)], "e5m2", "e5m2")
    assert one.overall == one.shared["dot"] == P.decide_accumulator(4608, "e5m2", "e5m2")
    assert P.plan_workload(items, "e5m2", "e5m2", shared=False).overall is None
    with pytest.raises(ValueError, match="at least one"):
        P.plan_workload([], "e5m2", "e5m2")
