"""cocotb bench of the fast harness (:mod:`macgen.verify.stream`): wait for ``done``.

Run by :func:`macgen.verify.stream.run_stream` through cocotb's Python runner; not
a pytest module. The harness (the top level) makes its own clock, reads the
stream files, drives the DUT, compares every cycle and writes its summary
itself: no simulator call into Python per cycle. This bench only waits for its
``done`` (and fails if it never comes).
``MACGEN_PROGRESS`` (optional) gets a small JSON progress note about once a second.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import First, RisingEdge, Timer

PERIOD = 2


@cocotb.test()
async def stream(dut):
    """Wait until the harness has played every cycle."""
    total = int(os.environ["MACGEN_STREAM_CYCLES"])
    progress = os.environ.get("MACGEN_PROGRESS")
    done = RisingEdge(dut.done)
    # Enough for the whole stream and the reset cycles; a harness that stops early is caught.
    step = Timer(PERIOD * 200_000, unit="step")
    while str(dut.done.value) != "1":
        if get_sim_time("step") > PERIOD * (total + 16):
            raise RuntimeError(f"the harness did not finish its {total} cycles")
        await First(done, step)
        if progress:
            tmp = f"{progress}.tmp"
            with open(tmp, "w") as f:
                json.dump({"done": min(total, get_sim_time("step") // PERIOD), "total": total}, f)
            os.replace(tmp, progress)
