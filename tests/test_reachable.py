# amaranth: UnusedElaboratable=no
"""No logic for values that cannot occur (macgen.reachable): the rule, its boundary,
and the pruned MACs bit-exact against the golden model where the rule holds.

e5m2 products lie on the grid 2^-32 (q(e5m2) = -14 - 2 = -16). An accumulator
``e6m9_bias33`` has emin = -32: the boundary, where the rule still holds and the
smallest normal is reached; ``e6m9_bias32`` (emin -31) is one past it, where sums
of these products are subnormal and the rule must not hold.
"""

import json
from dataclasses import replace

import numpy as np
import pytest

from macgen import golden, reachable
from macgen.area import area_of, area_of_verilog
from macgen.config import MACConfig
from macgen.emit import emit
from macgen.rtl import MAC
from macgen.rtl import mac as rtl_mac
from macgen.verify import mac as vmac
from macgen.verify.amaranth_mac import DotProduct, check_against_golden
from macgen.verify.stimulus import biased_operands, corner_codes, smallest_operands

AT = "e6m9_bias33"          # emin -32 == the e5m2 product grid
PAST = "e6m9_bias32"        # emin -31: one below the grid, sums can be subnormal


def rules(cfg):
    return {r.name for r in MAC(cfg).simplifications}


# -- the rule -------------------------------------------------------------------------


@pytest.mark.parametrize("kw, expect", [
    # Unchunked: the accumulator holds init + products.
    (dict(acc_fmt="e7m10", init=False), {"acc_never_subnormal"}),
    (dict(acc_fmt="e7m10"), set()),                                   # init: grid of e7m10 itself
    (dict(acc_fmt=AT, init=False), {"acc_never_subnormal"}),          # the boundary: grid == emin
    (dict(acc_fmt=PAST, init=False), set()),                          # grid == emin - 1
    (dict(acc_fmt="e6m9", init=False), set()),
    (dict(acc_fmt="e6m9_ftz_bias33", init=False), {"acc_never_subnormal"}),
    (dict(acc_fmt="e8m23", init=False, product_man_bits=3, rounding="rtz"), {"acc_never_subnormal"}),
    # Chunked, two datapaths: the inner sums start from +0 (init goes to the outer level).
    (dict(acc_fmt=AT, chunk_size=3, outer_fmt="fp32"), {"acc_never_subnormal"}),
    (dict(acc_fmt=AT, chunk_size=3, outer_fmt="fp32", init=False),
     {"acc_never_subnormal", "outer_never_subnormal"}),
    (dict(acc_fmt=PAST, chunk_size=3, outer_fmt="fp32", init=False), {"outer_never_subnormal"}),
    # Shared datapath: the one rounding also rounds the outer sums (init included).
    (dict(acc_fmt="e7m9", chunk_size=4), set()),
    (dict(acc_fmt="e7m9", chunk_size=4, init=False), {"acc_never_subnormal"}),
])
def test_rules_follow_the_grid_and_init(kw, expect):
    assert rules(MACConfig("e5m2", "e5m2", **kw)) == expect


def test_grid_exponent_is_the_subnormal_quantum():
    cfg = MACConfig("e5m2", "e5m2", AT, init=False)
    (rule,) = MAC(cfg).simplifications
    assert (rule.grid, rule.emin) == (-32, -32)
    assert reachable.grid_exponent(cfg.a_fmt) == -16
    # The smallest e5m2 subnormal squared is exactly 2^-32.
    tiny = np.uint64(1)
    assert golden.dot(MACConfig("e5m2", "e5m2", "fp32"), [[tiny]], [[tiny]])[0] == np.float32(2.0 ** -32).view(np.uint32)


def _tiny_dots(cfg, count, rng, *, init=False):
    """Dot products that drive the accumulator to the bottom of its range: mostly products
    of the smallest operands (random signs, so sums cancel to small multiples of the
    grid), some biased ones, and a third that cancel a prefix exactly (x - x) and end
    on tiny products."""
    dots = []
    for _ in range(count):
        n = int(rng.integers(1, 13))
        tiny = rng.random(n) < 0.75
        a = np.where(tiny, smallest_operands(cfg.a_fmt, n, rng), biased_operands(cfg.a_fmt, n, rng))
        b = np.where(tiny, smallest_operands(cfg.b_fmt, n, rng), biased_operands(cfg.b_fmt, n, rng))
        if n >= 4 and rng.random() < 0.35:
            h = (n - 1) // 2
            a[h:2 * h] = a[:h] ^ np.uint64(cfg.a_fmt.sign_bit)
            b[h:2 * h] = b[:h]
        start = None
        if init and rng.random() < 0.5:
            start = int(biased_operands(cfg.outer_fmt, 1, rng)[0])
        dots.append(DotProduct([int(x) for x in a], [int(y) for y in b], start))
    corners = corner_codes(cfg.a_fmt)
    dots += [DotProduct([x], [y]) for x in corners for y in corner_codes(cfg.b_fmt)]
    return dots


def _accumulator_states(cfg, dots):
    """Every accumulator value the golden model's steps pass through (unchunked)."""
    states = []
    for d in dots:
        acc = np.uint64(0)
        for x, y in zip(d.a, d.b):
            acc = golden.mac(cfg, acc, x, y)
            states.append(int(acc))
    return np.array(states, dtype=np.uint64)


def test_boundary_is_reached_and_one_past_it_subnormals_occur():
    """The stimulus reaches the accumulator's smallest normal at the boundary, and makes
    subnormals one format past it: a wrong rule there would be caught."""
    rng = np.random.default_rng(7)
    at = MACConfig("e5m2", "e5m2", AT, init=False)
    dots = _tiny_dots(at, 300, rng)
    states = _accumulator_states(at, dots)
    fmt = at.acc_fmt
    assert not fmt.is_subnormal(states).any()
    min_normal = np.uint64(1 << fmt.man_bits)
    assert (states & np.uint64(fmt.sign_bit - 1) == min_normal).any()      # ±2^-32 itself
    past = MACConfig("e5m2", "e5m2", PAST, init=False)
    assert past.acc_fmt.is_subnormal(_accumulator_states(past, dots)).sum() > 10


# -- the pruned MACs, bit-exact -----------------------------------------------------------

PRUNED = {
    "at": MACConfig("e5m2", "e5m2", AT, init=False),
    "at_ftz": MACConfig("e5m2", "e5m2", "e6m9_ftz_bias33", init=False),
    "e7m10": MACConfig("e5m2", "e5m2", "e7m10", init=False),
    "e8m23_p3_rtz": MACConfig("e5m2", "e5m2", "e8m23", init=False, product_man_bits=3, rounding="rtz"),
    "at_c3_fp32_init": MACConfig("e5m2", "e5m2", AT, chunk_size=3, outer_fmt="fp32"),
    "at_c3_fp32": MACConfig("e5m2", "e5m2", AT, chunk_size=3, outer_fmt="fp32", init=False),
    "at_c4_out": MACConfig("e5m2", "e5m2", AT, chunk_size=4, outer_fmt="e8m12_bias160", init=False,
                           out_fmt="e5m2"),
    "sh_e7m9_c4": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=4, init=False),
    "sh_at_c2": MACConfig("e5m2", "e5m2", AT, chunk_size=2, init=False),
    "k3_at_c3_fp32": MACConfig("e5m2", "e5m2", AT, chunk_size=3, outer_fmt="fp32", init=False,
                               acc_stages=3, mul_stages=1),
    "k4_e7m10": MACConfig("e5m2", "e5m2", "e7m10", init=False, acc_stages=4, mul_stages=1),
    "k2_sh_at_c2": MACConfig("e5m2", "e5m2", AT, chunk_size=2, init=False, acc_stages=2),
    # One past the boundary: no rule, the subnormal logic is built and exercised.
    "past": MACConfig("e5m2", "e5m2", PAST, init=False),
    "past_c3_fp32": MACConfig("e5m2", "e5m2", PAST, chunk_size=3, outer_fmt="fp32", init=False),
}


@pytest.mark.parametrize("name", sorted(PRUNED))
def test_pruned_mac_matches_golden(name):
    cfg = PRUNED[name]
    assert rules(cfg) or name.startswith("past")
    rng = np.random.default_rng(100 + sorted(PRUNED).index(name))
    dots = _tiny_dots(cfg, 250, rng, init=cfg.init)
    for seed, bubbles in ((1, 0.0), (2, 0.3)):
        count, bad = check_against_golden(MAC(cfg), dots, bubble_prob=bubbles, seed=seed)
        assert count == len(dots)
        assert not bad, f"{cfg.slug}: mismatches\n" + "\n".join(bad)


@pytest.mark.parametrize("name", ["past", "past_c3_fp32"])
def test_a_rule_applied_past_the_boundary_gives_wrong_results(name, monkeypatch):
    """The verification can fail: forcing the rule one format past its boundary (where
    subnormals do occur) builds a MAC the same stimulus catches."""
    cfg = PRUNED[name]
    forced = (reachable.Simplification(reachable.ACC_NEVER_SUBNORMAL, "accumulator", str(cfg.acc_fmt),
                                       -32, cfg.acc_fmt.emin, "forced"),)
    monkeypatch.setattr(rtl_mac, "simplifications", lambda c, shared: forced)
    mac = MAC(cfg)
    assert {r.name for r in mac.simplifications} == {reachable.ACC_NEVER_SUBNORMAL}
    dots = _tiny_dots(cfg, 250, np.random.default_rng(5))
    _, bad = check_against_golden(mac, dots, seed=1)
    assert bad


def test_a_mac_without_init_refuses_initial_values():
    dots = [DotProduct([0x3C], [0x3C], 0x3C)]
    with pytest.raises(ValueError, match="no init input"):
        check_against_golden(MAC(PRUNED["e7m10"]), dots)


# -- what it saves, and what the sidecar says ---------------------------------------------


def test_sidecar_records_the_rules(tmp_path):
    cfg = PRUNED["at_c3_fp32"]
    side = json.loads(emit(cfg, tmp_path).sidecar.read_text())
    recorded = {r["rule"]: r for r in side["simplifications"]}
    assert set(recorded) == {"acc_never_subnormal", "outer_never_subnormal"}
    assert recorded["acc_never_subnormal"]["grid_exp"] == -32
    assert recorded["acc_never_subnormal"]["emin"] == -32
    assert recorded["outer_never_subnormal"]["format"] == "e8m23"
    assert "init" not in {p["path"] for p in side["ports"]}
    plain = json.loads(emit(replace(cfg, acc_fmt=PAST), tmp_path).sidecar.read_text())
    assert [r["rule"] for r in plain["simplifications"]] == ["outer_never_subnormal"]


def test_pruning_makes_the_mac_smaller(tmp_path):
    """The same init-free e8m23 MAC with the rule and without (``simplify=False``): the
    rule's MAC is smaller (no subnormal decode, no normalization limit) and computes
    the same bits."""
    cfg = MACConfig("e5m2", "e5m2", "e8m23", init=False)
    full_mac = MAC(cfg, simplify=False)
    assert full_mac.simplifications == ()
    dots = _tiny_dots(cfg, 60, np.random.default_rng(3))
    assert not check_against_golden(full_mac, dots)[1]
    pruned = area_of(cfg, tmp_path / "pruned", fpga=False).transistors
    full = area_of_verilog(emit(MAC(cfg, simplify=False), tmp_path / "full").verilog, cfg.slug,
                           fpga=False).transistors
    assert pruned < full


def test_pruned_mac_verilog_on_the_fast_harness(tmp_path):
    """The emitted Verilog of an init-free MAC with both rules, streamed through Icarus by
    the fast harness (no init fields in the stream), on sums driven to the grid's bottom."""
    cfg = PRUNED["k3_at_c3_fp32"]
    design = emit(cfg, tmp_path / "rtl")
    assert "init" not in design.verilog.read_text().split("module " + cfg.slug)[1].split(");")[0]
    rng = np.random.default_rng(9)
    dots = _tiny_dots(cfg, 300, rng)
    n = np.array([len(d.a) for d in dots])
    stim = vmac.Stimulus(np.concatenate([d.a for d in dots]).astype(np.uint64),
                         np.concatenate([d.b for d in dots]).astype(np.uint64), n,
                         np.zeros(len(dots), np.uint64), np.zeros(len(dots), bool),
                         np.where(rng.random(n.sum()) < 0.2, 1, 0), seed=9, source="tiny")
    res = vmac.run_bench(design, cfg, stim, simulator="icarus", build_dir=tmp_path / "sim", harness="fast")
    assert res.harness == "fast" and res.products == int(n.sum())
    assert (res.mismatches, res.missing, res.extra) == (0, 0, 0), "\n\n".join(res.reports)
