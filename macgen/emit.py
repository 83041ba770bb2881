"""Emission: elaborate a component to Verilog and write its JSON sidecar.

``emit(component_or_config, out_dir)`` writes two files named after the
configuration's slug:

``<slug>.v``
    The Verilog of the component, top module ``<slug>``, clock ``clk`` and
    synchronous active-high reset ``rst`` (Amaranth's ``sync`` domain). Emitted
    without source-location attributes so that the text depends only on the
    configuration (byte-identical across runs and checkouts).
``<slug>.vlt``
    Verilator lint waivers for ``<slug>.v`` (:func:`lint_waiver`), so that
    ``verilator --lint-only -Wall <slug>.vlt <slug>.v`` passes in a user's flow.
``<slug>.json``
    The sidecar that benches and flows read instead of re-deriving anything:
    the configuration (``config.to_dict()``), the latency, the component's
    derived widths (when it exposes ``widths``), the logic it leaves out for values
    its configuration proves cannot occur (``simplifications``, one record per rule
    of :mod:`macgen.reachable`; an array's are its PEs'), the precision model's decision
    that chose the accumulator (when given), every port's Verilog name,
    direction and width (from ``component.metadata``), and the clock and reset.

All three files are written atomically: everything is generated in memory first,
then written to temporary files in ``out_dir`` and moved into place with
:func:`os.replace`; on any error no file (partial or temporary) is left behind.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .config import ArrayConfig, MACConfig
from .files import write_all_or_nothing
from .validate import check_int

__all__ = ["EmitResult", "emit", "build_component", "sidecar_dict", "read_sidecar", "SIDECAR_SCHEMA",
           "lint_waiver", "LINT_WAIVED"]

#: Version of the sidecar layout; benches refuse sidecars of another major version.
SIDECAR_SCHEMA = 1

#: Verilator ``-Wall`` warnings that Amaranth's Verilog raises by construction, with why they
#: are harmless: its netlists read slices of wider values and compare 1-bit results to wider
#: constants (WIDTHEXPAND/WIDTHTRUNC), keep every named signal even where only some bits are
#: used (UNUSEDSIGNAL), initialise registers in their declaration (PROCASSINIT), and name
#: submodules ``top.sub`` inside ``top.v`` (DECLFILENAME).
LINT_WAIVED = ("WIDTHEXPAND", "WIDTHTRUNC", "UNUSEDSIGNAL", "PROCASSINIT", "DECLFILENAME")


def lint_waiver(slug: str) -> str:
    """The Verilator configuration file that waives :data:`LINT_WAIVED` in ``<slug>.v`` only."""
    lines = ["`verilator_config", f"// Emitted by macgen with {slug}.v: waivers for Verilator -Wall (see",
             "// macgen.emit.LINT_WAIVED for why each is harmless). Use: verilator --lint-only -Wall "
             f"{slug}.vlt {slug}.v"]
    lines += [f'lint_off -rule {rule} -file "*{slug}.v"' for rule in LINT_WAIVED]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class EmitResult:
    """What :func:`emit` wrote.

    Members
    -------
    top : str
        Verilog top module name (the configuration's slug).
    verilog : pathlib.Path
        ``<out_dir>/<slug>.v``.
    sidecar : pathlib.Path
        ``<out_dir>/<slug>.json``.
    latency : int
        The component's latency in cycles.
    metadata : dict
        The sidecar's content (as written).
    """

    top: str
    verilog: Path
    sidecar: Path
    latency: int
    metadata: dict = field(repr=False)
    lint_waiver: Path | None = None

    def to_dict(self) -> dict:
        return {"top": self.top, "verilog": str(self.verilog), "sidecar": str(self.sidecar),
                "latency": self.latency}


def build_component(config):
    """The Amaranth component for a configuration.

    Parameters
    ----------
    config : MACConfig or ArrayConfig

    Raises
    ------
    TypeError
        For anything else.
    """
    if isinstance(config, MACConfig):
        from .rtl import MAC
        return MAC(config)
    if isinstance(config, ArrayConfig):
        from .rtl import SystolicArray
        return SystolicArray(config)
    raise TypeError(f"Configuration must be a MACConfig or an ArrayConfig, not {config!r}")


def _jsonable(value):
    """Make ``value`` JSON-serialisable (``to_dict()``, dataclass-like, numpy scalars)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return _jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return value.item()
    return str(value)


def _flatten_ports(members: dict, out: list) -> None:
    for key, member in members.items():
        if member.get("type") == "port":
            out.append({"name": member["name"], "dir": member["dir"], "width": member["width"],
                        "signed": member.get("signed", False), "path": key})
        elif member.get("type") == "interface":
            sub = []
            _flatten_ports(member.get("members", {}), sub)
            for port in sub:
                port["path"] = f"{key}.{port['path']}"
            out.extend(sub)


def sidecar_dict(component, *, decision=None) -> dict:
    """The sidecar content for ``component`` (see the module docstring).

    Parameters
    ----------
    component : wiring.Component
        Must have ``config`` (with ``slug`` and ``to_dict()``) and ``latency``.
    decision : object with ``to_dict()``, or dict, optional
        The precision model's decision that chose the accumulator.
    """
    from .rtl.domains import CLOCK, RESET
    config = component.config
    meta = component.metadata.as_json()
    ports = []
    _flatten_ports(meta["interface"]["members"], ports)
    widths = getattr(component, "widths", None)
    if callable(widths):
        widths = widths()
    rules = getattr(component, "simplifications", ())
    return {
        "schema": SIDECAR_SCHEMA,
        "generator": f"macgen {__version__}",
        "kind": type(config).__name__,
        "component": type(component).__name__,
        "top": config.slug,
        "verilog": f"{config.slug}.v",
        "config": _jsonable(config.to_dict()),
        "latency": int(component.latency),
        "widths": _jsonable(widths),
        "simplifications": [r.to_dict() for r in rules],
        "decision": _jsonable(decision),
        "clock": {"name": CLOCK, "edge": "rising"},
        "reset": {"name": RESET, "synchronous": True, "active": "high"},
        "ports": ports,
        "annotations": _jsonable(meta["interface"].get("annotations", {})),
    }


def _check_component(component):
    missing = [name for name in ("config", "latency", "metadata") if not hasattr(component, name)]
    if missing:
        raise TypeError(f"Component must have config, latency and metadata (a wiring.Component "
                        f"of macgen), but {component!r} lacks {', '.join(missing)}")
    config = component.config
    if not hasattr(config, "slug") or not hasattr(config, "to_dict"):
        raise TypeError(f"Component configuration must have slug and to_dict(), not {config!r}")
    check_int("Component latency", component.latency, minimum=1)


def emit(component_or_config, out_dir, *, decision=None) -> EmitResult:
    """Elaborate to Verilog and write ``<slug>.v``, ``<slug>.vlt`` and ``<slug>.json`` into ``out_dir``.

    Parameters
    ----------
    component_or_config : wiring.Component, MACConfig or ArrayConfig
        A component with ``config`` (``slug``, ``to_dict()``) and ``latency``, or a
        configuration, which is built with :func:`build_component`.
    out_dir : str or os.PathLike
        Created if missing.
    decision : optional
        The precision model's decision (``AccumulatorDecision``, anything with
        ``to_dict()``, or a dict), recorded in the sidecar.

    Returns
    -------
    EmitResult

    Raises
    ------
    TypeError, ValueError
        Not a component or configuration; invalid latency.
    OSError
        The directory cannot be written. No file is left behind.
    """
    from amaranth.back import verilog

    if isinstance(component_or_config, (MACConfig, ArrayConfig)):
        component = build_component(component_or_config)
    else:
        component = component_or_config
    _check_component(component)
    slug = component.config.slug
    # Everything in memory first, so an elaboration error writes nothing.
    meta = sidecar_dict(component, decision=decision)
    if callable(getattr(component, "convert_verilog", None)):
        # Components that emit faster themselves (the array emits its PE module once).
        text = component.convert_verilog(slug)
    else:
        text = verilog.convert(component, name=slug, emit_src=False)
    if not text.endswith("\n"):
        text += "\n"
    sidecar_text = json.dumps(meta, indent=2) + "\n"

    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    v_path, j_path, w_path = out / f"{slug}.v", out / f"{slug}.json", out / f"{slug}.vlt"
    try:
        write_all_or_nothing({v_path: text, j_path: sidecar_text, w_path: lint_waiver(slug)},
                             skip_unchanged=True)
    except BaseException:
        if created:
            try:
                out.rmdir()
            except OSError:
                pass
        raise
    return EmitResult(top=slug, verilog=v_path, sidecar=j_path, latency=meta["latency"], metadata=meta,
                      lint_waiver=w_path)


def read_sidecar(path) -> dict:
    """Read and check a sidecar written by :func:`emit`.

    Raises
    ------
    OSError
        Unreadable file.
    ValueError
        Not a macgen sidecar, or of another schema version.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"Sidecar {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SIDECAR_SCHEMA or "ports" not in data:
        raise ValueError(f"{path} is not a macgen sidecar of schema {SIDECAR_SCHEMA}")
    return data


class _CallableModule(types.ModuleType):
    """``macgen.emit`` is this module and, for ``from macgen import emit``, the function: Python sets
    the package attribute ``macgen.emit`` to the submodule whenever it is imported, so the module
    itself must be callable for that name to mean :func:`emit` in every import order."""

    def __call__(self, component_or_config, out_dir, *, decision=None) -> EmitResult:
        return emit(component_or_config, out_dir, decision=decision)


sys.modules[__name__].__class__ = _CallableModule
