# amaranth: UnusedElaboratable=no
"""SystolicArray in Amaranth's simulator against ``macgen.golden.matmul``.

Each simulation streams many random tiles back to back through one array
(random depths, bubbles inside and between tiles, optional C0 preload) and
checks every element bit-exactly, plus the documented drain schedule: row ``i``
of a tile appears exactly ``latency + i`` cycles after the tile's last beat.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Fragment

from macgen import golden
from macgen.verify.array import check_rows, make_stimulus, simulate_amaranth
from macgen.config import ArrayConfig, MACConfig
from macgen.rtl.array import SystolicArray

CONFIGS = {
    "e5m2-c64": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64),
    "e5m2-c4": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=4),
    "bf16": MACConfig("bf16", "bf16", "fp32"),
    "fp16": MACConfig("fp16", "fp16", "fp16"),
    # OCP E4M3 (nan-only) into IEEE accumulators (docs/arithmetic.md §2–4's mixed policies)
    "e4m3fn-fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"),
    "e4m3fn-c4-fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e6m9", chunk_size=4, outer_fmt="fp32"),
}


def run_and_check(stim):
    dut = SystolicArray(stim.config)
    cycles, first, last, rows, _ = simulate_amaranth(dut, stim)
    result = check_rows(stim, dut.latency, cycles, first, last, rows)
    assert not result.protocol, "schedule violated:\n" + "\n".join(result.protocol)
    assert result.mismatches == 0, \
        f"{result.mismatches} mismatches ({stim.config.slug}):\n" + "\n".join(result.reports[:5])
    return dut, cycles, result


# -- random tiles against the golden model -----------------------------------

# (rows, cols, config, preload, tiles, depths, seed). Depths cross chunk
# boundaries (not multiples of the chunk), include K = 1 and K < rows (which
# needs bubbles between tiles), and tiles run back to back.
CASES = [
    (1, 1, "e5m2-c4", True, 80, (1, 2, 3, 5, 9, 11), 1),
    (1, 1, "e5m2-c64", False, 8, (1, 63, 64, 65, 70), 2),
    (1, 1, "fp16", True, 30, (1, 2, 5, 8), 3),
    (1, 1, "bf16", False, 30, (1, 3, 6), 13),
    (2, 3, "e5m2-c4", True, 50, (1, 3, 4, 5, 7, 13), 4),
    (2, 3, "bf16", True, 30, (1, 2, 4, 6), 5),
    (2, 3, "fp16", False, 40, (1, 3, 6), 6),
    (2, 3, "e5m2-c64", True, 6, (2, 66, 67), 7),
    (4, 4, "e5m2-c4", True, 32, (1, 2, 5, 6, 9), 8),
    (4, 4, "e5m2-c64", False, 4, (3, 65), 14),
    (4, 4, "fp16", True, 16, (1, 3, 7), 9),
    (4, 4, "bf16", False, 16, (2, 4, 5), 10),
    (8, 8, "e5m2-c4", True, 6, (1, 6, 9), 11),
    (8, 8, "e5m2-c64", False, 2, (3, 65), 12),
    (8, 8, "fp16", True, 2, (2, 9), 15),
    (8, 8, "bf16", False, 2, (8,), 16),
    (2, 3, "e4m3fn-fp32", True, 20, (1, 3, 6), 17),
    (4, 4, "e4m3fn-c4-fp32", True, 8, (1, 4, 5, 9), 18),
]


@pytest.mark.parametrize("rows, cols, name, preload, n_tiles, depths, seed", CASES,
                         ids=[f"{r}x{c}-{n}{'-c0' if p else ''}" for r, c, n, p, *_ in CASES])
def test_array_random_tiles_match_golden(rows, cols, name, preload, n_tiles, depths, seed):
    cfg = ArrayConfig(rows, cols, CONFIGS[name], preload=preload)
    stim = make_stimulus(cfg, n_tiles, depths, seed)
    _, _, result = run_and_check(stim)
    assert result.elements == n_tiles * rows * cols


# Pipelined PEs (acc_stages K): each PE keeps K interleaved dot products, a tile is
# rows * K result rows, B is held for K-cycle windows (bubbles come as whole windows).
PIPELINED_CASES = [
    # (rows, cols, config, K, preload, tiles, depths, bubble rate, seed)
    (1, 1, "e5m2-c4", 2, True, 20, (1, 2, 5, 9), 0.2, 41),
    (2, 3, "e5m2-c4", 3, True, 16, (1, 3, 4, 5, 7), 0.2, 42),
    (2, 3, "e5m2-c4", 4, False, 12, (1, 2, 6), 0.0, 43),
    (3, 2, "fp16", 4, True, 10, (1, 2, 4), 0.1, 44),
    (4, 4, "e4m3fn-c4-fp32", 2, True, 6, (1, 4, 5, 9), 0.1, 45),
    (2, 2, "bf16", 6, False, 6, (2,), 0.0, 46),
]


@pytest.mark.parametrize("rows, cols, name, k, preload, n_tiles, depths, bubbles, seed", PIPELINED_CASES,
                         ids=[f"{r}x{c}-{n}-k{k}{'-c0' if p else ''}" for r, c, n, k, p, *_ in PIPELINED_CASES])
def test_pipelined_array_matches_golden(rows, cols, name, k, preload, n_tiles, depths, bubbles, seed):
    mac = MACConfig(**{**CONFIGS[name].to_dict(), "acc_stages": k})
    cfg = ArrayConfig(rows, cols, mac, preload=preload)
    stim = make_stimulus(cfg, n_tiles, depths, seed, bubble_rate=bubbles)
    dut, cycles, result = run_and_check(stim)
    assert result.elements == n_tiles * rows * k * cols
    assert dut.latency == dut.pe_latency + cols
    if not bubbles and set(depths) == {rows}:
        # Back to back, depth = rows: the drain delivers rows * K rows per tile without a gap.
        assert list(np.diff(cycles)) == [1] * (len(cycles) - 1)


def test_pipelined_array_needs_windows():
    """The bench is sensitive: the same stream with B changing inside a window (not
    held for K cycles) gives wrong results in rows below the first."""
    mac = MACConfig("e5m2", "e5m2", "e6m9", acc_stages=2)
    cfg = ArrayConfig(2, 1, mac)
    stim = make_stimulus(cfg, 4, (3,), seed=47, bubble_rate=0.0)
    beats = np.flatnonzero(stim.valid)
    stim.b[beats[0::2]] ^= np.uint64(0x44)       # first cycle of each window only
    dut = SystolicArray(cfg)
    cycles, first, last, rows, _ = simulate_amaranth(dut, stim)
    result = check_rows(stim, dut.latency, cycles, first, last, rows)
    assert result.mismatches > 0


def test_array_suite_covers_200_tiles():
    assert sum(case[4] for case in CASES) >= 200


def test_array_back_to_back_without_bubbles():
    # K >= rows: tiles follow each other with no bubble at all; the drain keeps up.
    cfg = ArrayConfig(3, 2, CONFIGS["e5m2-c4"], preload=True)
    stim = make_stimulus(cfg, 8, (3, 4, 5), seed=20, bubble_rate=0.0)
    assert stim.valid.all()
    dut, cycles, _ = run_and_check(stim)
    # Documented total: tiles of depth K >= rows, back to back from cycle 0, take
    # sum(K) + L + rows + cols - 1 cycles until the last row has been presented.
    assert cycles[-1] + 1 == stim.cycles + dut.pe_latency + cfg.rows + cfg.cols - 1


def test_array_short_tiles_need_rows_cycles():
    # K = 1 < rows: the stimulus pads to `rows` cycles between last beats, and the
    # array drains one row per cycle without a gap.
    cfg = ArrayConfig(4, 2, CONFIGS["fp16"])
    stim = make_stimulus(cfg, 5, (1,), seed=21, bubble_rate=0.0)
    assert stim.cycles == 4 * 4 + 1
    _, cycles, _ = run_and_check(stim)
    assert list(np.diff(cycles)) == [1] * (len(cycles) - 1)


def test_array_preload_signed_zero_and_nan():
    # C0 = -0 plus products -0, -0 stays -0; C0 = NaN propagates; C0 = +inf stays inf.
    mac = CONFIGS["fp16"]
    cfg = ArrayConfig(1, 3, mac, preload=True)
    A = np.array([[0x8000, 0x3C00]], dtype=np.uint64)            # -0, 1
    B = np.array([[0x0000, 0x3C00, 0x3C00],
                  [0x8000, 0x0000, 0x3C00]], dtype=np.uint64)     # products -0,-0 | -1,0 | -1,1
    C0 = np.array([[0x8000, mac.outer_fmt.nan_bits, 0x7C00]], dtype=np.uint64)
    stim = make_stimulus(cfg, 1, (2,), seed=22, bubble_rate=0.0, preload_rate=1.0)
    stim.tiles[0] = (A, B, C0)
    stim.a[:2] = A.T
    stim.b[:2] = B
    stim.init[0] = C0
    stim.expected[0] = golden.matmul(mac, A, B, C0)[0]
    assert list(stim.expected[0]) == [0x8000, mac.out_fmt.nan_bits, 0x7C00]
    run_and_check(stim)


# -- construction, ports, configuration ----------------------------------------

def test_array_ports_and_latency():
    mac = CONFIGS["e5m2-c64"]
    arr = SystolicArray(ArrayConfig(2, 3, mac))
    members = dict(arr.signature.members)
    assert set(members) == {"valid", "first", "last", "a", "b", "result",
                            "result_valid", "result_first", "result_last"}
    assert len(arr.a) == 2 and len(arr.b) == 3 and len(arr.result) == 3
    assert len(arr.a[0]) == mac.a_fmt.width and len(arr.result[0]) == mac.out_fmt.width
    assert len(arr.a.as_value()) == 2 * mac.a_fmt.width
    assert arr.latency == arr.pe_latency + 3
    assert arr.pe_latency >= 1
    Fragment.get(arr, None)
    arr = SystolicArray(ArrayConfig(2, 3, mac, preload=True))
    assert len(arr.init) == 2 and len(arr.init[1]) == 3
    assert len(arr.init[0][0]) == mac.outer_fmt.width and len(arr.init_en) == 1
    # Plain top-level ports: one Verilog port per member, no interfaces or port arrays.
    ports = arr.metadata.as_json()["interface"]["members"]
    assert all(p["type"] == "port" for p in ports.values())
    assert ports["init"]["width"] == 6 * mac.outer_fmt.width
    Fragment.get(arr, None)  # elaborates without errors (and marks the PEs as used)


def test_array_rejects_non_config():
    with pytest.raises(TypeError, match="must be an ArrayConfig"):
        SystolicArray(CONFIGS["fp16"])


def test_array_config_preload_field():
    mac = CONFIGS["fp16"]
    plain = ArrayConfig(4, 2, mac)
    pre = ArrayConfig(4, 2, mac, preload=True)
    assert plain.preload is False
    assert plain.slug != pre.slug and pre.slug.startswith("array4x2_c0_")
    assert ArrayConfig.from_json(pre.to_json()) == pre
    assert ArrayConfig.from_json(plain.to_json()) == plain
    # Older JSON without the field still loads, as a plain array.
    old = json.loads(plain.to_json())
    del old["preload"]
    assert ArrayConfig.from_dict(old) == plain
    with pytest.raises(TypeError, match="preload must be a bool, not 1"):
        ArrayConfig(4, 2, mac, preload=1)


def test_array_convert_verilog_emits_the_pe_once():
    # Fast emission: one PE module, rows*cols instances, same top-level ports.
    cfg = ArrayConfig(2, 3, CONFIGS["e5m2-c4"], preload=True)
    arr = SystolicArray(cfg)
    text = arr.convert_verilog("top")
    assert text.count("module top__pe(") == 1
    assert text.count("top__pe pe_") == 6
    black_box = SystolicArray(cfg, pe_module="top__pe")
    assert black_box.signature == arr.signature and black_box.latency == arr.latency
    ports = lambda c: c.metadata.as_json()["interface"]["members"]
    assert ports(black_box) == ports(arr)
    with pytest.raises(TypeError, match="PE module name must be a string, not 1"):
        SystolicArray(cfg, pe_module=1)


def test_cli_generate_array_writes_verilog_and_sidecar(tmp_path, capsys):
    from macgen.cli import main

    out = tmp_path / "out"
    assert main(["generate", "array", "--rows", "2", "--cols", "3", "--preload", "--acc-format", "e6m9",
                 "--chunk-size", "4", "-o", str(out)]) == 0
    cfg = ArrayConfig(2, 3, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=4), preload=True)
    sidecar = json.loads((out / f"{cfg.slug}.json").read_text())
    assert ArrayConfig.from_dict(sidecar["config"]) == cfg
    assert sidecar["latency"] == SystolicArray(cfg).latency
    assert {p["name"] for p in sidecar["ports"]} >= {"a", "b", "init", "init_en", "result", "result_valid"}
    assert f"module {cfg.slug}(" in (out / f"{cfg.slug}.v").read_text()
    # Bad shape: one-line error, exit code 2, nothing written.
    bad = tmp_path / "bad"
    assert main(["generate", "array", "--rows", "0", "--cols", "3", "--acc-format", "e6m9",
                 "-o", str(bad)]) == 2
    assert "rows must be between 1 and 64, not 0" in capsys.readouterr().err
    assert not bad.exists()


def test_array_pes_share_one_chunk_counter():
    """One chunk counter for the whole array (the PEs take chunk_open/chunk_close from it)."""
    from macgen.rtl import MAC
    cfg = ArrayConfig(2, 2, CONFIGS["e5m2-c64"])
    text = SystolicArray(cfg).convert_verilog("top")
    top, pe = text.split("module top__pe(")
    assert "chunk_counter" in top and "chunk_counter" not in pe
    assert ".chunk_open(" in top and ".chunk_close(" in top
    members = MAC.Signature(cfg.mac, chunk_inputs=True).members
    assert {"chunk_open", "chunk_close"} <= set(members)
    assert "chunk_open" not in MAC.Signature(CONFIGS["fp16"], chunk_inputs=True).members
    assert "chunk_open" not in MAC(cfg.mac).signature.members


def test_pe_ports_come_from_the_mac_signature():
    """The array's PE instances have exactly the ports of MAC.Signature(cfg.pe): no init
    without preload, init with it; clock and reset by the names the sidecar gives."""
    from macgen.rtl import MAC
    from macgen.rtl.domains import CLOCK, RESET
    for preload in (False, True):
        cfg = ArrayConfig(2, 2, CONFIGS["e5m2-c64"], preload=preload)
        sig = MAC.Signature(cfg.pe, chunk_inputs=True)
        assert sig == MAC.Signature(replace(CONFIGS["e5m2-c64"], init=preload), chunk_inputs=True)
        assert ("init" in sig.members) == preload
        assert SystolicArray(cfg).simplifications == MAC(cfg.pe, chunk_inputs=True).simplifications
        top = SystolicArray(cfg).convert_verilog("top").split("module top__pe(")[0]
        inst = top[top.index("top__pe pe_0_0 ("):]
        inst = inst[:inst.index(");")]
        ports = set(re.findall(r"\.(\w+)\(", inst))
        assert ports == set(sig.members) | {CLOCK, RESET}
