"""The one run outline (``macgen.verify.bench``) under the MAC's and the array's runs.

Both runs reject the same bad arguments with the same words, report the same
summary members on either harness, and both harnesses catch a corrupted
expectation. Budget: ~30 s on Icarus (a tiny MAC and a 1x2 array, two builds each).
"""

from pathlib import Path

import numpy as np
import pytest

from macgen.config import ArrayConfig, MACConfig
from macgen.emit import emit
from macgen.verify import array as varray, mac as vmac

MAC_CFG = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=4, acc_stages=2)
ARRAY_CFG = ArrayConfig(1, 2, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=4), preload=True)
HARNESSES = ("cocotb", "fast")


@pytest.fixture(scope="module")
def designs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rtl")
    return emit(MAC_CFG, root / "mac"), emit(ARRAY_CFG, root / "array")


def _mac_stim():
    return vmac.random_stimulus(MAC_CFG, 12, seed=41)


def _array_stim():
    return varray.make_stimulus(ARRAY_CFG, 4, (1, 3, 6), seed=42)


def _runs(designs, build: Path, **kw):
    """Both runs with the same keyword arguments: the MAC's and the array's summaries' makers."""
    mac, array = designs
    return [lambda: vmac.run_bench(mac, MAC_CFG, _mac_stim(), build_dir=build / "mac", **kw),
            lambda: varray.run_array_bench(array, _array_stim(), build_dir=build / "array", **kw)]


@pytest.mark.parametrize("kw, message", [
    ({"simulator": "modelsim"}, "Simulator must be one of icarus, verilator, not 'modelsim'"),
    ({"harness": "quick"}, "Harness must be one of auto, cocotb, fast, not 'quick'"),
])
def test_bench_runs_reject_unknown_choices_alike(designs, tmp_path, kw, message):
    for run in _runs(designs, tmp_path, **kw):
        with pytest.raises(ValueError) as info:
            run()
        assert str(info.value) == message
    # Rejected before anything is built or written.
    assert not any(tmp_path.iterdir())


# Members of the summary that the harness must not change (times, cache and harness may differ).
MAC_SAME = ("top", "simulator", "latency", "cycles", "vectors", "products", "mismatches", "missing",
            "extra", "mistimed", "passed", "reports", "source", "build_dir")
ARRAY_SAME = ("top", "simulator", "latency", "cycles", "macs", "tiles", "elements", "mismatches",
              "protocol_errors", "reports", "passed", "build_dir")


@pytest.mark.sim
def test_bench_harnesses_give_the_same_summary(designs, tmp_path):
    runs = {h: _runs(designs, tmp_path, harness=h) for h in HARNESSES}
    for k, same in enumerate((MAC_SAME, ARRAY_SAME)):
        cocotb, fast = (runs[h][k]().to_dict() for h in HARNESSES)
        assert cocotb.keys() == fast.keys()
        assert (cocotb["harness"], fast["harness"]) == HARNESSES
        assert cocotb["passed"] and cocotb["macs_per_second"] > 0, cocotb
        assert {k: cocotb[k] for k in same} == {k: fast[k] for k in same}
        for d in (cocotb, fast):
            # The whole run's time covers its build and its simulation.
            assert d["seconds"] >= d["build_seconds"] + d["sim_seconds"] - 0.002 > 0


@pytest.mark.sim
@pytest.mark.parametrize("harness", HARNESSES)
def test_bench_corrupted_expectation_is_a_mismatch(designs, tmp_path, harness):
    mac, array = designs
    stim = _mac_stim()
    expected = vmac.expected_results(MAC_CFG, stim)
    d = 5
    expected[d] ^= np.uint64(1 << 2)
    s = vmac.run_bench(mac, MAC_CFG, stim, build_dir=tmp_path / "mac", expected=expected, harness=harness)
    assert (s.mismatches, s.missing, s.extra, s.passed) == (1, 0, 0, False)
    [report] = s.reports
    assert report.startswith(f"dot product #{d}:")

    stim = _array_stim()
    r, j = 1, 1
    stim.expected[r, j] ^= np.uint64(1 << 3)
    s = varray.run_array_bench(array, stim, build_dir=tmp_path / "array", harness=harness)
    assert (s.check.mismatches, s.check.protocol, s.passed) == (1, [], False)
    [report] = s.check.reports
    n, i = divmod(r, ARRAY_CFG.rows * ARRAY_CFG.mac.acc_stages)
    assert report.startswith(f"tile {n} (K={stim.tiles[n][0].shape[1]}) C[{i},{j}]:")
