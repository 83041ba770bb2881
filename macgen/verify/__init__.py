"""Verification of the generated RTL against the golden model.

Modules
-------
stimulus
    Seeded, biased random operand bit patterns (the one generator every bench uses).
amaranth_sim
    The Amaranth-simulator testbench of both drivers: per-cycle inputs in, strobed outputs out.
amaranth_mac
    Amaranth-simulator driver for a :class:`macgen.rtl.MAC` with a latency-aware queue.
cocotb_runner
    cocotb's Python runner around the bench modules of :mod:`macgen.verify.benches`
    (the repository's ``sim/`` folder, shipped in the wheel).
bench
    The one outline every run follows (harness, build directory, fast stream or cocotb
    bench, summary); the MAC and the array give a :class:`~macgen.verify.bench.Bench`.
mac
    MAC dot-product stimulus, golden expectation, cocotb run, summary (``macgen verify mac``).
array
    Systolic-array tile stream, scoreboard, Amaranth and cocotb runs (``macgen verify array``).
oracle
    Independent Fraction and MPFR references the golden model is checked against.

Importing this package imports neither Amaranth nor cocotb (the simulator's
Python imports it too, on the way to the benches).
"""

from .cocotb_runner import SIMULATORS, SimulationError, verilator_bin

__all__ = ["SIMULATORS", "SimulationError", "verilator_bin"]
