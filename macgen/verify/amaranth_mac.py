"""Amaranth-simulator driver for :class:`macgen.rtl.MAC` (unit tests and benches).

:func:`run_dot_products` streams dot products into a MAC, optionally with random
bubbles (also inside dot products), back to back otherwise (interleaved over the
``acc_stages`` streams of a pipelined accumulate loop), and collects the
results through a latency-aware queue: each ``last`` beat schedules the cycle at
which its result must appear, and a result appearing at any other cycle (or a
missing one) is an error. Results come back in order as Python ints.

:func:`check_against_golden` runs the same stimulus through ``macgen.golden.dot``
and returns the mismatches as readable text.

The testbench itself (inputs packed into one signal, idle cycles, outputs
recorded where ``result_valid``) is :func:`macgen.verify.amaranth_sim.play`,
shared with the array's driver.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from .amaranth_sim import play

__all__ = ["DotProduct", "SimStats", "run_dot_products", "golden_results",
           "check_against_golden"]


@dataclass
class DotProduct:
    """One dot product: operand bits ``a``, ``b`` (equal lengths ≥ 1) and ``init`` (None = +0)."""

    a: list
    b: list
    init: int | None = None


@dataclass
class SimStats:
    cycles: int = 0
    seconds: float = 0.0

    @property
    def cycles_per_second(self):
        return self.cycles / self.seconds if self.seconds else float("inf")


def _lane_beats(dots, bubble_prob, rng):
    """Beats of consecutive dot products (with random bubbles before each): a list of
    (valid, first, last, a, b, init, init_en, dot index or None)."""
    beats = []
    for index, dot in dots:
        n = len(dot.a)
        if n < 1 or len(dot.b) != n:
            raise ValueError(f"Dot product operands must have equal lengths of at least 1, "
                             f"not {len(dot.a)} and {len(dot.b)}")
        for i in range(n):
            while bubble_prob and rng.random() < bubble_prob:
                beats.append(_junk(rng, valid=0))
            init_en = int(i == 0 and dot.init is not None)
            # Where init_en is 0 the init input carries junk: it must be ignored.
            init = dot.init if init_en else int(rng.integers(1 << 16))
            beats.append((1, int(i == 0), int(i == n - 1), int(dot.a[i]), int(dot.b[i]),
                          int(init), init_en, index if i == n - 1 else None))
    return beats


def _junk(rng, *, valid):
    # A bubble carries junk on the data inputs: it must change nothing.
    return (valid, int(rng.integers(2)), int(rng.integers(2)), int(rng.integers(1 << 16)),
            int(rng.integers(1 << 16)), int(rng.integers(1 << 16)), int(rng.integers(2)), None)


def _schedule(dots, bubble_prob, rng, lanes=1):
    """Cycle-by-cycle input list: (valid, first, last, a, b, init, init_en, dot index).

    With ``lanes = K > 1`` (a K-stage accumulate loop) the dot products are dealt
    round-robin to K interleaved streams: cycle ``c`` carries a beat of stream
    ``c mod K``; streams that run out early are padded with bubbles.
    """
    streams = [_lane_beats([(i, d) for i, d in enumerate(dots) if i % lanes == lane], bubble_prob, rng)
               for lane in range(lanes)]
    depth = max(len(s) for s in streams)
    cycles = []
    for t in range(depth):
        for stream in streams:
            cycles.append(stream[t] if t < len(stream) else _junk(rng, valid=0))
    return cycles


def run_dot_products(mac, dots, *, bubble_prob=0.0, seed=0, stats=None, lanes=None):
    """Simulate ``mac`` on ``dots`` and return the results (ints, in order).

    Parameters
    ----------
    mac : macgen.rtl.MAC
    dots : list of DotProduct
    bubble_prob : float
        Probability of a bubble before each beat (repeated: geometric runs).
    seed : int
        Seed of the bubble generator.
    stats : SimStats, optional
        Filled with the simulated cycle count and wall time.
    lanes : int, optional
        Interleaved streams to deal the dot products to; defaults to the MAC's
        ``acc_stages`` (anything else breaks the MAC's protocol: for tests).

    Raises
    ------
    AssertionError
        If a result appears in a cycle other than its ``last`` beat's + ``latency``
        or ``result_valid`` misbehaves.
    """
    rng = np.random.default_rng(seed)
    cycles = _schedule(dots, bubble_prob, rng, lanes=mac.config.acc_stages if lanes is None else lanes)
    latency = mac.latency
    has_init = mac.config.init
    if not has_init and any(d.init is not None for d in dots):
        raise ValueError(f"{mac.config.slug} has no init input: every dot product starts from +0")
    ports = [mac.valid, mac.first, mac.last, mac.a, mac.b, *((mac.init, mac.init_en) if has_init else ())]
    drain = latency + 1
    seen, seconds = play(mac, ports, [beat[:len(ports)] for beat in cycles], drain=drain,
                         strobe=mac.result_valid, outputs=[mac.result])
    if stats is not None:
        stats.cycles += len(cycles) + drain
        stats.seconds += seconds
    # The latency-aware queue: every last beat makes its result due `latency` cycles later.
    due = deque((c + latency, beat[7]) for c, beat in enumerate(cycles) if beat[0] and beat[2])
    results, errors = {}, []
    for c, (value,) in seen:
        while due and due[0][0] < c:
            errors.append(f"no result_valid at cycle {due.popleft()[0]}")
        if due and due[0][0] == c:
            results[due.popleft()[1]] = value
        else:
            errors.append(f"result_valid at cycle {c}, expected at {[d[0] for d in due][:1]}")
    errors += [f"no result_valid at cycle {d[0]}" for d in due]
    assert not errors, "; ".join(errors[:5])
    return [results[i] for i in sorted(results)]


def golden_results(cfg, dots):
    """``macgen.golden.dot`` of each dot product, grouped by length for speed."""
    from .. import golden
    out = [None] * len(dots)
    by_len = {}
    for i, d in enumerate(dots):
        by_len.setdefault((len(d.a), d.init is not None), []).append(i)
    for (n, has_init), idx in by_len.items():
        a = np.array([dots[i].a for i in idx], dtype=np.uint64).reshape(len(idx), n)
        b = np.array([dots[i].b for i in idx], dtype=np.uint64).reshape(len(idx), n)
        init = np.array([dots[i].init for i in idx], dtype=np.uint64) if has_init else None
        y = golden.dot(cfg, a, b, init)
        for j, i in enumerate(idx):
            out[i] = int(y[j])
    return out


def check_against_golden(mac, dots, *, bubble_prob=0.0, seed=0, stats=None, limit=5, lanes=None):
    """Simulate and compare with the golden model; return (count, list of mismatch texts)."""
    from .. import golden
    cfg = mac.config
    got = run_dot_products(mac, dots, bubble_prob=bubble_prob, seed=seed, stats=stats, lanes=lanes)
    want = golden_results(cfg, dots)
    assert len(got) == len(want), f"{len(got)} results for {len(want)} dot products"
    bad = []
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            d = dots[i]
            bad.append(
                f"dot #{i} (n={len(d.a)}) a={[hex(x) for x in d.a[:8]]} b={[hex(x) for x in d.b[:8]]} "
                f"init={None if d.init is None else hex(d.init)}: "
                f"rtl {golden.describe(cfg.out_fmt, g)} != golden {golden.describe(cfg.out_fmt, w)}")
    return len(got), bad[:limit] + ([f"... {len(bad)} mismatches in all"] if len(bad) > limit else [])
