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
from macgen.config import ArrayConfig, MACConfig
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
        assert isinstance(design, (MACConfig, ArrayConfig))
        built.append(design.slug)
        acc = (design.mac if isinstance(design, ArrayConfig) else design).acc_fmt
        return real(RegisteredAdder(1 + acc.exp_bits + acc.man_bits), work_dir, name=design.slug, **kw)

    monkeypatch.setattr(area, "area_of", fake)
    return built


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_parse_int_list_forms():
    assert parse_int_list("4:16", "--acc-man-bits") == list(range(4, 17))
    assert parse_int_list("4:16:4", "--acc-man-bits") == [4, 8, 12, 16]
    assert parse_int_list("256,0,16,64,16", "--chunk-size") == [0, 16, 64, 256]
    assert parse_int_list("4:5,9", "--acc-man-bits") == [4, 5, 9]


@pytest.mark.parametrize("text", ["4:x", "9:3", "1:2:0", "", "4:5:6:7"])
def test_parse_int_list_rejects_malformed(text):
    with pytest.raises(ValueError, match="--acc-man-bits must be integers"):
        parse_int_list(text, "--acc-man-bits")


def test_parse_int_list_rejects_below_minimum():
    with pytest.raises(ValueError, match="--acc-man-bits must be at least 1, not 0"):
        parse_int_list("0:3", "--acc-man-bits", minimum=1)


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
    with pytest.raises(ValueError, match="exp_bits must be at least 2, not 1"):
        run_sweep("e5m2", "e5m2", man_bits=[3], exp_bits=[1], out_dir=tmp_path)


def test_cli_sweep_writes_csv_and_png(tmp_path, adder_designs, capsys, terminal_stderr):
    out = tmp_path / "out"
    assert main(["sweep", "--acc-man-bits", "3:4", "--acc-exp-bits", "6", "--chunk-size", "0,16", "--no-reference",
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
    assert main(["sweep", "--acc-man-bits", "3:4", "--acc-exp-bits", "6", "--chunk-size", "0,16", "--no-reference",
                 "--length", "256", "--json", "-o", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["complete"] and doc["computed"] == 0 and doc["cached"] == 4


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--acc-man-bits", "3"], "--acc-exp-bits"),
    (["sweep", "--acc-man-bits", "3:x", "--acc-exp-bits", "6"], "--acc-man-bits must be integers"),
    (["sweep", "--acc-exp-bits", "6", "--mc-trials", "10"], "--mc-trials needs"),
    (["sweep", "--length", "8", "--workload", "resnet32-cifar10"], "--length and --workload cannot be combined"),
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


def test_cli_sweep_workload_uses_longest_accumulation(tmp_path, adder_designs, capsys, terminal_stderr):
    from macgen.workloads import get_workload
    longest = max(n for _, _, n in get_workload("resnet32-cifar10").lengths())
    assert main(["sweep", "--workload", "resnet32-cifar10", "--acc-man-bits", "3", "--acc-exp-bits", "6",
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


def test_sweep_spec_points_cover_every_dimension():
    from macgen.config import ArrayConfig
    from macgen.sweep import SweepSpec
    spec = SweepSpec(inputs="e5m2,e4m3/e5m2", man_bits="3:4", exp_bits=[6], chunks=[0, 8], arrays=["2x2", [1, 3]],
                     mul_stages=[0, 1])
    points = spec.points()
    sweep = [d for role, d in points if role == "sweep"]
    refs = [d for role, d in points if role == "fp32_reference"]
    assert len(sweep) == 2 * 2 * 2 * 2 * 2 and len(refs) == 2 * 2 * 2
    assert len({d.slug for _, d in points}) == len(points)
    assert all(isinstance(d, ArrayConfig) for _, d in points)
    assert {(d.rows, d.cols, str(d.mac.a_fmt), str(d.mac.b_fmt), d.mac.mul_stages, d.mac.chunk_size,
             d.mac.acc_fmt.man_bits) for d in sweep} == \
        {(r, c, a, "e5m2", s, ch, m) for r, c in ((2, 2), (1, 3)) for a in ("e5m2", "e4m3") for s in (0, 1)
         for ch in (0, 8) for m in (3, 4)}
    assert all(d.mac.acc_fmt == FloatFormat(8, 23) and d.mac.chunk_size == 0 for d in refs)


def test_sweep_spec_exponent_from_model_per_operand_pair():
    from macgen.precision import decide_accumulator
    from macgen.sweep import SweepSpec
    spec = SweepSpec(inputs=["e5m2", "e2m1"], man_bits=[4], length=1024, reference=False)
    got = {str(d.a_fmt): d.acc_fmt.exp_bits for _, d in spec.points()}
    assert got == {f: decide_accumulator(1024, f, f).exp_bits for f in ("e5m2", "e2m1")}
    assert got["e5m2"] != got["e2m1"]


@pytest.mark.parametrize("kw, error, message", [
    (dict(inputs=["e5m2/e4m3/e2m1"]), ValueError, "inputs must be formats like"),
    (dict(arrays=["4by4"]), ValueError, "arrays must be shapes like '4x4', not '4by4'"),
    (dict(arrays=["0x4"]), ValueError, "rows must be between 1 and 64, not 0"),
    (dict(chunks=[-1]), ValueError, "chunks must be at least 0, not -1"),
    (dict(man_bits=[True]), ValueError, "man_bits must be integers"),
    (dict(exp_bits=None), ValueError, "or an accumulation length"),
    (dict(mul_stages=[4]), ValueError, "mul_stages must be between 0 and 3, not 4"),
])
def test_sweep_spec_rejects(kw, error, message):
    from macgen.sweep import SweepSpec
    with pytest.raises(error, match=message):
        SweepSpec(**{"man_bits": [4], "exp_bits": [6], **kw})


def test_sweep_spec_acc_stages():
    from macgen.sweep import STAGE_DIMENSIONS, SweepSpec
    spec = SweepSpec(man_bits=[4], exp_bits=[6], acc_stages=[1, 2], reference=False)
    assert {d.acc_stages for _, d in spec.points()} == {1, 2} and "acc_stages" in STAGE_DIMENSIONS
    assert "acc_stages" in CSV_COLUMNS
    with pytest.raises(ValueError, match="acc_stages must be between 1 and 8, not 9"):
        SweepSpec(man_bits=[4], exp_bits=[6], acc_stages=[9])


def test_pareto_front_minimises_every_objective():
    from macgen.sweep import pareto_front
    rows = [{"slug": "a", "transistors": 100, "v": 9.0}, {"slug": "b", "transistors": 200, "v": 2.0},
            {"slug": "c", "transistors": 150, "v": 9.5}, {"slug": "d", "transistors": 300, "v": 2.0},
            {"slug": "e", "transistors": 90, "v": None}, {"slug": "f", "transistors": 100, "v": 9.0}]
    assert [r["slug"] for r in pareto_front(rows, ["transistors", "v"])] == ["a", "f", "b"]
    assert [r["slug"] for r in pareto_front(rows, ["transistors"])] == ["e"]
    with pytest.raises(ValueError, match="Pareto objective must be one of .*, not 'area'"):
        pareto_front(rows, ["area"])


def test_cli_sweep_spec_file_pareto_and_override(tmp_path, adder_designs, capsys):
    spec = tmp_path / "space.toml"
    spec.write_text('[sweep]\ninputs = ["e5m2", "e4m3/e5m2"]\nman_bits = "3:5"\nexp_bits = [6]\n'
                    'chunks = [0]\nlength = 64\n')
    out = tmp_path / "out"
    assert main(["sweep", "--spec", str(spec), "--acc-man-bits", "3:4", "-o", str(out)]) == 0
    assert "e4m3 x e5m2" in capsys.readouterr().out
    rows = _read_csv(out / "sweep.csv")
    assert [(r["a_fmt"], r["man_bits"], r["role"]) for r in rows] == [
        ("e5m2", "3", "sweep"), ("e5m2", "4", "sweep"), ("e4m3", "3", "sweep"), ("e4m3", "4", "sweep"),
        ("e5m2", "23", "fp32_reference"), ("e4m3", "23", "fp32_reference")]
    front = _read_csv(out / "pareto.csv")
    key = lambda r: (int(r["transistors"]), float(r["v"]))  # noqa: E731
    dominated = [r for r in rows if any(key(q)[0] <= key(r)[0] and key(q)[1] <= key(r)[1] and key(q) != key(r)
                                        for q in rows)]
    assert {r["slug"] for r in front} == {r["slug"] for r in rows} - {r["slug"] for r in dominated}
    assert front and dominated
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--acc-exp-bits", "6", "--pareto", "transistors,v"], "Pareto objective v needs an accumulation length"),
    (["--acc-exp-bits", "6", "--length", "64", "--pareto", "transistors,ice40_lut4"], "needs the FPGA flows"),
    (["--acc-exp-bits", "6", "--length", "64", "--pareto", "area,v"], "Pareto objective must be one of"),
    (["--acc-exp-bits", "6", "--array", "4by4"], "--array must be shapes like"),
    (["--acc-exp-bits", "6", "--inputs", "e5m2", "--a-format", "e4m3"], "not both"),
])
def test_cli_sweep_spec_errors_before_any_work(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--acc-man-bits", "3", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_cli_sweep_spec_file_errors(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("man_bits = [3]\nexp_bits = [6]\nwidths = 3\n")
    assert main(["sweep", "--spec", str(bad), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml" in err and "not widths" in err
    bad.write_text("man_bits = [3\n")
    assert main(["sweep", "--spec", str(bad), "-o", str(tmp_path / "out")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_sweep_arrays_and_stages_columns(tmp_path, adder_designs, capsys):
    out = tmp_path / "out"
    assert main(["sweep", "--acc-man-bits", "3", "--acc-exp-bits", "6", "--array", "2x2,1x2", "--mul-stages", "0,1",
                 "--no-reference", "--length", "64", "-o", str(out)]) == 0
    table = capsys.readouterr().out
    assert "2x2 array" in table and "mul_stages" in table
    rows = _read_csv(out / "sweep.csv")
    assert {(r["rows"], r["cols"], r["mul_stages"]) for r in rows} == \
        {(r, c, s) for r, c in (("2", "2"), ("1", "2")) for s in ("0", "1")}
    assert all(r["slug"].startswith("array") for r in rows)
    assert len(set(adder_designs)) == 4
    assert (out / "sweep.png").stat().st_size > 0


def test_sweep_default_pareto_leaves_out_columns_without_values(tmp_path, adder_designs, monkeypatch):
    from macgen import sweep
    # A delay column the records do not fill (as timing columns without a timing run): left out.
    monkeypatch.setattr(sweep, "DELAY_COLUMNS", ("rows",))
    res = run_sweep("e5m2", "e5m2", man_bits=[3, 4], exp_bits=[6], out_dir=tmp_path, length=64, plot=False,
                    progress=None)
    assert res.pareto == ["transistors", "v"]
    assert res.pareto_csv_path.is_file() and len(_read_csv(res.pareto_csv_path)) >= 1
    res = run_sweep("e5m2", "e5m2", man_bits=[3, 4], exp_bits=[6], out_dir=tmp_path, plot=False, progress=None)
    assert res.pareto == [] and res.pareto_csv_path is None  # no length: area alone is no trade-off
    assert not (tmp_path / "pareto.csv").exists()
