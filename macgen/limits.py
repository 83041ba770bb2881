"""Upper bounds of every size-like input, in one place.

The command line checks its options against these before any work starts (and
``--help`` prints them), and the layer-file reader checks its fields: a size
beyond them would not be a design anyone builds, but it would allocate
gigabytes or run for hours before failing. No Amaranth, no NumPy.
"""

from __future__ import annotations

__all__ = ["MAX_LENGTH", "MAX_CHUNK_SIZE", "MAX_ARRAY_DIM", "MAX_COUNT", "MAX_DEPTH", "MAX_SIM_MACS", "MAX_FAST_SIM_MACS",
           "MAX_TRIALS", "SIM_MAX_LENGTH", "MAX_LAYER_DIM", "MAX_BATCH", "MAX_JOBS", "MAX_SEED",
           "MAX_REPORTS", "MAX_SWEEP_SPAN", "MAX_TIMEOUT", "MAX_POINTS"]

#: Longest accumulation (dot-product length) the precision model sizes for: 2^31, about
#: 40 times the longest GEMM of ResNet-18 at batch 256 on ImageNet.
MAX_LENGTH = 2 ** 31
#: Longest chunk of chunk-based accumulation: 2^20 (a 21-bit chunk counter).
MAX_CHUNK_SIZE = 2 ** 20
#: Rows and columns of a systolic array (as :class:`macgen.config.ArrayConfig` checks).
MAX_ARRAY_DIM = 64
#: Random dot products or tiles of one ``verify`` run (and the ``flow``'s).
MAX_COUNT = 1_000_000
#: Depth K of a tile in ``verify array``.
MAX_DEPTH = 65_536
#: Products one ``verify`` run may simulate at most, counted from the longest dot product or
#: tile its options allow (Icarus runs some 10^4 MACs a second).
MAX_SIM_MACS = 2_000_000
#: The same with ``--harness fast`` (macgen.verify.stream: ~10^6 MACs a second on Verilator;
#: the stimulus and expected values take ~100 bytes of memory per MAC).
MAX_FAST_SIM_MACS = 20_000_000
#: Monte-Carlo dot products per length and width (``plan --trials``, ``sweep --mc-trials``).
MAX_TRIALS = 100_000
#: Longest accumulation ``--method simulated`` steps through by default (``plan
#: --sim-max-length``): the golden model steps one product at a time (~0.5 ms a step).
SIM_MAX_LENGTH = 16_384
#: Channels, features, kernel and output sizes of one layer in a layer file.
MAX_LAYER_DIM = 2 ** 20
#: Batch size of a workload.
MAX_BATCH = 2 ** 16
#: Parallel Yosys runs on this machine.
MAX_JOBS = 256
#: Random seeds are 32-bit.
MAX_SEED = 2 ** 32 - 1
#: Mismatch reports printed by ``verify``.
MAX_REPORTS = 10_000
#: ``flow --sweep-span``: accumulator widths swept on each side of the choice.
MAX_SWEEP_SPAN = 16
#: Seconds per Yosys run (``sweep --timeout``): one day.
MAX_TIMEOUT = 86_400.0
#: ``sweep --max-points``.
MAX_POINTS = 1_000_000
