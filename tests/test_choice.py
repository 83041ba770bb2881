"""The design choice (macgen.choice): the model's candidates, their synthesis, the objective's pick.

Real Yosys and OpenSTA runs on tiny MACs (e2m1 x e2m1), synthesised once per module
into a shared cache; every later choice reads it.
"""

import json

import pytest

from macgen.choice import (OBJECTIVES, check_objective, choice_table, choose_design, metric_names,
                           model_candidates)
from macgen.cli import main
from macgen.precision import decide_shared, min_acc_mantissa

LENGTHS = [64, 200]
FMT = "e2m1"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """The four candidates of LENGTHS at K = 1, 2, synthesised (generic flow and OSU018) once."""
    path = tmp_path_factory.mktemp("points")
    choose_design(LENGTHS, FMT, FMT, stages=(1, 2), asic=True, cache_dir=path)
    return path


def _score(row, objective, a, d):
    return {"area": row[a], "delay": row[d], "area-delay": row[a] * row[d]}[objective]


def test_candidates_meet_the_model_and_the_pruning_rule():
    for lengths in ([64, 200], [576, 4608, 131072], [48]):
        cands, pruned = model_candidates(lengths, "e5m2", "e5m2", stages=(1, 4))
        decisions = list({c.config.chunk_size: c.decision for c in cands}.values())
        assert decisions[0].chunk_size == 0
        # Every candidate meets the criterion at every length it serves, with its own (smallest) m_acc.
        for d in decisions:
            assert d == decide_shared(lengths, "e5m2", "e5m2", chunk=d.chunk_size)
            for n in lengths:
                chunk = d.chunk_size if d.chunk_size < n else 0
                assert min_acc_mantissa(n, 5, chunk=chunk) <= d.m_acc
        # Kept chunk sizes each need a strictly narrower accumulator than everything before them ...
        assert all(b.m_acc < a.m_acc for a, b in zip(decisions, decisions[1:]))
        assert [d.chunk_size for d in decisions[1:]] == sorted(d.chunk_size for d in decisions[1:])
        # ... and each pruned one is no narrower than no chunking or a smaller kept chunk size.
        for p in pruned:
            m = decide_shared(lengths, "e5m2", "e5m2", chunk=p["chunk_size"]).m_acc
            assert any(d.m_acc <= m and d.chunk_size < p["chunk_size"] for d in decisions)
        chunks = {d.chunk_size for d in decisions} | {p["chunk_size"] for p in pruned}
        assert chunks == {0} | {2 ** k for k in range(1, 64) if 2 ** k < max(lengths)}
        # Every decision at every loop depth, the multiplier pipelined with the loop.
        assert len(cands) == 2 * len(decisions)
        assert {(c.config.acc_stages, c.config.mul_stages) for c in cands} == {(1, 0), (4, 1)}


def test_each_objective_picks_its_minimum_and_it_is_not_dominated(cache):
    picks = {}
    for objective in OBJECTIVES:
        c = choose_design(LENGTHS, FMT, FMT, objective=objective, stages=(1, 2), cache_dir=cache)
        a, d = c.area_metric, c.delay_metric
        assert (a, d) == metric_names(True) == ("osu018_um2", "osu018_ns")
        assert len(c.rows) == 4 and sum(r["chosen"] for r in c.rows) == 1
        best = c.chosen_row
        assert best["slug"] == c.config.slug
        assert _score(best, objective, a, d) == min(_score(r, objective, a, d) for r in c.rows)
        # The front, by brute force; the chosen design is on it.
        for r in c.rows:
            dominated = any(o[a] <= r[a] and o[d] <= r[d] and (o[a] < r[a] or o[d] < r[d]) for o in c.rows)
            assert r["pareto"] is not dominated
        assert best["pareto"]
        for r in c.rows:
            assert r["area_x_delay"] == pytest.approx(r[a] * r[d], abs=0.1)
            assert r["transistors"] > 500 and r["logic_levels"] > 5
        picks[objective] = c.config
    # A deeper loop is faster and larger here: delay and area pick different depths.
    assert picks["delay"].acc_stages == 2 and picks["area"].acc_stages == 1


def test_without_osu018_the_objective_uses_transistors_and_levels(cache):
    c = choose_design(LENGTHS, FMT, FMT, objective="area", stages=(1, 2), asic=False, cache_dir=cache)
    assert (c.area_metric, c.delay_metric) == ("transistors", "logic_levels")
    assert c.chosen_row["transistors"] == min(r["transistors"] for r in c.rows)
    head, cells = choice_table(c.summary())
    assert head[5] == "area (transistors)" and [row[0] for row in cells].count("*") == 1


def test_bad_objective():
    with pytest.raises(ValueError, match="Objective must be one of area, delay, area-delay, not 'speed'"):
        check_objective("speed")


def test_cli_plan_objective_json(cache, capsys):
    assert main(["plan", "--length", "200", "--a-format", FMT, "--b-format", FMT, "--objective", "delay",
                 "--acc-stages", "1,2", "--cache", str(cache), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    choice = out["choice"]
    chosen = [r for r in choice["rows"] if r["chosen"]]
    assert len(chosen) == 1 and chosen[0]["slug"] == choice["chosen"]
    assert chosen[0]["osu018_ns"] == min(r["osu018_ns"] for r in choice["rows"])
    assert choice["decision"]["n"] == 200


def test_cli_generate_objective_records_the_candidates(cache, tmp_path, capsys):
    out = tmp_path / "rtl"
    assert main(["generate", "mac", "--length", "200", "--a-format", FMT, "--b-format", FMT,
                 "--objective", "area-delay", "--cache", str(cache), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "design choice (area-delay): the best of" in text
    (sidecar,) = out.glob("*.json")
    meta = json.loads(sidecar.read_text())
    dc = meta["decision"]["design_choice"]
    assert dc["chosen"] == meta["top"] and dc["objective"] == "area-delay"
    best = min(dc["rows"], key=lambda r: r["osu018_um2"] * r["osu018_ns"])
    assert best["slug"] == meta["top"]


@pytest.mark.parametrize("args, message", [
    (["plan", "--length", "200", "--acc-stages", "1,2"], "--acc-stages needs --objective"),
    (["plan", "--length", "200", "--cache", "x"], "--cache needs --objective"),
    (["plan", "--length", "200", "--objective", "area", "--chunk", "auto"], "--objective and --chunk cannot"),
    (["plan", "--length", "200", "--objective", "area", "--method", "simulated"], "uses the analytical model"),
    (["plan", "--length", "200", "--objective", "area", "--acc-stages", "1,9"], "between 1 and 8, not 9"),
    (["plan", "--length", "200", "--objective", "fast"], "invalid choice: 'fast'"),
    (["generate", "mac", "--length", "200", "--objective", "area", "--chunk-size", "4", "-o", "x"],
     "--objective and --chunk-size cannot"),
    (["generate", "mac", "--acc-format", "e6m9", "--objective", "area", "-o", "x"],
     "--objective and --acc-format cannot"),
    (["flow", "--objective", "area", "--chunk", "auto", "-o", "x"], "--objective and --chunk cannot"),
])
def test_cli_objective_errors(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []
