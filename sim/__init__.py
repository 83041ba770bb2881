"""cocotb benches, installed as :mod:`macgen.verify.benches` (see ``pyproject.toml``).

Not pytest modules: :func:`macgen.verify.cocotb_runner.run_cocotb` runs them by
their dotted name inside the simulator.
"""
