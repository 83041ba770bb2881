"""What the cocotb benches (``mac_tb``, ``array_tb``) read: the design's JSON sidecar
(``MACGEN_SIDECAR``) and the stimulus arrays (``MACGEN_STIMULUS``, an ``.npz``)."""

from __future__ import annotations

import json
import os

import numpy as np


def load_bench_inputs() -> tuple[dict, dict]:
    """The sidecar as a dict and every stimulus array by name."""
    with open(os.environ["MACGEN_SIDECAR"]) as f:
        sidecar = json.load(f)
    with np.load(os.environ["MACGEN_STIMULUS"]) as data:
        stim = {k: data[k] for k in data.files}
    return sidecar, stim
