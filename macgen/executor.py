"""Where independent pieces of work run: a local process pool or a Dask cluster.

Design-space sweeps (and the flow's area runs) are many independent points, each
a Yosys run of seconds to minutes. :func:`make_executor` returns one of two
executors with the same interface:

- :class:`LocalExecutor`: this machine, serially (``jobs=1``) or on a process
  pool of ``jobs`` workers (today's ``--jobs N``);
- :class:`DaskExecutor`: an existing ``dask.distributed`` cluster, given its
  scheduler's address (``tcp://HOST:PORT``, or the ``MACGEN_SCHEDULER``
  environment variable). Every task is submitted as its own Dask task; when a
  worker dies, Dask reschedules its tasks on the others.

:meth:`Executor.run` takes ``(label, function, args)`` tasks and yields one
:class:`Outcome` per task *as it completes*, in completion order; a task that
raises yields an outcome with the error and the other tasks carry on. The
caller owns any bookkeeping (caches, progress): tasks never need a file system
shared with the client, they only return values.

A Dask worker needs the same macgen (and Yosys) as the client: ``make worker``
sets one up; see ``docs/sweeps.md``.
"""

from __future__ import annotations

import os
import re
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass

from .validate import check_int, check_real

__all__ = ["Outcome", "Executor", "LocalExecutor", "DaskExecutor", "SchedulerError", "make_executor",
           "process_pool",
           "parse_scheduler_address", "LoopbackCluster", "SCHEDULER_ENV", "CONNECT_TIMEOUT"]

#: Environment variable naming the Dask scheduler when no address is given.
SCHEDULER_ENV = "MACGEN_SCHEDULER"

#: Seconds to wait for the scheduler to answer and to have at least one worker.
CONNECT_TIMEOUT = 10.0

def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A local process pool whose workers start from a fresh interpreter (``forkserver``), for
    work that runs the golden model's compiled kernel: a child forked from a process whose
    kernel already started GNU OpenMP threads aborts when it starts its own."""
    import multiprocessing
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("forkserver"))


_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")


class SchedulerError(OSError):
    """The Dask scheduler is unreachable, has no workers, or went away."""


@dataclass
class Outcome:
    """One finished task.

    Members
    -------
    label : str
        The task's label, as submitted.
    value : object
        What the function returned (None if it raised).
    error : BaseException or None
        What it raised (None if it returned).
    """

    label: str
    value: object = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor:
    """Runs independent tasks and yields their :class:`Outcome` as they complete.

    Use as a context manager (``with make_executor(...) as ex:``) so that pools
    and cluster connections are closed.
    """

    #: What the progress and error messages call this executor.
    description = "executor"
    #: Tasks run where the client's files are (a task may write into the client's directories).
    local = True

    def run(self, tasks):
        """Run ``tasks`` (an iterable of ``(label, function, args)``); yield an Outcome per task.

        Functions and arguments must be picklable (module-level functions, plain
        data). Exceptions of a task (``Exception``) become its outcome's
        ``error``; ``KeyboardInterrupt`` and the like stop everything.
        """
        raise NotImplementedError

    def run_everywhere(self, function) -> dict:
        """Call ``function()`` once per worker (for checks such as versions); ``{worker: value}``."""
        return {"local": function()}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalExecutor(Executor):
    """This machine: serially for ``jobs=1``, else on a process pool of ``jobs`` workers.

    Raises
    ------
    TypeError, ValueError
        ``jobs`` is not an integer of at least 1.
    """

    def __init__(self, jobs: int = 1):
        self.jobs = jobs = check_int("Job count", jobs, minimum=1)
        self.description = "this machine" + (f" ({jobs} processes)" if jobs > 1 else "")

    def run(self, tasks):
        tasks = list(tasks)
        if self.jobs == 1 or len(tasks) <= 1:
            for label, function, args in tasks:
                try:
                    value = function(*args)
                except Exception as exc:  # one task's failure does not stop the rest
                    yield Outcome(label, error=exc)
                else:
                    yield Outcome(label, value=value)
            return
        # (Fork: the tasks run Yosys and friends, never the golden kernel's OpenMP threads.)
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(tasks))) as pool:
            pending = {pool.submit(function, *args): label for label, function, args in tasks}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        label = pending.pop(fut)
                        exc = fut.exception()
                        yield Outcome(label, error=exc) if exc is not None else Outcome(label, fut.result())
            finally:
                for fut in pending:
                    fut.cancel()


def parse_scheduler_address(text: str) -> str:
    """Check a Dask scheduler address: ``tcp://HOST:PORT`` (or ``tls://``); ``HOST:PORT`` gets ``tcp://``.

    Raises
    ------
    TypeError, ValueError
    """
    if not isinstance(text, str):
        raise TypeError(f"Scheduler address must be a string, not {text!r}")
    addr = text.strip()
    if "://" not in addr:
        addr = "tcp://" + addr
    m = _ADDRESS.match(addr)
    if not m or not 0 < int(m.group(3)) < 65536:
        raise ValueError(f"Scheduler address must look like tcp://HOST:PORT, not {text!r}")
    return addr


class DaskExecutor(Executor):
    """An existing ``dask.distributed`` cluster.

    Connecting waits at most ``timeout`` seconds for the scheduler to answer and
    for at least one worker to be there; otherwise :class:`SchedulerError`. Each
    task is one Dask task (``pure=False``, so nothing is deduplicated across
    sweeps by Dask: the caller's cache decides what is done). If a worker dies
    while running a task, the scheduler gives the task to another worker; a task
    that kills several workers fails with Dask's ``KilledWorker``.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` of the scheduler (``dask scheduler`` prints it).
    timeout : float
        Seconds for connecting and for the first worker (default :data:`CONNECT_TIMEOUT`).

    Raises
    ------
    ValueError
        A malformed address or timeout.
    SchedulerError
        Unreachable scheduler, or no worker within ``timeout``.
    """

    local = False

    def __init__(self, address: str, *, timeout: float = CONNECT_TIMEOUT):
        self.address = parse_scheduler_address(address)
        self.timeout = check_real("Scheduler timeout", timeout, minimum=0.1)
        self.description = f"the Dask cluster at {self.address}"
        from distributed import Client
        try:
            self.client = Client(self.address, timeout=self.timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerError(f"cannot reach the Dask scheduler at {self.address} within "
                                 f"{self.timeout:g} s ({_first_line(exc)})") from None
        try:
            self.client.wait_for_workers(1, timeout=self.timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise SchedulerError(f"the Dask scheduler at {self.address} has no workers after "
                                 f"{self.timeout:g} s ({_first_line(exc)})") from None

    def run(self, tasks):
        from distributed import as_completed
        token = uuid.uuid4().hex[:8]
        futures = {}
        for label, function, args in tasks:
            fut = self.client.submit(function, *args, key=f"macgen-{label}-{token}", pure=False)
            futures[fut] = label
        try:
            pending = as_completed(list(futures), loop=self.client.loop)
            for fut in pending:
                if fut.status == "finished":
                    label = futures.pop(fut)
                    try:
                        yield Outcome(label, value=fut.result())
                    except Exception as exc:  # lost between finishing and fetching its result
                        yield Outcome(label, error=exc)
                elif fut.status == "cancelled":
                    yield Outcome(futures.pop(fut), error=SchedulerError(
                        f"cancelled by {self.description} (did the scheduler stop?)"))
                elif fut.status == "error":
                    yield Outcome(futures.pop(fut), error=fut.exception())
                else:
                    # Finished, then its result died with its worker before this check:
                    # the scheduler computes it again, so wait for it again.
                    pending.add(fut)
        finally:
            if futures:
                self.client.cancel(list(futures))

    def run_everywhere(self, function) -> dict:
        return self.client.run(function)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            self.client = None
            client.close(timeout=self.timeout)


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_executor(jobs: int = 1, scheduler: str | None = None, *,
                  timeout: float = CONNECT_TIMEOUT) -> Executor:
    """The executor for ``--jobs``/``--scheduler``: Dask if a scheduler is named, else a local pool.

    Parameters
    ----------
    jobs : int
        Local processes (ignored on a cluster: its workers decide).
    scheduler : str, optional
        ``tcp://HOST:PORT``; default ``$MACGEN_SCHEDULER`` if set, else local.
    timeout : float
        Seconds to reach the scheduler and find a worker.

    Raises
    ------
    TypeError, ValueError, SchedulerError
    """
    local = LocalExecutor(jobs)
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV) or None
    if scheduler is None:
        return local
    return DaskExecutor(scheduler, timeout=timeout)


class LoopbackCluster:
    """A Dask cluster on this machine, loopback only: ``dask scheduler`` and ``dask worker`` subprocesses.

    For tests, benchmarks and trying ``--scheduler`` out; a real cluster is
    started the same way on its machines (``docs/sweeps.md``). Everything
    listens on 127.0.0.1; each worker is one process with one thread (no nanny,
    so killing one really loses it). Use as a context manager: leaving it stops
    every process it started.

    Parameters
    ----------
    workers : int
        Worker processes.
    directory : path
        Scheduler file, logs and the workers' scratch space.
    timeout : float
        Seconds to wait for the scheduler and the workers to come up.

    Members
    -------
    address : str
        ``tcp://127.0.0.1:PORT`` of the scheduler.
    workers : list of subprocess.Popen
    """

    def __init__(self, workers: int = 2, *, directory, timeout: float = 60.0):
        import json as _json
        import subprocess
        import sys
        import time
        from pathlib import Path
        self.directory = Path(directory).resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout
        self._procs = []
        self.workers = []
        dask = [sys.executable, "-m", "dask"]
        sched_file = self.directory / "scheduler.json"
        sched_file.unlink(missing_ok=True)
        self._logs = []

        def start(args, name):
            log = open(self.directory / f"{name}.log", "wb")
            self._logs.append(log)
            proc = subprocess.Popen(dask + args, stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                                    stdin=subprocess.DEVNULL)
            self._procs.append(proc)
            return proc

        try:
            start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(sched_file)], "scheduler")
            deadline = time.monotonic() + timeout
            while not sched_file.exists():
                if time.monotonic() > deadline or self._procs[0].poll() is not None:
                    raise SchedulerError(f"dask scheduler did not start (see {self.directory / 'scheduler.log'})")
                time.sleep(0.1)
            self.address = _json.loads(sched_file.read_text())["address"]
            for i in range(workers):
                self.workers.append(start(
                    ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--name", f"w{i}", "--death-timeout", str(timeout),
                     "--local-directory", str(self.directory / f"w{i}")], f"worker{i}"))
            if workers:
                from distributed import Client
                with Client(self.address, timeout=timeout, set_as_default=False) as client:
                    client.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.close()
            raise

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL one worker: no goodbye to the scheduler, as when a machine dies."""
        proc = self.workers[index]
        proc.kill()
        proc.wait(timeout=self._timeout)

    def close(self) -> None:
        import subprocess
        for proc in reversed(self._procs):  # workers first, then the scheduler
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()
        self._procs, self._logs = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
