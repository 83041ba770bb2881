# amaranth: UnusedElaboratable=no
"""Output-stationary systolic array of MAC processing elements."""

# (The linter option above: a prototype PE is built in __init__ for its signature,
# latency and checks, and never elaborated; if the array itself is never
# elaborated, Amaranth warns about the array.)

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, ResetSignal, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ArrayConfig
from .domains import CLOCK, RESET

__all__ = ["SystolicArray"]

def _mac_class():
    from . import MAC  # late: macgen.rtl imports this module
    return MAC


class _PEPorts:
    """The ports of :class:`macgen.rtl.MAC.Signature` as plain signals (``<name>_<port>``),
    for a PE instantiated as a separately emitted Verilog module."""

    def __init__(self, signature, name):
        self._dirs = {}
        for port, member in signature.members.items():
            setattr(self, port, Signal(member.shape, name=f"{name}_{port}"))
            self._dirs[port] = "i" if member.flow == In else "o"

    def instance(self, module):
        return Instance(module, **{f"i_{CLOCK}": ClockSignal(), f"i_{RESET}": ResetSignal()},
                        **{f"{d}_{port}": getattr(self, port) for port, d in self._dirs.items()})


def _delay(m, signal, cycles, name):
    """``signal`` delayed by ``cycles`` registers in the sync domain."""
    for n in range(cycles):
        reg = Signal(len(signal), name=f"{name}_d{n + 1}")
        m.d.sync += reg.eq(signal)
        signal = reg
    return signal


class SystolicArray(wiring.Component):
    """An output-stationary ``rows x cols`` systolic array computing ``A @ B (+ C0)``.

    Processing element ``PE(i, j)`` is a :class:`macgen.rtl.MAC` that keeps the
    dot product ``C[i, j] = dot(A[i, :], B[:, j])`` (k = 0..K-1 in order, with
    the MAC's chunking and rounding, docs/arithmetic.md §2–4) in place. Row ``i`` of ``A``
    enters on the left, one element per cycle on ``a[i]``; column ``j`` of ``B``
    enters on top on ``b[j]``. Element ``k`` of a tile is presented on all
    ``a``/``b`` ports in the same cycle (the *beat* ``k``): the array skews the
    streams itself, with an input stage of ``i`` delay registers on row ``i``,
    ``j`` on column ``j``. Inside, ``a`` and the framing (``valid``, ``first``,
    ``last``, ``init_en``) travel right and ``b`` travels down, one register
    per PE, so ``PE(i, j)`` sees beat ``k`` ``i + j`` cycles after it was
    presented. The arithmetic is exactly the MAC's: the array only moves
    operands, so ``result`` equals ``macgen.golden.matmul(cfg.mac, A, B, C0)``
    bit for bit (NaNs, signed zeros and all).

    Schedule (cycles counted from the one where a signal is presented, as the
    MAC's contract counts them; ``L`` is the MAC's latency):

    * A tile is a stream of ``K >= 1`` beats (cycles with ``valid=1``), the
      first one flagged ``first``, the last one ``last`` (both for ``K = 1``).
      Bubbles (``valid=0``) are allowed anywhere, also inside a tile, and change
      nothing.
    * ``PE(i, j)`` sees the last beat of a tile that was presented in cycle
      ``t`` in cycle ``t + i + j`` and has its result ``L`` cycles later. The
      results of column ``j`` reach a column bus on distinct cycles (one row
      after the other) and are registered there and de-skewed by
      ``cols - 1 - j`` more registers, so the tile drains **row by row**: row
      ``i`` of the result, all ``cols`` elements, is on ``result`` in cycle
      ``t + latency + i``, with ``latency = L + cols``; ``result_valid`` is 1 for
      the ``rows`` consecutive cycles ``t + latency .. t + latency + rows - 1``,
      ``result_first`` marks row 0 and ``result_last`` row ``rows - 1``.
    * Tiles go back to back: a tile's ``first`` beat may follow the previous
      tile's ``last`` beat in the next cycle. The only constraint is the drain's
      bandwidth of one row per cycle: **the last beats of consecutive tiles must
      be at least ``rows`` cycles apart**. A tile of ``K >= rows`` beats never
      needs a bubble; a shorter one is followed by ``rows - K`` bubbles (or the
      next tile contains them). The drain never stalls the operand streams.
    * A tile of depth ``K`` presented without bubbles from cycle 0 has its
      first result row in cycle ``K - 1 + L + cols`` and its last one in
      cycle ``K + L + cols + rows - 2``: ``K + L + rows + cols - 1`` cycles
      in all. A stream of ``N`` tiles of depth ``K >= rows`` takes
      ``N*K + L + rows + cols - 1`` cycles; the PEs are busy ``K`` of every
      ``max(K, rows)`` cycles.

    Pipelined PEs (``cfg.mac.acc_stages = W > 1``): every PE keeps ``W``
    interleaved dot products, so a tile is ``rows * W`` rows of ``A`` and ``C``
    and the array stays busy every cycle. Time comes in *windows* of ``W``
    cycles; a beat is a window: in cycle ``t`` of window ``k`` present
    ``a[i] = A[i*W + t, k]`` (PE row ``i`` keeps C rows ``i*W .. i*W + W - 1``)
    and ``b[j] = B[k, j]``, held for the whole window (B's bandwidth is one row
    per window). ``valid``, ``first`` and ``last`` are the same in all ``W``
    cycles of a window (bubbles are whole windows), windows follow one another
    from the first cycle of a tile's first window, and with preload ``init`` in
    cycle ``t`` of the first window is ``C0[i*W + t, j]``. Everything above then
    holds with windows for beats and ``rows * W`` result rows per tile, in order
    (row ``s`` of the drain is ``C[s, :]``, on ``result`` in cycle
    ``t + latency + s`` where ``t`` is the first cycle of the tile's last
    window); consecutive tiles' last windows are at least ``rows`` windows
    apart. Row ``i`` is skewed by ``i * W`` cycles (so that the PEs of a column
    finish one after the other), and ``b`` moves down once per window.

    Chunking: every PE follows the same chunk schedule, so the array has one chunk
    counter at its input; its ``chunk_open``/``chunk_close`` flags travel with
    ``first``/``last`` and the PEs (MACs built with ``chunk_inputs=True``) have no
    counter of their own.

    With ``cfg.preload``, a tile may start from ``C0`` instead of +0: on its
    ``first`` beat present ``init_en = 1`` and ``init[i][j] = C0[i, j]`` (bits
    in the MAC's ``outer_fmt``); the array delays ``init[i][j]`` by ``i + j``
    registers to meet ``PE(i, j)``'s first beat (``rows*cols*(rows+cols-2)/2``
    registers of ``outer_fmt`` in all, which is why preload is optional).

    Registers besides the PEs: the input skew (``rows*(rows-1)/2`` words of
    ``a``, ``cols*(cols-1)/2`` of ``b``, plus the framing bits), one ``a``
    and framing register per PE hop to the right and one ``b`` register per
    hop down, and the drain (``cols*(cols+1)/2`` words of ``out_fmt`` and 3
    flag bits per stage). Emission to Verilog (:meth:`convert_verilog`, used by
    :func:`macgen.emit.emit`) writes the MAC once as a module and instantiates
    it ``rows * cols`` times.

    Parameters
    ----------
    cfg : ArrayConfig
        Shape, PE configuration and the preload switch.
    pe_module : str, optional
        Instantiate the PEs as this Verilog module (a :class:`macgen.rtl.MAC`
        emitted separately, see :meth:`convert_verilog`) instead of as
        Amaranth components. Such an array can only be converted to Verilog.

    Members
    -------
    Vector ports are packed arrays (``data.ArrayLayout``), one plain Verilog
    port each, element 0 in the least significant bits: ``a[i]`` is bits
    ``[i*w, (i+1)*w)`` of ``a``; ``init[i][j]`` is element ``i*cols + j``.

    valid : In(1)
        This cycle carries a beat.
    first, last : In(1)
        The beat is the first / last of its tile (both for ``K = 1``).
    a : In(ArrayLayout(a_fmt.width, rows))
        ``a[i]`` is ``A[i, k]`` on beat ``k``.
    b : In(ArrayLayout(b_fmt.width, cols))
        ``b[j]`` is ``B[k, j]`` on beat ``k``.
    init_en : In(1)
        Only with ``cfg.preload``: on a ``first`` beat, start from ``init``.
    init : In(ArrayLayout(ArrayLayout(outer_fmt.width, cols), rows))
        Only with ``cfg.preload``: ``init[i][j]`` is ``C0[i, j]``, sampled on
        the ``first`` beat when ``init_en`` is set.
    result : Out(ArrayLayout(out_fmt.width, cols))
        ``result[j]`` is ``C[i, j]`` of the row being drained.
    result_valid : Out(1)
        ``result`` holds a row of results.
    result_first, result_last : Out(1)
        The row is row 0 / row ``rows - 1`` of its tile.

    Raises
    ------
    TypeError
        If ``cfg`` is not an :class:`~macgen.config.ArrayConfig`, or
        ``pe_module`` not a string.
    """

    def __init__(self, cfg: ArrayConfig, *, pe_module: str | None = None):
        if not isinstance(cfg, ArrayConfig):
            raise TypeError(f"Array configuration must be an ArrayConfig, not {cfg!r}")
        if pe_module is not None and not isinstance(pe_module, str):
            raise TypeError(f"PE module name must be a string, not {pe_module!r}")
        self._config = cfg
        self._pe_module = pe_module
        # One PE, built now: a MAC that rejects the configuration does so at construction,
        # and its signature, latency and simplifications are every PE's. (It is a
        # prototype, never elaborated; elaborate() builds the R x C PEs, or, with
        # pe_module, instances of that separately emitted Verilog module.)
        self._pe = _mac_class()(cfg.pe, chunk_inputs=True)
        mac = cfg.mac
        members = {
            "valid": In(1),
            "first": In(1),
            "last": In(1),
            "a": In(data.ArrayLayout(unsigned(mac.a_fmt.width), cfg.rows)),
            "b": In(data.ArrayLayout(unsigned(mac.b_fmt.width), cfg.cols)),
        }
        if cfg.preload:
            members["init_en"] = In(1)
            members["init"] = In(data.ArrayLayout(
                data.ArrayLayout(unsigned(mac.outer_fmt.width), cfg.cols), cfg.rows))
        members.update({
            "result": Out(data.ArrayLayout(unsigned(mac.out_fmt.width), cfg.cols)),
            "result_valid": Out(1),
            "result_first": Out(1),
            "result_last": Out(1),
        })
        super().__init__(members)

    @property
    def config(self) -> ArrayConfig:
        """The array's configuration."""
        return self._config

    @property
    def latency(self) -> int:
        """Cycles from a tile's ``last`` beat to its first result row: MAC latency + cols."""
        return self._pe.latency + self._config.cols

    @property
    def simplifications(self) -> tuple:
        """The PEs' rules of :mod:`macgen.reachable` (their MAC configuration is
        :attr:`ArrayConfig.pe <macgen.config.ArrayConfig.pe>`: no init input without preload)."""
        return self._pe.simplifications

    @property
    def pe_latency(self) -> int:
        """Latency of one processing element (the MAC)."""
        return self._pe.latency

    def convert_verilog(self, name: str) -> str:
        """Verilog of the array with top module ``name``, fast for large arrays.

        Amaranth elaborates every PE separately (the time grows with
        ``rows * cols``); here the MAC is emitted once, as module
        ``<name>__pe``, and the array instantiates it ``rows * cols`` times.
        The ports and the behaviour are the same as
        ``amaranth.back.verilog.convert(self, name=name)``.
        """
        from amaranth.back import verilog

        pe_name = f"{name}__pe"
        # This array is the top, elaborated with instances of the PE module for its PEs.
        saved, self._pe_module = self._pe_module, pe_name
        try:
            text = verilog.convert(self, name=name, emit_src=False)
        finally:
            self._pe_module = saved
        pe = verilog.convert(_mac_class()(self._config.pe, chunk_inputs=True), name=pe_name, emit_src=False)
        return text.rstrip("\n") + "\n\n" + pe

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols
        preload = cfg.preload

        if self._pe_module is None:
            mac_cls = _mac_class()
            pes = [[mac_cls(cfg.pe, chunk_inputs=True) for _ in range(cols)] for _ in range(rows)]
            for i in range(rows):
                for j in range(cols):
                    m.submodules[f"pe_{i}_{j}"] = pes[i][j]
        else:
            pes = [[_PEPorts(self._pe.signature, f"pe_{i}_{j}") for j in range(cols)] for i in range(rows)]
            for i in range(rows):
                for j in range(cols):
                    m.submodules[f"pe_{i}_{j}"] = pes[i][j].instance(self._pe_module)

        # Input stage: row i (operand and framing) late by i windows (i * K cycles),
        # column j by j cycles. The framing bits travel as one vector with the operands.
        K = cfg.mac.acc_stages
        ctrl_in = Cat(self.valid, self.first, self.last, self.init_en if preload else 0)
        window_end = self._window_end(m) if K > 1 else 1
        chunked = bool(cfg.mac.chunk_size)
        if chunked:
            ctrl_in = Cat(ctrl_in, *self._chunk_control(m, window_end))
        if K > 1:
            ctrl_in = Cat(ctrl_in, window_end)
        ctrl_w = len(ctrl_in)
        ctrl_sig = Signal(ctrl_w, name="ctrl")
        m.d.comb += ctrl_sig.eq(ctrl_in)
        row_a = [_delay(m, self.a[i], i * K, f"skew_a{i}") for i in range(rows)]
        row_ctrl = [_delay(m, ctrl_sig, i * K, f"skew_ctrl{i}") for i in range(rows)]
        col_b = [_delay(m, self.b[j], j, f"skew_b{j}") for j in range(cols)]

        # The grid: a and framing move right, b moves down, one register per PE.
        a_here = list(row_a)
        ctrl_here = list(row_ctrl)
        b_here = list(col_b)
        for i in range(rows):
            for j in range(cols):
                pe = pes[i][j]
                a_ij, b_ij, ctrl_ij = a_here[i], b_here[j], ctrl_here[i]
                m.d.comb += [
                    pe.a.eq(a_ij),
                    pe.b.eq(b_ij),
                    pe.valid.eq(ctrl_ij[0]),
                    pe.first.eq(ctrl_ij[1]),
                    pe.last.eq(ctrl_ij[2]),
                ]
                if chunked:
                    m.d.comb += [pe.chunk_open.eq(ctrl_ij[4]), pe.chunk_close.eq(ctrl_ij[5])]
                if preload:
                    m.d.comb += [
                        pe.init_en.eq(ctrl_ij[3]),
                        pe.init.eq(_delay(m, self.init[i][j], i * K + j, f"init_{i}_{j}")),
                    ]
                if j + 1 < cols:
                    a_next = Signal(len(a_ij), name=f"a_{i}_{j + 1}")
                    ctrl_next = Signal(len(ctrl_ij), name=f"ctrl_{i}_{j + 1}")
                    m.d.sync += [a_next.eq(a_ij), ctrl_next.eq(ctrl_ij)]
                    a_here[i], ctrl_here[i] = a_next, ctrl_next
                if i + 1 < rows:
                    b_next = Signal(len(b_ij), name=f"b_{i + 1}_{j}")
                    if K == 1:
                        m.d.sync += b_next.eq(b_ij)
                    else:
                        # b is held for a window: the row below takes it at the window's
                        # end and holds it through its own window, K cycles later.
                        with m.If(ctrl_ij[-1]):
                            m.d.sync += b_next.eq(b_ij)
                    b_here[j] = b_next

        # Drain. PE(i, j) finishes i + j cycles after the tile's last beat, so the
        # PEs of one column finish on distinct, consecutive cycles: a one-hot OR
        # onto a column bus collects them (the spacing rule keeps tiles apart),
        # a register per column closes the path, and cols - 1 - j more registers
        # line the columns up into rows.
        out_w = cfg.mac.out_fmt.width
        for j in range(cols):
            bus = 0
            for i in range(rows):
                pe = pes[i][j]
                bus = bus | (pe.result & pe.result_valid.replicate(out_w))
            col = Signal(out_w, name=f"drain_{j}")
            m.d.sync += col.eq(bus)
            m.d.comb += self.result[j].eq(_delay(m, col, cols - 1 - j, f"drain_{j}"))
        # Row framing follows column 0's path: the same cycle as result[0].
        any_valid = Cat(pes[i][0].result_valid for i in range(rows)).any()
        if K > 1:
            # A tile drains rows * K rows in a row: count them for first/last.
            valid = Signal(name="drain_valid")
            m.d.sync += valid.eq(any_valid)
            valid = _delay(m, valid, cols - 1, "drain_valid")
            count = Signal(range(rows * K), name="drain_row")
            with m.If(valid):
                m.d.sync += count.eq(Mux(count == rows * K - 1, 0, count + 1))
            m.d.comb += [
                self.result_valid.eq(valid),
                self.result_first.eq(valid & (count == 0)),
                self.result_last.eq(valid & (count == rows * K - 1)),
            ]
            return m
        flags_in = Cat(any_valid, pes[0][0].result_valid, pes[rows - 1][0].result_valid)
        flags = Signal(3, name="drain_flags")
        m.d.sync += flags.eq(flags_in)
        flags = _delay(m, flags, cols - 1, "drain_flags")
        m.d.comb += [
            self.result_valid.eq(flags[0]),
            self.result_first.eq(flags[1]),
            self.result_last.eq(flags[2]),
        ]
        return m

    def _chunk_control(self, m, window_end):
        """Where chunks open and close, for every PE at once: ``(chunk_open, chunk_close)``
        of the beat (window) presented now. Every PE follows the same chunk schedule, so one
        counter serves them all; the flags travel with ``first``/``last``."""
        from .lfsr import chunk_close
        first = self.valid & self.first
        chunk_start = Signal(name="chunk_start")          # the next beat opens a chunk
        opens = Signal(name="chunk_open")
        close = Signal(name="chunk_close")
        m.d.comb += [opens.eq(first | chunk_start),
                     close.eq(chunk_close(m, self._config.mac.chunk_size, opens=opens, last=self.last,
                                          advance=self.valid & window_end))]
        with m.If(self.valid & window_end):
            m.d.sync += chunk_start.eq(close)
        return opens, close

    def _window_end(self, m):
        """1 in the last cycle of a K-cycle window (K = the PEs' ``acc_stages``).

        Windows follow one another from the first cycle of a tile's first window
        (``valid & first`` rising), so the user needs no phase of their own.
        """
        K = self._config.mac.acc_stages
        phase = Signal(range(K), name="window_phase")     # of the next cycle
        was_first = Signal(name="was_first")
        start = self.valid & self.first & ~was_first
        here = Mux(start, 0, phase)
        m.d.sync += [was_first.eq(self.valid & self.first),
                     phase.eq(Mux(here == K - 1, 0, here + 1))]
        return here == K - 1
