"""Design-space sweeps: resumable, parallel or distributed Yosys runs (CSV, Pareto front, PNG).

A sweep synthesises one design per point of a :class:`SweepSpec` — operand
formats x array shapes x pipeline stages x chunk size x accumulator exponent
width x accumulator mantissa width — plus, per operand pair and shape, one
reference with an e8m23 (FP32) accumulator, and records docs/arithmetic.md §7's area next to
the precision model's VRR and variance lost ``v`` for a given accumulation
length (and, optionally, the Monte-Carlo VRR of the golden model).

Points run through an :mod:`macgen.executor`: this machine's process pool
(``jobs``), or a Dask cluster (``scheduler``). Each point is an independent task
that returns its record; results stream back as they complete, a failed point is
reported with its configuration and the others carry on.

Resumable: the *client* writes each point's record to ``<cache>/<slug>.json``
(default ``<out>/cache``) atomically (temporary file + rename) as soon as it
arrives, wherever the point was computed, so workers need no shared file system;
a rerun, or a sweep that was killed (client or worker), recomputes nothing
already cached (unless the generator's sources or the Yosys scripts changed
since: :func:`generator_fingerprint`). ``sweep.csv``, ``pareto.csv`` and the
figures are written once, atomically, when every point is done, so they are
never partial.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .area import AreaReport
from .config import ArrayConfig, MACConfig
from .files import write_atomic
from .formats import FloatFormat, accumulator_format
from .validate import check_bool, check_int

__all__ = ["SweepSpec", "SweepResult", "parse_int_list", "sweep_configs", "reference_config", "run_sweep",
           "run_spec", "synthesise_points", "point_figures", "load_spec_table", "pareto_front", "generator_fingerprint", "CSV_COLUMNS",
           "STAGE_DIMENSIONS", "DEFAULT_PARETO", "DELAY_COLUMNS"]

#: MACConfig fields a sweep ranges over besides the accumulator and the chunk size: multiplier
#: stages and the accumulate loop's stages (docs/arithmetic.md, section 5).
STAGE_DIMENSIONS = ("mul_stages", "acc_stages")

#: Area columns, from :class:`macgen.area.AreaReport` (a metric added there becomes a column).
_AREA_FIELDS = ("transistors", "cells", "flip_flops") + tuple(
    f for f in AreaReport.__dataclass_fields__
    if f not in ("top", "cell_types", "logic_path", "yosys_version", "seconds", "transistors", "cells",
                 "flip_flops"))

#: OSU018 + OpenSTA columns (``asic=True``; :func:`macgen.timing.osu018_timing`).
_ASIC_FIELDS = ("osu018_um2", "osu018_ns", "osu018_reg_to_reg_ns", "area_x_delay_um2ns")

#: Columns of ``sweep.csv`` and ``pareto.csv``, in order.
CSV_COLUMNS = (
    "role", "slug", "a_fmt", "b_fmt", "acc_fmt", "exp_bits", "man_bits", "chunk_size",
    *STAGE_DIMENSIONS, "rows", "cols", *_AREA_FIELDS, *_ASIC_FIELDS,
    "length", "vrr", "v", "vrr_mc", "v_mc", "model_choice", "yosys_seconds",
)

#: Pareto objectives by default (all minimised): area against the model's variance lost ...
DEFAULT_PARETO = ("transistors", "v")
#: ... and whichever of these delay columns the records carry (timing flows add them).
DELAY_COLUMNS = ("logic_levels", "osu018_ns")

_NUMERIC = frozenset(CSV_COLUMNS) - {"role", "slug", "a_fmt", "b_fmt", "acc_fmt"}
_MODEL_COLUMNS = {"vrr", "v", "vrr_mc", "v_mc"}
_FPGA_COLUMNS = {c for c in _AREA_FIELDS if c.startswith(("ice40_", "ecp5_"))}


def parse_int_list(text: str, name: str, *, minimum: int = 0) -> list[int]:
    """Parse ``4:16`` (inclusive), ``4:16:2``, ``0,16,64`` or a mix like ``4:6,10``.

    Raises
    ------
    ValueError
        Malformed text or a value below ``minimum``.
    """
    values = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if ":" in part:
                bits = [int(x) for x in part.split(":")]
                if len(bits) not in (2, 3) or (len(bits) == 3 and bits[2] < 1) or bits[1] < bits[0]:
                    raise ValueError
                values.extend(range(bits[0], bits[1] + 1, bits[2] if len(bits) == 3 else 1))
            else:
                values.append(int(part))
        except ValueError:
            raise ValueError(f"{name} must be integers like '4:16', '4:16:2' or '0,16,64', "
                             f"not {text!r}") from None
    for v in values:
        if v < minimum:
            raise ValueError(f"{name} must be at least {minimum}, not {v}")
    return sorted(set(values))


def sweep_configs(a_fmt, b_fmt, *, man_bits, exp_bits, chunks, rounding="rne",
                  product_man_bits=None, **stages) -> list[MACConfig]:
    """The MAC configurations of a sweep, chunk-major, then exponent, then mantissa width.

    ``stages`` are :data:`STAGE_DIMENSIONS` fields of :class:`MACConfig` (``mul_stages=1``).

    Raises
    ------
    TypeError, ValueError
        As :class:`MACConfig` and :class:`FloatFormat`.
    """
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    return [MACConfig(a_fmt, b_fmt, accumulator_format(a_fmt, b_fmt, e, m), rounding=rounding,
                      product_man_bits=product_man_bits, chunk_size=c, **stages)
            for c in chunks for e in exp_bits for m in man_bits]


def reference_config(a_fmt, b_fmt, *, rounding="rne", product_man_bits=None, **stages) -> MACConfig:
    """The same MAC with an e8m23 (FP32) accumulator and no chunking: the plot's reference line."""
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    return MACConfig(a_fmt, b_fmt, accumulator_format(a_fmt, b_fmt, 8, 23), rounding=rounding,
                     product_man_bits=product_man_bits, **stages)


def generator_fingerprint() -> str:
    """Hash of what decides a point's area: the RTL, emission, configs and Yosys scripts.

    Stored with every cached point; a point cached by another version of the
    generator (or of the flows) is synthesised again.
    """
    import hashlib

    from .area import SYNTH_DIR
    pkg = Path(__file__).resolve().parent
    files = sorted((pkg / "rtl").glob("*.py")) + [pkg / "emit.py", pkg / "config.py", pkg / "formats.py"]
    files += sorted((f for f in SYNTH_DIR.iterdir() if f.name.endswith((".ys", ".tcl"))), key=lambda f: f.name)
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()[:16]


def _mc_key(n, trials, seed):
    return f"n{n}_t{trials}_s{seed}"


def _int_values(value, name: str, *, minimum: int) -> tuple[int, ...]:
    """An int, a list of ints, or :func:`parse_int_list` text."""
    if isinstance(value, str):
        return tuple(parse_int_list(value, name, minimum=minimum))
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(f"{name} must be integers like 4, [4, 6] or '4:16', not {value!r}")
    try:
        return tuple(sorted({check_int(name, v, minimum=minimum) for v in items}))
    except TypeError:
        raise ValueError(f"{name} must be integers like 4, [4, 6] or '4:16', not {value!r}") from None


def _input_pairs(value) -> tuple[tuple[FloatFormat, FloatFormat], ...]:
    """``'e5m2'`` (a = b), ``'e4m3fn/e5m2'`` (a/b), ``['e4m3fn', 'e5m2']``, or a list or comma list of them."""
    if isinstance(value, str):
        value = [v for v in value.split(",")]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"inputs must be formats like 'e5m2' or 'e4m3fn/e5m2', not {value!r}")
    pairs = []
    for item in value:
        if isinstance(item, str):
            parts = [p.strip() for p in item.split("/")]
        elif isinstance(item, (list, tuple)):
            parts = list(item)
        else:
            parts = None
        if not parts or len(parts) > 2:
            raise ValueError(f"inputs must be formats like 'e5m2' or 'e4m3fn/e5m2', not {item!r}")
        a = FloatFormat.parse(parts[0])
        pairs.append((a, FloatFormat.parse(parts[-1])))
    return tuple(dict.fromkeys(pairs))


def _shapes(value) -> tuple[tuple[int, int], ...]:
    """Array shapes: ``'4x4'``, ``[4, 4]``, or a list or comma list of them; empty: bare MACs."""
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"arrays must be shapes like '4x4', not {value!r}")
    shapes = []
    for item in value:
        try:
            if isinstance(item, str):
                r, c = (int(v) for v in item.lower().split("x"))
            else:
                r, c = item
                if isinstance(r, bool) or isinstance(c, bool) or not isinstance(r, int) or not isinstance(c, int):
                    raise ValueError
        except (ValueError, TypeError):
            raise ValueError(f"arrays must be shapes like '4x4', not {item!r}") from None
        shapes.append((r, c))
    return tuple(dict.fromkeys(shapes))


def load_spec_table(path) -> dict:
    """The table of a sweep specification file: a TOML file's top-level keys, or its ``[sweep]`` table.

    Raises
    ------
    OSError, ValueError
    """
    import tomllib
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc})") from None
    return data["sweep"] if set(data) == {"sweep"} and isinstance(data["sweep"], dict) else data


@dataclass(frozen=True)
class SweepSpec:
    """A multi-dimensional design-space sweep; validated at construction.

    Every point is one design: for each operand pair (``inputs``), array shape
    (``arrays``; none: bare MACs), multiplier stages (``mul_stages``), chunk size,
    accumulator exponent and mantissa width. The accumulator's bias, subnormal and
    special-value policies follow the multiplicand. Per operand pair, shape and
    stages, one reference design with an e8m23 (FP32) accumulator and no chunking
    is added (``reference``).

    Parameters
    ----------
    inputs : pairs of FloatFormat or str
        Operand pairs ``(a, b)``; text ``'e5m2'`` means a = b, ``'e4m3fn/e5m2'`` a/b.
    man_bits, exp_bits, chunks, mul_stages : ints, or text like ``'4:16'``
        Accumulator fraction widths, exponent widths (None: the precision model's for
        ``length``, per operand pair), chunk sizes (0: none), multiplier pipeline stages.
    arrays : shapes
        ``(rows, cols)`` or ``'RxC'``: synthesise a systolic array of each point's MAC.
    acc_stages : ints, optional
        Accumulate-loop stages K (default: 1 only).
    rounding, product_man_bits
        As :class:`MACConfig`, for every point.
    length : int, optional
        Accumulation length: each row gets the model's VRR and ``v``, and its choice is marked.
    mc_trials, seed : int
        With ``length``: also the Monte-Carlo VRR over ``mc_trials`` dot products.
    reference : bool

    Raises
    ------
    TypeError, ValueError
    """

    inputs: tuple = ("e5m2",)
    man_bits: tuple = tuple(range(4, 17))
    exp_bits: tuple | None = None
    chunks: tuple = (0,)
    arrays: tuple = ()
    mul_stages: tuple = (0,)
    acc_stages: tuple | None = None
    rounding: str = "rne"
    product_man_bits: int | None = None
    length: int | None = None
    mc_trials: int = 0
    seed: int = 0
    reference: bool = True

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        put("inputs", _input_pairs(self.inputs))
        put("man_bits", _int_values(self.man_bits, "man_bits", minimum=1))
        if self.exp_bits is not None:
            put("exp_bits", _int_values(self.exp_bits, "exp_bits", minimum=2))
        put("chunks", _int_values(self.chunks, "chunks", minimum=0))
        put("arrays", _shapes(self.arrays))
        put("mul_stages", _int_values(self.mul_stages, "mul_stages", minimum=0))
        if self.acc_stages is not None:
            put("acc_stages", _int_values(self.acc_stages, "acc_stages", minimum=1))
        for name, low in (("length", 1), ("mc_trials", 0), ("seed", 0)):
            if getattr(self, name) is not None or name != "length":
                put(name, check_int(name, getattr(self, name), minimum=low))
        put("reference", check_bool("reference", self.reference))
        if self.mc_trials and self.length is None:
            raise ValueError("The Monte-Carlo VRR needs an accumulation length")
        if self.exp_bits is None and self.length is None:
            raise ValueError("A sweep needs exponent widths, or an accumulation length for the "
                             "precision model to choose them")
        # Every point's MACConfig (and array shape) is checked now, not after hours of Yosys.
        self.points()

    @classmethod
    def from_dict(cls, data: dict) -> "SweepSpec":
        """From a TOML/JSON table whose keys are the parameters' names.

        Raises
        ------
        TypeError, ValueError
            Not a table, or unknown keys.
        """
        if not isinstance(data, dict):
            raise TypeError(f"Sweep specification must be a table, not {data!r}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"Sweep specification keys must be among {', '.join(cls.__dataclass_fields__)}, "
                             f"not {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_toml(cls, path, **overrides) -> "SweepSpec":
        """Read a TOML file (:func:`load_spec_table`); ``overrides`` replace its keys.

        Raises
        ------
        OSError, ValueError, TypeError
        """
        try:
            return cls.from_dict({**load_spec_table(path), **overrides})
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{path}: {exc}") from None

    def _exp_bits(self, a_fmt, b_fmt) -> tuple[int, ...]:
        if self.exp_bits is not None:
            return self.exp_bits
        from .precision import decide_accumulator
        return (decide_accumulator(self.length, a_fmt, b_fmt, product_man_bits=self.product_man_bits).exp_bits,)

    def _stage_combos(self):
        dims = {"mul_stages": self.mul_stages}
        if self.acc_stages is not None:
            dims["acc_stages"] = self.acc_stages
        names = list(dims)
        return [dict(zip(names, combo)) for combo in itertools.product(*(dims[n] for n in names))]

    def points(self) -> list[tuple[str, MACConfig | ArrayConfig]]:
        """``(role, design)`` per point: ``'sweep'`` points in order (inputs, shape, stages, chunk,
        exponent, mantissa), then the ``'fp32_reference'`` designs not already swept."""
        sweep, refs = [], []
        for a_fmt, b_fmt in self.inputs:
            for shape in (self.arrays or (None,)):
                for stages in self._stage_combos():
                    macs = sweep_configs(a_fmt, b_fmt, man_bits=self.man_bits, exp_bits=self._exp_bits(a_fmt, b_fmt),
                                         chunks=self.chunks, rounding=self.rounding,
                                         product_man_bits=self.product_man_bits, **stages)
                    if self.reference:
                        macs.append(reference_config(a_fmt, b_fmt, rounding=self.rounding,
                                                     product_man_bits=self.product_man_bits, **stages))
                    designs = macs if shape is None else [ArrayConfig(*shape, m) for m in macs]
                    if self.reference:
                        refs.append(designs.pop())
                    sweep.extend(designs)
        slugs = {d.slug for d in sweep}
        out = [("sweep", d) for d in dict((d.slug, d) for d in sweep).values()]
        out += [("fp32_reference", d) for d in dict((d.slug, d) for d in refs if d.slug not in slugs).values()]
        return out

    def decisions(self) -> dict:
        """The model's choice per ``(a_fmt, b_fmt, chunk)`` (names as text), if a length is given."""
        if self.length is None:
            return {}
        from .precision import decide_accumulator
        return {(str(a), str(b), c): decide_accumulator(self.length, a, b, product_man_bits=self.product_man_bits,
                                                        chunk=c).to_dict()
                for a, b in self.inputs for c in self.chunks}

    @property
    def mc(self):
        return (self.length, self.mc_trials, self.seed) if self.mc_trials else None


def _load_cache(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or unreadable: recompute
    return data if isinstance(data, dict) and isinstance(data.get("area"), dict) else None


def _needs(cached, fpga, mc, fingerprint, asic=False):
    if cached is not None and cached.get("generator") != fingerprint:
        cached = None  # synthesised by another generator version: stale
    need_area = _needs_area(cached, fpga, asic)
    need_mc = mc is not None and (cached is None or _mc_key(*mc) not in cached.get("mc", {}))
    return need_area, need_mc, cached


def _needs_area(cached, fpga, asic) -> bool:
    return cached is None or (fpga and not cached.get("fpga")) or (asic and not cached.get("osu018"))


def _design_from_record(record: dict) -> MACConfig | ArrayConfig:
    if record.get("kind", "mac") == "array":
        return ArrayConfig.from_dict(record["config"])
    return MACConfig.from_dict(record["config"])


def _kind(design) -> str:
    return "array" if isinstance(design, ArrayConfig) else "mac"


def _compute_point(kind: str, cfg_dict: dict, work_dir, fpga: bool, mc, timeout, fingerprint,
                   cached, asic=False) -> dict:
    """Task: synthesise one point (and its Monte-Carlo VRR) and return its record.

    Runs wherever the executor puts it; reads and writes nothing of the client's
    except ``work_dir`` (None: a temporary directory of its own, for workers on
    other machines). ``cached`` is the point's valid cached record, if any: what
    it already has is kept, not recomputed. ``asic``: also OSU018 cells + OpenSTA.
    """
    design = _design_from_record({"kind": kind, "config": cfg_dict})
    need_area = _needs_area(cached, fpga, asic)
    if need_area:
        record = {"slug": design.slug, "kind": kind, "config": design.to_dict(), "generator": fingerprint,
                  "mc": dict(cached.get("mc", {})) if cached else {}, "fpga": fpga}
        if work_dir is None:
            with tempfile.TemporaryDirectory(prefix="macgen-point-") as tmp:
                _synthesise(record, design, Path(tmp) / design.slug, fpga, asic, timeout)
        else:
            _synthesise(record, design, Path(work_dir), fpga, asic, timeout)
    else:
        record = dict(cached, mc=dict(cached.get("mc", {})))
    if mc is not None and _mc_key(*mc) not in record["mc"]:
        from .precision import simulate_vrr
        mac = design.mac if kind == "array" else design
        n, trials, seed = mc
        chunk = mac.chunk_size if 0 < mac.chunk_size < n else 0
        record["mc"][_mc_key(*mc)] = simulate_vrr(
            mac.acc_fmt.man_bits, mac.a_fmt, mac.b_fmt, n, chunk=chunk, trials=trials, seed=seed,
            product_man_bits=mac.product_man_bits, exp_bits=mac.acc_fmt.exp_bits, rounding=mac.rounding)
    record["computed"] = need_area
    return record


def _synthesise(record, design, work: Path, fpga, asic, timeout):
    from .area import area_of
    report = area_of(design, work, fpga=fpga, timeout=timeout)
    record["area"] = report.to_dict()
    if asic:
        from .timing import osu018_timing
        record["osu018"] = osu018_timing(work / f"{report.top}.v", report.top, timeout=timeout).to_dict()


@dataclass
class PointsResult:
    """What :func:`synthesise_points` did.

    Members
    -------
    records : dict
        ``slug -> record`` for every point done (``record['area']`` is an ``AreaReport.to_dict()``;
        ``record['computed']`` says whether this call synthesised it).
    failures : list of dict
        ``{'slug', 'config', 'error'}`` per point that failed (not cached; a rerun retries it).
    computed, cached : int
        Points synthesised by this call, and points read from the cache.
    """

    records: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    computed: int = 0
    cached: int = 0


def _describe(design) -> str:
    mac = design.mac if isinstance(design, ArrayConfig) else design
    text = f"{mac.a_fmt} x {mac.b_fmt} -> {mac.acc_fmt}, chunk {mac.chunk_size or 'none'}"
    for name in STAGE_DIMENSIONS:
        if getattr(mac, name):
            text += f", {name} {getattr(mac, name)}"
    if isinstance(design, ArrayConfig):
        text += f", {design.rows}x{design.cols} array"
    return text


def synthesise_points(designs, *, cache_dir, work_dir=None, executor=None, fpga=False, asic=False,
                      mc=None, timeout=None, max_points=None, progress=None) -> PointsResult:
    """Area (and Monte-Carlo VRR) of every design, from the cache or through ``executor``.

    The cache protocol of every sweep: a point whose ``<cache_dir>/<slug>.json``
    is valid (same :func:`generator_fingerprint`, FPGA counts if asked, the
    Monte-Carlo key if asked) is not recomputed; every other point is one task
    of ``executor``, and its record is written here, by the caller, atomically, as
    soon as it arrives. A failed point is reported (``progress``) and recorded in
    ``failures``; the others carry on.

    Parameters
    ----------
    designs : sequence of MACConfig or ArrayConfig
    cache_dir : path
        Created if missing (only once there is work to do or a cache to read).
    work_dir : path, optional
        Verilog and Yosys files go to ``<work_dir>/<slug>/`` on a local executor;
        a cluster's workers use temporary directories of their own.
    executor : macgen.executor.Executor, optional
        Default: this machine, serially.
    fpga, timeout
        As :func:`macgen.area.area_of`.
    asic : bool
        Also map onto OSU018 cells and time with OpenSTA (:func:`macgen.timing.osu018_timing`).
    mc : (n, trials, seed), optional
        Also :func:`macgen.precision.simulate_vrr` per point.
    max_points : int, optional
        Compute at most this many points, then stop.
    progress : callable, optional
        ``progress(done, total, slug, record_or_None, error_or_None)``.

    Raises
    ------
    ValueError
        A cluster worker runs another generator version (``generator_fingerprint`` differs).
    """
    from .executor import LocalExecutor
    executor = executor or LocalExecutor(1)
    show = progress or (lambda *a: None)
    cache = Path(cache_dir)
    fingerprint = generator_fingerprint()
    res = PointsResult()
    unique = list(dict((d.slug, d) for d in designs).values())
    total, done, todo = len(unique), 0, []
    for design in unique:
        need_area, need_mc, cached = _needs(_load_cache(cache / f"{design.slug}.json"), fpga, mc, fingerprint,
                                         asic)
        if need_area or need_mc:
            todo.append((design, cached))
        else:
            res.records[design.slug] = dict(cached, computed=False)
            done += 1
            show(done, total, design.slug, res.records[design.slug], None)
    if max_points is not None:
        todo = todo[:max_points]
    if not todo:
        res.cached = len(res.records)
        return res
    if not executor.local:
        other = {w: fp for w, fp in executor.run_everywhere(generator_fingerprint).items() if fp != fingerprint}
        if other:
            w, fp = sorted(other.items())[0]
            raise ValueError(f"Dask worker {w} runs another macgen (generator {fp}, this client {fingerprint}); "
                             f"install the same macgen on every worker (make worker)")
    cache.mkdir(parents=True, exist_ok=True)
    by_slug = {d.slug: d for d, _ in todo}
    tasks = [(d.slug, _compute_point,
              (_kind(d), d.to_dict(), None if work_dir is None or not executor.local else str(Path(work_dir) / d.slug),
               fpga, mc, timeout, fingerprint, cached, asic))
             for d, cached in todo]
    for outcome in executor.run(tasks):
        done += 1
        if outcome.ok:
            record = outcome.value
            stored = {k: v for k, v in record.items() if k != "computed"}
            write_atomic(cache / f"{outcome.label}.json",
                          (json.dumps(stored, indent=1, sort_keys=True) + "\n").encode())
            res.records[outcome.label] = record
            res.computed += bool(record.get("computed"))
            show(done, total, outcome.label, record, None)
        else:
            design = by_slug[outcome.label]
            error = _one_line(outcome.error)
            res.failures.append({"slug": design.slug, "config": design.to_dict(), "description": _describe(design),
                                 "error": error})
            show(done, total, outcome.label, None, error)
    res.cached = sum(1 for r in res.records.values() if not r.get("computed"))
    return res


def _one_line(exc) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Members
    -------
    rows : list of dict
        One per point done (``CSV_COLUMNS``), references last.
    complete : bool
        Every point is done, and the CSVs (and PNGs) were written.
    computed : int
        Points synthesised by this call (Yosys runs); the rest came from the cache.
    cached : int
        Points read from the cache.
    failures : list of dict
        Points that failed: ``slug``, ``config``, ``description`` and the one-line ``error``.
    csv_path, png_path, delay_png_path : pathlib.Path or None
        Written files (None when incomplete, or the PNG when ``plot=False``).
    pareto : list of str
        The Pareto objectives (minimised); empty when fewer than two had values.
    pareto_csv_path, pareto_png_path : pathlib.Path or None
        The Pareto front: its rows and the figure.
    decisions : dict
        The precision model's choice per ``(a_fmt, b_fmt, chunk)`` (``AccumulatorDecision.to_dict()``),
        if a length was given.
    """

    rows: list = field(default_factory=list)
    complete: bool = False
    computed: int = 0
    cached: int = 0
    failures: list = field(default_factory=list)
    csv_path: Path | None = None
    png_path: Path | None = None
    pareto: list = field(default_factory=list)
    pareto_csv_path: Path | None = None
    pareto_png_path: Path | None = None
    delay_png_path: Path | None = None
    decisions: dict = field(default_factory=dict)


def _row(record: dict, role: str, n, mc, decisions) -> dict:
    design = _design_from_record(record)
    cfg = design.mac if isinstance(design, ArrayConfig) else design
    area = record["area"]
    row = {"role": role, "slug": design.slug, "a_fmt": str(cfg.a_fmt), "b_fmt": str(cfg.b_fmt),
           "acc_fmt": str(cfg.acc_fmt), "exp_bits": cfg.acc_fmt.exp_bits, "man_bits": cfg.acc_fmt.man_bits,
           "chunk_size": cfg.chunk_size, "yosys_seconds": area.get("seconds"),
           "rows": getattr(design, "rows", None), "cols": getattr(design, "cols", None)}
    for k in STAGE_DIMENSIONS:
        row[k] = getattr(cfg, k)
    for k in _AREA_FIELDS:
        row[k] = area.get(k)
    row.update(dict.fromkeys(_ASIC_FIELDS))
    asic = record.get("osu018")
    if asic:
        # Area x delay (OSU018 um2 x critical ns): the inverse of throughput per area.
        row.update(osu018_um2=asic["area_um2"], osu018_ns=asic["critical_ns"],
                   osu018_reg_to_reg_ns=asic["reg_to_reg_ns"],
                   area_x_delay_um2ns=round(asic["area_um2"] * asic["critical_ns"], 1))
    row.update(length=n, vrr=None, v=None, vrr_mc=None, v_mc=None, model_choice=0)
    if n is not None:
        from .precision import variance_lost, vrr_chunked
        chunk = cfg.chunk_size if cfg.chunk_size < n else 0
        r = vrr_chunked(cfg.acc_fmt.man_bits, cfg.product_frac_bits, n, chunk)
        row["vrr"], row["v"] = r, variance_lost(r, n)
        if mc is not None:
            r_mc = record.get("mc", {}).get(_mc_key(*mc))
            if r_mc is not None:
                row["vrr_mc"], row["v_mc"] = r_mc, variance_lost(r_mc, n)
        d = decisions.get((str(cfg.a_fmt), str(cfg.b_fmt), cfg.chunk_size))
        if role == "sweep" and d is not None and d["m_acc"] == cfg.acc_fmt.man_bits \
                and d["exp_bits"] == cfg.acc_fmt.exp_bits:
            row["model_choice"] = 1
    return row


def point_figures(record: dict) -> dict:
    """A synthesised point's figures as the sweep's rows carry them: the area columns
    (transistors, cells, flip-flops, logic levels, FPGA counts) and the OSU018 ones
    (µm², critical ns, register-to-register ns, area x delay); None where not measured."""
    row = _row(record, "point", None, None, {})
    return {k: row[k] for k in (*_AREA_FIELDS, *_ASIC_FIELDS)}


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_COLUMNS})
    return buf.getvalue().encode()


def _value(row, column):
    v = row.get(column)
    if v is None or v == "":
        return None
    v = float(v)
    return None if math.isnan(v) else v


def pareto_front(rows, objectives) -> list[dict]:
    """The rows no other row dominates, all ``objectives`` (column names) minimised.

    A row dominates another if it is no worse in every objective and better in
    one. Rows lacking a value for an objective take no part. The front is sorted
    by the objectives in order.

    Raises
    ------
    ValueError
        Fewer than one objective, or a column that is not a numeric sweep column.
    """
    objectives = list(objectives)
    if not objectives:
        raise ValueError("Pareto front needs at least one objective")
    for o in objectives:
        if o not in _NUMERIC:
            raise ValueError(f"Pareto objective must be one of {', '.join(sorted(_NUMERIC))}, not {o!r}")
    pts = [(tuple(_value(r, o) for o in objectives), r) for r in rows]
    pts = [(key, r) for key, r in pts if None not in key]
    front = [(key, r) for key, r in pts
             if not any(all(q <= k for q, k in zip(other, key)) and other != key for other, _ in pts)]
    return [r for _, r in sorted(front, key=lambda kr: kr[0])]


def _pareto_objectives(requested, spec: SweepSpec, fpga: bool) -> list[str]:
    """The objectives to use: the requested ones (checked now, before any work), or the defaults
    that this sweep can fill (model columns need a length, FPGA ones ``fpga``)."""
    def available(o):
        if o in _MODEL_COLUMNS and spec.length is None:
            return "an accumulation length"
        if o in ("vrr_mc", "v_mc") and not spec.mc_trials:
            return "Monte-Carlo trials"
        if o in _FPGA_COLUMNS and not fpga:
            return "the FPGA flows (fpga)"
        return None
    if requested is None:
        wanted = [*DEFAULT_PARETO, *(c for c in DELAY_COLUMNS if c in CSV_COLUMNS)]
        return [o for o in wanted if available(o) is None]
    requested = list(requested)
    pareto_front([], requested)  # checks the names
    for o in requested:
        missing = available(o)
        if missing:
            raise ValueError(f"Pareto objective {o} needs {missing}")
    return requested


def _label_parts(rows):
    """The dimensions that vary between the rows' groups (for legend labels)."""
    dims = ("a_fmt", "b_fmt", "rows", "cols", *STAGE_DIMENSIONS)
    return [d for d in dims if len({r.get(d) for r in rows}) > 1]


def _group_label(r, varying) -> str:
    parts = []
    if "a_fmt" in varying or "b_fmt" in varying:
        parts.append(f"{r['a_fmt']} x {r['b_fmt']}")
    if ("rows" in varying or "cols" in varying):
        parts.append("MAC" if r["rows"] is None else f"{r['rows']}x{r['cols']}")
    parts += [f"{d} {r[d]}" for d in STAGE_DIMENSIONS if d in varying]
    return ", ".join(parts)


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


#: The figures of a sweep: file name -> (row key, y-axis label).
FIGURES = {
    "sweep.png": ("transistors", "estimated transistors (Yosys stat -tech cmos)"),
    "sweep_delay.png": ("osu018_ns", "critical path, ns (OSU018 cells, OpenSTA; relative only)"),
}


def _plot_bytes(rows, decisions, title, y="transistors", ylabel=FIGURES["sweep.png"][1]) -> bytes:
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    sweep = [r for r in rows if r["role"] == "sweep"]
    varying = _label_parts(rows)
    key = lambda r: (r["a_fmt"], r["b_fmt"], r["rows"] or 0, r["cols"] or 0,  # noqa: E731
                     *(r[d] for d in STAGE_DIMENSIONS), r["chunk_size"], r["exp_bits"])
    groups = sorted({key(r) for r in sweep})
    for g in groups:
        members = [r for r in sweep if key(r) == g]
        first = members[0]
        pts = sorted((r["man_bits"], r[y]) for r in members)
        chunk, e = first["chunk_size"], first["exp_bits"]
        label = ", ".join(p for p in (_group_label(first, varying),
                                      f"{'no chunking' if chunk == 0 else f'chunk {chunk}'}, E={e}") if p)
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
        for r in members:
            if r["model_choice"]:
                ax.plot([r["man_bits"]], [r[y]], marker="*", ms=16, color=line.get_color(),
                        markeredgecolor="black", linestyle="none")
                ax.annotate(f"model: {r['acc_fmt']}", (r["man_bits"], r[y]),
                            textcoords="offset points", xytext=(6, -12), fontsize=8)
    for r in rows:
        if r["role"] == "fp32_reference":
            where = _group_label(r, varying)
            ax.axhline(r[y], color="gray", linestyle="--", linewidth=1,
                       label=f"{r['acc_fmt']} (FP32) accumulator{', ' + where if where else ''}: "
                             f"{r[y]:,}")
    if decisions:
        ax.plot([], [], marker="*", ms=12, color="white", markeredgecolor="black", linestyle="none",
                label="precision model's choice")
        marked = {(r["a_fmt"], r["b_fmt"], r["chunk_size"]) for r in sweep if r["model_choice"]}
        for (a, b, chunk), d in sorted(decisions.items()):
            if (a, b, chunk) not in marked:
                where = "no chunking" if chunk == 0 else f"chunk {chunk}"
                if len({k[:2] for k in decisions}) > 1:
                    where = f"{a} x {b}, {where}"
                ax.plot([], [], linestyle="none", label=f"model, {where}: {d['acc_fmt']} (not swept)")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("accumulator fraction bits m_acc")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7 if len(groups) > 6 else 8)
    return _png(fig)


_AXIS_NAMES = {"transistors": "estimated transistors (Yosys stat -tech cmos)",
               "v": "variance lost v = exp(n (1 - VRR))  (model)", "v_mc": "variance lost v (Monte-Carlo)",
               "logic_levels": "logic levels (ltp -noff)", "osu018_ns": "critical path, ns (OSU018; relative only)"}


def _pareto_bytes(rows, front, objectives, title) -> bytes:
    """One panel per objective after the first, against the first: every point, the front marked."""
    fig = _figure()
    x = objectives[0]
    others = objectives[1:]
    on_front = {r["slug"] for r in front}
    for i, y in enumerate(others):
        ax = fig.add_subplot(1, len(others), i + 1)
        pts = [(float(r[x]), float(r[y]), r) for r in rows
               if _value(r, x) is not None and _value(r, y) is not None
               and math.isfinite(float(r[x])) and math.isfinite(float(r[y]))]
        ax.scatter([p[0] for p in pts if p[2]["slug"] not in on_front],
                   [p[1] for p in pts if p[2]["slug"] not in on_front], s=12, color="0.65", label="dominated")
        fr = [p for p in pts if p[2]["slug"] in on_front]
        ax.scatter([p[0] for p in fr], [p[1] for p in fr], s=28, color="tab:red", zorder=3,
                   label=f"Pareto front ({', '.join(objectives)})")
        stair = sorted((float(r[x]), float(r[y])) for r in pareto_front([p[2] for p in pts], [x, y]))
        if stair:
            ax.step([s[0] for s in stair], [s[1] for s in stair], where="post", color="tab:red", linewidth=1)
        for px, py, r in fr:
            tag = r["acc_fmt"] + (f" c{r['chunk_size']}" if r["chunk_size"] else "")
            ax.annotate(tag, (px, py), textcoords="offset points", xytext=(4, 3), fontsize=6)
        ys = [p[1] for p in pts]
        if ys and min(ys) > 0 and max(ys) / min(ys) > 100:
            ax.set_yscale("log")
        ax.set_xlabel(_AXIS_NAMES.get(x, x), fontsize=8)
        ax.set_ylabel(_AXIS_NAMES.get(y, y), fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def _progress_printer(stream):
    def show(done, total, slug, record, error):
        if error is not None:
            print(f"sweep [{done}/{total}] {slug}: FAILED: {error}", file=stream, flush=True)
            return
        area = record["area"]
        how = "cached" if not record.get("computed") else f"{area.get('seconds', 0):.1f} s"
        print(f"sweep [{done}/{total}] {slug}: {area['transistors']:,} transistors ({how})",
              file=stream, flush=True)
    return show


def run_spec(spec: SweepSpec, out_dir, *, fpga=False, asic=False, jobs=1, executor=None, scheduler=None,
             scheduler_timeout=None, cache_dir=None, max_points=None, timeout=None, plot=True,
             pareto=None, progress=True) -> SweepResult:
    """Synthesise every point of ``spec``; write the CSVs and figures when all are done.

    Parameters
    ----------
    spec : SweepSpec
    out_dir : str or os.PathLike
        Gets ``sweep.csv``, ``pareto.csv``, ``sweep.png``, ``pareto.png``, the cache
        (``cache/<slug>.json``, unless ``cache_dir``) and, on this machine, ``work/<slug>/``
        (Verilog, Yosys files).
    fpga : bool
        Also count iCE40/ECP5 LUTs (about 3x slower).
    asic : bool
        Also map onto OSU018 cells and time with OpenSTA (:func:`macgen.timing.osu018_timing`,
        a few seconds a point): the delay and area x delay columns and ``sweep_delay.png``.
    jobs : int
        Parallel Yosys runs on this machine (a process pool when above 1).
    executor : macgen.executor.Executor, optional
        Where points run (the caller closes it). Default: :func:`macgen.executor.make_executor`
        of ``jobs``, ``scheduler`` (or ``$MACGEN_SCHEDULER``) and ``scheduler_timeout``.
    cache_dir : path, optional
        The per-point cache (default ``<out_dir>/cache``); sweeps may share one.
    max_points : int, optional
        Synthesise at most this many uncached points, then stop (incomplete result, no CSV).
    timeout : float, optional
        Seconds per Yosys run.
    plot : bool
        Write ``sweep.png`` and ``pareto.png``.
    pareto : sequence of str, optional
        Pareto objectives, column names, all minimised (default :data:`DEFAULT_PARETO` plus
        any :data:`DELAY_COLUMNS` the records have; those without values left out).
    progress : bool or file
        ``True``: a progress line per point on stderr; ``False``/``None``: none; or a stream.

    Returns
    -------
    SweepResult
        With ``failures`` listing points that failed (the others are done and cached).

    Raises
    ------
    TypeError, ValueError
        Bad arguments or Pareto objectives (before anything runs).
    macgen.executor.SchedulerError
        The cluster cannot be reached (before anything is written).
    """
    from .executor import CONNECT_TIMEOUT, make_executor
    if not isinstance(spec, SweepSpec):
        raise TypeError(f"spec must be a SweepSpec, not {spec!r}")
    if max_points is not None:
        max_points = check_int("Point budget", max_points, minimum=0)
    objectives = _pareto_objectives(pareto, spec, fpga)
    points = spec.points()
    decisions = spec.decisions()
    own = executor is None
    if own:
        executor = make_executor(jobs, scheduler, timeout=scheduler_timeout or CONNECT_TIMEOUT)
    if progress is True:
        progress = sys.stderr
    out = Path(out_dir)
    try:
        if progress:
            print(f"sweep: {len(points)} points on {executor.description}", file=progress, flush=True)
        done = synthesise_points([d for _, d in points], cache_dir=cache_dir or out / "cache",
                                 work_dir=out / "work", executor=executor, fpga=fpga, asic=asic, mc=spec.mc,
                                 timeout=timeout, max_points=max_points,
                                 progress=_progress_printer(progress) if progress else None)
    finally:
        if own:
            executor.close()
    result = SweepResult(decisions=decisions, computed=done.computed, cached=done.cached,
                         failures=done.failures)
    rows = [_row(done.records[d.slug], role, spec.length, spec.mc, decisions)
            for role, d in points if d.slug in done.records]
    result.rows = rows
    result.complete = len(rows) == len(points)
    if not result.complete:
        return result
    out.mkdir(parents=True, exist_ok=True)
    result.csv_path = out / "sweep.csv"
    write_atomic(result.csv_path, _csv_bytes(rows))
    (a0, b0) = spec.inputs[0]
    ins = f"{a0} x {b0}" if len(spec.inputs) == 1 else f"{len(spec.inputs)} operand pairs"
    pmb = "" if spec.product_man_bits is None else f", product {spec.product_man_bits} bits"
    model = "" if spec.length is None else f", model for n = {spec.length}"
    if pareto is None:  # the defaults this sweep's records fill (e.g. delay columns of timing runs)
        objectives = [o for o in objectives if any(_value(r, o) is not None for r in rows)]
    if len(objectives) < 2:  # no trade-off to show: a front of an earlier sweep here would mislead
        for name in ("pareto.csv", "pareto.png"):
            (out / name).unlink(missing_ok=True)
    else:
        result.pareto = objectives
        front = pareto_front(rows, objectives)
        result.pareto_csv_path = out / "pareto.csv"
        write_atomic(result.pareto_csv_path, _csv_bytes(front))
        if plot:
            result.pareto_png_path = out / "pareto.png"
            write_atomic(result.pareto_png_path, _pareto_bytes(
                rows, front, objectives, f"Pareto front: {ins}{pmb}, {spec.rounding}{model}"))
    if plot:
        title = f"MAC area vs accumulator precision: {ins}{pmb}, {spec.rounding}{model}"
        result.png_path = out / "sweep.png"
        write_atomic(result.png_path, _plot_bytes(rows, decisions, title))
        if asic:
            y, label = FIGURES["sweep_delay.png"]
            result.delay_png_path = out / "sweep_delay.png"
            write_atomic(result.delay_png_path, _plot_bytes(
                rows, decisions, title.replace("MAC area", "MAC critical path"), y, label))
    return result


def run_sweep(a_fmt, b_fmt, *, man_bits, exp_bits, chunks=(0,), out_dir, rounding="rne",
              product_man_bits=None, mul_stages=0, length=None, mc_trials=0, seed=0,
              reference=True, **run) -> SweepResult:
    """Sweep one operand pair's accumulator widths and chunk sizes: :func:`run_spec` of that :class:`SweepSpec`.

    Parameters
    ----------
    a_fmt, b_fmt : FloatFormat or str
        Operand formats (fixed).
    man_bits, exp_bits, chunks : sequence of int
        Accumulator fraction widths, exponent widths and chunk sizes (0: none).
    rounding, product_man_bits, mul_stages, length, mc_trials, seed, reference
        As :class:`SweepSpec`.
    **run
        As :func:`run_spec` (``fpga``, ``asic``, ``jobs``, ``executor``, ``scheduler``, ``cache_dir``,
        ``max_points``, ``timeout``, ``plot``, ``pareto``, ``progress``).

    Raises
    ------
    TypeError, ValueError
        Bad formats or widths.
    """
    if not man_bits or not exp_bits or not chunks:
        raise ValueError("A sweep needs at least one mantissa width, exponent width and chunk size")
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    spec = SweepSpec(inputs=((a_fmt, b_fmt),), man_bits=tuple(man_bits), exp_bits=tuple(exp_bits),
                     chunks=tuple(chunks), mul_stages=(mul_stages,), rounding=rounding,
                     product_man_bits=product_man_bits, length=length, mc_trials=mc_trials, seed=seed,
                     reference=reference)
    return run_spec(spec, out_dir, **run)
