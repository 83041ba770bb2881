"""The one-shot flow (``macgen flow``) end to end on a tiny workload."""

import json

import pytest

from macgen import area
from macgen.cli import main
from macgen.flow import FlowOptions, run_flow
from macgen.precision import min_acc_mantissa

TINY = {"name": "tiny", "batch": 16,
        "layers": [{"name": "fc1", "type": "fc", "in_features": 48, "out_features": 24},
                   {"name": "fc2", "type": "fc", "in_features": 24, "out_features": 10}]}


@pytest.fixture
def tiny_workload(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return str(path)


def test_flow_tiny_workload_report_and_rerun(tiny_workload, tmp_path, monkeypatch):
    # Pin the sweep cache's generator fingerprint: a source edit between the two runs (while
    # developing) would rightly invalidate the cache and is not what this test is about.
    from macgen import sweep
    monkeypatch.setattr(sweep, "generator_fingerprint", lambda: "test-generator")
    out = tmp_path / "out"
    opts = FlowOptions(workload=tiny_workload, rows=2, cols=2, mac_vectors=20, array_tiles=2,
                       sweep_span=1, jobs=1, fpga=False, pnr=False, acc_stages=(2,), pe_sizes=(2,))
    before = area.yosys_invocations()
    report = run_flow(opts, out, progress=None)
    first_runs = area.yosys_invocations() - before

    for name in ("report.md", "report.json", "variance_lost.png", "area_vs_precision.png",
                 "delay_vs_precision.png"):
        assert (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["passed"] is True
    ver = on_disk["verification"]
    assert ver["mac"]["vectors"] == 20 and ver["mac"]["mismatches"] == 0
    assert ver["array"]["tiles"] == 2 and ver["array"]["mismatches"] == 0

    # The plan: the longest GEMM is FWD of fc1 (48); the training choice covers every GEMM.
    plan = on_disk["plan"]
    assert plan["training"]["n"] == 48
    chunk = plan["training"]["chunk_size"]
    for r in plan["rows"]:
        assert min_acc_mantissa(r["length"], plan["training"]["m_p"],
                                chunk=chunk if chunk < r["length"] else 0) <= plan["training"]["m_acc"]
    assert {r["gemm"] for r in plan["rows"]} == {"fwd", "bwd", "grad"}

    # The design choice (area-delay by default): the built MAC is the best candidate, none dominates it.
    for role, choice in on_disk["design_choice"].items():
        assert choice["objective"] == "area-delay"
        score = {r["slug"]: r["osu018_um2"] * r["osu018_ns"] for r in choice["rows"]}
        assert choice["chosen"] == min(score, key=score.get)
        best = next(r for r in choice["rows"] if r["chosen"])
        assert not any(r["osu018_um2"] <= best["osu018_um2"] and r["osu018_ns"] <= best["osu018_ns"]
                       and r is not best and (r["osu018_um2"], r["osu018_ns"]) != (best["osu018_um2"],
                                                                                   best["osu018_ns"])
                       for r in choice["rows"])
        assert {r["acc_stages"] for r in choice["rows"]} == {1, 2}
    built = on_disk["design_choice"]["training"]["chosen"]
    assert on_disk["hardware"]["mac"]["top"] == built == on_disk["chosen_design"]["slug"]
    assert on_disk["hardware"]["mac"]["decision"]["design_choice"]["chosen"] == built
    assert (out / "design_choice.png").stat().st_size > 0 and "## Design choice" in (out / "report.md").read_text()

    # Per PE of a 2x2 array, the built MAC and its twin: the PE plus its share of the rest is the array.
    pes = on_disk["chosen_design"]["pe_area"]
    assert [(p["slug"], p["rows"]) for p in pes] == [(built, 2), (on_disk["chosen_design"]["twin_slug"], 2)]
    for p in pes:
        assert p["pe"] * 4 + p["counter"] + p["rest"] == pytest.approx(p["total"], abs=4)
        # One counter for the array, the same circuit as a standalone MAC's own; the PEs have none.
        assert p["counter"] == p["mac_counter"] and p["rest"] > 0
        # A PE is the MAC less what the array provides: no counter of its own and, without
        # preload, no init input (macgen.reachable then prunes more). Never more than the MAC
        # (2 % for ABC's order noise), and not less than 80 % of it.
        assert 0.8 * p["mac_total"] < p["pe"] < 1.02 * p["mac_total"]

    # Ratios are the transistor counts' ratios, and the generated files exist.
    areas = on_disk["area"]
    base = areas["FP32 accumulator"]["transistors"]
    for label, entry in areas.items():
        assert on_disk["saving_vs_fp32"][label] == pytest.approx(base / entry["transistors"], rel=1e-3)
    for rel in on_disk["hardware"]["files"]:
        assert (out / rel).is_file()
    text = (out / "report.md").read_text()
    assert "## Area" in text and "## Verification" in text and "0 mismatches" in text
    assert report["saving_vs_fp32"] == on_disk["saving_vs_fp32"]

    # Each GEMM on its own MAC, against the same MAC with an e8m23 accumulator.
    per_gemm = on_disk["area_per_gemm"]
    assert set(per_gemm) == {"fwd", "bwd", "grad"}
    for g, entry in per_gemm.items():
        assert entry["acc_fmt"] == plan["per_gemm"][g]["acc_fmt"]
        assert "acce8m23" in entry["fp32_slug"] and entry["fp32_slug"] != entry["slug"]
        assert entry["ratio"] == pytest.approx(entry["fp32_transistors"] / entry["transistors"], rel=1e-3)
    assert per_gemm["fwd"]["slug"] == areas["inference (FWD only)"]["slug"]
    assert per_gemm["fwd"]["transistors"] == areas["inference (FWD only)"]["transistors"]
    assert "Each GEMM on its own MAC" in text

    # Timing of every MAC compared, and the chosen MAC against its e8m23 twin.
    for entry in areas.values():
        assert entry["logic_levels"] > 10 and entry["osu018_ns"] > 1
        assert entry["area_x_delay_um2ns"] == pytest.approx(entry["osu018_um2"] * entry["osu018_ns"], abs=0.1)
    t = on_disk["timing"]
    chosen, twin = areas["training (chosen)"], {e["slug"]: e for e in areas.values()}[t["twin"]]
    assert t["ratios"]["area_x_delay"] == pytest.approx(
        twin["area_x_delay_um2ns"] / chosen["area_x_delay_um2ns"], rel=1e-3)
    assert t["ratios"]["osu018_ns"] == pytest.approx(twin["osu018_ns"] / chosen["osu018_ns"], rel=1e-3)
    assert "## Timing" in text and "relative comparisons only" in text and "area x delay" in text
    assert on_disk["fpga_timing"] == {}

    # Accumulate-loop stages: K = 1 and 2 for the chosen MAC and its twin, the K = 1 rows
    # being the designs above, the recommendation the best throughput per area.
    study = on_disk["acc_stages"]
    assert [(r["base"], r["acc_stages"]) for r in study["rows"]] == \
        [(s, k) for s in dict.fromkeys([chosen["slug"], t["twin"]]) for k in (1, 2)]
    for r in study["rows"]:
        assert r["gmacs_per_mm2"] == pytest.approx(1e6 / (r["osu018_um2"] * r["osu018_ns"]), rel=1e-3)
        if r["acc_stages"] == 1:
            assert r["transistors"] == {e["slug"]: e for e in areas.values()}[r["slug"]]["transistors"]
        else:
            one = next(x for x in study["rows"] if x["base"] == r["base"] and x["acc_stages"] == 1)
            assert r["latency"] == one["latency"] + r["mul_stages"] + 1 + bool(r["config"]["chunk_size"])
            assert r["logic_levels"] < one["logic_levels"]
    for base, slug in study["recommended"].items():
        mine = [r for r in study["rows"] if r["base"] == base]
        assert slug == max(mine, key=lambda r: r["gmacs_per_mm2"])["slug"]
    assert "## Accumulate-loop stages" in text and "(recommended)" in text

    # A rerun reuses the sweep's cache: only the MACs outside the sweep grid are synthesised again
    # (each once, however many rows of the report show it).
    swept = {row["slug"] for row in on_disk["sweep"]}
    shown = {entry["slug"] for entry in areas.values()}
    shown |= {e["slug"] for e in per_gemm.values()} | {e["fp32_slug"] for e in per_gemm.values()}
    # Outside the sweep, each MAC's area and its OSU018 mapping are two Yosys runs.
    outside = 2 * len(shown - swept)
    # The per-stage breakdown (chosen MAC and its e8m23 twin) is synthesised on every run.
    b = on_disk["area_breakdown"]
    assert b["chosen_slug"] == areas["training (chosen)"]["slug"]
    for side in ("chosen", "e8m23"):
        assert sum(b[side]["groups"].values()) == b[side]["total"] == sum(b[side]["stages"].values()) + \
            b[side]["groups"]["registers, muxes, control"]
    assert b["e8m23"]["groups"]["multiplier (unpack a, b; multiply)"] == \
        b["chosen"]["groups"]["multiplier (unpack a, b; multiply)"]
    assert "Where the area goes" in text and "even with them free the ratio would be" in text
    outside += 2
    # The K = 2 designs of the stage study that are no candidates (the twin's): area and OSU018
    # mapping, every run; the candidates are in the sweep's cache.
    candidates = {r["slug"] for c in on_disk["design_choice"].values() for r in c["rows"]}
    outside += 2 * len({r["slug"] for r in study["rows"] if r["acc_stages"] > 1} - candidates)
    # The per-PE breakdowns (each MAC alone and in a 2x2 array), every run.
    outside += 2 * len(pes)
    before = area.yosys_invocations()
    run_flow(opts, out, progress=None)
    assert area.yosys_invocations() - before == outside < first_runs


def test_cli_flow_no_init_builds_and_verifies_macs_without_init(tiny_workload, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["flow", "--workload", tiny_workload, "--no-init", "--chunk", "none", "--array", "2x2",
                 "--mac-vectors", "20", "--array-tiles", "0", "--sweep-span", "0", "--no-fpga", "--no-asic",
                 "--no-pnr", "--acc-stages", "1", "--pe-sizes", "none", "-j", "1", "--quiet", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["options"]["init"] is False and report["passed"] is True
    mac = report["verification"]["mac"]
    assert mac["vectors"] == 20 and mac["mismatches"] == 0
    slug = report["chosen_design"]["slug"]
    assert slug.endswith("_noinit") and mac["top"] == slug
    sidecar = json.loads((out / "rtl" / f"{slug}.json").read_text())
    assert not {p["name"] for p in sidecar["ports"]} & {"init", "init_en"}


def test_cli_flow_bad_workload_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["flow", "--workload", "no-such-net", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "no-such-net" in err
    assert not out.exists()


@pytest.mark.parametrize("args, word", [
    (["--array", "4by4"], "--array"),
    (["--chunk", "sometimes"], "--chunk must be none, auto or a chunk size"),
    (["--nzr", "1.5"], "--nzr must be in (0, 1], not 1.5"),
    (["--a-format", "e1m2"], "Exponent width"),
])
def test_cli_flow_bad_options_exit_2(tmp_path, capsys, args, word):
    out = tmp_path / "out"
    rc = main(["flow", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and word in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_saving_ceiling_leaves_out_multiplier_and_counter():
    from macgen.flow import saving_ceiling
    mine = {"total": 1000, "groups": {"multiplier (unpack a, b; multiply)": 200, "chunk counter": 100,
                                      "accumulate (unpack acc; align/add; round)": 700}}
    theirs = {"total": 1500, "groups": {"multiplier (unpack a, b; multiply)": 200, "chunk counter": 100,
                                        "accumulate (unpack acc; align/add; round)": 1200}}
    text = saving_ceiling(mine, theirs)
    assert "the multiplier and the chunk counter cost the same" in text
    assert text.endswith("even with them free the ratio would be 1.71x.")            # 1200 / 700
    del mine["groups"]["chunk counter"], theirs["groups"]["chunk counter"]
    mine["total"], theirs["total"] = 900, 1400                                          # no chunking
    text = saving_ceiling(mine, theirs)
    assert "the multiplier costs the same in both and caps" in text and "counter" not in text
    assert "1.71x" in text


def test_flow_timing_summary_fpga_ratios():
    from macgen.flow import timing_summary
    mac = lambda slug, t, um2, ns, lv: {"slug": slug, "transistors": t, "osu018_um2": um2, "osu018_ns": ns,  # noqa: E731
                                        "logic_levels": lv, "area_x_delay_um2ns": um2 * ns}
    areas = {"training (chosen)": mac("c", 100, 1000.0, 10.0, 100), "FP32": mac("f", 150, 2000.0, 15.0, 120)}
    fpga = {"c": {"ice40": {"fits": True, "fmax_median_mhz": 20.0}, "ecp5": {"fits": True, "fmax_median_mhz": 30.0}},
            "f": {"ice40": {"fits": True, "fmax_median_mhz": 16.0}, "ecp5": {"fits": False, "fmax_median_mhz": None}}}
    q = timing_summary(areas, fpga, "c", "f")["ratios"]
    assert q == {"transistors": 1.5, "osu018_um2": 2.0, "osu018_ns": 1.5, "logic_levels": 1.2,
                 "area_x_delay": 3.0, "ice40_delay": 1.25}
