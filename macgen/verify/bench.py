"""One outline for running an emitted design against its golden expectation.

The MAC (:mod:`macgen.verify.mac`) and the array (:mod:`macgen.verify.array`)
are verified the same way; only the pieces of a :class:`Bench` differ:

1. check the simulator and pick the harness
   (:func:`~macgen.verify.cocotb_runner.pick_harness`), then let the bench check
   the design against its stimulus;
2. make the build directory;
3. ``fast``: the bench lays its stimulus and expectation out as a
   :class:`~macgen.verify.stream.Stream`, :func:`~macgen.verify.stream.run_stream`
   compares them in Verilog, and the bench turns the harness's counts and log
   into its results;
   ``cocotb``: the bench saves its stimulus (``stimulus.npz``), its cocotb bench
   module runs under :func:`~macgen.verify.cocotb_runner.run_cocotb` with the
   ``MACGEN_*`` files in its environment, and the bench turns ``results.npz``
   into its results;
4. the summary: the run's own members (:class:`~macgen.verify.cocotb_runner.RunSummary`:
   design, simulator, harness, build directory, times) filled in here, the
   results by the bench.

:func:`emit_and_run` is the ``macgen verify`` flow around it: emit, run, time the whole.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .cocotb_runner import ProgressPoller, RunSummary, check_simulator, pick_harness, run_cocotb

__all__ = ["Bench", "run_design", "emit_and_run"]


class Bench:
    """What differs between the designs a run checks: a stimulus and its expectation,
    laid out for either harness, and a summary of the outcome.

    Subclasses set the class members and implement the methods; :func:`run_design`
    calls them in this order: :meth:`check`, then :meth:`stream` and
    :meth:`fast_results` (fast harness) or :meth:`save` and :meth:`cocotb_results`
    (cocotb harness).

    Members
    -------
    summary : type
        The :class:`~macgen.verify.cocotb_runner.RunSummary` subclass returned.
    test_module : str
        The cocotb bench in :data:`~macgen.verify.cocotb_runner.BENCH_PACKAGE`.
    fast_build : bool
        Build the cocotb harness's model with unoptimised C++ (Verilator; large designs).
    macs : int
        Multiply-accumulates the stimulus drives (what ``harness='auto'`` goes by).
    cocotb_only : bool
        Only the cocotb bench can check this stimulus (``auto`` then picks it).
    """

    summary: type = RunSummary
    test_module: str = ""
    fast_build: bool = False
    macs: int = 0
    cocotb_only: bool = False

    def check(self, design, harness: str) -> None:
        """Raise :class:`ValueError` if ``design`` cannot be run on ``harness`` with this stimulus."""

    def stream(self, latency: int):
        """``(stream, due)``: the :class:`~macgen.verify.stream.Stream` of the stimulus and
        the cycle every expected result is due in."""
        raise NotImplementedError

    def fast_results(self, design, stream, due, res) -> dict:
        """The summary's members besides :class:`RunSummary`'s, from the fast harness's
        :class:`~macgen.verify.stream.StreamResult` ``res``; may override ``cycles``."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        """Write the stimulus and expectation as the cocotb bench reads them."""
        raise NotImplementedError

    def cocotb_results(self, design, res) -> dict:
        """The summary's members besides :class:`RunSummary`'s, from the cocotb bench's
        ``results.npz`` (``res``, open); may override ``cycles`` and ``sim_seconds``."""
        raise NotImplementedError


def run_design(bench: Bench, design, *, simulator: str, build_dir, harness: str, progress=None) -> RunSummary:
    """Run ``design`` on ``bench``'s stimulus and compare with its expectation (the module docstring's outline).

    Parameters
    ----------
    bench : Bench
    design : macgen.emit.EmitResult
    simulator : {'icarus', 'verilator'}
    build_dir : path
        Created if missing; holds the build, the stimulus and the results.
    harness : {'cocotb', 'fast', 'auto'}
    progress : callable(done, total, mismatches), optional
        Called about once a second by the cocotb harness, if its bench writes progress notes.

    Returns
    -------
    bench.summary
        ``cycles`` defaults to the stream's on the fast harness; ``seconds`` is the
        whole run, stimulus layout and comparison included.

    Raises
    ------
    ValueError
        Unknown simulator or harness, or what :meth:`Bench.check` rejects.
    SimulationError
        The design did not build or the bench crashed (log files are named).
    """
    check_simulator(simulator)
    harness = pick_harness(harness, simulator, bench.macs, vectors=bench.cocotb_only)
    bench.check(design, harness)
    t0 = time.monotonic()
    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    latency = int(design.latency)
    run = {"top": design.top, "simulator": simulator, "latency": latency, "build_dir": str(build),
           "harness": harness}
    if harness == "fast":
        from .stream import run_stream

        stream, due = bench.stream(latency)
        res = run_stream(design, stream, simulator=simulator, build_dir=build)
        fields = {"cycles": stream.cycles, "build_seconds": res.build_seconds, "sim_seconds": res.sim_seconds,
                  "build_cached": res.cached, **bench.fast_results(design, stream, due, res)}
    else:
        stim_path, results_path, progress_path = build / "stimulus.npz", build / "results.npz", build / "progress.json"
        bench.save(stim_path)
        for stale in (results_path, progress_path):
            stale.unlink(missing_ok=True)
        env = {"MACGEN_SIDECAR": str(Path(design.sidecar).resolve()), "MACGEN_STIMULUS": str(stim_path),
               "MACGEN_RESULTS": str(results_path), "MACGEN_PROGRESS": str(progress_path)}
        poller = ProgressPoller(progress_path, progress) if progress else None
        build_seconds, sim_seconds = run_cocotb(design, test_module=bench.test_module, simulator=simulator,
                                                build=build, env=env, results_path=results_path,
                                                fast_build=bench.fast_build, poller=poller)
        with np.load(results_path) as res:
            fields = {"build_seconds": build_seconds, "sim_seconds": sim_seconds,
                      **bench.cocotb_results(design, res)}
    return bench.summary(**run, **fields, seconds=time.monotonic() - t0)


def emit_and_run(cfg, build_dir, run, *, decision=None) -> RunSummary:
    """Emit ``cfg`` into ``build_dir/rtl``, then ``run(design)``; the summary's
    ``seconds`` then covers the emission too (the whole of ``macgen verify``)."""
    from ..emit import emit

    t0 = time.monotonic()
    design = emit(cfg, Path(build_dir) / "rtl", decision=decision)
    summary = run(design)
    summary.seconds = time.monotonic() - t0
    return summary
