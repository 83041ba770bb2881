"""cocotb bench for the emitted systolic array (``macgen.rtl.SystolicArray`` as Verilog).

Run by :func:`macgen.verify.array.run_array_bench` through cocotb's Python runner;
not a pytest module. Inputs come through environment variables naming files:

``MACGEN_SIDECAR``
    The JSON sidecar of :func:`macgen.emit.emit` (port names and widths, clock, reset).
``MACGEN_STIMULUS``
    The ``.npz`` of :meth:`macgen.verify.array.ArrayStimulus.save`: the value of
    every input in every cycle (garbage included).
``MACGEN_RESULTS``
    Where the bench writes the observed result rows: their cycles, first/last
    flags and values, and the wall-clock time of the stream.

The driver plays the per-cycle stream and the monitor samples the outputs at
every falling clock edge (when the previous rising edge's outputs have settled
in every simulator): the value read at the falling edge before rising edge
``t`` is the output of cycle ``t``, the cycle whose inputs edge ``t`` samples,
which is how the Amaranth tests count. The comparison with the golden model
and the schedule is the caller's (:func:`macgen.verify.array.check_rows`).
"""

from __future__ import annotations

import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from .bench_inputs import load_bench_inputs

PERIOD = 2


def _pack(rows, width):
    """Per-cycle packed port values (element 0 in the least significant bits)."""
    rows = np.asarray(rows, dtype=np.uint64).reshape(len(rows), -1)
    out = []
    for row in rows.tolist():
        word = 0
        for n, v in enumerate(row):
            word |= v << (n * width)
        out.append(word)
    return out


@cocotb.test()
async def array_tiles(dut):
    """Play every cycle of the stimulus file and record the result rows."""
    sidecar, stim = load_bench_inputs()
    ports = {p["path"]: p for p in sidecar["ports"]}
    handle = {path: getattr(dut, p["name"]) for path, p in ports.items()}
    rows, cols = int(stim["rows"]), int(stim["cols"])
    latency = int(sidecar["latency"])
    window = int(sidecar["config"]["mac"].get("acc_stages", 1))    # result rows per PE row
    w_a = ports["a"]["width"] // rows
    w_b = ports["b"]["width"] // cols
    w_r = ports["result"]["width"] // cols
    preload = "init" in ports
    T = len(stim["valid"])

    valid = stim["valid"].tolist()
    first = stim["first"].tolist()
    last = stim["last"].tolist()
    a_words = _pack(stim["a"], w_a)
    b_words = _pack(stim["b"], w_b)
    if preload:
        init_en = stim["init_en"].tolist()
        init_words = _pack(stim["init"], ports["init"]["width"] // (rows * cols))

    clk = getattr(dut, sidecar["clock"]["name"])
    rst = getattr(dut, sidecar["reset"]["name"])
    h_valid, h_first, h_last = handle["valid"], handle["first"], handle["last"]
    h_a, h_b = handle["a"], handle["b"]
    h_init, h_init_en = handle.get("init"), handle.get("init_en")
    h_res, h_rv = handle["result"], handle["result_valid"]
    h_rf, h_rl = handle["result_first"], handle["result_last"]

    Clock(clk, PERIOD, unit="step").start(start_high=False)
    rst.value = 1
    h_valid.value = 0
    for _ in range(3):
        await RisingEdge(clk)

    seen_cycle, seen_first, seen_last, seen_row = [], [], [], []
    mask = (1 << w_r) - 1
    falling = FallingEdge(clk)
    started = time.monotonic()
    for t in range(T + latency + rows * window + 2):
        await falling
        if t == 0:
            rst.value = 0
        if t < T:
            h_valid.value = valid[t]
            h_first.value = first[t]
            h_last.value = last[t]
            h_a.value = a_words[t]
            h_b.value = b_words[t]
            if preload:
                h_init_en.value = init_en[t]
                h_init.value = init_words[t]
        elif t == T:
            h_valid.value = 0
        if int(h_rv.value):
            word = int(h_res.value)
            seen_cycle.append(t)
            seen_first.append(int(h_rf.value))
            seen_last.append(int(h_rl.value))
            seen_row.append([(word >> (j * w_r)) & mask for j in range(cols)])
    wall = time.monotonic() - started

    np.savez(os.environ["MACGEN_RESULTS"],
             cycle=np.asarray(seen_cycle, dtype=np.int64),
             first=np.asarray(seen_first, dtype=np.int64),
             last=np.asarray(seen_last, dtype=np.int64),
             rows=np.asarray(seen_row, dtype=np.uint64).reshape(-1, cols),
             cycles=np.int64(T), wall=np.float64(wall))
