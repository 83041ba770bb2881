"""cocotb bench for the emitted MAC (``macgen.rtl.MAC`` as Verilog).

Run by :func:`macgen.verify.mac.run_bench` through cocotb's Python runner; not a
pytest module. Everything it needs comes through environment variables naming
files in the build directory:

``MACGEN_SIDECAR``
    The JSON sidecar written by :func:`macgen.emit.emit`: port names and widths,
    latency, clock and reset names, the configuration.
``MACGEN_STIMULUS``
    An ``.npz`` written by :meth:`macgen.verify.mac.Stimulus.save`: the dot
    products (operands flattened, lengths, initial values), the bubbles before
    every beat, and the golden model's expected results.
``MACGEN_RESULTS``
    Where the bench writes its ``.npz`` of observed results and protocol
    checks; ``MACGEN_PROGRESS`` (optional) gets a small JSON progress note.

The bench is a driver (beats with random bubbles; during a bubble every other
input carries random garbage, which the MAC must ignore; for a K-stage
accumulate loop, K interleaved streams of dot products), a monitor (samples
``result``/``result_valid`` at every falling clock edge) and a scoreboard
(compares every result bit-for-bit with the expected value of the dot product
whose ``last`` beat is due, and checks
that it came exactly ``latency`` cycles after its ``last`` beat). Mismatches are
data, not failures: the cocotb test fails only if the bench itself breaks, and
the caller reports mismatches (decoded, with inputs) from the results file.
"""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, RisingEdge

from .bench_inputs import load_bench_inputs

#: Clock period in simulator steps: 2 steps (no dependency on the Verilog timescale).
PERIOD = 2


class MacPorts:
    """The DUT's handles, looked up by the names the sidecar gives."""

    NAMES = ("valid", "first", "last", "a", "b", "result", "result_valid")
    #: Only a MAC built with ``init`` has these (else every dot product starts from +0).
    INIT = ("init", "init_en")

    def __init__(self, dut, sidecar):
        by_path = {p["path"]: p for p in sidecar["ports"]}
        missing = [n for n in self.NAMES if n not in by_path]
        if missing:
            raise ValueError(f"sidecar lacks MAC port(s) {', '.join(missing)}")
        self.has_init = all(n in by_path for n in self.INIT)
        names = self.NAMES + (self.INIT if self.has_init else ())
        self.width = {n: by_path[n]["width"] for n in names}
        for n in names:
            setattr(self, n, getattr(dut, by_path[n]["name"]))
        self.clk = getattr(dut, sidecar["clock"]["name"])
        self.rst = getattr(dut, sidecar["reset"]["name"])


class Driver:
    """Presents the beats of consecutive dot products, with bubbles.

    Records, for every dot product, the simulation time of the clock edge that
    samples its ``last`` beat.
    """

    def __init__(self, ports: MacPorts, stim, seed: int, lanes: int = 1):
        self.p = ports
        self.lanes = lanes
        self.done = []          # dot products in the order of their last beats
        self.rng = random.Random(seed)
        self.a = [int(x) for x in stim["a"]]
        self.b = [int(x) for x in stim["b"]]
        self.gaps = [int(x) for x in stim["gaps"]]
        self.init = [int(x) for x in stim["init"]]
        self.init_en = [int(x) for x in stim["init_en"]]
        self.lengths = [int(x) for x in stim["lengths"]]
        self.last_edge = [0] * len(self.lengths)
        self.cycles = 0
        self.held = {}

    def _garbage(self):
        """Random values on every input but ``valid``: a bubble must ignore them."""
        p, r, put = self.p, self.rng, self._put
        put("first", r.getrandbits(1))
        put("last", r.getrandbits(1))
        p.a.value = r.getrandbits(p.width["a"])
        p.b.value = r.getrandbits(p.width["b"])
        if p.has_init:
            p.init.value = r.getrandbits(p.width["init"])
            put("init_en", r.getrandbits(1))

    def _put(self, name, value):
        # Writes cost a simulator call each; skip the control bits that did not change.
        if self.held.get(name) != value:
            self.held[name] = value
            getattr(self.p, name).value = value

    def _lane(self, lane):
        """Events of one interleaved stream: None for a bubble, else (dot, beat in dot, beat)."""
        k = 0
        for d, n in enumerate(self.lengths):
            if d % self.lanes == lane:
                for j in range(n):
                    for _ in range(self.gaps[k + j]):
                        yield None
                    yield d, j, k + j
            k += n

    async def run(self):
        p, put, rng = self.p, self._put, self.rng
        init_width = p.width.get("init")
        edge = RisingEdge(p.clk)
        # A K-stage accumulate loop takes K interleaved streams: cycle c carries a beat
        # of stream c mod K (dot product d goes to stream d mod K).
        streams = [self._lane(lane) for lane in range(self.lanes)]
        while True:
            # One round of the K streams; none left: done (no trailing round of bubbles,
            # so that `cycles` is the stimulus' own, as the fast harness counts it).
            events = [next(stream, False) for stream in streams]
            if all(event is False for event in events):
                break
            for event in events:
                if not event:
                    put("valid", 0)
                    self._garbage()
                    await edge
                    self.cycles += 1
                    continue
                d, j, k = event
                n = self.lengths[d]
                put("valid", 1)
                put("first", int(j == 0))
                put("last", int(j == n - 1))
                p.a.value = self.a[k]
                p.b.value = self.b[k]
                if p.has_init:
                    if j == 0:
                        p.init.value = self.init[d]
                        put("init_en", self.init_en[d])
                    elif rng.random() < 0.25:
                        # init/init_en matter only on a first beat: junk elsewhere must be ignored.
                        p.init.value = rng.getrandbits(init_width)
                        put("init_en", rng.getrandbits(1))
                await edge
                self.cycles += 1
                if j == n - 1:
                    # The beat was sampled at the edge just awaited.
                    self.last_edge[d] = get_sim_time("step")
                    self.done.append(d)
        put("valid", 0)
        self._garbage()


class Monitor:
    """Samples ``result`` whenever ``result_valid`` is 1 (at falling edges, when
    the outputs of the preceding rising edge have settled in every simulator)."""

    def __init__(self, ports: MacPorts, scoreboard):
        self.p = ports
        self.scoreboard = scoreboard

    async def run(self):
        p = self.p
        edge = FallingEdge(p.clk)
        while True:
            await edge
            if p.result_valid.value:
                # The rising edge that produced it was half a period earlier.
                self.scoreboard.observe(int(p.result.value), get_sim_time("step") - PERIOD // 2)


class Scoreboard:
    """Compares results, in order, with the expected bit patterns."""

    def __init__(self, expected, latency: int, order, progress_path=None):
        self.expected = [int(x) for x in expected]
        self.order = order      # dot products in the order their results are due
        self.latency = latency
        self.actual = np.zeros(len(self.expected), dtype=np.uint64)
        self.result_edge = np.zeros(len(self.expected), dtype=np.int64)
        self.got = np.zeros(len(self.expected), dtype=bool)
        self.received = 0
        self.extra = 0
        self.mismatches = 0
        self.progress_path = progress_path
        self._last_note = time.monotonic()

    def observe(self, value: int, edge_time: int):
        if self.received >= len(self.order):
            self.extra += 1
            return
        i = self.order[self.received]
        self.actual[i] = value
        self.result_edge[i] = edge_time
        self.got[i] = True
        self.mismatches += value != self.expected[i]
        self.received += 1
        if self.progress_path and (i & 255) == 0 and time.monotonic() - self._last_note > 1.0:
            self._last_note = time.monotonic()
            _write_json(self.progress_path, {"done": self.received, "total": len(self.expected),
                                             "mismatches": int(self.mismatches)})


def _write_json(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


@cocotb.test()
async def mac_dot_products(dut):
    """Drive every dot product of the stimulus file and record the results."""
    sidecar, stim = load_bench_inputs()
    latency = int(sidecar["latency"])
    ports = MacPorts(dut, sidecar)
    lanes = int(sidecar["config"].get("acc_stages", 1))
    driver = Driver(ports, stim, seed=int(stim["seed"]), lanes=lanes)
    scoreboard = Scoreboard(stim["expected"], latency, driver.done, os.environ.get("MACGEN_PROGRESS"))
    monitor = Monitor(ports, scoreboard)

    Clock(ports.clk, PERIOD, unit="step").start(start_high=False)
    ports.rst.value = 1
    driver._put("valid", 0)
    driver._garbage()
    for _ in range(3):
        await RisingEdge(ports.clk)
    ports.rst.value = 0
    monitor_task = cocotb.start_soon(monitor.run())
    started, cpu_started = time.monotonic(), time.process_time()
    await driver.run()
    # Drain: the last result is due `latency` cycles after the last beat; wait a margin
    # more so that late or extra pulses are seen too.
    for _ in range(latency + 8):
        await RisingEdge(ports.clk)
    monitor_task.cancel()

    n = len(scoreboard.expected)
    got = scoreboard.received
    mask = scoreboard.got
    delay = (scoreboard.result_edge[mask] - np.asarray(driver.last_edge, dtype=np.int64)[mask]) // PERIOD
    late = np.flatnonzero(mask)[delay != latency - 1]
    np.savez(os.environ["MACGEN_RESULTS"],
             actual=scoreboard.actual, received=np.int64(got), got_mask=mask,
             extra=np.int64(scoreboard.extra),
             delay=delay + 1, off_time=late.astype(np.int64), cycles=np.int64(driver.cycles),
             wall=np.float64(time.monotonic() - started),
             cpu=np.float64(time.process_time() - cpu_started))
    if os.environ.get("MACGEN_PROGRESS"):
        _write_json(os.environ["MACGEN_PROGRESS"], {"done": got, "total": n,
                                                    "mismatches": int(scoreboard.mismatches)})
