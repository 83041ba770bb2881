"""The one-shot flow: workload → plan → MAC and array → verify → area and timing → report.

:func:`run_flow` is what ``macgen flow`` (and ``make run``) calls. It writes into
one output directory::

    report.md, report.json      the report (tables, figures, the saving vs FP32)
    variance_lost.png           v(n) for the workload's GEMMs (the paper's figure)
    area_vs_precision.png       MAC area against accumulator mantissa width
    delay_vs_precision.png      OSU018 critical path against accumulator mantissa width
    rtl/<slug>.v, rtl/<slug>.json   the chosen MAC and array, Verilog + sidecar
    work/                       simulation builds, Yosys runs and the sweep cache

Bad input is rejected before anything is written. Reruns reuse the sweep's
per-point cache, so only what changed is synthesised again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .area import ACC_INDEPENDENT_GROUPS, YosysError, area_breakdown, area_of, hardfloat_reference
from .config import MAX_ACC_STAGES, ArrayConfig, MACConfig
from .files import write_atomic
from .formats import FloatFormat, accumulator_format, check_rounding
from .pipelining import STUDY_STAGES
from .precision import check_cutoff, check_nzr, decide_accumulator, decide_shared, parse_chunk
from .validate import check_int, check_real
from .verify.cocotb_runner import check_simulator
from .workloads import GEMMS, get_workload

__all__ = ["FlowOptions", "run_flow"]



@dataclass(frozen=True)
class FlowOptions:
    """Everything :func:`run_flow` needs; validated at construction.

    Parameters
    ----------
    workload : str
        Built-in name or a layer file (:func:`macgen.workloads.get_workload`).
    a_fmt, b_fmt : FloatFormat or str
    chunk : 'auto', 'none' or int
        Chunking of the training MAC (``'auto'``: the model recommends).
    rows, cols : int
        Systolic array shape.
    rounding : {'rne', 'rtz'}
    nzr, cutoff : float
        Precision-model options (SPEC §3).
    batch : int or None
        Overrides the workload's batch size.
    mac_vectors, array_tiles : int
        Bounded verification: random dot products through the MAC, random tiles
        through the array (0 skips that simulation).
    seed : int
    simulator : {'icarus', 'verilator'}
    sweep_span : int
        The sweep covers ``m_acc - span .. m_acc + span`` around the training choice.
    jobs : int
        Parallel Yosys runs.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a Dask cluster for the area sweep (default ``$MACGEN_SCHEDULER``
        if set, else this machine; :func:`macgen.executor.make_executor`).
    scheduler_timeout : float
        Seconds to reach the scheduler and find a worker.
    array_area : bool
        Also synthesise the whole array (slow for large arrays).
    fpga : bool
        iCE40/ECP5 LUT counts for the chosen MAC (adds a minute or two of Yosys).
    asic : bool
        OSU018 cells + OpenSTA for every MAC compared (a few seconds each).
    pnr : bool
        nextpnr Fmax on iCE40 HX8K and ECP5-25k (three seeds) for the chosen training
        MAC and its e8m23 twin (same chunking): a few minutes.
    acc_stages : tuple of int
        Accumulate-loop depths K to compare for the chosen training MAC and its twin
        (:mod:`macgen.pipelining`: area, OSU018 clock, throughput per area; the
        recommended K is placed and routed too with ``pnr``). ``(1,)`` compares nothing.
    """

    workload: str = "resnet32-cifar10"
    a_fmt: FloatFormat = FloatFormat(5, 2)
    b_fmt: FloatFormat = FloatFormat(5, 2)
    chunk: object = "auto"
    rows: int = 4
    cols: int = 4
    rounding: str = "rne"
    nzr: float = 1.0
    cutoff: float = 50.0
    batch: int | None = None
    mac_vectors: int = 300
    array_tiles: int = 6
    seed: int = 1
    simulator: str = "icarus"
    sweep_span: int = 3
    jobs: int = 2
    scheduler: str | None = None
    scheduler_timeout: float = 10.0
    array_area: bool = False
    fpga: bool = True
    asic: bool = True
    pnr: bool = True
    acc_stages: tuple = STUDY_STAGES

    def __post_init__(self):
        object.__setattr__(self, "a_fmt", FloatFormat.parse(self.a_fmt))
        object.__setattr__(self, "b_fmt", FloatFormat.parse(self.b_fmt))
        object.__setattr__(self, "chunk", parse_chunk(self.chunk))
        for name, low in (("rows", 1), ("cols", 1), ("mac_vectors", 0), ("array_tiles", 0),
                          ("sweep_span", 0), ("jobs", 1), ("seed", 0)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=low))
        check_rounding(self.rounding)
        check_simulator(self.simulator)
        stages = tuple(check_int("acc_stages", k, minimum=1, maximum=MAX_ACC_STAGES) for k in self.acc_stages)
        object.__setattr__(self, "acc_stages", tuple(sorted(set(stages) | {1})))
        object.__setattr__(self, "nzr", check_nzr(self.nzr))
        object.__setattr__(self, "cutoff", check_cutoff(self.cutoff))
        object.__setattr__(self, "scheduler_timeout", check_real("scheduler_timeout", self.scheduler_timeout,
                                                                 minimum=0.1))
        if self.scheduler is not None:
            from .executor import parse_scheduler_address
            object.__setattr__(self, "scheduler", parse_scheduler_address(self.scheduler))


@dataclass
class _Log:
    stream: object = None
    start: float = field(default_factory=time.monotonic)

    def __call__(self, text):
        if self.stream is not None:
            print(f"[flow {time.monotonic() - self.start:6.1f} s] {text}", file=self.stream, flush=True)


def _plan(opts: FlowOptions):
    """Per-layer decisions, lengths per GEMM, and the shared decisions the hardware uses."""
    wl = get_workload(opts.workload, batch=opts.batch)
    items = wl.lengths(GEMMS)
    common = dict(chunk=opts.chunk, nzr=opts.nzr, cutoff=opts.cutoff)
    rows = [{"layer": layer.name, "gemm": gemm, "length": n,
             "decision": decide_accumulator(n, opts.a_fmt, opts.b_fmt, **common).to_dict()}
            for layer, gemm, n in items]
    by_gemm = {}
    for _, gemm, n in items:
        by_gemm.setdefault(gemm, []).append(n)
    shared = {g: decide_shared(ns, opts.a_fmt, opts.b_fmt, **common) for g, ns in by_gemm.items()}
    all_lengths = [n for _, _, n in items]
    train = decide_shared(all_lengths, opts.a_fmt, opts.b_fmt, **common)
    train_plain = decide_shared(all_lengths, opts.a_fmt, opts.b_fmt, **{**common, "chunk": 0})
    return wl, rows, by_gemm, shared, train, train_plain


def _mac_config(opts, decision) -> MACConfig:
    return MACConfig(opts.a_fmt, opts.b_fmt, decision.acc_fmt, rounding=opts.rounding,
                     chunk_size=decision.chunk_size)


def _table(head, rows, right_from=1):
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join("---" if i < right_from else "---:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def run_flow(opts: FlowOptions, out_dir, *, progress=sys.stderr) -> dict:
    """Run the whole flow and write the report; returns the report as a dict.

    Raises
    ------
    TypeError, ValueError
        Bad options or workload (before anything is written).
    macgen.area.YosysError, macgen.verify.SimulationError
        A tool failed; files finished so far stay (the report is not written).
    """
    from .executor import make_executor

    # Plan first (validates the workload), then reach the sweep's executor: both before
    # anything is written.
    plan = _plan(opts)
    with make_executor(opts.jobs, opts.scheduler, timeout=opts.scheduler_timeout) as executor:
        return _run_flow(opts, out_dir, plan, executor, progress)


def _run_flow(opts, out_dir, plan, executor, progress):
    from .emit import emit
    from .plots import plot_variance_lost
    from .sweep import run_sweep

    log = _Log(progress)
    out = Path(out_dir)
    wl, rows, by_gemm, shared, train, train_plain = plan
    all_lengths = [n for ns in by_gemm.values() for n in ns]
    infer = shared["fwd"]
    train_cfg = _mac_config(opts, train)
    plain_cfg = _mac_config(opts, train_plain)
    infer_cfg = _mac_config(opts, infer)
    fp32_fmt = accumulator_format(opts.a_fmt, opts.b_fmt, 8, 23)
    fp32_cfg = MACConfig(opts.a_fmt, opts.b_fmt, fp32_fmt, rounding=opts.rounding)

    def fp32_like(cfg):
        # "The same MAC with an e8m23 accumulator": the MAC's chunking kept.
        return MACConfig(opts.a_fmt, opts.b_fmt, fp32_fmt, rounding=opts.rounding,
                         chunk_size=cfg.chunk_size)

    fp32_same_cfg = fp32_like(train_cfg)
    array_cfg = ArrayConfig(opts.rows, opts.cols, train_cfg)
    log(f"plan: {wl.name}, {len(rows)} GEMMs; training accumulator {train.acc_fmt} "
        f"chunk {train.chunk_size or 'none'}, inference {infer.acc_fmt}")

    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    rtl = out / "rtl"
    figure_vn = out / "variance_lost.png"
    m_hi = max(d.m_acc_unchunked for d in shared.values())
    plot_variance_lost(figure_vn, m_p=train.m_p, m_accs=range(max(1, m_hi - 5), m_hi + 3),
                       lengths=by_gemm, cutoff=opts.cutoff, nzr=opts.nzr,
                       compare_chunk=train.chunk_size,
                       title=f"{wl.name}: variance lost vs accumulation length "
                             f"({opts.a_fmt} x {opts.b_fmt}, m_p = {train.m_p})")

    # -- generate ---------------------------------------------------------------
    mac_files = emit(train_cfg, rtl, decision=train)
    array_files = emit(array_cfg, rtl, decision=train)
    log(f"generate: {mac_files.verilog.name} (latency {mac_files.latency}), {array_files.verilog.name}")

    # -- verify -------------------------------------------------------------------
    verification = {}
    if opts.mac_vectors:
        from .verify.mac import random_stimulus, run_bench
        stim = random_stimulus(train_cfg, opts.mac_vectors, seed=opts.seed)
        log(f"verify: {opts.mac_vectors} random dot products through the MAC ({opts.simulator})")
        s = run_bench(mac_files, train_cfg, stim, simulator=opts.simulator,
                      build_dir=work / "sim" / train_cfg.slug)
        verification["mac"] = s.to_dict()
    if opts.array_tiles:
        from .verify.array import make_stimulus, run_array_bench
        depths = sorted({1, 3, max(2, train.chunk_size + 3), 2 * max(train.chunk_size, 4) + 1})
        stim = make_stimulus(array_cfg, opts.array_tiles, depths, opts.seed)
        log(f"verify: {opts.array_tiles} random tiles through the {opts.rows}x{opts.cols} array")
        s = run_array_bench(array_files, stim, simulator=opts.simulator,
                            build_dir=work / "sim" / array_cfg.slug)
        verification["array"] = s.to_dict()
    failed = [k for k, v in verification.items() if not v["passed"]]

    # -- area ---------------------------------------------------------------------
    span = opts.sweep_span
    m_lo = max(1, min(train.m_acc, train_plain.m_acc) - span)
    chunks = sorted({0, train.chunk_size})
    log(f"area: sweep m_acc {m_lo}..{train_plain.m_acc + span}, chunks {chunks}, "
        f"exponent {train.exp_bits}, plus the FP32-accumulator reference")
    sweep = run_sweep(opts.a_fmt, opts.b_fmt, man_bits=list(range(m_lo, max(train.m_acc, train_plain.m_acc) + span + 1)),
                      exp_bits=[train.exp_bits], chunks=chunks, out_dir=work / "sweep",
                      rounding=opts.rounding, length=max(all_lengths), executor=executor,
                      asic=opts.asic, progress=progress)
    if sweep.failures:
        f = sweep.failures[0]
        raise YosysError(f"area sweep: point {f['slug']} ({f['description']}) failed: {f['error']}")
    figure_area = out / "area_vs_precision.png"
    if sweep.png_path is not None:
        os.replace(sweep.png_path, figure_area)
    figure_delay = out / "delay_vs_precision.png"
    if sweep.delay_png_path is not None:
        os.replace(sweep.delay_png_path, figure_delay)
    areas = {}
    known = {row["slug"]: {k: row[k] for k in ("transistors", "cells", "flip_flops") + _TIMING_KEYS}
             for row in sweep.rows}

    def area(label, cfg, fpga=False):
        # The sweep already synthesised most of these; only the chosen MAC also gets FPGA counts.
        if cfg.slug not in known or fpga:
            log(f"area: {label}: {cfg.slug}" + (" (with iCE40/ECP5)" if fpga else ""))
            rep = area_of(cfg, work / "area" / cfg.slug, fpga=fpga)
            known[cfg.slug] = rep.to_dict() | _timing_columns(
                rep, work / "area" / cfg.slug / f"{rep.top}.v" if opts.asic else None)
        return {"config": cfg.to_dict(), "slug": cfg.slug, **known[cfg.slug]}

    named = [("training (chosen)", train_cfg), ("training, no chunking", plain_cfg),
             ("inference (FWD only)", infer_cfg), ("FP32 accumulator", fp32_cfg)]
    if fp32_same_cfg != fp32_cfg:
        named.append(("FP32 accumulator, same chunking", fp32_same_cfg))
    for label, cfg in named:
        areas[label] = area(label, cfg, fpga=opts.fpga and cfg == train_cfg)
    # Each GEMM on its own MAC (what per-GEMM arrays, or a precision-configurable one,
    # would need), against the same MAC with an e8m23 accumulator.
    per_gemm = {}
    for g, d in shared.items():
        own = _mac_config(opts, d)
        ref = fp32_like(own)
        mine, theirs = area(f"{g.upper()} MAC", own), area(f"{g.upper()} MAC, e8m23", ref)
        per_gemm[g] = {"slug": own.slug, "acc_fmt": str(own.acc_fmt), "chunk_size": own.chunk_size,
                       "transistors": mine["transistors"], "fp32_slug": ref.slug,
                       "fp32_transistors": theirs["transistors"],
                       "ratio": round(theirs["transistors"] / mine["transistors"], 3)}
    # Where the area goes, chosen MAC against its e8m23 twin (hierarchy kept, see
    # area_breakdown): which parts shrink with the accumulator and which do not.
    twin = fp32_same_cfg
    log(f"area: per-stage breakdown of {train_cfg.slug} and {twin.slug}")
    breakdown = {"chosen": area_breakdown(train_cfg, work / "breakdown" / train_cfg.slug),
                 "e8m23": area_breakdown(twin, work / "breakdown" / twin.slug),
                 "chosen_slug": train_cfg.slug, "e8m23_slug": twin.slug}
    if opts.array_area:
        log(f"area: {array_cfg.slug}")
        areas["array"] = {"config": array_cfg.to_dict(), "slug": array_cfg.slug,
                          **area_of(array_cfg, work / "area" / array_cfg.slug, fpga=False).to_dict()}
    # FPGA place and route: the chosen training MAC and its e8m23 twin (same chunking) only.
    fpga_timing = {}
    if opts.pnr:
        from .timing import timing_of_verilog
        for cfg in dict.fromkeys([train_cfg, twin]):
            files = emit(cfg, work / "pnr" / cfg.slug)
            fpga_timing[cfg.slug] = timing_of_verilog(
                files.verilog, files.metadata, asic=False, fpga=True,
                progress=lambda t, s=cfg.slug: log(f"timing: {s}: {t}"))["fpga"]
    stage_study = None
    if len(opts.acc_stages) > 1:
        from .pipelining import recommend, study_acc_stages
        log(f"loop stages: K = {', '.join(map(str, opts.acc_stages))} for {train_cfg.slug} and {twin.slug}")
        stage_rows = study_acc_stages(dict.fromkeys([train_cfg, twin]), work / "stages",
                                      stages=opts.acc_stages, asic=opts.asic, known=known, progress=log)
        best = {cfg.slug: recommend(stage_rows, cfg.slug) for cfg in (train_cfg, twin)}
        stage_study = {"rows": stage_rows, "recommended": {k: v["slug"] for k, v in best.items()}}
        if opts.pnr:
            from .timing import timing_of_verilog
            for row in best.values():
                if row["slug"] not in fpga_timing:
                    files = emit(MACConfig.from_dict(row["config"]), work / "pnr" / row["slug"])
                    fpga_timing[row["slug"]] = timing_of_verilog(
                        files.verilog, files.metadata, asic=False, fpga=True,
                        progress=lambda t, s=row["slug"]: log(f"timing: {s}: {t}"))["fpga"]
    timing = _timing_summary(areas, fpga_timing, train_cfg.slug, twin.slug) if opts.asic else None
    base = areas["FP32 accumulator"]["transistors"]
    savings = {k: round(base / v["transistors"], 3) for k, v in areas.items() if k != "array"}
    same = areas.get("FP32 accumulator, same chunking", areas["FP32 accumulator"])["transistors"]
    savings["training (chosen) vs FP32 with the same chunking"] = round(
        same / areas["training (chosen)"]["transistors"], 3)
    savings["inference (FWD only) vs FP32 with the same chunking"] = per_gemm["fwd"]["ratio"]

    report = {
        "workload": wl.to_dict() | {"name": wl.name},
        "options": {"a_fmt": str(opts.a_fmt), "b_fmt": str(opts.b_fmt), "chunk": opts.chunk,
                    "rounding": opts.rounding, "nzr": opts.nzr, "cutoff": opts.cutoff,
                    "array": [opts.rows, opts.cols], "simulator": opts.simulator, "seed": opts.seed},
        "plan": {"rows": rows, "per_gemm": {g: d.to_dict() for g, d in shared.items()},
                 "training": train.to_dict(), "training_unchunked": train_plain.to_dict(),
                 "inference": infer.to_dict()},
        "hardware": {"mac": mac_files.metadata, "array": {k: array_files.metadata[k]
                     for k in ("top", "config", "latency") if k in array_files.metadata},
                     "files": [str(p.relative_to(out)) for p in (mac_files.verilog, mac_files.sidecar,
                                                                array_files.verilog, array_files.sidecar)]},
        "verification": verification,
        "area": areas,
        "area_per_gemm": per_gemm,
        "area_breakdown": breakdown,
        "saving_vs_fp32": savings,
        "timing": timing,
        "fpga_timing": fpga_timing,
        "acc_stages": stage_study,
        "hardfloat_reference": hardfloat_reference(train_cfg),
        "sweep": sweep.rows,
        "figures": {"variance_lost": figure_vn.name, "area_vs_precision": figure_area.name,
                    "delay_vs_precision": figure_delay.name if opts.asic else None},
        "passed": not failed,
    }
    write_atomic(out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    write_atomic(out / "report.md", _markdown(report, opts))
    log(f"wrote {out / 'report.md'} and {out / 'report.json'}")
    return report


#: Per-MAC timing figures carried next to the area (sweep rows and :func:`_timing_columns`).
_TIMING_KEYS = ("logic_levels", "osu018_um2", "osu018_ns", "osu018_reg_to_reg_ns", "area_x_delay_um2ns")


def _timing_columns(report, verilog) -> dict:
    """Logic depth and (with ``verilog``) the OSU018 columns of one MAC, as the sweep's rows have them."""
    cols = dict.fromkeys(_TIMING_KEYS)
    cols["logic_levels"] = report.logic_levels
    if verilog is not None:
        from .timing import osu018_timing
        t = osu018_timing(verilog, report.top)
        cols.update(osu018_um2=t.area_um2, osu018_ns=t.critical_ns, osu018_reg_to_reg_ns=t.reg_to_reg_ns,
                    area_x_delay_um2ns=round(t.area_um2 * t.critical_ns, 1))
    return cols


def _timing_summary(areas, fpga, chosen, twin) -> dict:
    """Chosen training MAC against its e8m23 twin: area, delay and area x delay ratios (twin / chosen)."""
    by_slug = {v["slug"]: v for v in areas.values()}
    a, b = by_slug[chosen], by_slug[twin]
    ratios = {"transistors": b["transistors"] / a["transistors"],
              "osu018_um2": b["osu018_um2"] / a["osu018_um2"],
              "osu018_ns": b["osu018_ns"] / a["osu018_ns"],
              "logic_levels": b["logic_levels"] / a["logic_levels"],
              "area_x_delay": b["area_x_delay_um2ns"] / a["area_x_delay_um2ns"]}
    for family, f in fpga.get(chosen, {}).items():
        g = fpga.get(twin, {}).get(family)
        if f["fits"] and g and g["fits"]:
            # Delay is 1 / Fmax: the twin's delay over the chosen one's is Fmax(chosen) / Fmax(twin).
            ratios[f"{family}_delay"] = f["fmax_median_mhz"] / g["fmax_median_mhz"]
    return {"chosen": chosen, "twin": twin, "ratios": {k: round(v, 3) for k, v in ratios.items()}}


def _timing_lines(r) -> list:
    from .timing import DEVICES, OSU018_NOTE
    t = r["timing"]
    if t is None:
        return []
    fpga = r["fpga_timing"]

    def fmax(slug, family):
        f = fpga.get(slug, {}).get(family)
        if f is None:
            return "-"
        if not f["fits"]:
            return "does not fit"
        return f"{f['fmax_median_mhz']:.1f} ({f['fmax_min_mhz']:.1f}-{f['fmax_max_mhz']:.1f})"

    rows = [[k, v["config"]["acc_fmt"], v["config"]["chunk_size"] or "none", f"{v['transistors']:,}",
             v["logic_levels"], f"{v['osu018_um2']:,.0f}", f"{v['osu018_ns']:.2f}",
             f"{v['area_x_delay_um2ns']:,.0f}", fmax(v["slug"], "ecp5"), fmax(v["slug"], "ice40")]
            for k, v in r["area"].items() if k != "array"]
    q = t["ratios"]
    sentence = (f"**Chosen training MAC against the same MAC with an e8m23 accumulator (e8m23 / chosen): "
                f"area {q['osu018_um2']:.2f}x (OSU018 um2; {q['transistors']:.2f}x in transistors), "
                f"delay {q['osu018_ns']:.2f}x (OSU018 critical path; {q['logic_levels']:.2f}x in logic levels)")
    for family in ("ecp5", "ice40"):
        if f"{family}_delay" in q:
            sentence += f", {q[f'{family}_delay']:.2f}x on {DEVICES[family][1]} (1 / Fmax)"
    sentence += (f"; area x delay {q['area_x_delay']:.2f}x: the chosen MAC does {q['area_x_delay']:.2f}x "
                 f"the work per unit area and time.**")
    return ["## Timing (same Verilog: logic depth, OSU018 + OpenSTA, nextpnr)", "",
            _table(["MAC", "accumulator", "chunk", "transistors", "logic levels", "OSU018 um2",
                    "OSU018 ns", "um2 x ns", "ECP5-25k MHz", "HX8K MHz"], rows), "",
            sentence, "",
            f"Logic levels: Yosys `ltp -noff` after the generic flow. {OSU018_NOTE}; the critical path is "
            "the worst register-to-register or input-to-register path incl. setup. FPGA: every port "
            "registered in a wrapper, median Fmax of seeds 1, 2, 3 (min-max), for the chosen MAC and "
            "its e8m23 twin only.", ""]


def _stage_lines(r) -> list:
    """The accumulate-loop depth comparison (:mod:`macgen.pipelining`)."""
    study = r.get("acc_stages")
    if not study:
        return []
    from .timing import DEVICES
    fpga = r["fpga_timing"]
    rec = set(study["recommended"].values())
    asic = all(row.get("osu018_ns") is not None for row in study["rows"])

    def fmax(slug):
        got = [f"{fpga[slug][f]['fmax_median_mhz']:.1f}" if fpga[slug][f]["fits"] else "does not fit"
               for f in ("ecp5", "ice40") if f in fpga.get(slug, {})]
        return " / ".join(got) if got else "-"

    head = ["MAC", "K", "mul stages", "latency", "transistors", "logic levels"]
    if asic:
        head += ["OSU018 um2", "OSU018 ns", "MHz", "GMAC/s per mm2"]
    head.append("ECP5 / HX8K MHz")
    rows = []
    for row in study["rows"]:
        cells = [row["base"] + (" **(recommended)**" if row["slug"] in rec else ""), row["acc_stages"],
                 row["mul_stages"], row["latency"], f"{row['transistors']:,}", row["logic_levels"]]
        if asic:
            cells += [f"{row['osu018_um2']:,.0f}", f"{row['osu018_ns']:.2f}", f"{row['osu018_mhz']:.0f}",
                      f"{row['gmacs_per_mm2']:.3f}"]
        rows.append(cells + [fmax(row["slug"])])
    by_slug = {row["slug"]: row for row in study["rows"]}
    words = []
    for base, slug in study["recommended"].items():
        row, one = by_slug[slug], next(x for x in study["rows"] if x["base"] == base and x["acc_stages"] == 1)
        if asic:
            words.append(f"{base}: K = {row['acc_stages']} ({row['gmacs_per_mm2']:.3f} GMAC/s per mm2 "
                         f"at {row['osu018_mhz']:.0f} MHz, {row['gmacs_per_mm2'] / one['gmacs_per_mm2']:.2f}x "
                         f"K = 1's)")
        else:
            words.append(f"{base}: K = {row['acc_stages']}")
    return ["## Accumulate-loop stages (K dot products interleaved, same results)", "",
            _table(head, rows), "",
            "**Recommended (most throughput per area, one MAC per cycle at the OSU018 clock): "
            + "; ".join(words) + ".**", "",
            "A K-stage loop holds K independent dot products (a beat continues the dot product of "
            "the beat K cycles before it) and computes exactly the one-stage results; the "
            "multiplier gets 1 register stage from K = 2 and 2 from K = 8. FPGA Fmax "
            f"({DEVICES['ecp5'][1]} / {DEVICES['ice40'][1]}, median of 3 seeds) for the recommended K "
            "and K = 1 only.", ""]


def _saving_sentence(r) -> str:
    s = r["saving_vs_fp32"]
    t = r["area"]["training (chosen)"]
    text = (f"**Area ratio FP32 / chosen: training MAC {s['training (chosen)']:.2f}x against an "
            f"unchunked e8m23 (FP32) accumulator")
    if t["config"]["chunk_size"]:
        text += (f", {s['training (chosen) vs FP32 with the same chunking']:.2f}x against the same "
                 f"chunked MAC with an e8m23 accumulator")
    text += f"; inference MAC {s['inference (FWD only)']:.2f}x"
    if r["area"]["inference (FWD only)"]["config"]["chunk_size"]:
        text += (f" ({s['inference (FWD only) vs FP32 with the same chunking']:.2f}x against the same "
                 f"chunked MAC with an e8m23 accumulator)")
    return text + ".** (Above 1: the chosen MAC is smaller.)"


def _ceiling(mine, theirs) -> str:
    """What the breakdown says about the ratio: the parts no accumulator width changes
    (:data:`~macgen.area.ACC_INDEPENDENT_GROUPS`) and the ratio without them, an upper bound."""
    fixed = [g for g in ACC_INDEPENDENT_GROUPS if g in mine["groups"]]
    a = mine["total"] - sum(mine["groups"][g] for g in fixed)
    b = theirs["total"] - sum(theirs["groups"].get(g, 0) for g in fixed)
    names = " and the ".join(g.split(" (")[0] for g in fixed)
    verbs = ("cost", "cap") if len(fixed) > 1 else ("costs", "caps")
    text = (f"Only the accumulate datapath and the registers shrink with the accumulator; the {names} "
            f"{verbs[0]} the same in both and {verbs[1]} the whole MAC's ratio")
    if a > 0:
        text += f": even with them free the ratio would be {b / a:.2f}x"
    return text + "."


def _cycles(n):
    return f"{n} cycle" + ("" if n == 1 else "s")


def _markdown(r, opts) -> str:
    wl = r["workload"]
    plan = r["plan"]
    t, i, p = plan["training"], plan["inference"], plan["training_unchunked"]
    a = r["area"]
    lines = [f"# macgen report: {wl['name']}", "",
             f"Operands {opts.a_fmt} x {opts.b_fmt} (product fraction bits m_p = {t['m_p']}), "
             f"rounding {opts.rounding}, batch {wl['batch']}, chunking {opts.chunk or 'none'}, "
             f"non-zero ratio {opts.nzr:g}, cutoff v < {opts.cutoff:g}. "
             "Accumulator precision from the variance-retention model of Sakr et al. (ICLR 2019), "
             "SPEC §3.", "",
             "## Accumulator choice", "",
             _table(["plan", "longest n", "m_acc", "chunk", "exponent bits", "accumulator", "VRR", "v"],
                    [[name, d["n"], d["m_acc"], d["chunk_size"] or "none", d["exp_bits"], d["acc_fmt"],
                      f"{d['vrr']:.6f}", f"{d['v']:.3g}"]
                     for name, d in (("training (FWD+BWD+GRAD)", t), ("training, no chunking", p),
                                     ("inference (FWD only)", i))]), "",
             "Per GEMM (one shared MAC array must meet the widest):", "",
             _table(["GEMM", "longest n", "m_acc", "m_acc unchunked", "chunk", "accumulator"],
                    [[g.upper(), d["n"], d["m_acc"], d["m_acc_unchunked"], d["chunk_size"] or "none",
                      d["acc_fmt"]] for g, d in plan["per_gemm"].items()]), "",
             f"![variance lost]({r['figures']['variance_lost']})", "",
             "## Area (Yosys 0.70, SPEC §6 generic flow)", "",
             _table(["MAC", "accumulator", "chunk", "transistors", "cells", "flip-flops", "FP32 / this"],
                    [[k, v["config"]["acc_fmt"], v["config"]["chunk_size"] or "none",
                      f"{v['transistors']:,}", f"{v['cells']:,}", v["flip_flops"],
                      f"{r['saving_vs_fp32'][k]:.2f}x"] for k, v in a.items() if k != "array"]), "",
             _saving_sentence(r), "",
             "Each GEMM on its own MAC (per-GEMM arrays or a precision-configurable one), against "
             "the same MAC with an e8m23 accumulator:", "",
             _table(["GEMM", "accumulator", "chunk", "transistors", "with e8m23", "e8m23 / this"],
                    [[g.upper(), d["acc_fmt"], d["chunk_size"] or "none", f"{d['transistors']:,}",
                      f"{d['fp32_transistors']:,}", f"{d['ratio']:.2f}x"]
                     for g, d in r["area_per_gemm"].items()]), ""]
    b = r["area_breakdown"]
    mine, theirs = b["chosen"], b["e8m23"]
    groups = list(dict.fromkeys([*theirs["groups"], *mine["groups"]]))
    rows = [[g, f"{mine['groups'].get(g, 0):,}", f"{theirs['groups'].get(g, 0):,}",
             f"{theirs['groups'].get(g, 0) / mine['groups'][g]:.2f}x" if mine["groups"].get(g) else "-"]
            for g in groups]
    rows.append(["total (hierarchy kept)", f"{mine['total']:,}", f"{theirs['total']:,}",
                 f"{theirs['total'] / mine['total']:.2f}x"])
    lines += ["Where the area goes: the chosen training MAC against the same MAC with an e8m23 "
              "accumulator, each stage synthesised on its own (hierarchy kept, so the totals differ "
              "a little from the flattened figures above):", "",
              _table(["part", "chosen", "e8m23", "e8m23 / chosen"], rows), "",
              _ceiling(mine, theirs), ""]
    chunked, plain = a["training (chosen)"], a["training, no chunking"]
    if chunked["config"]["chunk_size"] and chunked["transistors"] > plain["transistors"]:
        lines += [f"Chunking saves {plan['training_unchunked']['m_acc'] - t['m_acc']} accumulator bits "
                  f"but, in a single MAC, its outer accumulator and chunk counter cost more than they "
                  f"save: {chunked['transistors']:,} transistors chunked against "
                  f"{plain['transistors']:,} for the unchunked {p['acc_fmt']} MAC.", ""]
    tc = a["training (chosen)"]
    if tc.get("ice40_lut4") is not None:
        lines += [f"FPGA (chosen MAC): iCE40 {tc['ice40_lut4']:,} LUT4 + {tc['ice40_carry']:,} carry, "
                  f"ECP5 {tc['ecp5_lut4']:,} LUT4.", ""]
    if "array" in a:
        lines += [f"{opts.rows}x{opts.cols} array: {a['array']['transistors']:,} transistors, "
                  f"{a['array']['flip_flops']:,} flip-flops.", ""]
    lines += [f"![area vs precision]({r['figures']['area_vs_precision']})", ""]
    lines += _timing_lines(r)
    lines += _stage_lines(r)
    if r["figures"].get("delay_vs_precision"):
        lines += [f"![critical path vs precision]({r['figures']['delay_vs_precision']})", ""]
    lines += ["## Verification (emitted Verilog vs the golden model, bit-exact)", ""]
    ver = r["verification"]
    if "mac" in ver:
        v = ver["mac"]
        lines.append(f"- MAC: {v['vectors']} dot products ({v['products']} MACs) on {v['simulator']}: "
                     f"{v['mismatches']} mismatches, {v['missing'] + v['extra'] + v['mistimed']} protocol errors "
                     f"({v['seconds']:.1f} s).")
    if "array" in ver:
        v = ver["array"]
        lines.append(f"- {opts.rows}x{opts.cols} array: {v['tiles']} tiles ({v['macs']} MACs) on "
                     f"{v['simulator']}: {v['mismatches']} mismatches, {len(v['protocol_errors'])} protocol errors "
                     f"({v['seconds']:.1f} s).")
    if not ver:
        lines.append("- skipped (--mac-vectors 0 --array-tiles 0)")
    hw = r["hardware"]
    lines += ["", "## Generated hardware", "",
              f"- MAC `{hw['mac']['top']}`, latency {_cycles(hw['mac']['latency'])}",
              f"- {opts.rows}x{opts.cols} array `{hw['array']['top']}`, latency {_cycles(hw['array']['latency'])}",
              "- files: " + ", ".join(f"`{f}`" for f in hw["files"]), "",
              "## Plan per layer", "",
              _table(["layer", "GEMM", "n", "m_acc", "m_acc (chunked)", "chunk", "exp", "VRR", "v"],
                     [[row["layer"], row["gemm"].upper(), row["length"], row["decision"]["m_acc_unchunked"],
                       row["decision"]["m_acc"] if row["decision"]["chunk_size"] else "-",
                       row["decision"]["chunk_size"] or "none", row["decision"]["exp_bits"],
                       f"{row['decision']['vrr']:.6f}", f"{row['decision']['v']:.3g}"]
                      for row in plan["rows"]], right_from=2), ""]
    return "\n".join(lines)
