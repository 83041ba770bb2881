"""Monte-Carlo check of the precision model on the exact hardware arithmetic.

No Amaranth here. The analytical model (:mod:`macgen.precision`, docs/model.md)
predicts how much of a dot product's variance survives *swamping*: product bits
that fall below the accumulator's last place and are lost. This module measures
that loss on the golden model (:func:`macgen.golden.dot`, the arithmetic the RTL
implements bit for bit), with both rounding modes and with chunking, and says how
sure the measurement is.

What is measured
----------------
Products ``p_i = a_i b_i`` are iid: ``a`` and ``b`` are standard Gaussian values
quantized (RNE) to their formats. With ``S = sum p_i`` the exact dot product and
``C`` the golden model's result, the error ``E = C - S`` is exactly the sum of
what every rounding step dropped (the swamped bits, signed). The model's variance
lost is the variance of that error as a share of the dot product's variance::

    1 - VRR_sim = E[E^2] / Var(S) = E[E^2] / (n sigma_p^2)
    loss        = n_eff (1 - VRR_sim)         (v = exp(loss); the cutoff test is loss < ln 50)

``E`` has mean zero (the data and both rounding modes are symmetric in sign), so
``E[E^2]`` is its variance. Full swamping from step ``i`` on (the accumulator
stalls) gives ``E[E^2] = (n - i) sigma_p^2``, the model's ``(n - i)/n`` lost;
no rounding at all gives ``E = 0`` exactly. Why not ``var(C) / var(S)``: with RNE
the rounding errors are nearly uncorrelated with ``S`` and *add* variance, so that
ratio exceeds 1 under partial swamping and says nothing about the loss; and as a
ratio of two noisy variances its standard error (~``sqrt(2/T)``) dwarfs the
``ln(50)/n`` the cutoff resolves.

The estimator is precise where the decision is made: ``sigma_p^2`` is not
estimated but computed exactly from the quantized distribution (the same
discrete distribution the sampler draws from), so the only noise is that of the
mean of ``E^2/sigma_p^2`` over ``T`` trials; its relative standard error is about
``sqrt(2/T)`` *of the loss itself* (``~4`` at the cutoff), not of 1. Every
accumulator width is evaluated on the same draws (common random numbers), so
comparisons between widths are paired. The confidence interval is the normal one
on that mean (the trials are independent).

Exactness and speed
-------------------
``S`` is summed exactly in two int64 limbs (each product split on a power-of-two
grid), ``E`` is exact whenever it is below ``2^52`` units of the products' last
place (far beyond any loss of interest). Codes are drawn from the exact
quantized-Gaussian distribution (probabilities rounded to multiples of
``2^-32``) by a 16-bit look-up table, much faster than quantizing Gaussian
samples. Trials run in fixed blocks, each with its own seeded generator
(``numpy.random.default_rng([seed, block])``), and blocks run on a process pool,
so results depend on ``seed`` and ``trials`` only, never on the number of
workers. With chunking the chunks are independent: every chunk sum is one
golden-model dot product in a batch of all chunks, and the chunk sums are then
added into the outer accumulator with :func:`macgen.golden.add`, which is
exactly docs/arithmetic.md §3's chunked dot product (tested against :func:`macgen.golden.dot`
with ``chunk_size``) and many times faster for long dot products.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass

import numpy as np

from .executor import process_pool
from .formats import FloatFormat, accumulator_format, check_format, check_rounding
from .validate import check_int

__all__ = ["LossEstimate", "SimulatedChoice", "estimate_loss", "simulated_choice",
           "input_distribution"]

_WEIGHT_BITS = 32           # code probabilities are multiples of 2^-32
_TABLE_BITS = 16            # first-level look-up table of the sampler
_SEGMENT_ELEMENTS = 1 << 20  # operand elements per golden call (memory bound)
_MAX_M_ACC = 62
_CACHE_SIZE = 256            # measured error vectors kept (common random numbers make them reusable)
_ERRORS: dict = {}


# -- the input distribution ---------------------------------------------------------

@dataclass(frozen=True)
class _Dist:
    codes: np.ndarray       # uint64 codes with non-zero weight
    values: np.ndarray      # their float64 values
    cum: np.ndarray         # uint64 cumulative weights (last = 2^32)
    table: np.ndarray       # code index by the top 16 bits of a 32-bit draw (-1: search)
    second_moment: float    # E[x^2] of the quantized value


def _code_boundaries(fmt, lo, hi):
    """Points where ``fmt.encode`` switches from ``encode(lo)`` to ``encode(hi)`` (bisection)."""
    lo, hi = lo.copy(), hi.copy()
    c_lo = fmt.encode(lo)
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        done = (mid == lo) | (mid == hi)
        if done.all():
            break
        same = fmt.encode(mid) == c_lo
        lo = np.where(same & ~done, mid, lo)
        hi = np.where(~same & ~done, mid, hi)
    return hi


def input_distribution(fmt):
    """The exact distribution of ``fmt.encode(x)`` for ``x ~ N(0, 1)`` (RNE).

    Returns ``(codes, probabilities)``: every code with a non-negligible
    probability, ``-0`` and ``+0`` included, with probabilities rounded to
    multiples of ``2^-32`` (the sampler draws from exactly these). Code regions
    are found by bisection on :meth:`FloatFormat.encode`, so flush-to-zero and
    saturating formats get their own regions.

    Raises
    ------
    NotImplementedError
        Formats wider than 16 bits, or ones that overflow to inf/NaN with a
        probability above ``2^-40``.
    """
    d = _distribution(check_format("Format", fmt))
    weights = np.diff(np.concatenate([[0], d.cum.astype(np.int64)]))
    return d.codes.copy(), weights / 2.0 ** _WEIGHT_BITS


@functools.lru_cache(maxsize=32)
def _distribution(fmt):
    return _build_distribution(fmt)


def _build_distribution(fmt):
    if fmt.width > 16:
        raise NotImplementedError(f"Monte-Carlo inputs must be at most 16 bits wide, not {fmt} "
                                  f"({fmt.width} bits)")
    codes = np.arange(1 << (fmt.width - 1), dtype=np.uint64)  # sign 0
    vals = fmt.decode(codes)
    ok = np.isfinite(vals)
    codes, vals = codes[ok], vals[ok]
    # one code per value (ftz formats read subnormal codes as zero): keep what encode writes
    enc = fmt.encode(vals)
    order = np.argsort(vals, kind="stable")
    vals = vals[order]
    uvals, first = np.unique(vals, return_index=True)
    ucodes = enc[order][first]
    # region k of the positive axis: [b_{k-1}, b_k) -> ucodes[k]; b_{-1} = 0
    bounds = _code_boundaries(fmt, uvals[:-1], uvals[1:]) if len(uvals) > 1 else np.empty(0)
    top = uvals[-1]
    over_code = fmt.encode(np.array([top * 4.0]))[0]
    if over_code != ucodes[-1]:
        b_over = _code_boundaries(fmt, np.array([top]), np.array([top * 4.0]))[0]
        p_over = math.erfc(b_over / math.sqrt(2.0)) / 2.0
        if p_over > 2.0 ** -40:
            raise NotImplementedError(f"Gaussian samples overflow {fmt} with probability "
                                      f"{p_over:.3g}; Monte-Carlo inputs must stay finite")
    else:
        b_over = math.inf
    edges = np.concatenate([[0.0], bounds, [b_over]])
    # P(edge_k <= x < edge_k+1) for x ~ N(0,1), from the upper tail (accurate far out)
    tail = np.array([math.erfc(e / math.sqrt(2.0)) / 2.0 for e in edges])
    p_pos = tail[:-1] - tail[1:]
    sign_bit = np.uint64(1) << np.uint64(fmt.width - 1)
    all_codes = np.concatenate([ucodes[::-1] | sign_bit, ucodes])
    all_vals = np.concatenate([-uvals[::-1], uvals])
    probs = np.concatenate([p_pos[::-1], p_pos])
    probs = probs / probs.sum()
    weights = np.floor(probs * 2.0 ** _WEIGHT_BITS).astype(np.int64)
    weights[np.argmax(weights)] += (1 << _WEIGHT_BITS) - int(weights.sum())
    keep = weights > 0
    all_codes, all_vals, weights = all_codes[keep], all_vals[keep], weights[keep]
    cum = np.cumsum(weights).astype(np.uint64)
    # bucket t covers draws [t 2^16, (t+1) 2^16): the code of its first draw, and
    # whether a later draw of the bucket belongs to another code
    shift = _WEIGHT_BITS - _TABLE_BITS
    starts = np.arange(1 << _TABLE_BITS, dtype=np.uint64) << np.uint64(shift)
    first = np.searchsorted(cum, starts, side="right")
    last = np.searchsorted(cum, starts + np.uint64((1 << shift) - 1), side="right")
    second = float(np.dot(weights.astype(np.float64), all_vals * all_vals)) / 2.0 ** _WEIGHT_BITS
    # one look-up: the code index, or -1 where the bucket needs a search
    table = np.where(first == last, first, -1).astype(np.int16 if len(cum) < 32768 else np.int32)
    return _Dist(codes=all_codes, values=all_vals, cum=cum, table=table, second_moment=second)


def _sample(dist, rng, shape):
    """Codes (uint64) drawn from ``dist``."""
    u = rng.integers(0, 1 << _WEIGHT_BITS, size=shape, dtype=np.uint32)
    idx = dist.table[u >> np.uint32(_WEIGHT_BITS - _TABLE_BITS)].astype(np.intp)
    amb = idx < 0
    if amb.any():
        idx[amb] = np.searchsorted(dist.cum, u[amb].astype(np.uint64), side="right")
    return dist.codes[idx], dist.values[idx]


# -- one block of trials --------------------------------------------------------------

def _round_products(p, bits, rounding):
    """Products rounded by the MAC's mode to ``bits`` fraction bits, exponent unbounded."""
    mant, exp = np.frexp(p)
    scaled = np.ldexp(mant, bits + 1)
    scaled = np.rint(scaled) if rounding == "rne" else np.trunc(scaled)
    return np.ldexp(scaled, exp - bits - 1)


@dataclass(frozen=True)
class _Job:
    a_fmt: FloatFormat
    b_fmt: FloatFormat
    accs: tuple             # accumulator formats, one per width evaluated
    rounding: str
    product_man_bits: int | None
    chunk: int              # 0: none (already < n)
    n: int
    seed: int
    grid_exp: int           # products are multiples of 2^grid_exp
    block: int              # trials per block


def _block_errors(job, index, trials):
    """``E = C - S`` for ``trials`` trials of block ``index``: shape ``(len(accs), trials)``."""
    from . import golden
    from .config import MACConfig

    rng = np.random.default_rng([job.seed, index])
    da, db = _distribution(job.a_fmt), _distribution(job.b_fmt)
    L = job.chunk
    cfgs = [MACConfig(job.a_fmt, job.b_fmt, acc, rounding=job.rounding,
                      product_man_bits=job.product_man_bits) for acc in job.accs]
    unit = L or 1
    seg = max(unit, (_SEGMENT_ELEMENTS // trials) // unit * unit)
    # exact sum in two int64 limbs: p = hi 2^(g+20) + lo 2^g, |lo| <= 2^19
    g = job.grid_exp
    hi_sum = np.zeros(trials, dtype=np.int64)
    lo_sum = np.zeros(trials, dtype=np.int64)
    acc_state = [np.zeros(trials, dtype=np.uint64) for _ in cfgs]
    for start in range(0, job.n, seg):
        k = min(seg, job.n - start)
        a, va = _sample(da, rng, (trials, k))
        b, vb = _sample(db, rng, (trials, k))
        p = va * vb
        if job.product_man_bits is not None:
            p = _round_products(p, job.product_man_bits, job.rounding)
        hi = np.rint(np.ldexp(p, -(g + 20)))
        lo = np.ldexp(p - np.ldexp(hi, g + 20), -g)
        if float(np.abs(hi).max()) * job.n > 2.0 ** 62:
            raise NotImplementedError("Exact sums of these products would overflow 64-bit limbs")
        hi_sum += hi.astype(np.int64).sum(axis=1)
        lo_sum += lo.astype(np.int64).sum(axis=1)
        for j, cfg in enumerate(cfgs):
            acc_state[j] = _accumulate(golden, cfg, acc_state[j], a, b, L)
    # S = hi 2^(g+20) + lo 2^g; E = (C - hi 2^(g+20)) - lo 2^g, exact while small
    s_hi = np.ldexp(hi_sum.astype(np.float64), g + 20)
    s_lo = np.ldexp(lo_sum.astype(np.float64), g)
    out = np.empty((len(cfgs), trials))
    for j, cfg in enumerate(cfgs):
        c = cfg.acc_fmt.decode(acc_state[j])
        out[j] = (c - s_hi) - s_lo
    return out


def _accumulate(golden, cfg, state, a, b, chunk):
    """Continue ``state`` (acc codes, one per trial) over steps ``a, b`` (docs/arithmetic.md §3)."""
    if not chunk:
        return golden.dot(cfg, a, b, init=state)
    trials, k = a.shape
    full = k // chunk * chunk
    sums = []
    if full:
        t = golden.dot(cfg, a[:, :full].reshape(-1, chunk), b[:, :full].reshape(-1, chunk))
        sums.append(t.reshape(trials, -1))
    if full < k:  # the last, shorter chunk of the dot product
        sums.append(golden.dot(cfg, a[:, full:], b[:, full:]).reshape(trials, 1))
    t = np.concatenate(sums, axis=1)
    # o_k = round(o_(k-1) + t_k) as a dot product of the chunk sums with ones: t * 1 is
    # exact, so each step is the outer addition itself, on golden's fast path
    outer, one = _outer_config(cfg)
    return golden.dot(outer, t, np.full_like(t, one), init=state)


@functools.lru_cache(maxsize=64)
def _outer_config(cfg):
    from .config import MACConfig
    one_fmt = FloatFormat(2, 1, policy=cfg.acc_fmt.policy)
    return (MACConfig(cfg.acc_fmt, one_fmt, cfg.acc_fmt, rounding=cfg.rounding),
            np.uint64(one_fmt.encode(np.array([1.0]))[0]))


# -- the estimate ----------------------------------------------------------------------

@dataclass(frozen=True)
class LossEstimate:
    """Measured variance lost of one accumulator width.

    Members
    -------
    m_acc : int
        Accumulator fraction bits.
    n, chunk, trials : int
    rounding : str
    loss, loss_lo, loss_hi : float
        ``n_eff (1 - VRR_sim)`` (the exponent of ``v``) and its confidence interval.
    vrr, vrr_lo, vrr_hi : float
        ``1 - E[E^2]/(n sigma_p^2)`` and its interval (``vrr_lo`` pairs with ``loss_hi``).
    exact_trials : int
        Trials whose result was exact (``E = 0``).
    confidence : float
    """

    m_acc: int
    n: int
    chunk: int
    rounding: str
    trials: int
    loss: float
    loss_lo: float
    loss_hi: float
    vrr: float
    vrr_lo: float
    vrr_hi: float
    exact_trials: int
    confidence: float

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return asdict(self)


def _z(confidence):
    # two-sided normal quantile by bisection on erfc (no SciPy)
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if math.erfc(mid / math.sqrt(2.0)) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _block_size(n):
    # wide blocks amortise golden's per-step cost; long dot products get narrow ones
    # so that even a few hundred trials make two blocks for the two cores
    return int(min(4096, max(128, (1 << 24) // n)))


def _grid_exp(a_fmt, b_fmt, product_man_bits):
    # every product is a multiple of 2^(emin_a - Ma + emin_b - Mb) (rounded ones too:
    # rounding to fewer bits only coarsens the grid)
    return a_fmt.emin - a_fmt.man_bits + b_fmt.emin - b_fmt.man_bits


def _acc_for(a_fmt, b_fmt, n, m, exp_bits):
    from .precision import acc_exponent_bits
    e = exp_bits if exp_bits is not None else acc_exponent_bits(a_fmt, b_fmt, n, man_bits=m)
    return accumulator_format(a_fmt, b_fmt, e, m)


def _run(job, trials, jobs):
    blocks = [(i, min(job.block, trials - i * job.block))
              for i in range(-(-trials // job.block))]
    work = job.n * trials * len(job.accs)
    if jobs is None:
        jobs = min(2, os.cpu_count() or 1) if work > 5e7 else 1
    jobs = min(jobs, len(blocks))
    if jobs <= 1:
        parts = [_block_errors(job, i, t) for i, t in blocks]
    else:
        with process_pool(jobs) as pool:
            parts = list(pool.map(_block_errors, [job] * len(blocks), *zip(*blocks)))
    return np.concatenate(parts, axis=1)


def estimate_loss(m_accs, a_fmt, b_fmt, n, *, chunk=0, rounding="rne", trials=1024, seed=0,
                  product_man_bits=None, exp_bits=None, nzr=1.0, confidence=0.95, jobs=None):
    """Measure the variance lost of ``n``-term dot products for several accumulator widths.

    See the module docstring for the estimator. All widths share the same draws.

    Parameters
    ----------
    m_accs : iterable of int
        Accumulator fraction widths (each at least 1).
    a_fmt, b_fmt : FloatFormat or str
        Operand formats, at most 16 bits wide.
    n : int
        Dot-product length, at least 1.
    chunk : int
        Chunk size (0 or ``>= n``: none).
    rounding : {'rne', 'rtz'}
    trials : int
        Dot products per width, at least 2.
    seed : int
    product_man_bits, exp_bits : int or None
        Product rounding and accumulator exponent width (default: exact product,
        :func:`macgen.precision.acc_exponent_bits` for each width).
    nzr : float
        Non-zero ratio: scales the loss to ``n_eff`` terms as the analytical
        decision does (the simulated products themselves are dense).
    confidence : float
        Two-sided confidence of the intervals, in (0, 1).
    jobs : int or None
        Worker processes (default: both cores when the work is large). Results
        do not depend on it.

    Returns
    -------
    dict of int to LossEstimate

    Raises
    ------
    TypeError, ValueError, NotImplementedError
    """
    from .precision import check_nzr, product_frac_bits

    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    if isinstance(m_accs, (str, bytes)) or not hasattr(m_accs, "__iter__"):
        raise TypeError(f"m_accs must be an iterable of integers, not {m_accs!r}")
    ms = sorted({check_int("Accumulator mantissa width", m, minimum=1) for m in m_accs})
    if not ms:
        raise ValueError("m_accs must name at least one accumulator mantissa width")
    n = check_int("Accumulation length", n, minimum=1)
    chunk = check_int("Chunk size", chunk, minimum=0)
    trials = check_int("Trial count", trials, minimum=2)
    seed = check_int("Seed", seed, minimum=0)
    rounding = check_rounding(rounding)
    if product_man_bits is not None:
        product_frac_bits(a_fmt, b_fmt, product_man_bits)
        if product_man_bits == a_fmt.man_bits + b_fmt.man_bits + 1:
            product_man_bits = None
    if exp_bits is not None:
        exp_bits = check_int("Exponent width", exp_bits, minimum=2)
    nzr = check_nzr(nzr)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0.0 < confidence < 1.0:
        raise ValueError(f"Confidence must be between 0 and 1, not {confidence!r}")
    if a_fmt.man_bits + b_fmt.man_bits + 2 > 53:
        raise NotImplementedError(f"Monte-Carlo products must be exact in float64; "
                                  f"{a_fmt} x {b_fmt} is not")
    chunk = chunk if 0 < chunk < n else 0
    accs = {m: _acc_for(a_fmt, b_fmt, n, m, exp_bits) for m in ms}
    key = (a_fmt, b_fmt, rounding, product_man_bits, chunk, n, seed, trials)
    todo = [m for m in ms if key + (accs[m],) not in _ERRORS]
    if todo:
        job = _Job(a_fmt, b_fmt, tuple(accs[m] for m in todo), rounding, product_man_bits, chunk,
                   n, seed, _grid_exp(a_fmt, b_fmt, product_man_bits), _block_size(n))
        for m, e in zip(todo, _run(job, trials, jobs)):
            if len(_ERRORS) >= _CACHE_SIZE:
                _ERRORS.pop(next(iter(_ERRORS)))
            _ERRORS[key + (accs[m],)] = e
    errors = [_ERRORS[key + (accs[m],)] for m in ms]
    sigma2 = _distribution(a_fmt).second_moment * _distribution(b_fmt).second_moment
    n_eff = max(1, round(nzr * n))
    z = _z(confidence)
    out = {}
    for m, e in zip(ms, errors):
        x = e * e / sigma2                   # n (1 - VRR) per trial
        mean = float(x.mean())
        half = z * float(x.std(ddof=1)) / math.sqrt(trials)
        lo, hi = max(0.0, mean - half), mean + half
        k = n_eff / n
        out[m] = LossEstimate(m_acc=m, n=n, chunk=chunk, rounding=rounding, trials=trials,
                              loss=k * mean, loss_lo=k * lo, loss_hi=k * hi,
                              vrr=1.0 - mean / n, vrr_lo=1.0 - hi / n, vrr_hi=1.0 - lo / n,
                              exact_trials=int(np.count_nonzero(e == 0.0)),
                              confidence=confidence)
    return out


# -- the decision ----------------------------------------------------------------------

@dataclass(frozen=True)
class SimulatedChoice:
    """The smallest accumulator width that passes on the golden model.

    ``m_acc`` is the smallest width whose measured loss, and that of every wider
    width evaluated, is below ``ln(cutoff)``; ``m_lo`` and ``m_hi`` are the same
    rule applied to the lower and upper ends of the confidence intervals. When
    ``m_lo == m_hi`` the interval excludes both neighbours.

    Members
    -------
    m_acc, m_lo, m_hi : int
    estimates : dict of int to LossEstimate
        Every width evaluated (at least ``m_lo - 1`` unless that is 0, up to
        ``m_hi + 1``).
    """

    m_acc: int
    m_lo: int
    m_hi: int
    estimates: dict

    @property
    def chosen(self) -> LossEstimate:
        return self.estimates[self.m_acc]

    def to_dict(self) -> dict:
        return {"m_acc": self.m_acc, "m_lo": self.m_lo, "m_hi": self.m_hi,
                "estimates": {str(m): e.to_dict() for m, e in sorted(self.estimates.items())}}


def _smallest_all_pass(est, key, limit):
    ms = sorted(est)
    m = None
    for k in reversed(ms):
        if getattr(est[k], key) < limit:
            m = k
        else:
            break
    return m


def simulated_choice(a_fmt, b_fmt, n, *, chunk=0, rounding="rne", cutoff=50.0, start=None,
                     trials=1024, seed=0, product_man_bits=None, exp_bits=None, nzr=1.0,
                     confidence=0.95, jobs=None) -> SimulatedChoice:
    """The simulated counterpart of :func:`macgen.precision.min_acc_mantissa`.

    Widths are evaluated on the same draws, three around ``start`` (default: the
    analytical choice), then three at a time upwards until a width and the one
    above it pass at the upper end of their intervals, and one at a time
    downwards until one fails even at the lower end of its interval (or width 1
    is reached). The monotone rule then gives the answer:
    the smallest width such that every wider one evaluated passes too.

    Parameters
    ----------
    a_fmt, b_fmt, n, chunk, rounding, trials, seed, product_man_bits, exp_bits, nzr,
    confidence, jobs
        As for :func:`estimate_loss`.
    cutoff : float
        Largest tolerated variance lost (exclusive), greater than 1.
    start : int or None
        First width to try.

    Returns
    -------
    SimulatedChoice

    Raises
    ------
    TypeError, ValueError, NotImplementedError
    """
    from .precision import check_cutoff, min_acc_mantissa

    cutoff = check_cutoff(cutoff)
    limit = math.log(cutoff)
    a_fmt, b_fmt = check_format("a_fmt", a_fmt), check_format("b_fmt", b_fmt)
    if start is None:
        from .precision import product_frac_bits
        m_p = product_frac_bits(a_fmt, b_fmt, product_man_bits)
        start = min_acc_mantissa(n, m_p, chunk=chunk if 0 < chunk < n else 0, nzr=nzr,
                                 cutoff=cutoff)
    start = check_int("Start width", start, minimum=1)
    opts = dict(chunk=chunk, rounding=rounding, trials=trials, seed=seed,
                product_man_bits=product_man_bits, exp_bits=exp_bits, nzr=nzr,
                confidence=confidence, jobs=jobs)
    est = {}
    window = range(max(1, start - 1), start + 2)
    while True:
        todo = [m for m in window if m not in est and m <= _MAX_M_ACC]
        if todo:
            est.update(estimate_loss(todo, a_fmt, b_fmt, n, **opts))
        ms = sorted(est)
        top, bottom = ms[-1], ms[0]
        m_hi = _smallest_all_pass(est, "loss_hi", limit)
        if m_hi is None or m_hi >= top:  # need a passing width with one above it
            if top >= _MAX_M_ACC:
                raise ValueError(f"No accumulator mantissa up to {_MAX_M_ACC} bits keeps the "
                                 f"simulated variance lost below {cutoff} for length {n}")
            window = range(top + 1, top + 4)
            continue
        if bottom > 1 and est[bottom].loss_lo < limit:
            window = range(bottom - 1, bottom)  # the loss grows fast downwards: one at a time
            continue
        break
    m = _smallest_all_pass(est, "loss", limit)
    m_lo = _smallest_all_pass(est, "loss_lo", limit)
    return SimulatedChoice(m_acc=m, m_lo=m_lo, m_hi=m_hi, estimates=dict(sorted(est.items())))
