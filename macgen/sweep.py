"""Area against accumulator precision: resumable, parallel Yosys sweeps (CSV + PNG).

A sweep synthesises one MAC per accumulator configuration (mantissa width x
exponent width x chunk size) for fixed operand formats, plus one reference MAC
with an e8m23 (FP32) accumulator, and records SPEC §6's area next to the
precision model's VRR and variance lost for a given accumulation length (and,
optionally, the Monte-Carlo VRR of the golden model).

Resumable: each point's result is cached in ``<out>/cache/<slug>.json``, written
atomically (temporary file + rename) as soon as the point is done; a rerun, or a
sweep that was killed, recomputes nothing already cached (unless the generator's
sources or the Yosys scripts changed since: :func:`generator_fingerprint`). The CSV and the PNG
are written once, atomically, when every point is done, so they are never partial.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from .config import MACConfig
from .files import write_atomic
from .formats import FloatFormat, accumulator_format

__all__ = ["SweepResult", "parse_int_list", "sweep_configs", "reference_config", "run_sweep",
           "generator_fingerprint", "CSV_COLUMNS"]

#: Columns of ``sweep.csv``, in order.
CSV_COLUMNS = (
    "role", "slug", "a_fmt", "b_fmt", "acc_fmt", "exp_bits", "man_bits", "chunk_size",
    "transistors", "cells", "flip_flops",
    "ice40_lut4", "ice40_carry", "ice40_dff", "ecp5_lut4", "ecp5_ccu2c", "ecp5_dff",
    "logic_levels", "osu018_um2", "osu018_ns", "osu018_reg_to_reg_ns", "area_x_delay_um2ns",
    "length", "vrr", "v", "vrr_mc", "v_mc", "model_choice", "yosys_seconds",
)

_AREA_FIELDS = ("transistors", "cells", "flip_flops", "ice40_lut4", "ice40_carry", "ice40_dff",
                "ecp5_lut4", "ecp5_ccu2c", "ecp5_dff", "logic_levels")


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
                  product_man_bits=None, mul_stages=0) -> list[MACConfig]:
    """The MAC configurations of a sweep, chunk-major, then exponent, then mantissa width.

    Raises
    ------
    TypeError, ValueError
        As :class:`MACConfig` and :class:`FloatFormat`.
    """
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    return [MACConfig(a_fmt, b_fmt, accumulator_format(a_fmt, b_fmt, e, m), rounding=rounding,
                      product_man_bits=product_man_bits, chunk_size=c, mul_stages=mul_stages)
            for c in chunks for e in exp_bits for m in man_bits]


def reference_config(a_fmt, b_fmt, *, rounding="rne", product_man_bits=None, mul_stages=0) -> MACConfig:
    """The same MAC with an e8m23 (FP32) accumulator and no chunking: the plot's reference line."""
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    return MACConfig(a_fmt, b_fmt, accumulator_format(a_fmt, b_fmt, 8, 23), rounding=rounding,
                     product_man_bits=product_man_bits, mul_stages=mul_stages)


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


def _load_cache(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # missing, or unreadable: recompute
    return data if isinstance(data, dict) and isinstance(data.get("area"), dict) else None


def _needs(cached, fpga, mc, fingerprint, asic=False):
    if cached is not None and cached.get("generator") != fingerprint:
        cached = None  # synthesised by another generator version: stale
    need_area = cached is None or (fpga and not cached.get("fpga")) or (asic and not cached.get("osu018"))
    need_mc = mc is not None and (cached is None or _mc_key(*mc) not in cached.get("mc", {}))
    return need_area, need_mc


def _compute_point(cfg_dict: dict, out_dir: str, fpga: bool, mc, timeout, fingerprint, asic=False) -> dict:
    """Worker: synthesise one point (and its Monte-Carlo VRR), cache and return the record."""
    from .area import area_of
    cfg = MACConfig.from_dict(cfg_dict)
    out = Path(out_dir)
    cache_path = out / "cache" / f"{cfg.slug}.json"
    cached = _load_cache(cache_path)
    need_area, need_mc = _needs(cached, fpga, mc, fingerprint, asic)
    if need_area:
        fresh = cached is not None and cached.get("generator") == fingerprint
        record = {"slug": cfg.slug, "config": cfg.to_dict(), "generator": fingerprint,
                  "mc": dict(cached.get("mc", {})) if fresh else {}}
        report = area_of(cfg, out / "work" / cfg.slug, fpga=fpga, timeout=timeout)
        record["area"] = report.to_dict()
        record["fpga"] = fpga
        if asic:
            from .timing import osu018_timing
            work = out / "work" / cfg.slug
            record["osu018"] = osu018_timing(work / f"{report.top}.v", report.top, timeout=timeout).to_dict()
    else:
        record = cached
        record.setdefault("mc", {})
    if need_mc:
        from .precision import simulate_vrr
        n, trials, seed = mc
        chunk = cfg.chunk_size if 0 < cfg.chunk_size < n else 0
        record["mc"][_mc_key(*mc)] = simulate_vrr(
            cfg.acc_fmt.man_bits, cfg.a_fmt, cfg.b_fmt, n, chunk=chunk, trials=trials, seed=seed,
            product_man_bits=cfg.product_man_bits, exp_bits=cfg.acc_fmt.exp_bits, rounding=cfg.rounding)
    if need_area or need_mc:
        write_atomic(cache_path, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
    record["computed"] = bool(need_area)
    return record


@dataclass
class SweepResult:
    """What :func:`run_sweep` did.

    Members
    -------
    rows : list of dict
        One per point done (``CSV_COLUMNS``), reference last.
    complete : bool
        Every point is done, and the CSV (and PNG) were written.
    computed : int
        Points synthesised by this call (Yosys runs); the rest came from the cache.
    cached : int
        Points read from the cache.
    csv_path, png_path, delay_png_path : pathlib.Path or None
        Written files (None when incomplete, or the PNG when ``plot=False``).
    decisions : dict
        The precision model's choice per chunk size (``AccumulatorDecision.to_dict()``), if a length was given.
    """

    rows: list = field(default_factory=list)
    complete: bool = False
    computed: int = 0
    cached: int = 0
    csv_path: Path | None = None
    png_path: Path | None = None
    delay_png_path: Path | None = None
    decisions: dict = field(default_factory=dict)


def _row(record: dict, role: str, n, mc, decisions) -> dict:
    cfg = MACConfig.from_dict(record["config"])
    area = record["area"]
    row = {"role": role, "slug": cfg.slug, "a_fmt": str(cfg.a_fmt), "b_fmt": str(cfg.b_fmt),
           "acc_fmt": str(cfg.acc_fmt), "exp_bits": cfg.acc_fmt.exp_bits, "man_bits": cfg.acc_fmt.man_bits,
           "chunk_size": cfg.chunk_size, "yosys_seconds": area.get("seconds")}
    for k in _AREA_FIELDS:
        row[k] = area.get(k)
    asic = record.get("osu018")
    row.update(osu018_um2=None, osu018_ns=None, osu018_reg_to_reg_ns=None, area_x_delay_um2ns=None)
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
        d = decisions.get(cfg.chunk_size)
        if role == "sweep" and d is not None and d["m_acc"] == cfg.acc_fmt.man_bits \
                and d["exp_bits"] == cfg.acc_fmt.exp_bits:
            row["model_choice"] = 1
    return row


def _csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CSV_COLUMNS})
    return buf.getvalue().encode()


#: The figures of a sweep: file name -> (row key, y-axis label).
FIGURES = {
    "sweep.png": ("transistors", "estimated transistors (Yosys stat -tech cmos)"),
    "sweep_delay.png": ("osu018_ns", "critical path, ns (OSU018 cells, OpenSTA; relative only)"),
}


def _plot_bytes(rows, decisions, title, y="transistors", ylabel=FIGURES["sweep.png"][1]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    sweep = [r for r in rows if r["role"] == "sweep"]
    groups = sorted({(r["chunk_size"], r["exp_bits"]) for r in sweep})
    for chunk, e in groups:
        pts = sorted((r["man_bits"], r[y]) for r in sweep
                     if r["chunk_size"] == chunk and r["exp_bits"] == e)
        label = f"{'no chunking' if chunk == 0 else f'chunk {chunk}'}, E={e}"
        (line,) = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
        for r in sweep:
            if r["model_choice"] and r["chunk_size"] == chunk and r["exp_bits"] == e:
                ax.plot([r["man_bits"]], [r[y]], marker="*", ms=16, color=line.get_color(),
                        markeredgecolor="black", linestyle="none")
                ax.annotate(f"model: {r['acc_fmt']}", (r["man_bits"], r[y]),
                            textcoords="offset points", xytext=(6, -12), fontsize=8)
    for r in rows:
        if r["role"] == "fp32_reference":
            ax.axhline(r[y], color="gray", linestyle="--", linewidth=1,
                       label=f"{r['acc_fmt']} (FP32) accumulator: {r[y]:,}")
    if decisions:
        ax.plot([], [], marker="*", ms=12, color="white", markeredgecolor="black", linestyle="none",
                label="precision model's choice")
        marked = {r["chunk_size"] for r in sweep if r["model_choice"]}
        for chunk, d in sorted(decisions.items()):
            if chunk not in marked:
                where = "no chunking" if chunk == 0 else f"chunk {chunk}"
                ax.plot([], [], linestyle="none", label=f"model, {where}: {d['acc_fmt']} (not swept)")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("accumulator fraction bits m_acc")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _progress_printer(stream):
    def show(done, total, slug, record):
        area = record["area"]
        how = "cached" if not record.get("computed") else f"{area.get('seconds', 0):.1f} s"
        print(f"sweep [{done}/{total}] {slug}: {area['transistors']:,} transistors ({how})",
              file=stream, flush=True)
    return show


def run_sweep(a_fmt, b_fmt, *, man_bits, exp_bits, chunks=(0,), out_dir, rounding="rne",
              product_man_bits=None, mul_stages=0, length=None, mc_trials=0, seed=0,
              fpga=False, asic=False, reference=True, jobs=1, max_points=None, timeout=None,
              plot=True, progress=True) -> SweepResult:
    """Synthesise a MAC for every accumulator configuration; write CSV and PNG when all are done.

    Parameters
    ----------
    a_fmt, b_fmt : FloatFormat or str
        Operand formats (fixed).
    man_bits, exp_bits, chunks : sequence of int
        Accumulator fraction widths, exponent widths and chunk sizes (0: none).
        The accumulator's bias, subnormal and special-value policies follow ``a_fmt``.
    out_dir : str or os.PathLike
        Gets ``cache/<slug>.json``, ``work/<slug>/`` (Verilog, Yosys files),
        ``sweep.csv`` and ``sweep.png``.
    rounding, product_man_bits, mul_stages
        As :class:`MACConfig`, for every point.
    length : int, optional
        Accumulation length: adds the model's VRR and variance lost to each row
        and marks its choice (:func:`macgen.precision.decide_accumulator`) for every chunk size.
    mc_trials : int
        With ``length``: also the Monte-Carlo VRR of the golden model
        (:func:`macgen.precision.simulate_vrr`, ``mc_trials`` dot products, ``seed``).
    fpga : bool
        Also count iCE40/ECP5 LUTs (about 3x slower).
    asic : bool
        Also map onto OSU018 cells and time with OpenSTA (:func:`macgen.timing.osu018_timing`,
        a few seconds a point): the delay and area x delay columns and ``sweep_delay.png``.
    reference : bool
        Also synthesise the MAC with an e8m23 accumulator (the plot's reference line).
    jobs : int
        Parallel Yosys runs (a process pool when above 1).
    max_points : int, optional
        Synthesise at most this many uncached points, then stop (incomplete result, no CSV).
    timeout : float, optional
        Seconds per Yosys run.
    plot : bool
        Write ``sweep.png``.
    progress : bool or file
        ``True``: a progress line per point on stderr; ``False``/``None``: none; or a stream.

    Returns
    -------
    SweepResult

    Raises
    ------
    TypeError, ValueError
        Bad formats or widths.
    macgen.area.YosysError
        A synthesis failed (points done so far stay cached).
    """
    a_fmt, b_fmt = FloatFormat.parse(a_fmt), FloatFormat.parse(b_fmt)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"Job count must be at least 1, not {jobs!r}")
    if max_points is not None and (isinstance(max_points, bool) or not isinstance(max_points, int)
                                   or max_points < 0):
        raise ValueError(f"Point budget must be a non-negative integer, not {max_points!r}")
    if not man_bits or not exp_bits or not chunks:
        raise ValueError("A sweep needs at least one mantissa width, exponent width and chunk size")
    if mc_trials and length is None:
        raise ValueError("The Monte-Carlo VRR needs an accumulation length")
    configs = sweep_configs(a_fmt, b_fmt, man_bits=man_bits, exp_bits=exp_bits, chunks=chunks,
                            rounding=rounding, product_man_bits=product_man_bits, mul_stages=mul_stages)
    sweep_slugs = [c.slug for c in configs]
    ref_slug = None
    if reference:
        ref = reference_config(a_fmt, b_fmt, rounding=rounding, product_man_bits=product_man_bits,
                               mul_stages=mul_stages)
        ref_slug = ref.slug
        if ref_slug not in sweep_slugs:
            configs.append(ref)
    mc = (length, mc_trials, seed) if mc_trials else None

    decisions = {}
    if length is not None:
        from .precision import decide_accumulator
        for c in chunks:
            d = decide_accumulator(length, a_fmt, b_fmt, product_man_bits=product_man_bits, chunk=c)
            decisions[c] = d.to_dict()

    out = Path(out_dir)
    (out / "cache").mkdir(parents=True, exist_ok=True)
    fingerprint = generator_fingerprint()
    result = SweepResult(decisions=decisions)
    records, todo = {}, []
    for cfg in configs:
        cached = _load_cache(out / "cache" / f"{cfg.slug}.json")
        need_area, need_mc = _needs(cached, fpga, mc, fingerprint, asic)
        if need_area or need_mc:
            todo.append(cfg)
        else:
            records[cfg.slug] = dict(cached, computed=False)
    total = len(configs)
    if progress is True:
        progress = sys.stderr
    show = _progress_printer(progress) if progress else (lambda *a: None)
    done = 0
    for cfg in configs:
        if cfg.slug in records:
            done += 1
            show(done, total, cfg.slug, records[cfg.slug])
    if max_points is not None:
        todo = todo[:max_points]

    def finish(rec):
        nonlocal done
        done += 1
        records[rec["slug"]] = rec
        if rec.get("computed"):
            result.computed += 1
        show(done, total, rec["slug"], rec)

    args = lambda cfg: (cfg.to_dict(), str(out), fpga, mc, timeout, fingerprint, asic)  # noqa: E731
    if jobs == 1 or len(todo) <= 1:
        for cfg in todo:
            finish(_compute_point(*args(cfg)))
    else:
        with ProcessPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
            pending = {pool.submit(_compute_point, *args(cfg)) for cfg in todo}
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        finish(fut.result())
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
    result.cached = sum(1 for r in records.values() if not r.get("computed"))

    rows = [_row(records[s], "sweep", length, mc, decisions) for s in sweep_slugs if s in records]
    if ref_slug in records:
        rows.append(_row(records[ref_slug], "fp32_reference", length, mc, decisions))
    result.rows = rows
    result.complete = len(records) == total
    if not result.complete:
        return result
    result.csv_path = out / "sweep.csv"
    write_atomic(result.csv_path, _csv_bytes(rows))
    if plot:
        pmb = "" if product_man_bits is None else f", product {product_man_bits} bits"
        title = f"MAC area vs accumulator precision: {a_fmt} x {b_fmt}{pmb}, {rounding}"
        if length is not None:
            title += f", model for n = {length}"
        result.png_path = out / "sweep.png"
        write_atomic(result.png_path, _plot_bytes(rows, decisions, title))
        if asic:
            y, label = FIGURES["sweep_delay.png"]
            result.delay_png_path = out / "sweep_delay.png"
            write_atomic(result.delay_png_path, _plot_bytes(
                rows, decisions, title.replace("MAC area", "MAC critical path"), y, label))
    return result
