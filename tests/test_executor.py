"""Executors (macgen.executor) and sweeps on a real Dask cluster, loopback only.

The cluster tests start ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 (:class:`macgen.executor.LoopbackCluster`), sweep tiny real MACs
(e2m1 x e2m1 into 2-3 bit accumulators, generic flow only) through
``--scheduler``, and compare with the same sweep on this machine. Every wait is
bounded; the clusters are shut down when the tests end.
"""

import csv
import operator
import socket
import time

import pytest

from macgen import area
from macgen.cli import main
from macgen.executor import (SCHEDULER_ENV, DaskExecutor, LocalExecutor, LoopbackCluster, SchedulerError,
                             make_executor, parse_scheduler_address)
from macgen.sweep import SweepSpec, run_spec

# Four tiny MACs: the cheapest real points (2-5 s of Yosys each).
TINY = ["--inputs", "e2m1", "--acc-man-bits", "2:3", "--acc-exp-bits", "4", "--chunk-size", "0,4", "--no-reference",
        "--length", "64", "--no-plot", "--no-asic"]  # area only: run_spec's default, and the Yosys counts below
TINY_SPEC = dict(inputs=["e2m1"], man_bits=[2, 3], exp_bits=[4], chunks=[0, 4], reference=False, length=64)


def _rows(path):
    """The CSV's rows without the measured Yosys wall time (the only column that differs run to run)."""
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k != "yosys_seconds"} for r in csv.DictReader(f)]


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once the socket closes: nothing listens there


@pytest.fixture(autouse=True)
def no_scheduler_from_env(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)


def test_local_executor_reports_failure_and_runs_the_rest():
    tasks = [("one", operator.truediv, (1, 2)), ("zero", operator.truediv, (1, 0)), ("two", operator.add, (2, 3))]
    for jobs in (1, 2):
        with LocalExecutor(jobs) as ex:
            outcomes = {o.label: o for o in ex.run(tasks)}
        assert set(outcomes) == {"one", "zero", "two"}
        assert outcomes["one"].value == 0.5 and outcomes["two"].value == 5
        assert isinstance(outcomes["zero"].error, ZeroDivisionError) and not outcomes["zero"].ok


def test_make_executor_local_by_default_and_from_env(monkeypatch):
    assert isinstance(make_executor(2), LocalExecutor)
    monkeypatch.setenv(SCHEDULER_ENV, "not an address")
    with pytest.raises(ValueError, match="Scheduler address must look like tcp://HOST:PORT, not 'not an address'"):
        make_executor(1)
    with pytest.raises(ValueError, match="Job count must be at least 1, not 0"):
        make_executor(0)


@pytest.mark.parametrize("text, expected", [("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
                                            ("head-node:8786", "tcp://head-node:8786"),
                                            ("tls://[::1]:9000", "tls://[::1]:9000")])
def test_parse_scheduler_address_forms(text, expected):
    assert parse_scheduler_address(text) == expected


@pytest.mark.parametrize("text", ["tcp://host", "http://host:8786", "tcp://host:0", "tcp://host:70000", ""])
def test_parse_scheduler_address_rejects(text):
    with pytest.raises(ValueError, match="Scheduler address must look like tcp://HOST:PORT"):
        parse_scheduler_address(text)


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_sweep_unreachable_scheduler_one_line_nothing_written(how, tmp_path, capsys, monkeypatch):
    address = f"tcp://127.0.0.1:{_closed_port()}"
    argv = ["sweep", *TINY, "--scheduler-timeout", "1", "-o", str(tmp_path / "out")]
    if how == "option":
        argv += ["--scheduler", address]
    else:
        monkeypatch.setenv(SCHEDULER_ENV, address)
    start = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach the Dask scheduler at {address} within 1 s" in err
    assert not (tmp_path / "out").exists()


def test_cli_sweep_bad_scheduler_address(tmp_path, capsys):
    assert main(["sweep", *TINY, "--scheduler", "localhost", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Scheduler address must look like tcp://HOST:PORT, not 'localhost'" in err
    assert not (tmp_path / "out").exists()


def test_cli_sweep_failed_point_reported_with_config_others_done(tmp_path, capsys, monkeypatch):
    from test_area import RegisteredAdder
    real_area_of = area.area_of

    def adder(design, work_dir, **kw):  # a cheap stand-in for the MAC, as wide as its accumulator
        acc = design.acc_fmt
        return real_area_of(RegisteredAdder(1 + acc.exp_bits + acc.man_bits), work_dir, name=design.slug, **kw)

    def fails_on_chunked(design, work_dir, **kw):
        if design.chunk_size:
            raise area.YosysError(f"Yosys failed on {design.slug}.v: simulated")
        return adder(design, work_dir, **kw)

    monkeypatch.setattr(area, "area_of", fails_on_chunked)
    out = tmp_path / "out"
    argv = ["sweep", *TINY, "-o", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    failed = [ln for ln in err.splitlines() if "failed: YosysError" in ln]
    assert len(failed) == 2
    assert all("e2m1 x e2m1 -> e4m" in ln and "chunk 4" in ln for ln in failed)
    assert not (out / "sweep.csv").exists()
    assert len(list((out / "cache").glob("*.json"))) == 2  # the unchunked points are done and cached

    monkeypatch.setattr(area, "area_of", adder)
    start = area.yosys_invocations()
    assert main(argv) == 0
    assert area.yosys_invocations() == start + 2  # only the failed points
    assert {r["chunk_size"] for r in _rows(out / "sweep.csv")} == {"0", "4"}


@pytest.fixture(scope="module")
def local_tiny(tmp_path_factory):
    """The tiny sweep on this machine (serial): the reference for the cluster runs."""
    out = tmp_path_factory.mktemp("local")
    assert main(["sweep", *TINY, "--jobs", "2", "-o", str(out)]) == 0
    return _rows(out / "sweep.csv")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Scheduler and two workers on loopback, shared by the tests of this module (one of them kills a worker)."""
    with LoopbackCluster(2, directory=tmp_path_factory.mktemp("cluster")) as c:
        yield c


def test_cli_sweep_on_loopback_cluster_equals_local(local_tiny, cluster, tmp_path, capsys, terminal_stderr):
    assert cluster.address.startswith("tcp://127.0.0.1:")
    out = tmp_path / "remote"
    start = area.yosys_invocations()
    assert main(["sweep", *TINY, "--scheduler", cluster.address, "-o", str(out)]) == 0
    assert area.yosys_invocations() == start  # every Yosys run happened on the workers
    err = capsys.readouterr().err
    assert f"4 points on the Dask cluster at {cluster.address}" in err and "sweep [4/4]" in err
    assert _rows(out / "sweep.csv") == local_tiny
    # Nothing of the points' work lands in the client's output directory: workers use their own.
    assert not (out / "work").exists()
    assert main(["sweep", *TINY, "--scheduler", cluster.address, "--json", "-o", str(out)]) == 0
    assert '"computed": 0' in capsys.readouterr().out


def test_sweep_survives_killed_worker_and_rerun_recomputes_nothing(local_tiny, cluster, tmp_path):
    from distributed import Client
    with Client(cluster.address, timeout=30, set_as_default=False) as watcher:
        assert len(watcher.scheduler_info()["workers"]) == 2
        names = {addr: info["name"] for addr, info in watcher.scheduler_info()["workers"].items()}
        killed = []

        class KillOnFirstResult:
            """Progress stream: at the first finished point, kill a worker that is running a point."""

            def write(self, text):
                if "sweep [" in text and not killed:
                    deadline = time.monotonic() + 30
                    while not killed and time.monotonic() < deadline:
                        busy = [a for a, keys in watcher.processing().items() if keys]
                        if busy:
                            killed.append((names[busy[0]], watcher.processing()[busy[0]]))
                            cluster.kill_worker(int(names[busy[0]][1:]))
                        else:
                            time.sleep(0.05)

            def flush(self):
                pass

        spec = SweepSpec(**TINY_SPEC)
        res = run_spec(spec, tmp_path / "out", scheduler=cluster.address, plot=False, progress=KillOnFirstResult())
        assert killed and killed[0][1], "no worker was busy when the first point finished"
        assert res.complete and not res.failures and res.computed == 4
        assert _rows(res.csv_path) == local_tiny
        # One worker is left; the rerun finds every point in the cache and submits nothing.
        again = run_spec(spec, tmp_path / "out", scheduler=cluster.address, plot=False, progress=None)
        assert again.complete and again.computed == 0 and again.cached == 4
        assert _rows(again.csv_path) == local_tiny


SLOW_SUM = 50_000_000


def test_dask_executor_recomputes_a_result_lost_with_its_worker(tmp_path):
    """A task finished, then its worker died before the caller took the outcome: the value comes back anyway.

    The executor's generator is paused after the first outcome; meanwhile the
    second task finishes and the worker holding its result is killed. The
    scheduler recomputes it on the surviving worker, and the outcome carries the
    real value (never ``ok`` with ``value=None``).
    """
    from distributed import Client
    with LoopbackCluster(2, directory=tmp_path / "cluster") as cluster, \
            Client(cluster.address, timeout=30, set_as_default=False) as watcher:
        names = {addr: info["name"] for addr, info in watcher.scheduler_info()["workers"].items()}
        with DaskExecutor(cluster.address, timeout=30) as ex:
            # "second" takes about a second, so its recomputation is still running when the caller looks.
            outcomes = ex.run([("first", pow, (2, 3)), ("second", sum, (range(SLOW_SUM),))])
            first = next(outcomes)
            deadline = time.monotonic() + 30
            holders = []
            while not holders and time.monotonic() < deadline:
                holders = [w for key, ws in watcher.who_has().items() if "second" in str(key) for w in ws]
                time.sleep(0.05)
            assert holders, "the second task never finished"
            cluster.kill_worker(int(names[holders[0]][1:]))
            while len(watcher.scheduler_info()["workers"]) > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.2)  # the client hears that the result is lost
            rest = list(outcomes)
    got = {o.label: (o.ok, o.value) for o in [first, *rest]}
    assert got == {"first": (True, 8), "second": (True, SLOW_SUM * (SLOW_SUM - 1) // 2)}


def test_dask_executor_no_workers_times_out(tmp_path):
    with LoopbackCluster(0, directory=tmp_path / "cluster") as cluster:
        start = time.monotonic()
        with pytest.raises(SchedulerError, match="has no workers after 1 s"):
            DaskExecutor(cluster.address, timeout=1)
        assert time.monotonic() - start < 10


def test_cli_flow_bad_scheduler_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["flow", "--scheduler", "tcp://127.0.0.1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Scheduler address must look like tcp://HOST:PORT" in err
    assert not out.exists()


def test_flow_unreachable_scheduler_writes_nothing(tmp_path):
    from macgen.flow import FlowOptions, run_flow
    opts = FlowOptions(scheduler=f"tcp://127.0.0.1:{_closed_port()}", scheduler_timeout=1, fpga=False)
    with pytest.raises(SchedulerError, match="cannot reach the Dask scheduler"):
        run_flow(opts, tmp_path / "out", progress=None)
    assert not (tmp_path / "out").exists()
