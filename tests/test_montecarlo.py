"""The Monte-Carlo check of the precision model (macgen.montecarlo) on the golden model."""

import itertools
import math

import numpy as np
import pytest

from macgen import golden, montecarlo as M, precision as P
from macgen.config import MACConfig
from macgen.formats import FloatFormat, accumulator_format


@pytest.mark.parametrize("fmt", ["e5m2", "e4m3", "e2m1fn", "e3m2fn", "e5m2_ftz"])
def test_input_distribution_is_quantized_gaussian(fmt):
    f = FloatFormat.parse(fmt)
    codes, probs = M.input_distribution(f)
    assert probs.sum() == pytest.approx(1.0, abs=1e-15)
    assert np.all(probs > 0) and np.all(probs * 2.0 ** 32 == np.round(probs * 2.0 ** 32))
    # symmetric, and each code's probability is that of the x ~ N(0,1) encoding to it
    vals = f.decode(codes)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(200_000)
    seen, counts = np.unique(f.encode(x), return_counts=True)
    count = dict(zip(seen.tolist(), counts.tolist()))
    assert set(count) <= set(codes.tolist())
    for code, p in zip(codes.tolist(), probs):
        k = count.get(code, 0)
        assert abs(k - p * x.size) <= 5 * math.sqrt(p * x.size) + 2, (fmt, code)
    # (weights are rounded to 2^-32 each, the residue goes to one code)
    assert probs[vals > 0].sum() == pytest.approx(probs[vals < 0].sum(), abs=1e-7)


def test_sampler_draws_the_distribution():
    f = FloatFormat.parse("e5m2")
    d = M._distribution(f)
    codes, vals = M._sample(d, np.random.default_rng(5), (1000, 1000))
    assert np.array_equal(f.decode(codes), vals)
    ref_codes, probs = M.input_distribution(f)
    seen, k = np.unique(codes, return_counts=True)
    count = dict(zip(seen.tolist(), k.tolist()))
    counts = np.array([count.get(c, 0) for c in ref_codes.tolist()])
    expected = probs * codes.size
    assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected) + 2)


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
@pytest.mark.parametrize("n,chunk", [(300, 64), (130, 16), (64, 8)])
def test_chunked_accumulation_is_golden_dot(rounding, n, chunk):
    # the Monte-Carlo's fast chunked path (chunks as one batch, then the outer sum)
    # is docs/arithmetic.md §2–4's chunked dot product, bit for bit
    d = M._distribution(FloatFormat.parse("e5m2"))
    rng = np.random.default_rng(2)
    a, _ = M._sample(d, rng, (50, n))
    b, _ = M._sample(d, rng, (50, n))
    for acc in ("e7m3", "e7m9"):
        cfg = MACConfig("e5m2", "e5m2", acc, rounding=rounding)
        ref = golden.dot(MACConfig("e5m2", "e5m2", acc, rounding=rounding, chunk_size=chunk), a, b)
        state = np.zeros(50, dtype=np.uint64)
        seg = 3 * chunk
        for s in range(0, n, seg):
            state = M._accumulate(golden, cfg, state, a[:, s:s + seg], b[:, s:s + seg], chunk)
        assert np.array_equal(ref, state)


def _exact_loss_by_enumeration(fmt, acc, n, rounding):
    # E[(C - S)^2] / sigma_p^2 over every input combination, weighted by its probability
    codes, probs = M.input_distribution(fmt)
    combos = np.array(list(itertools.product(range(len(codes)), repeat=2 * n)))
    a = codes[combos[:, :n]]
    b = codes[combos[:, n:]]
    w = np.prod(probs[combos], axis=1)
    c = acc.decode(golden.dot(MACConfig(fmt, fmt, acc, rounding=rounding), a, b))
    s = (fmt.decode(a) * fmt.decode(b)).sum(axis=1)
    second = float(np.dot(probs, fmt.decode(codes) ** 2))
    return float(np.dot(w, (c - s) ** 2)) / second ** 2


@pytest.mark.parametrize("rounding", ["rne", "rtz"])
def test_loss_interval_covers_exact_value(rounding):
    # OCP fp4 e2m1fn products (3 fraction bits) into 1 fraction bit, n = 2: the second
    # product is often swamped entirely; the exact expectation is enumerable
    fmt = FloatFormat.parse("e2m1fn")
    acc = accumulator_format(fmt, fmt, P.acc_exponent_bits(fmt, fmt, 2, man_bits=1), 1)
    exact = _exact_loss_by_enumeration(fmt, acc, 2, rounding)
    est = M.estimate_loss([1], fmt, fmt, 2, rounding=rounding, trials=40000, seed=4,
                          confidence=0.999)[1]
    assert est.loss_lo <= exact <= est.loss_hi
    assert est.loss_hi - est.loss_lo < 0.25 * exact  # and the interval is informative


def test_loss_absent_is_exactly_zero():
    # e3m2 products are multiples of 2^-8 below 2^10: 30 fraction bits hold every
    # partial sum of 256 of them exactly
    est = M.estimate_loss([30], "e3m2", "e3m2", 256, trials=512, seed=1)[30]
    assert est.loss == est.loss_lo == est.loss_hi == 0.0
    assert est.vrr == est.vrr_lo == est.vrr_hi == 1.0
    assert est.exact_trials == 512


def test_loss_total_swamping_retains_nothing():
    # one fraction bit: the accumulator stalls at a few sigma while S grows like sqrt(n);
    # the retained share VRR -> 0 (the bounded C keeps O(1/n) of the variance)
    for rounding in ("rne", "rtz"):
        est = M.estimate_loss([1], "e5m2", "e5m2", 4096, chunk=0, rounding=rounding,
                              trials=256, seed=3)[1]
        assert est.vrr_lo <= 0.02 and est.vrr_hi >= -0.02
        assert est.vrr_hi - est.vrr_lo < 0.5


def test_estimates_are_paired_and_seeded():
    a = M.estimate_loss([5, 6, 7], "e5m2", "e5m2", 512, trials=256, seed=9)
    b = M.estimate_loss([6], "e5m2", "e5m2", 512, trials=256, seed=9)
    assert a[6] == b[6]  # the same draws whatever widths are evaluated together
    c = M.estimate_loss([6], "e5m2", "e5m2", 512, trials=256, seed=10)
    assert c[6].loss != a[6].loss
    assert a[5].loss > a[6].loss > a[7].loss


def test_results_do_not_depend_on_workers():
    M._ERRORS.clear()
    one = M.estimate_loss([6], "e5m2", "e5m2", 64, trials=9000, seed=2, jobs=1)[6]
    M._ERRORS.clear()
    two = M.estimate_loss([6], "e5m2", "e5m2", 64, trials=9000, seed=2, jobs=2)[6]
    assert one == two


@pytest.mark.parametrize("n,expected,trials", [(256, 5, 1024), (576, 6, 512)])
def test_simulated_choice_stable_across_seeds(n, expected, trials):
    picks = [M.simulated_choice("e5m2", "e5m2", n, trials=trials, seed=s) for s in range(5)]
    decided = [c.m_acc for c in picks if c.m_lo == c.m_hi]
    assert len(decided) >= 4 and all(m == expected for m in decided)


def test_simulated_choice_monotone_rule():
    c = M.simulated_choice("e5m2", "e5m2", 256, rounding="rtz", chunk=64, trials=1024, seed=0)
    limit = math.log(50)
    assert all(c.estimates[m].loss < limit for m in c.estimates if m >= c.m_acc)
    assert c.estimates[c.m_acc - 1].loss >= limit
    assert c.m_lo <= c.m_acc <= c.m_hi
    assert max(c.estimates) > c.m_hi  # a wider width was checked too


def test_decide_accumulator_simulated_reports_interval():
    d = P.decide_accumulator(256, "e5m2", "e5m2", method="simulated", trials=1024, seed=0)
    assert d.method == "simulated" and d.rounding == "rne"
    assert d.m_acc == 5 and d.m_acc_interval == (5, 5)
    lo, hi = d.v_interval
    assert lo <= d.v <= hi < 50
    assert P.decide_accumulator(256, "e5m2", "e5m2", method="simulated", trials=1024,
                                rounding="rtz").m_acc > d.m_acc


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(trials=1), ValueError, "Trial count must be at least 2, not 1"),
    (dict(rounding="up"), ValueError, "Rounding mode must be one of"),
    (dict(confidence=1.0), ValueError, "Confidence must be between 0 and 1"),
    (dict(n=0), ValueError, "Accumulation length must be at least 1, not 0"),
    (dict(m_accs=[0]), ValueError, "Accumulator mantissa width must be at least 1, not 0"),
    (dict(m_accs=5), TypeError, "m_accs must be an iterable"),
    (dict(a_fmt="e11m30", b_fmt="e11m30"), NotImplementedError, "exact in float64"),
    (dict(a_fmt="bf16", b_fmt="fp32"), NotImplementedError, "at most 16 bits wide"),
])
def test_estimate_loss_rejects_bad_input(kwargs, exc, msg):
    args = dict(m_accs=[6], a_fmt="e5m2", b_fmt="e5m2", n=64, trials=4) | kwargs
    with pytest.raises(exc, match=msg):
        M.estimate_loss(args.pop("m_accs"), args.pop("a_fmt"), args.pop("b_fmt"), args.pop("n"),
                        **args)
