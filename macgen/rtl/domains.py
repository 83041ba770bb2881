"""Port names of the emitted Verilog's clock domain.

Every macgen design has one clock domain, Amaranth's ``sync``; converted to
Verilog its clock and (synchronous, active-high) reset become these ports. The
array instantiates separately emitted PEs by these names, and the sidecar
records them.
"""

CLOCK = "clk"
RESET = "rst"
