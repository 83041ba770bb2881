"""Verification of the MAC's emitted Verilog with cocotb, against the golden model.

The flow (used by ``macgen verify`` and the one-shot flow):

1. a :class:`Stimulus`: dot products (random, :func:`random_stimulus`, or the
   fused multiply-adds of a TestFloat file, :func:`testfloat_stimulus`) with the
   bubbles to put before every beat;
2. :func:`expected_results`: ``macgen.golden.dot`` for every dot product;
3. :func:`run_bench`: build the emitted Verilog with cocotb's Python runner
   (Icarus or Verilator) in a build directory, run the bench :mod:`macgen.verify.benches.mac_tb`
   (stimulus in, results out, as ``.npz`` files beside the build), and compare:
   a :class:`SimSummary` with the counts, timings and the first mismatches
   decoded with ``golden.mismatch_report`` (or the same through the fast harness,
   :func:`mac_stream`). The outline is :mod:`macgen.verify.bench`'s; :class:`MACBench`
   gives what is the MAC's own.

:func:`verify_mac` does all of it for a :class:`~macgen.config.MACConfig`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..config import MACConfig
from ..validate import check_int, check_real
from .bench import Bench, emit_and_run, run_design
from .cocotb_runner import HARNESSES, RunSummary
from .stimulus import biased_operands

__all__ = [
    "Stimulus", "SimSummary", "random_stimulus", "testfloat_stimulus",
    "read_vectors", "expected_results", "run_bench", "MACBench", "verify_mac", "mac_stream", "HARNESSES",
]

_U64 = np.uint64


# -- stimulus -----------------------------------------------------------------

@dataclass
class Stimulus:
    """Dot products to drive, flattened.

    Members
    -------
    a, b : numpy.ndarray of uint64, shape (P,)
        Operand bit patterns of all products, dot product after dot product.
    lengths : numpy.ndarray of int64, shape (N,)
        Length of every dot product (>= 1); ``lengths.sum() == P``.
    init : numpy.ndarray of uint64, shape (N,)
        Initial value of every dot product, in the MAC's ``outer_fmt``.
    init_en : numpy.ndarray of bool, shape (N,)
        Whether the dot product starts from ``init`` (else from +0).
    gaps : numpy.ndarray of int64, shape (P,)
        Bubbles (cycles with ``valid=0``) before every beat.
    reference : numpy.ndarray of uint64, shape (N,), or None
        Results given by a vector file, checked besides the golden model.
    seed : int
        Seed of the bench's own randomness (garbage on inputs during bubbles).
    source : str
        Where the stimulus came from, for reports.
    """

    a: np.ndarray
    b: np.ndarray
    lengths: np.ndarray
    init: np.ndarray
    init_en: np.ndarray
    gaps: np.ndarray
    reference: np.ndarray | None = None
    seed: int = 0
    source: str = "random"

    def __post_init__(self):
        self.a = np.asarray(self.a, dtype=_U64).reshape(-1)
        self.b = np.asarray(self.b, dtype=_U64).reshape(-1)
        self.lengths = np.asarray(self.lengths, dtype=np.int64).reshape(-1)
        self.init = np.asarray(self.init, dtype=_U64).reshape(-1)
        self.init_en = np.asarray(self.init_en, dtype=bool).reshape(-1)
        self.gaps = np.asarray(self.gaps, dtype=np.int64).reshape(-1)
        n, p = len(self.lengths), len(self.a)
        if n == 0:
            raise ValueError("Stimulus must have at least one dot product")
        if (self.lengths < 1).any():
            raise ValueError("Dot product lengths must be at least 1")
        if int(self.lengths.sum()) != p or len(self.b) != p or len(self.gaps) != p:
            raise ValueError(f"Stimulus arrays disagree: {p} a, {len(self.b)} b, {len(self.gaps)} gaps, "
                             f"lengths summing to {int(self.lengths.sum())}")
        if len(self.init) != n or len(self.init_en) != n:
            raise ValueError(f"Stimulus has {n} dot products but {len(self.init)} initial values")
        if self.reference is not None:
            self.reference = np.asarray(self.reference, dtype=_U64).reshape(-1)
            if len(self.reference) != n:
                raise ValueError(f"Stimulus has {n} dot products but {len(self.reference)} reference results")

    @property
    def count(self) -> int:
        """Number of dot products."""
        return len(self.lengths)

    @property
    def products(self) -> int:
        return len(self.a)

    @property
    def offsets(self) -> np.ndarray:
        """Index of every dot product's first product in ``a``/``b``."""
        return np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)

    def operands(self, i: int):
        """``(a, b)`` of dot product ``i``."""
        start = int(self.offsets[i])
        stop = start + int(self.lengths[i])
        return self.a[start:stop], self.b[start:stop]

    def save(self, path, expected) -> None:
        """Write the ``.npz`` the bench reads (with the golden model's ``expected``)."""
        np.savez(path, a=self.a, b=self.b, lengths=self.lengths, init=self.init,
                 init_en=self.init_en, gaps=self.gaps, seed=np.int64(self.seed),
                 expected=np.asarray(expected, dtype=_U64))


def random_stimulus(cfg: MACConfig, count: int, *, seed: int, max_length: int | None = None,
                    bubble_rate: float = 0.2) -> Stimulus:
    """Random dot products of random lengths for ``cfg``, with random bubbles.

    Lengths mix single products, short dot products, and (with chunking) lengths
    around one to three chunks so that chunk boundaries and short last chunks
    are hit. Half the dot products start from a random ``init`` (none without
    ``cfg.init``)

    Parameters
    ----------
    cfg : MACConfig
    count : int
        Number of dot products, at least 1.
    seed : int
        Seeds every random choice (and the bench's garbage during bubbles).
    max_length : int, optional
        Longest dot product; default ``3 * chunk_size + 3`` with chunking, else 40.
    bubble_rate : float
        Probability of 1-3 bubbles before a beat.
    """
    seed = check_int("Seed", seed)
    count = check_int("Count", count, minimum=1)
    bubble_rate = check_real("Bubble rate", bubble_rate, minimum=0, maximum=1)
    rng = np.random.default_rng(seed)
    L = cfg.chunk_size
    if max_length is None:
        max_length = 3 * L + 3 if L else 40
    max_length = check_int("Maximum length", max_length, minimum=1)
    pick = rng.random(count)
    short = rng.integers(1, min(max_length, 8) + 1, count)
    anylen = rng.integers(1, max_length + 1, count)
    if L:
        near_chunk = np.clip(rng.choice([L - 1, L, L + 1, 2 * L, 2 * L + 1], count), 1, max_length)
        lengths = np.where(pick < 0.25, short, np.where(pick < 0.5, near_chunk, anylen))
    else:
        lengths = np.where(pick < 0.3, short, anylen)
    lengths = np.where(pick < 0.1, 1, lengths).astype(np.int64)
    total = int(lengths.sum())
    a = biased_operands(cfg.a_fmt, total, rng)
    b = biased_operands(cfg.b_fmt, total, rng)
    init = biased_operands(cfg.outer_fmt, count, rng)
    init_en = (rng.random(count) < 0.5) & cfg.init
    gaps = np.where(rng.random(total) < bubble_rate, rng.integers(1, 4, total), 0)
    return Stimulus(a, b, lengths, init, init_en, gaps, seed=seed, source=f"random (seed {seed})")


def _fma_config_check(cfg: MACConfig):
    fmts = {cfg.a_fmt, cfg.b_fmt, cfg.acc_fmt, cfg.outer_fmt, cfg.out_fmt}
    if len(fmts) != 1:
        raise ValueError(f"TestFloat mulAdd vectors need one format for a, b and the accumulator, "
                         f"not a {cfg.a_fmt}, b {cfg.b_fmt}, accumulator {cfg.acc_fmt}, "
                         f"output {cfg.out_fmt}")
    if cfg.chunk_size or cfg.product_man_bits is not None or not cfg.init:
        raise ValueError("TestFloat mulAdd vectors are fused multiply-adds: they need an exact "
                         "product, no chunking and an init input (--chunk-size 0, no "
                         "--product-man-bits, and a MAC with an init input)")


def testfloat_stimulus(cfg: MACConfig, a, b, c, result=None, *, source="vectors") -> Stimulus:
    """Fused multiply-adds ``fma(a, b, c)`` as length-1 dot products with ``init = c``.

    Parameters
    ----------
    cfg : MACConfig
        Must have ``a_fmt == b_fmt == acc_fmt`` (== outer and output formats), an
        exact product and no chunking: then one MAC step is the FMA.
    a, b, c, result : array_like of uint64
        The cases; ``result`` (optional) is checked too, any NaN matching any NaN.

    Raises
    ------
    ValueError
        For a configuration on which the vectors are not FMAs.
    """
    _fma_config_check(cfg)
    a = np.asarray(a, dtype=_U64).reshape(-1)
    n = len(a)
    return Stimulus(a, b, np.ones(n, dtype=np.int64), c, np.ones(n, dtype=bool),
                    np.zeros(n, dtype=np.int64), reference=result, source=source)


def read_vectors(cfg: MACConfig, path) -> Stimulus:
    """Read a Berkeley TestFloat ``<fmt>_mulAdd`` file (``A B C RESULT [FLAGS]`` in hex).

    Parsed by :func:`macgen.vectors.read`; the cases become length-1 dot products
    ``fma(A, B, C)`` with ``init = C``. See :func:`testfloat_stimulus` for the
    configurations this accepts.

    Raises
    ------
    ValueError
        A configuration that is not an FMA, a malformed line (named with its
        file and number), or a file without vectors.
    OSError
        The file cannot be read.
    """
    from .. import vectors

    _fma_config_check(cfg)
    try:
        cases = vectors.read(path, cfg.a_fmt)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not cases:
        raise ValueError(f"{path} has no test vectors")
    cols = np.array([(v.a, v.b, v.c, v.result) for v in cases], dtype=_U64).T
    return testfloat_stimulus(cfg, cols[0], cols[1], cols[2], cols[3], source=str(path))


def expected_results(cfg: MACConfig, stim: Stimulus) -> np.ndarray:
    """``golden.dot`` of every dot product of ``stim`` (vectorised per length)."""
    from .. import golden

    expected = np.zeros(stim.count, dtype=_U64)
    offsets = stim.offsets
    init = np.where(stim.init_en, stim.init, _U64(0))
    for n in np.unique(stim.lengths):
        idx = np.flatnonzero(stim.lengths == n)
        cols = offsets[idx][:, None] + np.arange(n)[None, :]
        expected[idx] = golden.dot(cfg, stim.a[cols], stim.b[cols], init[idx])
    return expected


# -- running ------------------------------------------------------------------

@dataclass(kw_only=True)
class SimSummary(RunSummary):
    """Outcome of one MAC simulation (:func:`run_bench`); the run's own members are
    :class:`~macgen.verify.cocotb_runner.RunSummary`'s.

    Members
    -------
    vectors : int
        Dot products driven.
    products : int
        Beats (multiply-accumulates) driven: ``macs``.
    mismatches : int
        Results differing (bit-exactly) from ``golden.dot``.
    reference_mismatches : int or None
        Results differing from a vector file's results (any NaN matches any NaN).
    missing, extra, mistimed : int
        Protocol errors: results never seen, surplus ``result_valid`` pulses, and
        results not exactly ``latency`` cycles after their ``last`` beat.
    reports : list of str
        The first mismatches, decoded (``golden.mismatch_report``).
    sim_cpu_seconds : float
        CPU time of the simulator process while driving the stimulus (simulator
        and cocotb together): the load-independent measure of speed.
    source : str
    """

    vectors: int
    products: int
    mismatches: int
    reference_mismatches: int | None
    missing: int
    extra: int
    mistimed: int
    reports: list = field(default_factory=list)
    sim_cpu_seconds: float = 0.0
    source: str = ""

    @property
    def macs(self) -> int:
        return self.products

    @property
    def passed(self) -> bool:
        return not (self.mismatches or self.reference_mismatches or self.missing or self.extra
                    or self.mistimed)

    @property
    def macs_per_cpu_second(self) -> float:
        """MACs per CPU second of the simulator process while it drives the stimulus."""
        return self.products / self.sim_cpu_seconds if self.sim_cpu_seconds else 0.0

    def to_dict(self) -> dict:
        return {
            **self.run_dict(), "source": self.source, "vectors": self.vectors, "products": self.products,
            "mismatches": self.mismatches, "reference_mismatches": self.reference_mismatches,
            "missing": self.missing, "extra": self.extra, "mistimed": self.mistimed, "passed": self.passed,
            "reports": self.reports, "sim_cpu_seconds": round(self.sim_cpu_seconds, 3),
            "macs_per_cpu_second": round(self.macs_per_cpu_second, 1),
        }


def run_bench(design, cfg: MACConfig, stim: Stimulus, *, simulator: str = "icarus",
              build_dir, expected=None, max_reports: int = 10, progress=None,
              harness: str = "cocotb") -> SimSummary:
    """Build ``design`` with cocotb's runner, drive ``stim`` and compare with the golden model.

    :func:`macgen.verify.bench.run_design` on a :class:`MACBench`.

    Parameters
    ----------
    design : macgen.emit.EmitResult
        Emitted Verilog and sidecar of a MAC.
    cfg : MACConfig
        Its configuration (the golden model's parameters).
    stim : Stimulus
    simulator : {'icarus', 'verilator'}
    build_dir : path
        Simulator build, stimulus and results go here (created if missing).
    expected : array_like, optional
        Golden results if already computed (else :func:`expected_results`).
    max_reports : int
        How many mismatches to decode into ``SimSummary.reports``.
    progress : callable(done, total, mismatches), optional
        Called about once a second during the simulation (cocotb harness only).
    harness : {'cocotb', 'fast', 'auto'}
        ``cocotb``: the bench ``mac_tb`` drives and checks every beat from Python.
        ``fast``: :func:`mac_stream` through :func:`macgen.verify.stream.run_stream`
        (the same checks in Verilog; a result at the wrong cycle counts as one
        missing and one extra, ``mistimed`` stays 0; no vector-file results).
        ``auto``: :func:`~macgen.verify.cocotb_runner.pick_harness` decides (``fast``
        on Verilator for long runs without vector-file results).

    Raises
    ------
    ValueError
        Unknown simulator or harness; the fast harness asked for a vector file's results;
        initial values for a MAC without an init input.
    SimulationError
        The design did not build or the bench crashed (log files are named).
    """
    bench = MACBench(cfg, stim, expected=expected, max_reports=max_reports)
    return run_design(bench, design, simulator=simulator, build_dir=build_dir, harness=harness,
                      progress=progress)


class MACBench(Bench):
    """The dot products ``stim`` of a MAC of configuration ``cfg`` for
    :func:`macgen.verify.bench.run_design`, as :func:`run_bench` runs them; ``expected``
    (else :func:`expected_results`, when first needed) and ``max_reports`` as there."""

    summary = SimSummary
    test_module = "mac_tb"

    def __init__(self, cfg: MACConfig, stim: Stimulus, *, expected=None, max_reports: int = 10):
        self.cfg, self.stim, self.max_reports = cfg, stim, max_reports
        self.macs, self.cocotb_only = stim.products, stim.reference is not None
        self._expected = expected

    @functools.cached_property
    def expected(self) -> np.ndarray:
        """The golden results, one per dot product."""
        given = self._expected
        return np.asarray(expected_results(self.cfg, self.stim) if given is None else given, dtype=_U64)

    def check(self, design, harness):
        cfg, stim = self.cfg, self.stim
        if not cfg.init and stim.init_en.any():
            raise ValueError(f"{cfg.slug} has no init input, but {int(stim.init_en.sum())} dot products "
                             f"of the stimulus start from an initial value")
        if harness == "fast" and self.cocotb_only:
            raise ValueError("The fast harness compares with the golden model only, not with a vector "
                             "file's results: use the cocotb harness for --vectors")

    def _results(self, **fields) -> dict:
        stim = self.stim
        return {"vectors": stim.count, "products": stim.products, "source": stim.source, **fields}

    def stream(self, latency):
        return mac_stream(self.cfg, self.stim, latency, self.expected)

    def fast_results(self, design, stream, due, res):
        cfg, stim, expected = self.cfg, self.stim, self.expected
        by_cycle = {int(c): d for d, c in enumerate(due)}
        reports = []
        for cycle, got, want in res.log[:self.max_reports]:
            if got["result_valid"][0] and want["result_valid"][0]:
                d = by_cycle[cycle]
                reports.append(_report(cfg, stim, d, expected[d], got["result"][0]))
            elif want["result_valid"][0]:
                reports.append(f"dot product #{by_cycle[cycle]}: no result in cycle {cycle}, "
                               f"{design.latency} cycles after its last beat")
            else:
                reports.append(f"an unexpected result {got['result'][0]:#x} in cycle {cycle}")
        # cycles: the stimulus' own (whole rounds of the K lanes, up to the last beat), as
        # mac_tb counts them, without the stream's drain.
        K = cfg.acc_stages
        cycles = ((int(due.max()) - int(design.latency)) // K + 1) * K
        return self._results(cycles=cycles, mismatches=res.mismatches, reference_mismatches=None, missing=res.missing,
                             extra=res.extra, mistimed=0, reports=reports, sim_cpu_seconds=res.sim_cpu_seconds)

    def save(self, path):
        self.stim.save(path, self.expected)

    def cocotb_results(self, design, res):
        cfg, stim, expected = self.cfg, self.stim, self.expected
        actual, received = res["actual"], int(res["received"])
        # Interleaved streams (a pipelined loop) finish out of order: the bench says which.
        got = np.asarray(res["got_mask"], dtype=bool)
        bad = np.flatnonzero(got & (actual != expected))
        ref_bad = None
        if stim.reference is not None:
            fmt = cfg.out_fmt
            ref = stim.reference[got]
            both_nan = fmt.is_nan(actual[got]) & fmt.is_nan(ref)
            ref_bad = int(np.count_nonzero((actual[got] != ref) & ~both_nan)) + (stim.count - received)
        reports = [_report(cfg, stim, int(i), expected[i], actual[i]) for i in bad[:self.max_reports]]
        return self._results(cycles=int(res["cycles"]), mismatches=int(len(bad)), reference_mismatches=ref_bad,
                             missing=stim.count - received, extra=int(res["extra"]),
                             mistimed=int(len(res["off_time"])), reports=reports, sim_cpu_seconds=float(res["cpu"]))


def mac_stream(cfg: MACConfig, stim: Stimulus, latency: int, expected, *, drain: int = 8):
    """The per-cycle stream of ``stim`` for the fast harness, as ``mac_tb`` drives it.

    Dot product ``d`` goes to lane ``d mod K`` of a ``K = cfg.acc_stages`` loop and
    cycle ``c`` carries a beat of lane ``c mod K``; every beat is preceded by its
    bubbles (in its lane). During a bubble every input but ``valid`` is random,
    and ``init``/``init_en`` are random off a dot product's first beat (the MAC
    must ignore them). The result of ``d`` is expected in cycle ``last beat + latency``;
    ``drain`` more idle cycles catch late or extra results.

    Returns
    -------
    (stream, due)
        A :class:`macgen.verify.stream.Stream` and the cycle each dot product's result is due.
    """
    from .stream import Field, Stream

    K = cfg.acc_stages
    n, p = stim.count, stim.products
    dot = np.repeat(np.arange(n), stim.lengths)
    beat = np.arange(p) - stim.offsets[dot]
    lane = dot % K
    step = stim.gaps + 1
    cycle = np.zeros(p, dtype=np.int64)
    for k in range(K):
        m = lane == k
        cycle[m] = (np.cumsum(step[m]) - 1) * K + k
    last = np.zeros(n, dtype=np.int64)
    last[dot[beat == stim.lengths[dot] - 1]] = cycle[beat == stim.lengths[dot] - 1]
    due = last + latency
    T = int(due.max()) + 1 + drain
    rng = np.random.default_rng([stim.seed, 0x5EED])
    bits = lambda width, size=T: rng.integers(0, 1 << width, size=size, dtype=_U64)
    valid = np.zeros(T, _U64)
    first, last_flag, init_en = bits(1), bits(1), bits(1)
    a, b, init = bits(cfg.a_fmt.width), bits(cfg.b_fmt.width), bits(cfg.outer_fmt.width)
    valid[cycle] = 1
    first[cycle] = beat == 0
    last_flag[cycle] = beat == stim.lengths[dot] - 1
    a[cycle], b[cycle] = stim.a, stim.b
    starts = cycle[beat == 0]
    init[starts], init_en[starts] = stim.init, stim.init_en
    out_valid = np.zeros(T, bool)
    out_valid[due] = True
    result = np.zeros((T, 1), _U64)
    result[due, 0] = expected
    w = cfg.out_fmt.width
    stream = Stream([(Field("valid", 1), valid), (Field("first", 1), first), (Field("last", 1), last_flag),
                     (Field("a", cfg.a_fmt.width), a), (Field("b", cfg.b_fmt.width), b)]
                    + ([(Field("init", cfg.outer_fmt.width), init), (Field("init_en", 1), init_en)]
                       if cfg.init else []),
                    (Field("result_valid", 1), out_valid), (Field("result", w), result))
    return stream, due


#: Products listed in full in a mismatch report (longer dot products are elided in the middle).
REPORT_PRODUCTS = 24


def _report(cfg, stim, i, expected, actual) -> str:
    """One mismatch: the dot product's inputs and both outputs, in hex and decoded."""
    from .. import golden

    a, b = stim.operands(i)
    n = len(a)
    lines = [f"dot product #{i}: {n} product{'s' if n != 1 else ''} {cfg.a_fmt} x {cfg.b_fmt}, "
             f"accumulator {cfg.acc_fmt}" + (f", chunks of {cfg.chunk_size} into {cfg.outer_fmt}"
                                            if cfg.chunk_size else "") + f", {cfg.rounding}"]
    shown = range(n) if n <= REPORT_PRODUCTS else \
        list(range(REPORT_PRODUCTS // 2)) + [None] + list(range(n - REPORT_PRODUCTS // 2, n))
    for j in shown:
        if j is None:
            lines.append(f"    ... {n - REPORT_PRODUCTS} more (all in the stimulus file) ...")
            continue
        lines.append(f"    a[{j}] = {golden.describe(cfg.a_fmt, a[j])}   b[{j}] = {golden.describe(cfg.b_fmt, b[j])}")
    init = stim.init[i] if stim.init_en[i] else np.uint64(0)
    text = golden.mismatch_report(cfg.out_fmt, np.array([actual], dtype=_U64), np.array([expected], dtype=_U64),
                                  {"init": (cfg.outer_fmt, np.array([init], dtype=_U64))})
    # Drop the report's own "1 mismatch(es) of 1" and position lines: one case here.
    lines.extend(line for line in text.splitlines()[2:])
    if not stim.init_en[i]:
        lines[-3] = lines[-3].replace("init", "init (off)", 1)
    if stim.reference is not None:
        lines.append(f"    {'file':>8} = {golden.describe(cfg.out_fmt, stim.reference[i])}")
    return "\n".join(lines)


def verify_mac(cfg: MACConfig, stim: Stimulus, *, simulator: str = "icarus", build_dir,
               max_reports: int = 10, progress=None, decision=None, harness: str = "cocotb") -> SimSummary:
    """Emit ``cfg`` into ``build_dir``, then :func:`run_bench` there.

    The whole flow of ``macgen verify mac``; see :func:`run_bench` for the parameters.
    """
    return emit_and_run(cfg, build_dir, lambda design: run_bench(
        design, cfg, stim, simulator=simulator, build_dir=build_dir, max_reports=max_reports,
        progress=progress, harness=harness), decision=decision)
