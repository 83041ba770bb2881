"""The testbench both Amaranth-simulator drivers use (:mod:`macgen.verify.amaranth_mac` for
a MAC, :func:`macgen.verify.array.simulate_amaranth` for an array).

:func:`play` drives a precomputed table of per-cycle input values into a design,
then idle cycles, and records its outputs in every cycle its output strobe is
high; the drivers check those observations against their schedules afterwards.
Cycle convention (the cocotb benches' and the fast harness's): the inputs of
cycle ``t`` are sampled by rising edge ``t``, and the outputs of cycle ``t`` are
what the design shows just before that edge (its outputs come from registers).
"""

from __future__ import annotations

import time

from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

__all__ = ["play"]


def play(dut, inputs, rows, *, drain: int, strobe, outputs):
    """Simulate ``dut`` on ``rows`` and return what it put out.

    All inputs are packed into one stimulus signal: the testbench then sets one
    value per cycle, and the simulator settles the design once instead of once
    per port.

    Parameters
    ----------
    dut : amaranth.lib.wiring.Component
    inputs : list of Value
        The input ports driven (``as_value()`` of a data view).
    rows : sequence of tuples of int
        Every cycle's value of every port of ``inputs`` (masked to the port's width).
    drain : int
        Idle cycles (every input 0) after the last row.
    strobe : Value
        The output that says the others are valid (``result_valid``).
    outputs : list of Value
        The outputs recorded where ``strobe`` is 1.

    Returns
    -------
    (seen, seconds)
        ``(cycle, (output values))`` of every cycle with ``strobe`` 1, and the
        wall-clock time of the simulation.
    """
    stim = Signal(sum(len(p) for p in inputs))
    top = Module()
    top.submodules.dut = dut
    fields, offset = [], 0
    for p in inputs:
        top.d.comb += p.eq(stim[offset:offset + len(p)])
        fields.append((offset, (1 << len(p)) - 1))
        offset += len(p)
    words = [sum((int(v) & mask) << off for v, (off, mask) in zip(row, fields)) for row in rows]
    seen = []

    async def bench(ctx):
        for t in range(len(words) + drain):
            if t < len(words):
                ctx.set(stim, words[t])
            elif t == len(words):
                ctx.set(stim, 0)
            if ctx.get(strobe):
                seen.append((t, tuple(ctx.get(o) for o in outputs)))
            await ctx.tick()

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    start = time.perf_counter()
    sim.run()
    return seen, time.perf_counter() - start
