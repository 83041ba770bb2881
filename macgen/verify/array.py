"""Simulation of the systolic array: stimulus, scoreboard, cocotb runs.

The Amaranth unit tests (:func:`simulate_amaranth`), the cocotb bench on the
emitted Verilog (``macgen.verify.benches.array_tb``, :func:`run_array_bench`) and ``macgen
verify array`` all play the same cycle-by-cycle stimulus and check the observed
result rows the same way (:func:`check_rows`). Amaranth is imported only by
:func:`simulate_amaranth`. The runs on emitted Verilog follow :mod:`macgen.verify.bench`'s
outline; :class:`ArrayBench` gives what is the array's own.

A stimulus is a sequence of random tiles ``(A, B, C0)`` laid out on a clock:
one row of per-cycle input values (``valid``, ``first``, ``last``, ``a``,
``b``, ``init_en``, ``init``) per cycle, with random bubbles inside and
between tiles and just enough bubbles to respect the array's drain rule (the
last beats of consecutive tiles at least ``rows`` cycles apart). Every input
that the array must ignore in a cycle (everything during a bubble, ``init``
and ``init_en`` off the first beat) carries random garbage. The expected
result of a tile is :func:`macgen.golden.matmul`; the expected cycle of its
row ``i`` is its last beat's cycle + the array's latency + ``i``
(:class:`macgen.rtl.array.SystolicArray` documents the schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import golden
from ..config import ArrayConfig
from ..validate import check_int, check_real
from .bench import Bench, emit_and_run, run_design
from .cocotb_runner import RunSummary
from .stimulus import biased_operands

__all__ = ["ArrayStimulus", "make_stimulus", "check_rows", "ArrayCheck",
           "ArraySimSummary", "run_array_bench", "ArrayBench", "verify_array", "simulate_amaranth", "pack", "array_stream"]

_U64 = np.uint64


@dataclass
class ArrayStimulus:
    """Tiles, their cycle-by-cycle input stream and the expected output rows.

    Members
    -------
    config : ArrayConfig
    tiles : list of (A, B, C0)
        ``A`` (rows, K), ``B`` (K, cols) bit patterns; ``C0`` (rows, cols) in
        ``outer_fmt`` or ``None`` (start from +0).
    valid, first, last, init_en : ndarray of uint8, shape (cycles,)
    a : ndarray of uint64, shape (cycles, rows)
    b : ndarray of uint64, shape (cycles, cols)
    init : ndarray of uint64, shape (cycles, rows, cols), or None without preload
    expected : ndarray of uint64, shape (tiles * rows, cols)
        The rows to be drained, in order (golden model).
    expected_cycle : ndarray of int64, shape (tiles * rows,)
        The cycle of each row relative to the stream's cycle 0, without the
        array's latency (add it).
    """

    config: ArrayConfig
    tiles: list
    valid: np.ndarray
    first: np.ndarray
    last: np.ndarray
    init_en: np.ndarray
    a: np.ndarray
    b: np.ndarray
    init: np.ndarray | None
    expected: np.ndarray
    expected_cycle: np.ndarray

    @property
    def cycles(self) -> int:
        return len(self.valid)

    @property
    def macs(self) -> int:
        """Multiply-accumulates the stream asks for (rows * cols * sum K)."""
        return sum(A.shape[0] * A.shape[1] * B.shape[1] for A, B, _ in self.tiles)

    def save(self, path) -> None:
        """Write the per-cycle stream and the expectation as ``.npz`` (for cocotb)."""
        extra = {} if self.init is None else {"init": self.init}
        np.savez(path, valid=self.valid, first=self.first, last=self.last, init_en=self.init_en,
                 a=self.a, b=self.b, expected=self.expected, expected_cycle=self.expected_cycle,
                 rows=np.int64(self.config.rows), cols=np.int64(self.config.cols), **extra)


def make_stimulus(cfg: ArrayConfig, n_tiles: int, depths, seed: int, *,
                  bubble_rate: float = 0.1, preload_rate: float = 0.5) -> ArrayStimulus:
    """Random tiles on a clock (see the module docstring).

    Parameters
    ----------
    cfg : ArrayConfig
    n_tiles : int
    depths : sequence of int
        Tile depths ``K`` to draw from (uniformly).
    seed : int
        Seed of the one random generator used.
    bubble_rate : float
        Probability of a bubble before each beat (repeated: geometric runs).
        0 gives tiles back to back wherever the drain rule allows.
    preload_rate : float
        With ``cfg.preload``, the share of tiles that start from a random ``C0``.
    """
    if not isinstance(cfg, ArrayConfig):
        raise TypeError(f"Array configuration must be an ArrayConfig, not {cfg!r}")
    n_tiles = check_int("Tile count", n_tiles, minimum=1)
    bubble_rate = check_real("Bubble rate", bubble_rate, minimum=0, maximum=1)
    preload_rate = check_real("Preload rate", preload_rate, minimum=0, maximum=1)
    rng = np.random.default_rng(check_int("Seed", seed))
    mac = cfg.mac
    R, C = cfg.rows, cfg.cols
    W = mac.acc_stages          # cycles per window: rows of A (and C) per array row
    tiles = []
    for _ in range(n_tiles):
        K = int(rng.choice(list(depths)))
        A = biased_operands(mac.a_fmt, (R * W, K), rng)
        B = biased_operands(mac.b_fmt, (K, C), rng)
        C0 = None
        if cfg.preload and rng.random() < preload_rate:
            C0 = biased_operands(mac.outer_fmt, (R * W, C), rng)
        tiles.append((A, B, C0))

    # The clock, in windows of W cycles: None for a bubble, else (tile, k).
    slots = []
    last_beat = None
    for n, (A, _, _) in enumerate(tiles):
        K = A.shape[1]
        for k in range(K):
            while rng.random() < bubble_rate:
                slots.append(None)
            if k == K - 1 and last_beat is not None:
                while len(slots) - last_beat < R:
                    slots.append(None)
            slots.append((n, k))
        last_beat = len(slots) - 1
    # Cycle t of a window carries A rows t, W + t, 2W + t, ... (PE row i keeps C row i*W + t).
    slots = [None if slot is None else slot + (t,) for slot in slots for t in range(W)]

    T = len(slots)
    garbage = lambda fmt, shape: rng.integers(0, 1 << fmt.width, size=shape, dtype=_U64)
    valid = np.zeros(T, np.uint8)
    first = rng.integers(0, 2, T, dtype=np.uint8)
    last = rng.integers(0, 2, T, dtype=np.uint8)
    init_en = rng.integers(0, 2, T, dtype=np.uint8) if cfg.preload else np.zeros(T, np.uint8)
    a = garbage(mac.a_fmt, (T, R))
    b = garbage(mac.b_fmt, (T, C))
    init = garbage(mac.outer_fmt, (T, R, C)) if cfg.preload else None
    last_cycles = []
    for t, slot in enumerate(slots):
        if slot is None:
            continue
        n, k, phase = slot
        A, B, C0 = tiles[n]
        K = A.shape[1]
        valid[t] = 1
        first[t] = k == 0
        last[t] = k == K - 1
        a[t] = A[phase::W, k]
        b[t] = B[k, :]
        if cfg.preload and k == 0:
            init_en[t] = C0 is not None
            if C0 is not None:
                init[t] = C0[phase::W]
        if k == K - 1 and phase == 0:
            last_cycles.append(t)

    rows_per_tile = R * W
    expected = np.zeros((n_tiles * rows_per_tile, C), _U64)
    expected_cycle = np.zeros(n_tiles * rows_per_tile, np.int64)
    for n, (A, B, C0) in enumerate(tiles):
        part = slice(n * rows_per_tile, (n + 1) * rows_per_tile)
        expected[part] = golden.matmul(mac, A, B, C0)
        expected_cycle[part] = last_cycles[n] + np.arange(rows_per_tile)
    return ArrayStimulus(cfg, tiles, valid, first, last, init_en, a, b, init, expected, expected_cycle)


@dataclass
class ArrayCheck:
    """Outcome of :func:`check_rows`.

    Members
    -------
    tiles, elements : int
        Tiles and result elements compared.
    mismatches : int
        Elements that differ from the golden model.
    protocol : list of str
        Schedule violations (missing, extra or mistimed rows, wrong first/last flags).
    reports : list of str
        One decoded report per mismatching element (inputs and both outputs).
    """

    tiles: int
    elements: int
    mismatches: int
    protocol: list
    reports: list

    @property
    def ok(self) -> bool:
        return self.mismatches == 0 and not self.protocol


def check_rows(stim: ArrayStimulus, latency: int, cycles, first, last, rows, *, max_reports=20) -> ArrayCheck:
    """Compare observed result rows with the stimulus' expectation.

    Parameters
    ----------
    stim : ArrayStimulus
    latency : int
        The array's latency.
    cycles, first, last : sequences of int
        For each observed row (``result_valid = 1``): its cycle (same origin as
        the stimulus), ``result_first`` and ``result_last``.
    rows : array-like, shape (observed, cols)
        The observed ``result`` values.
    """
    cfg = stim.config
    mac = cfg.mac
    R = cfg.rows * mac.acc_stages         # result rows per tile
    rows = np.asarray(rows, dtype=_U64).reshape(-1, cfg.cols)
    n_exp, n_got = len(stim.expected), len(rows)
    protocol = []
    if n_got != n_exp:
        protocol.append(f"{n_got} result rows observed, {n_exp} expected ({len(stim.tiles)} tiles of {R} rows)")
    mismatches = 0
    reports = []
    for r in range(min(n_got, n_exp)):
        n, i = divmod(r, R)
        want_cycle = int(stim.expected_cycle[r]) + latency
        if (int(cycles[r]), int(first[r]), int(last[r])) != (want_cycle, int(i == 0), int(i == R - 1)):
            if len(protocol) < max_reports:
                protocol.append(f"tile {n} row {i}: in cycle {int(cycles[r])} with first={int(first[r])} "
                                f"last={int(last[r])}, expected cycle {want_cycle} with first={int(i == 0)} "
                                f"last={int(i == R - 1)}")
        bad = np.flatnonzero(rows[r] != stim.expected[r])
        mismatches += len(bad)
        for j in bad:
            if len(reports) >= max_reports:
                break
            reports.append(_element_report(stim, r, int(j), rows[r, j]))
    return ArrayCheck(len(stim.tiles), min(n_got, n_exp) * cfg.cols, mismatches, protocol, reports)


def _element_report(stim: ArrayStimulus, r: int, j: int, got) -> str:
    """One mismatching element ``j`` of expected result row ``r``: inputs and both outputs."""
    mac = stim.config.mac
    n, i = divmod(r, stim.config.rows * mac.acc_stages)
    A, B, C0 = stim.tiles[n]
    lines = [f"tile {n} (K={A.shape[1]}) C[{i},{j}]: got {golden.describe(mac.out_fmt, got)}, "
             f"expected {golden.describe(mac.out_fmt, stim.expected[r, j])}",
             "  A[i,:] = " + ", ".join(golden.describe(mac.a_fmt, x) for x in A[i]),
             "  B[:,j] = " + ", ".join(golden.describe(mac.b_fmt, x) for x in B[:, j])]
    if C0 is not None:
        lines.append(f"  C0[i,j] = {golden.describe(mac.outer_fmt, C0[i, j])}")
    return "\n".join(lines)


def array_stream(stim: ArrayStimulus, latency: int, seed: int = 0):
    """The stream of ``stim`` for the fast harness (:mod:`macgen.verify.stream`).

    The inputs are ``stim``'s cycles, then enough idle cycles (random operands,
    ``valid = 0``) to drain the last tile and catch extra rows; row ``r`` of
    ``stim.expected`` is due in cycle ``stim.expected_cycle[r] + latency`` with
    ``result_first``/``result_last`` on a tile's first/last row, as :func:`check_rows` checks.
    """
    from .stream import Field, Stream

    cfg = stim.config
    mac = cfg.mac
    R, C, W = cfg.rows, cfg.cols, mac.acc_stages
    drain = latency + R * W + 2
    T = stim.cycles + drain
    rng = np.random.default_rng([seed, 0xA77A])
    pad = lambda x, shape, width: np.concatenate(
        [np.asarray(x, dtype=_U64).reshape(len(x), *shape),
         rng.integers(0, 1 << width, size=(drain, *shape), dtype=_U64)])
    idle = np.zeros(drain, _U64)
    inputs = [(Field("valid", 1), np.concatenate([stim.valid.astype(_U64), idle])),
              (Field("first", 1), pad(stim.first, (), 1)), (Field("last", 1), pad(stim.last, (), 1)),
              (Field("a", mac.a_fmt.width, R), pad(stim.a, (R,), mac.a_fmt.width)),
              (Field("b", mac.b_fmt.width, C), pad(stim.b, (C,), mac.b_fmt.width))]
    if cfg.preload:
        inputs += [(Field("init_en", 1), pad(stim.init_en, (), 1)),
                   (Field("init", mac.outer_fmt.width, R * C),
                    pad(stim.init.reshape(stim.cycles, R * C), (R * C,), mac.outer_fmt.width))]
    due = stim.expected_cycle + latency
    rows_per_tile = R * W
    i = np.arange(len(due)) % rows_per_tile
    valid = np.zeros(T, bool)
    valid[due] = True
    first, last = np.zeros(T, _U64), np.zeros(T, _U64)
    first[due], last[due] = i == 0, i == rows_per_tile - 1
    result = np.zeros((T, C), _U64)
    result[due] = stim.expected
    stream = Stream(inputs, (Field("result_valid", 1), valid), (Field("result", mac.out_fmt.width, C), result),
                    [(Field("result_first", 1), first), (Field("result_last", 1), last)])
    return stream, due


def _check_fast(stim: ArrayStimulus, res, due, max_reports: int) -> ArrayCheck:
    """An :class:`ArrayCheck` from the fast harness's counts and its log of mismatching cycles."""
    by_cycle = {int(c): r for r, c in enumerate(due)}
    R = stim.config.rows * stim.config.mac.acc_stages
    protocol, reports = [], []
    if res.missing:
        protocol.append(f"{res.missing} result rows missing")
    if res.extra:
        protocol.append(f"{res.extra} result rows where none was due")
    if res.flag_errors:
        protocol.append(f"{res.flag_errors} result rows with wrong result_first/result_last")
    for cycle, got, want in res.log:
        r = by_cycle.get(cycle)
        if r is None:
            if len(protocol) < max_reports:
                protocol.append(f"a result row in cycle {cycle}, where none was due")
            continue
        n, i = divmod(r, R)
        if not got["result_valid"][0]:
            if len(protocol) < max_reports:
                protocol.append(f"tile {n} row {i}: no result row in cycle {cycle}")
            continue
        if (got["result_first"][0], got["result_last"][0]) != (want["result_first"][0], want["result_last"][0]):
            if len(protocol) < max_reports:
                protocol.append(f"tile {n} row {i}: in cycle {cycle} with first={got['result_first'][0]} "
                                f"last={got['result_last'][0]}, expected first={want['result_first'][0]} "
                                f"last={want['result_last'][0]}")
        for j in np.flatnonzero(got["result"] != want["result"]):
            if len(reports) < max_reports:
                reports.append(_element_report(stim, r, int(j), got["result"][j]))
    elements = (len(stim.expected) - res.missing) * stim.config.cols
    return ArrayCheck(len(stim.tiles), elements, res.mismatches, protocol, reports)


# -- Amaranth's simulator -------------------------------------------------------

def pack(values, width) -> int:
    """The value of a packed-array port: element 0 in the least significant bits."""
    word = 0
    for n, v in enumerate(values):
        word |= int(v) << (n * width)
    return word


def simulate_amaranth(dut, stim: ArrayStimulus):
    """Play ``stim`` through ``dut`` (a :class:`~macgen.rtl.array.SystolicArray`) in
    Amaranth's simulator (:func:`macgen.verify.amaranth_sim.play`).

    Returns
    -------
    (cycles, first, last, rows, seconds)
        The observed result rows, as :func:`check_rows` takes them, and the
        wall-clock time of the simulation.
    """
    from .amaranth_sim import play

    cfg = dut.config
    mac = cfg.mac
    inputs = [dut.valid, dut.first, dut.last, dut.a.as_value(), dut.b.as_value()]
    columns = [stim.valid.tolist(), stim.first.tolist(), stim.last.tolist(),
               [pack(row, mac.a_fmt.width) for row in stim.a.tolist()],
               [pack(row, mac.b_fmt.width) for row in stim.b.tolist()]]
    if cfg.preload:
        inputs += [dut.init_en, dut.init.as_value()]
        columns += [stim.init_en.tolist(), [pack(x.reshape(-1).tolist(), mac.outer_fmt.width) for x in stim.init]]
    seen, seconds = play(dut, inputs, list(zip(*columns)), drain=dut.latency + cfg.rows * mac.acc_stages + 2,
                         strobe=dut.result_valid,
                         outputs=[dut.result_first, dut.result_last, dut.result.as_value()])
    w_r = mac.out_fmt.width
    mask = (1 << w_r) - 1
    rows = [[(word >> (j * w_r)) & mask for j in range(cfg.cols)] for _, (_, _, word) in seen]
    return [t for t, _ in seen], [o[0] for _, o in seen], [o[1] for _, o in seen], rows, seconds


# -- cocotb on the emitted Verilog --------------------------------------------

@dataclass(kw_only=True)
class ArraySimSummary(RunSummary):
    """Outcome of :func:`run_array_bench`; the run's own members are
    :class:`~macgen.verify.cocotb_runner.RunSummary`'s (``sim_seconds`` is the
    bench's own stream, without the simulator's start-up, on the cocotb harness).

    Members
    -------
    check : ArrayCheck
    macs : int
        Multiply-accumulates of the stream.
    """

    check: ArrayCheck
    macs: int

    @property
    def passed(self) -> bool:
        return self.check.ok

    def to_dict(self) -> dict:
        c = self.check
        return {**self.run_dict(), "tiles": c.tiles, "elements": c.elements, "mismatches": c.mismatches,
                "protocol_errors": c.protocol, "reports": c.reports, "passed": self.passed, "macs": self.macs}


def run_array_bench(design, stim: ArrayStimulus, *, simulator: str = "icarus", build_dir,
                    max_reports: int = 10, harness: str = "cocotb") -> ArraySimSummary:
    """Build the emitted array with cocotb's runner, play ``stim`` (``macgen.verify.benches.array_tb``), check.

    :func:`macgen.verify.bench.run_design` on an :class:`ArrayBench`.

    Parameters
    ----------
    design : macgen.emit.EmitResult
        Emitted Verilog and sidecar of a :class:`~macgen.rtl.array.SystolicArray`
        with ``stim.config``.
    stim : ArrayStimulus
    simulator : {'icarus', 'verilator'}
    build_dir : path
        Simulator build, stimulus and results go here (created if missing).
    harness : {'cocotb', 'fast', 'auto'}
        ``cocotb``: the bench ``array_tb`` plays every cycle from Python and
        :func:`check_rows` compares afterwards. ``fast``: :func:`array_stream`
        through :func:`macgen.verify.stream.run_stream` (the same checks, in
        Verilog; ``sim_seconds`` then includes the simulator's start-up).
        ``auto``: :func:`~macgen.verify.cocotb_runner.pick_harness` decides.

    Raises
    ------
    ValueError
        Unknown simulator or harness, or a design of another configuration.
    macgen.verify.SimulationError
        The design did not build or the bench crashed (log files are named).
    """
    return run_design(ArrayBench(stim, max_reports=max_reports), design, simulator=simulator,
                      build_dir=build_dir, harness=harness)


class ArrayBench(Bench):
    """The tile stream ``stim`` (an :class:`ArrayStimulus`, golden rows included) for
    :func:`macgen.verify.bench.run_design`, as :func:`run_array_bench` runs it; the
    summary describes up to ``max_reports`` mismatching elements and schedule violations."""

    summary = ArraySimSummary
    test_module = "array_tb"
    # An 8x8 array is ~3 MB of Verilog and ~50 C++ files: -O0 (measured: -Os did not finish
    # in 13 min on a loaded 2-core machine, -O0 did).
    fast_build = True

    def __init__(self, stim: ArrayStimulus, *, max_reports: int = 10):
        self.stim, self.max_reports, self.macs = stim, max_reports, stim.macs

    def check(self, design, harness):
        if design.metadata.get("config") != self.stim.config.to_dict():
            raise ValueError(f"Design {design.top} is not of the stimulus' configuration {self.stim.config.slug}")

    def stream(self, latency):
        return array_stream(self.stim, latency)

    def fast_results(self, design, stream, due, res):
        # cycles: the stimulus' own, without the stream's drain (as on the cocotb harness).
        return {"check": _check_fast(self.stim, res, due, self.max_reports), "cycles": self.stim.cycles,
                "macs": self.stim.macs}

    def save(self, path):
        self.stim.save(path)

    def cocotb_results(self, design, res):
        check = check_rows(self.stim, int(design.latency), res["cycle"], res["first"], res["last"],
                           res["rows"], max_reports=self.max_reports)
        return {"check": check, "cycles": self.stim.cycles, "macs": self.stim.macs, "sim_seconds": float(res["wall"])}


def verify_array(cfg: ArrayConfig, stim: ArrayStimulus, *, simulator: str = "icarus", build_dir,
                 max_reports: int = 10, harness: str = "cocotb") -> ArraySimSummary:
    """Emit ``cfg`` into ``build_dir/rtl``, then :func:`run_array_bench` there
    (the whole flow of ``macgen verify array``)."""
    return emit_and_run(cfg, build_dir, lambda design: run_array_bench(
        design, stim, simulator=simulator, build_dir=build_dir, max_reports=max_reports, harness=harness))
