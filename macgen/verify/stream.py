"""The fast harness: stimulus and expected outputs streamed from files into the DUT, compared in Verilog.

The cocotb benches (``mac_tb``, ``array_tb``) drive and check every beat from
Python, which caps a simulation at ~10^4-10^5 MACs per second whatever the
simulator. For large runs, :func:`run_stream` moves that work into a small
generated Verilog harness (:func:`harness_verilog`) around the DUT:

* the caller gives the value of every DUT input in every cycle and the expected
  output of every cycle (``result_valid``, the flags, the result elements), as
  NumPy arrays (:class:`Stream`);
* they are written as ``$readmemh`` files of :data:`DEPTH` cycles each
  (``stream/s<n>.hex``, ``stream/e<n>.hex``; every element padded to whole hex
  digits) and the harness plays them chunk after chunk without stopping the clock;
* at every rising edge the harness compares the outputs of that cycle with the
  expected word, counts element mismatches, missing outputs (expected valid, got
  none), extra outputs (valid where none was due) and flag errors, logs the
  first :data:`LOG_LIMIT` mismatching cycles (cycle, got word, expected word) and
  at the end writes a one-line summary;
* the harness makes its own clock (Verilator builds with ``--timing``); cocotb
  only waits for its ``done`` (``macgen.verify.benches.stream_tb``).

Cycle convention (the benches' and :func:`macgen.verify.array.check_rows`'):
the inputs of cycle ``t`` are sampled by rising edge ``t``, and the outputs of
cycle ``t`` are what the DUT shows just before that edge.

Builds are cached (:func:`macgen.verify.cocotb_runner.cached_build`): the key is the
hash of the DUT's Verilog, the harness, the simulator and its version and the
build flags, so a rerun of the same configuration, whatever its stimulus,
reuses the compiled model.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["DEPTH", "LOG_LIMIT", "HARNESS_TOP", "Field", "Stream", "StreamResult", "harness_verilog",
           "write_stream", "run_stream", "field_offsets", "hex_lines", "parse_word"]

#: Cycles per stream file (the harness's memory depth).
DEPTH = 1 << 16
#: Mismatching cycles the harness logs in full (all are counted).
LOG_LIMIT = 64
HARNESS_TOP = "macgen_stream_harness"
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_U64 = np.uint64


@dataclass(frozen=True)
class Field:
    """One port in a stream word: ``count`` elements of ``width`` bits (element 0 in the
    port's least significant bits), each padded to whole hex digits in the files."""

    port: str
    width: int
    count: int = 1

    @property
    def digits(self) -> int:
        return math.ceil(self.width / 4)

    @property
    def bits(self) -> int:
        """Bits the field takes in a stream word."""
        return 4 * self.digits * self.count


def field_offsets(fields) -> dict:
    """Where every element of every field sits in a stream word.

    Parameters
    ----------
    fields : list of Field
        The word's fields, the first the most significant (as in the files).

    Returns
    -------
    dict
        Port -> list of the bit offsets of its elements (element 0 first), counted from
        the word's least significant bit; every element takes whole hex digits.
    """
    pos, out = 0, {}
    for f in reversed(fields):
        out[f.port] = [pos + 4 * f.digits * j for j in range(f.count)]
        pos += f.bits
    return out


def _word_bits(fields) -> int:
    return sum(f.bits for f in fields)


@dataclass
class Stream:
    """Every cycle's DUT inputs and expected outputs.

    Members
    -------
    inputs : list of (Field, ndarray)
        The value of every input port in every cycle: arrays of shape (cycles,)
        or (cycles, count), uint64.
    valid : Field and ndarray of bool, shape (cycles,)
        The output strobe (``result_valid``) and when it is expected.
    result : Field and ndarray of uint64, shape (cycles, count)
        The result port and the expected elements (looked at where ``valid``).
    flags : list of (Field, ndarray)
        Output flags compared where ``valid`` (``result_first``, ``result_last``).
    """

    inputs: list
    valid: tuple
    result: tuple
    flags: list = field(default_factory=list)

    def __post_init__(self):
        self.cycles = len(self.valid[1])
        for f, v in [*self.inputs, self.result, *self.flags]:
            if len(v) != self.cycles:
                raise ValueError(f"Stream port {f.port} has {len(v)} cycles, not {self.cycles}")

    @property
    def input_fields(self):
        return [f for f, _ in self.inputs]

    @property
    def expect_fields(self):
        return [self.valid[0], *(f for f, _ in self.flags), self.result[0]]


def hex_lines(columns, start, stop) -> bytes:
    """The ``$readmemh`` lines of cycles ``start:stop``, one stream word a line.

    Parameters
    ----------
    columns : list of (Field, ndarray)
        Every field and its values per cycle, shape (cycles,) or (cycles, count), uint64.
    start, stop : int
        The cycles written.

    Returns
    -------
    bytes
        ``stop - start`` newline-terminated lines of hex digits: every element padded to
        whole digits, the first field and, within a field, the last element most
        significant (the layout of :func:`field_offsets`).
    """
    parts = []
    for f, values in columns:
        v = np.asarray(values[start:stop], dtype=_U64).reshape(stop - start, -1)[:, ::-1]
        shifts = _U64(4) * np.arange(f.digits - 1, -1, -1, dtype=_U64)
        digits = (v[:, :, None] >> shifts) & _U64(15)
        parts.append(_HEX[digits.reshape(stop - start, -1)])
    parts.append(np.full((stop - start, 1), ord("\n"), dtype=np.uint8))
    return np.hstack(parts).tobytes()


def write_stream(stream: Stream, directory) -> int:
    """Write ``stream`` as the harness's files in ``directory``; the number of chunks."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.hex"):
        old.unlink()
    expect = [(stream.valid[0], stream.valid[1]), *stream.flags, stream.result]
    chunks = -(-stream.cycles // DEPTH)
    for c in range(chunks):
        lo, hi = c * DEPTH, min(stream.cycles, (c + 1) * DEPTH)
        (directory / f"s{c}.hex").write_bytes(hex_lines(stream.inputs, lo, hi))
        (directory / f"e{c}.hex").write_bytes(hex_lines(expect, lo, hi))
    (directory / "control.hex").write_text(f"{stream.cycles:x}\n")
    return chunks


def _slice(offsets, f, j) -> str:
    lo = offsets[f.port][j]
    return f"{lo + f.width - 1}:{lo}"


def _port_expr(word, offsets, f) -> str:
    parts = [f"{word}[{_slice(offsets, f, j)}]" for j in reversed(range(f.count))]
    return parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"


def harness_verilog(top: str, clock: str, reset: str, inputs, valid: Field, result: Field,
                    flags=()) -> str:
    """The harness module :data:`HARNESS_TOP` around DUT module ``top`` (see the module docstring).

    ``inputs`` are the DUT's input fields in stream order; ``valid``, ``flags`` and
    ``result`` its outputs. The reset is held for 3 cycles before cycle 0.
    """
    inputs, flags = list(inputs), list(flags)
    expect = [valid, *flags, result]
    sw, ew = _word_bits(inputs), _word_bits(expect)
    s_off, e_off = field_offsets(inputs), field_offsets(expect)
    # The got word, laid out like the expected one (padding zero, result zero unless valid).
    got_parts = []
    for f in expect:
        for j in reversed(range(f.count)):
            pad = 4 * f.digits - f.width
            src = f"r_{f.port}[{(j + 1) * f.width - 1}:{j * f.width}]"
            got_parts.append(f"{{{pad}'b0, {src}}}" if pad else src)
    ports = [f"        .{clock}(clk)", f"        .{reset}(rst)"]
    ports += [f"        .{f.port}({_port_expr('s', s_off, f)})" for f in inputs]
    ports += [f"        .{f.port}(r_{f.port})" for f in expect]
    wires = "\n".join(f"    wire [{f.width * f.count - 1}:0] r_{f.port};" for f in expect)
    elem_cmp = " + ".join(f"(got[{_slice(e_off, result, j)}] != exp[{_slice(e_off, result, j)}])"
                          for j in range(result.count))
    flag_cmp = " || ".join(f"(got[{_slice(e_off, f, 0)}] != exp[{_slice(e_off, f, 0)}])" for f in flags) or "1'b0"
    v = _slice(e_off, valid, 0).split(":")[1]
    return f"""// Generated by macgen.verify.stream: plays stream/s<n>.hex into {top}, compares its outputs
// with stream/e<n>.hex every cycle, logs mismatches to stream/log.txt, sums up in stream/summary.txt.
module {HARNESS_TOP} (
    output reg done /*verilator public_flat_rw*/
);
    // The harness's own clock (period 2 time units): no simulator call per cycle.
    reg clk = 0;
    always #1 clk = ~clk;
    localparam DEPTH = {DEPTH};
    localparam LOG_LIMIT = {LOG_LIMIT};
    reg [{sw - 1}:0] smem [0:DEPTH-1];
    reg [{ew - 1}:0] emem [0:DEPTH-1];
    reg [63:0] control [0:0];
    reg [{sw - 1}:0] s;
    reg [{ew - 1}:0] exp;
    reg rst;
{wires}
    wire [{ew - 1}:0] got = {{{", ".join(got_parts)}}};
    wire got_valid = got[{v}];
    wire exp_valid = exp[{v}];
    wire [31:0] bad_elems = {elem_cmp};
    wire bad_flags = {flag_cmp};

    {top} dut (
{(","+chr(10)).join(ports)}
    );

    reg [63:0] total, t, t_next, mismatches, missing, extra, flag_errors, logged;
    reg [8*64-1:0] name;
    integer log_fd, sum_fd;

    task fetch(input [63:0] k);  // the inputs and expected outputs of cycle k
        begin
            if (k % DEPTH == 0) begin
                $sformat(name, "stream/s%0d.hex", k / DEPTH);
                $readmemh(name, smem, 0, (total - k < DEPTH ? total - k : DEPTH) - 1);
                $sformat(name, "stream/e%0d.hex", k / DEPTH);
                $readmemh(name, emem, 0, (total - k < DEPTH ? total - k : DEPTH) - 1);
            end
            s <= smem[k % DEPTH];
            exp = emem[k % DEPTH];
        end
    endtask

    initial begin
        done = 0;
        rst = 1;
        s = 0;
        $readmemh("stream/control.hex", control);
        total = control[0];
        t = 0;
        mismatches = 0; missing = 0; extra = 0; flag_errors = 0; logged = 0;
        log_fd = $fopen("stream/log.txt", "w");
    end

    // Three reset cycles, then cycle 0.
    reg [1:0] reset_left = 3;
    always @(posedge clk) begin
        if (reset_left != 0) begin
            reset_left <= reset_left - 1;
            if (reset_left == 1) begin
                rst <= 0;
                fetch(0);
            end
        end else if (!done) begin
            if (got_valid != exp_valid || (exp_valid && (bad_elems != 0 || bad_flags))) begin
                if (got_valid && !exp_valid) extra = extra + 1;
                else if (!got_valid) missing = missing + 1;
                else begin
                    mismatches = mismatches + bad_elems;
                    flag_errors = flag_errors + bad_flags;
                end
                if (logged < LOG_LIMIT) begin
                    $fdisplay(log_fd, "%0d %h %h", t, got, exp);
                    logged = logged + 1;
                end
            end
            if (t + 1 == total) begin
                $fclose(log_fd);
                sum_fd = $fopen("stream/summary.txt", "w");
                $fdisplay(sum_fd, "%0d %0d %0d %0d %0d", total, mismatches, missing, extra, flag_errors);
                $fclose(sum_fd);
                done <= 1;
            end else begin
                t_next = t + 1;
                fetch(t_next);
                t <= t_next;
            end
        end
    end
endmodule
"""


@dataclass
class StreamResult:
    """What the harness saw.

    Members
    -------
    cycles : int
    mismatches : int
        Result elements that differ where both sides are valid.
    missing, extra, flag_errors : int
        Cycles with an expected output but none, an output where none was due,
        wrong ``result_first``/``result_last``.
    log : list of (cycle, got, expected)
        The first :data:`LOG_LIMIT` mismatching cycles; ``got`` and ``expected``
        are dicts port -> uint64 array of elements.
    build_seconds, sim_seconds, write_seconds : float
        Wall-clock times: the (cached) build, the simulator run, writing the files.
    sim_cpu_seconds : float
        CPU time of the simulator process (start-up included).
    cached : bool
        Whether the build came from the cache.
    """

    cycles: int
    mismatches: int
    missing: int
    extra: int
    flag_errors: int
    log: list
    build_seconds: float = 0.0
    sim_seconds: float = 0.0
    write_seconds: float = 0.0
    sim_cpu_seconds: float = 0.0
    cached: bool = False

    @property
    def errors(self) -> int:
        return self.mismatches + self.missing + self.extra + self.flag_errors


def parse_word(text: str, fields) -> dict:
    """Read one stream word back into its fields' elements (the inverse of :func:`hex_lines`).

    Parameters
    ----------
    text : str
        The word in hex, as in the files and the harness's log.
    fields : list of Field
        The word's fields, the first the most significant.

    Returns
    -------
    dict
        Port -> uint64 array of its ``count`` elements, element 0 first.
    """
    word = int(text, 16)
    out = {}
    offsets = field_offsets(fields)
    for f in fields:
        mask = (1 << f.width) - 1
        out[f.port] = np.array([(word >> lo) & mask for lo in offsets[f.port]], dtype=_U64)
    return out


def run_stream(design, stream: Stream, *, simulator: str, build_dir, cache_dir=None) -> StreamResult:
    """Play ``stream`` through ``design`` in the harness (cocotb starts it); see the module docstring.

    Parameters
    ----------
    design : macgen.emit.EmitResult
    stream : Stream
    simulator : {'icarus', 'verilator'}
    build_dir : path
        The run's directory: ``harness.v``, ``stream/`` (removed after a clean run), logs.
    cache_dir : path, optional
        Where compiled models are kept (default :func:`~macgen.verify.cocotb_runner.sim_cache_dir`).

    Raises
    ------
    SimulationError
        The design did not build or the simulation did not finish.
    """
    from .cocotb_runner import SimulationError, cached_build, run_built

    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    side = design.metadata
    text = harness_verilog(design.top, side["clock"]["name"], side["reset"]["name"],
                           stream.input_fields, stream.valid[0], stream.result[0],
                           [f for f, _ in stream.flags])
    harness = build / "harness.v"
    harness.write_text(text)
    t0 = time.monotonic()
    sources = [Path(design.verilog).resolve(), harness]
    model, cached, build_seconds = cached_build(sources, HARNESS_TOP, simulator, build, cache_dir=cache_dir)
    t1 = time.monotonic()
    stream_dir = build / "stream"
    write_stream(stream, stream_dir)
    t2 = time.monotonic()
    summary_path = stream_dir / "summary.txt"
    cpu0 = _children_cpu()
    run_built(model, HARNESS_TOP, simulator, test_module="stream_tb", build=build,
              env={"MACGEN_STREAM_CYCLES": str(stream.cycles)}, results_path=summary_path)
    t3 = time.monotonic()
    cpu = _children_cpu() - cpu0
    try:
        total, mism, missing, extra, flags = (int(x) for x in summary_path.read_text().split())
    except ValueError:
        raise SimulationError(f"the harness wrote a malformed summary {summary_path}") from None
    if total != stream.cycles:
        raise SimulationError(f"the harness played {total} cycles, not {stream.cycles}")
    log = []
    for line in (stream_dir / "log.txt").read_text().splitlines():
        cycle, got, want = line.split()
        log.append((int(cycle), parse_word(got, stream.expect_fields), parse_word(want, stream.expect_fields)))
    for f in stream_dir.glob("*.hex"):
        f.unlink()
    return StreamResult(total, mism, missing, extra, flags, log, build_seconds=build_seconds,
                        sim_seconds=t3 - t2, write_seconds=t2 - t1, sim_cpu_seconds=cpu, cached=cached)


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
