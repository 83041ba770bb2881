"""Area-vs-precision sweeps (macgen.sweep, ``macgen sweep``): resumability, atomic output, CLI.

Most tests swap the MAC for a registered adder sized by the accumulator format
(real Yosys runs, about 0.3 s each), so the caching and output logic are tested
fast; one test sweeps real MACs.
"""

import csv
import json

import pytest

from macgen import area
from macgen.cli import main
from macgen.config import MACConfig
from macgen.formats import FloatFormat
from macgen.sweep import (CSV_COLUMNS, generator_fingerprint, parse_int_list, reference_config, run_sweep,
                          sweep_configs)

from test_area import RegisteredAdder


@pytest.fixture(autouse=True)
def fixed_fingerprint(monkeypatch):
    """Other engineers edit the RTL in this tree while tests run; a changing source
    fingerprint would (rightly) invalidate the cache between two runs of a test."""
    from macgen import sweep
    monkeypatch.setattr(sweep, "generator_fingerprint", lambda: "test-generator")


@pytest.fixture
def adder_designs(monkeypatch):
    """Synthesise an adder as wide as the accumulator instead of the MAC; log the configs."""
    real = area.area_of
    built = []

    def fake(design, work_dir, **kw):
        assert isinstance(design, MACConfig)
        built.append(design.slug)
        acc = design.acc_fmt
        return real(RegisteredAdder(1 + acc.exp_bits + acc.man_bits), work_dir, name=design.slug, **kw)

    monkeypatch.setattr(area, "area_of", fake)
    return built


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_parse_int_list_forms():
    assert parse_int_list("4:16", "--man-bits") == list(range(4, 17))
    assert parse_int_list("4:16:4", "--man-bits") == [4, 8, 12, 16]
    assert parse_int_list("256,0,16,64,16", "--chunks") == [0, 16, 64, 256]
    assert parse_int_list("4:5,9", "--man-bits") == [4, 5, 9]


@pytest.mark.parametrize("text", ["4:x", "9:3", "1:2:0", "", "4:5:6:7"])
def test_parse_int_list_rejects_malformed(text):
    with pytest.raises(ValueError, match="--man-bits must be integers"):
        parse_int_list(text, "--man-bits")


def test_parse_int_list_rejects_below_minimum():
    with pytest.raises(ValueError, match="--man-bits must be at least 1, not 0"):
        parse_int_list("0:3", "--man-bits", minimum=1)


def test_sweep_configs_follow_operand_policy():
    cfgs = sweep_configs("e4m3fn", "e4m3fn", man_bits=[4, 5], exp_bits=[6, 7], chunks=[0, 16])
    assert len(cfgs) == 8 and len({c.slug for c in cfgs}) == 8
    assert all(not c.acc_fmt.inf_nan for c in cfgs)
    assert {(c.chunk_size, c.acc_fmt.exp_bits, c.acc_fmt.man_bits) for c in cfgs} == \
        {(c, e, m) for c in (0, 16) for e in (6, 7) for m in (4, 5)}
    ref = reference_config("fp8_e5m2", "fp8_e5m2")
    assert ref.acc_fmt == FloatFormat(8, 23) and ref.chunk_size == 0


def test_sweep_budget_then_resume_recomputes_nothing(tmp_path, adder_designs):
    kw = dict(man_bits=[3, 4, 5], exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False,
              progress=None)
    start = area.yosys_invocations()
    # The "kill": stop after one point.
    first = run_sweep("e5m2", "e5m2", max_points=1, **kw)
    assert not first.complete and first.computed == 1
    assert area.yosys_invocations() == start + 1
    assert not (tmp_path / "sweep.csv").exists()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    done_first = list(adder_designs)

    second = run_sweep("e5m2", "e5m2", **kw)
    assert second.complete and second.computed == 2 and second.cached == 1
    assert area.yosys_invocations() == start + 3
    # Nothing done before was synthesised again.
    assert not set(done_first) & set(adder_designs[1:])
    rows = _read_csv(tmp_path / "sweep.csv")
    assert [int(r["man_bits"]) for r in rows] == [3, 4, 5]
    assert all(int(r["transistors"]) > 0 for r in rows)
    assert [int(r["flip_flops"]) for r in rows] == [1 + 6 + m for m in (3, 4, 5)]
    assert list(rows[0]) == list(CSV_COLUMNS)

    third = run_sweep("e5m2", "e5m2", **kw)
    assert third.computed == 0 and third.cached == 3
    assert area.yosys_invocations() == start + 3
    assert _read_csv(tmp_path / "sweep.csv") == rows


def test_sweep_interrupted_keeps_done_points_and_old_csv(tmp_path, adder_designs, monkeypatch):
    kw = dict(exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False, progress=None)
    run_sweep("e5m2", "e5m2", man_bits=[3], **kw)
    old_csv = (tmp_path / "sweep.csv").read_bytes()

    fake = area.area_of
    calls = []

    def dies_on_second(design, work_dir, **k):
        calls.append(design.slug)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return fake(design, work_dir, **k)

    monkeypatch.setattr(area, "area_of", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_sweep("e5m2", "e5m2", man_bits=[3, 4, 5, 6], **kw)
    # The CSV of the earlier sweep is untouched (never half-written), no temporaries remain.
    assert (tmp_path / "sweep.csv").read_bytes() == old_csv
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2

    monkeypatch.setattr(area, "area_of", fake)
    start = area.yosys_invocations()
    res = run_sweep("e5m2", "e5m2", man_bits=[3, 4, 5, 6], **kw)
    assert res.complete and res.computed == 2 and res.cached == 2
    assert area.yosys_invocations() == start + 2
    assert [int(r["man_bits"]) for r in _read_csv(tmp_path / "sweep.csv")] == [3, 4, 5, 6]


def test_sweep_corrupt_cache_entry_is_recomputed(tmp_path, adder_designs):
    kw = dict(man_bits=[3], exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False, progress=None)
    run_sweep("e5m2", "e5m2", **kw)
    (entry,) = (tmp_path / "cache").glob("*.json")
    entry.write_text("{not json")
    res = run_sweep("e5m2", "e5m2", **kw)
    assert res.computed == 1
    assert json.loads(entry.read_text())["area"]["transistors"] > 0


def test_sweep_model_choice_reference_and_plot(tmp_path, adder_designs):
    from macgen.precision import decide_accumulator, vrr_chunked
    d = decide_accumulator(1024, "e5m2", "e5m2")
    res = run_sweep("e5m2", "e5m2", man_bits=[d.m_acc - 1, d.m_acc, d.m_acc + 1], exp_bits=[d.exp_bits],
                    chunks=[0], out_dir=tmp_path, length=1024, progress=None)
    rows = _read_csv(res.csv_path)
    assert [r["role"] for r in rows] == ["sweep"] * 3 + ["fp32_reference"]
    assert [int(r["model_choice"]) for r in rows] == [0, 1, 0, 0]
    assert rows[-1]["acc_fmt"] == "e8m23"
    for r in rows[:3]:
        assert float(r["vrr"]) == pytest.approx(vrr_chunked(int(r["man_bits"]), 5, 1024, 0), rel=1e-12)
    # The chosen width is the first whose variance lost is below the cutoff.
    assert float(rows[0]["v"]) >= 50 > float(rows[1]["v"])
    png = res.png_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_sweep_parallel_matches_serial(tmp_path, adder_designs):
    kw = dict(man_bits=[3, 4], exp_bits=[6], chunks=[0, 8], reference=False, progress=None, plot=False)
    serial = run_sweep("e5m2", "e5m2", out_dir=tmp_path / "s", jobs=1, **kw)
    parallel = run_sweep("e5m2", "e5m2", out_dir=tmp_path / "p", jobs=2, **kw)
    assert parallel.complete and parallel.computed == 4

    def key(rows):
        return [(r["slug"], r["transistors"], r["cells"]) for r in rows]
    assert key(parallel.rows) == key(serial.rows)


def test_sweep_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Job count must be at least 1, not 0"):
        run_sweep("e5m2", "e5m2", man_bits=[3], exp_bits=[6], out_dir=tmp_path, jobs=0)
    with pytest.raises(ValueError, match="needs an accumulation length"):
        run_sweep("e5m2", "e5m2", man_bits=[3], exp_bits=[6], out_dir=tmp_path, mc_trials=8)
    with pytest.raises(ValueError, match="Exponent width must be at least 2"):
        run_sweep("e5m2", "e5m2", man_bits=[3], exp_bits=[1], out_dir=tmp_path)


def test_cli_sweep_writes_csv_and_png(tmp_path, adder_designs, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--man-bits", "3:4", "--exp-bits", "6", "--chunks", "0,16", "--no-reference",
                 "--length", "256", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "sweep [4/4]" in captured.err
    assert "e6m3" in captured.out and "model (n = 256" in captured.out
    rows = _read_csv(out / "sweep.csv")
    assert {(int(r["chunk_size"]), int(r["man_bits"])) for r in rows} == {(0, 3), (0, 4), (16, 3), (16, 4)}
    assert (out / "sweep.png").stat().st_size > 0
    # Timing by default: logic depth, OSU018 area and critical path, and their product.
    for r in rows:
        assert int(r["logic_levels"]) > 0 and float(r["osu018_ns"]) > 0
        assert float(r["area_x_delay_um2ns"]) == pytest.approx(float(r["osu018_um2"]) * float(r["osu018_ns"]),
                                                                abs=0.1)
    wide = [float(r["osu018_um2"]) for r in rows if r["man_bits"] == "4"]
    assert min(wide) > max(float(r["osu018_um2"]) for r in rows if r["man_bits"] == "3")
    assert (out / "sweep_delay.png").stat().st_size > 0
    assert "OSU018" in captured.out and "relative comparisons only" in captured.out
    assert main(["sweep", "--man-bits", "3:4", "--exp-bits", "6", "--chunks", "0,16", "--no-reference",
                 "--length", "256", "--json", "-o", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["complete"] and doc["computed"] == 0 and doc["cached"] == 4


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--man-bits", "3"], "--exp-bits"),
    (["sweep", "--man-bits", "3:x", "--exp-bits", "6"], "--man-bits must be integers"),
    (["sweep", "--exp-bits", "6", "--mc-trials", "10"], "--mc-trials needs"),
    (["sweep", "--length", "8", "--workload", "resnet32-cifar10"], "not both"),
])
def test_cli_sweep_errors_are_one_line(argv, message, capsys, tmp_path):
    assert main(argv + ["-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "sweep.csv").exists()


def test_sweep_real_macs_killed_then_resumed(tmp_path):
    # Three e5m2 x e5m2 MACs; the first run is "killed" after one point (point budget).
    kw = dict(man_bits=[4, 5, 6], exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False,
              length=64, mc_trials=32, seed=1, progress=None)
    start = area.yosys_invocations()
    first = run_sweep("e5m2", "e5m2", max_points=1, **kw)
    assert not first.complete and area.yosys_invocations() == start + 1
    assert not (tmp_path / "sweep.csv").exists()
    res = run_sweep("e5m2", "e5m2", **kw)
    assert res.complete and res.computed == 2 and res.cached == 1
    assert area.yosys_invocations() == start + 3
    rows = _read_csv(res.csv_path)
    assert [r["acc_fmt"] for r in rows] == ["e6m4", "e6m5", "e6m6"]
    transistors = [int(r["transistors"]) for r in rows]
    # One more accumulator bit costs area.
    assert transistors[0] < transistors[1] < transistors[2]
    assert all(int(r["flip_flops"]) >= 1 + 6 + int(r["man_bits"]) for r in rows)
    assert all(0 < float(r["vrr_mc"]) <= 1.5 and 0 < float(r["vrr"]) <= 1 for r in rows)
    again = run_sweep("e5m2", "e5m2", **kw)
    assert again.computed == 0 and area.yosys_invocations() == start + 3
    assert _read_csv(again.csv_path) == rows


def test_cli_sweep_workload_uses_longest_accumulation(tmp_path, adder_designs, capsys):
    from macgen.workloads import get_workload
    longest = max(n for _, _, n in get_workload("resnet32-cifar10").lengths())
    assert main(["sweep", "--workload", "resnet32-cifar10", "--man-bits", "3", "--exp-bits", "6",
                 "--no-reference", "--no-plot", "--no-asic", "-o", str(tmp_path)]) == 0
    assert f"longest accumulation {longest}" in capsys.readouterr().err
    (row,) = _read_csv(tmp_path / "sweep.csv")
    assert int(row["length"]) == longest
    assert not (tmp_path / "sweep.png").exists()


def test_sweep_cache_from_another_generator_is_stale(tmp_path, adder_designs, monkeypatch):
    from macgen import sweep
    kw = dict(man_bits=[3], exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False, progress=None)
    assert len(generator_fingerprint()) == 16 and generator_fingerprint() != "another-rtl"
    assert run_sweep("e5m2", "e5m2", **kw).computed == 1
    assert run_sweep("e5m2", "e5m2", **kw).computed == 0
    monkeypatch.setattr(sweep, "generator_fingerprint", lambda: "another-rtl")
    assert run_sweep("e5m2", "e5m2", **kw).computed == 1
    assert run_sweep("e5m2", "e5m2", **kw).computed == 0


def test_sweep_fpga_upgrade_keeps_monte_carlo(tmp_path, adder_designs, monkeypatch):
    from macgen import precision
    calls = []
    monkeypatch.setattr(precision, "simulate_vrr", lambda *a, **k: calls.append(a) or 0.75)
    kw = dict(man_bits=[3], exp_bits=[6], chunks=[0], out_dir=tmp_path, reference=False, progress=None,
              length=16, mc_trials=4, plot=False)
    first = run_sweep("e5m2", "e5m2", **kw)
    assert first.rows[0]["vrr_mc"] == 0.75 and first.rows[0]["ice40_lut4"] is None
    second = run_sweep("e5m2", "e5m2", fpga=True, **kw)
    assert second.computed == 1 and len(calls) == 1
    assert second.rows[0]["vrr_mc"] == 0.75 and second.rows[0]["ice40_lut4"] > 0
