"""The one-shot flow: workload → plan → MAC and array → verify → area and timing → report.

:func:`run_flow` is what ``macgen flow`` (and ``make run``) calls. It writes into
one output directory::

    report.md, report.json      the report (tables, figures, the saving vs FP32)
    variance_lost.png           v(n) for the workload's GEMMs (the paper's figure)
    area_vs_precision.png       MAC area against accumulator mantissa width
    delay_vs_precision.png      OSU018 critical path against accumulator mantissa width
    design_choice.png           area against delay of the designs the model allows, the choice starred
    rtl/<slug>.v, rtl/<slug>.json   the chosen MAC and array, Verilog + sidecar
    work/                       a cache: simulation builds, Yosys runs and the sweep's points

Bad input is rejected before anything is written. The outputs (all but ``work/``)
are made in a staging directory inside the output directory and replace the
previous run's outputs only when the run is complete: an interrupted or failed run
leaves the previous complete output as it was, and a rerun never leaves a mix of
two runs. Reruns reuse the cache, so only what changed is synthesised again.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .choice import DEFAULT_OBJECTIVE, check_objective, model_candidates
from .area import (ACC_INDEPENDENT_GROUPS, YosysError, area_breakdown, area_of, array_pe_breakdown,
                   hardfloat_reference)
from .config import MAX_ACC_STAGES, ArrayConfig, MACConfig
from .files import write_atomic
from .limits import MAX_ARRAY_DIM, MAX_SIM_MACS
from .progress import progress_printer, status
from .formats import FloatFormat, accumulator_format, check_rounding
from .pipelining import STUDY_STAGES
from .precision import one_minus_vrr, check_cutoff, check_nzr, decide_shared, parse_chunk, plan_workload
from .validate import check_bool, check_int, check_real
from .verify.cocotb_runner import check_simulator
from .workloads import GEMMS, get_workload

__all__ = ["FlowOptions", "run_flow", "OUTPUTS", "publish_outputs", "timing_summary", "saving_ceiling"]

#: What a run writes into its output directory besides the ``work/`` cache; a rerun replaces all of them.
OUTPUTS = ("rtl", "variance_lost.png", "area_vs_precision.png", "delay_vs_precision.png", "design_choice.png",
           "report.json", "report.md")


@dataclass(frozen=True)
class FlowOptions:
    """Everything :func:`run_flow` needs; validated at construction.

    Parameters
    ----------
    workload : str
        Built-in name or a layer file (:func:`macgen.workloads.get_workload`).
    a_fmt, b_fmt : FloatFormat or str
    chunk : None, 'auto', 'none' or int
        Chunking of the training MAC, accuracy-only: ``'auto'`` the narrowest accumulator
        (:func:`macgen.precision.recommend_chunk`), ``'none'``/0 or a chunk size. None
        (default): chosen with the accumulator and the loop depth by ``objective``.
    objective : {'area', 'delay', 'area-delay'} or None
        How the training and inference MACs are chosen among the designs the model
        allows (:mod:`macgen.choice`; default ``'area-delay'`` when ``chunk`` is None).
        Cannot be combined with ``chunk``.
    rows, cols : int
        Systolic array shape.
    rounding : {'rne', 'rtz'}
    nzr, cutoff : float
        Precision-model options (docs/model.md).
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
    pe_sizes : tuple of int
        Square array sizes whose per-PE area the report gives for the built MAC and its
        e8m23 twin (hierarchy kept: one PE, the shared chunk counter, the rest; cheap
        at any size). ``()`` skips it.
    acc_stages : tuple of int
        Accumulate-loop depths K to compare for the chosen training MAC and its twin
        (:mod:`macgen.pipelining`: area, OSU018 clock, throughput per area; the
        recommended K is placed and routed too with ``pnr``). ``(1,)`` compares nothing.
    init : bool
        Whether the MACs built, compared and chosen have an init input. ``False``: every
        dot product starts from +0 and the MACs leave out the logic that proves
        unreachable (:mod:`macgen.reachable`). The array's PEs never have one (the
        flow's array has no preload).
    """

    workload: str = "resnet32-cifar10"
    a_fmt: FloatFormat = FloatFormat(5, 2)
    b_fmt: FloatFormat = FloatFormat(5, 2)
    chunk: object = None
    objective: str | None = None
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
    pe_sizes: tuple = (4, 8)
    init: bool = True

    def __post_init__(self):
        object.__setattr__(self, "a_fmt", FloatFormat.parse(self.a_fmt))
        object.__setattr__(self, "b_fmt", FloatFormat.parse(self.b_fmt))
        if self.chunk is None:
            object.__setattr__(self, "objective", check_objective(self.objective or DEFAULT_OBJECTIVE))
        elif self.objective is not None:
            raise ValueError(f"objective {self.objective!r} and chunk {self.chunk!r} cannot be combined: "
                             f"the objective chooses the accumulator and its chunking among the designs the model allows")
        else:
            object.__setattr__(self, "chunk", parse_chunk(self.chunk))
        for name, low in (("rows", 1), ("cols", 1), ("mac_vectors", 0), ("array_tiles", 0),
                          ("sweep_span", 0), ("jobs", 1), ("seed", 0)):
            object.__setattr__(self, name, check_int(name, getattr(self, name), minimum=low))
        check_rounding(self.rounding)
        check_simulator(self.simulator)
        object.__setattr__(self, "init", check_bool("init", self.init))
        stages = tuple(check_int("acc_stages", k, minimum=1, maximum=MAX_ACC_STAGES) for k in self.acc_stages)
        object.__setattr__(self, "acc_stages", tuple(sorted(set(stages) | {1})))
        object.__setattr__(self, "pe_sizes", tuple(dict.fromkeys(
            check_int("pe_sizes", n, minimum=1, maximum=MAX_ARRAY_DIM) for n in self.pe_sizes)))
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
    items = list(wl.lengths(GEMMS))
    # Per layer and per GEMM the accuracy-only plan (the objective's choice is made with synthesis).
    common = dict(chunk="auto" if opts.chunk is None else opts.chunk, nzr=opts.nzr, cutoff=opts.cutoff)
    plan = plan_workload([(layer.name, gemm, n) for layer, gemm, n in items], opts.a_fmt, opts.b_fmt,
                         **common)
    rows, by_gemm, shared, train = plan.row_dicts(), plan.by_gemm, plan.shared, plan.overall
    all_lengths = [n for _, _, n in items]
    train_plain = decide_shared(all_lengths, opts.a_fmt, opts.b_fmt, **{**common, "chunk": 0})
    candidates = None
    if opts.objective is not None:
        model = dict(rounding=opts.rounding, nzr=opts.nzr, cutoff=opts.cutoff, stages=opts.acc_stages,
                     init=opts.init)
        candidates = {"training": model_candidates(all_lengths, opts.a_fmt, opts.b_fmt, **model)[0],
                      "inference": model_candidates(by_gemm["fwd"], opts.a_fmt, opts.b_fmt, **model)[0]}
    return wl, rows, by_gemm, shared, train, train_plain, candidates


def _check_sizes(opts, plan):
    """What the plan implies for the options, checked before any work: the widest swept
    accumulator fits 64 bits, and the verifications stay within :data:`~macgen.limits.MAX_SIM_MACS`."""
    _, _, _, _, train, train_plain, candidates = plan
    m_top = max(train.m_acc, train_plain.m_acc) + opts.sweep_span
    if 1 + train.exp_bits + m_top > 64:
        raise ValueError(f"sweep_span {opts.sweep_span} would sweep up to e{train.exp_bits}m{m_top}, "
                         f"{1 + train.exp_bits + m_top} bits; at most {63 - train.exp_bits - m_top + opts.sweep_span} "
                         f"keeps every accumulator within 64 bits")
    # The verified design is the objective's choice when there is one: budget for the longest chunk.
    L = max([train.chunk_size] + [c.config.chunk_size for c in (candidates or {}).get("training", [])])
    macs = {"mac_vectors": opts.mac_vectors * (3 * L + 3 if L else 40),
            "array_tiles": opts.array_tiles * opts.rows * opts.cols * (2 * max(L, 4) + 1)}
    for name, n in macs.items():
        if n > MAX_SIM_MACS:
            raise ValueError(f"{name} {getattr(opts, name)} would simulate up to {n:,} MACs, more than "
                             f"one run simulates ({MAX_SIM_MACS:,})")


def _mac_config(opts, decision) -> MACConfig:
    return MACConfig(opts.a_fmt, opts.b_fmt, decision.acc_fmt, rounding=opts.rounding,
                     chunk_size=decision.chunk_size, init=opts.init)


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

    # Plan first (validates the workload and the sizes it implies), then reach the sweep's
    # executor: both before anything is written.
    plan = _plan(opts)
    _check_sizes(opts, plan)
    with make_executor(opts.jobs, opts.scheduler, timeout=opts.scheduler_timeout) as executor:
        return _run_flow(opts, out_dir, plan, executor, progress)


def _run_flow(opts, out_dir, plan, executor, progress):
    log = _Log(progress)
    out = Path(out_dir)
    wl, rows, _, shared, train, _, candidates = plan
    if candidates is None:
        log(f"plan: {wl.name}, {len(rows)} GEMMs; training accumulator {train.acc_fmt} "
            f"chunk {train.chunk_size or 'none'}, inference {shared['fwd'].acc_fmt}")
    else:
        log(f"plan: {wl.name}, {len(rows)} GEMMs; {len(candidates['training'])} training and "
            f"{len(candidates['inference'])} inference designs the model allows, chosen by {opts.objective}")

    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".staging.", dir=out))
    try:
        report = _run_stages(opts, out, stage, plan, executor, log, progress)
        publish_outputs(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"wrote {out / 'report.md'} and {out / 'report.json'}")
    return report


def publish_outputs(stage, out) -> None:
    """Replace the previous run's :data:`OUTPUTS` in ``out`` by those made in ``stage``.

    A run makes its outputs in a staging directory and publishes them only when it is
    complete: every output of the previous run is moved away first (an output this run
    did not make does not survive), then ``stage``'s are moved in, in the order of
    :data:`OUTPUTS`, so the reports come last. ``work/`` and anything else not in
    :data:`OUTPUTS` is left alone.

    Parameters
    ----------
    stage : path-like
        The staging directory, on the same file system as ``out`` (moves are renames);
        the previous outputs end up in its ``.previous`` directory.
    out : path-like
        The output directory.
    """
    stage, out = Path(stage), Path(out)
    old = stage / ".previous"
    old.mkdir()
    for name in OUTPUTS:
        if os.path.lexists(out / name):
            os.replace(out / name, old / name)
    for name in OUTPUTS:
        if os.path.lexists(stage / name):
            os.replace(stage / name, out / name)


def _run_stages(opts, out, stage, plan, executor, log, progress):
    from .emit import emit
    from .plots import plot_variance_lost
    from .sweep import run_sweep

    wl, rows, by_gemm, shared, train, train_plain, _ = plan
    all_lengths = [n for ns in by_gemm.values() for n in ns]
    infer = shared["fwd"]
    work = out / "work"
    choices = {}
    if opts.objective is not None:
        from .choice import choose_design
        from .sweep import _progress_printer
        for role, lengths in (("training", all_lengths), ("inference", by_gemm["fwd"])):
            log(f"design choice ({opts.objective}): synthesising the {role} designs the model allows")
            choices[role] = choose_design(
                lengths, opts.a_fmt, opts.b_fmt, objective=opts.objective, stages=opts.acc_stages,
                asic=opts.asic, cache_dir=work / "sweep" / "cache", work_dir=work / "choice", executor=executor,
                progress=_progress_printer(progress) if progress else None, rounding=opts.rounding,
                nzr=opts.nzr, cutoff=opts.cutoff, init=opts.init)
            log(f"design choice: {role}: {choices[role].config.slug}")
        train, infer = choices["training"].decision, choices["inference"].decision
        shared = {**shared, "fwd": infer}  # FWD alone is the inference MAC; BWD and GRAD stay accuracy-only
    # The area and timing tables compare one-stage loops; the chosen loop depth is the design built.
    train_cfg = _mac_config(opts, train)
    chosen_cfg = choices["training"].config if choices else train_cfg
    plain_cfg = _mac_config(opts, train_plain)
    infer_cfg = _mac_config(opts, infer)
    fp32_fmt = accumulator_format(opts.a_fmt, opts.b_fmt, 8, 23)
    fp32_cfg = MACConfig(opts.a_fmt, opts.b_fmt, fp32_fmt, rounding=opts.rounding, init=opts.init)

    def fp32_like(cfg):
        # "The same MAC with an e8m23 accumulator": the MAC's chunking and pipeline kept.
        return MACConfig(opts.a_fmt, opts.b_fmt, fp32_fmt, rounding=opts.rounding,
                         chunk_size=cfg.chunk_size, mul_stages=cfg.mul_stages, acc_stages=cfg.acc_stages,
                         init=opts.init)

    fp32_same_cfg = fp32_like(train_cfg)
    array_cfg = ArrayConfig(opts.rows, opts.cols, chosen_cfg)
    rtl = stage / "rtl"
    figure_vn = stage / "variance_lost.png"
    m_hi = max(d.m_acc_unchunked for d in shared.values())
    plot_variance_lost(figure_vn, m_p=train.m_p, m_accs=range(max(1, m_hi - 5), m_hi + 3),
                       lengths=by_gemm, cutoff=opts.cutoff, nzr=opts.nzr,
                       compare_chunk=train.chunk_size,
                       title=f"{wl.name}: variance lost vs accumulation length "
                             f"({opts.a_fmt} x {opts.b_fmt}, m_p = {train.m_p})")

    # -- generate ---------------------------------------------------------------
    mac_files = emit(chosen_cfg, rtl, decision=choices["training"].sidecar_decision() if choices else train)
    array_files = emit(array_cfg, rtl, decision=choices["training"].sidecar_decision() if choices else train)
    log(f"generate: {mac_files.verilog.name} (latency {mac_files.latency}), {array_files.verilog.name}")

    # -- verify -------------------------------------------------------------------
    verification = {}
    if opts.mac_vectors:
        from .verify.mac import random_stimulus, run_bench
        stim = random_stimulus(chosen_cfg, opts.mac_vectors, seed=opts.seed)
        log(f"verify: {opts.mac_vectors} random dot products through the MAC ({opts.simulator})")
        with status(f"verify: building the MAC's {opts.simulator} simulation") as building:
            s = run_bench(mac_files, chosen_cfg, stim, simulator=opts.simulator,
                          build_dir=work / "sim" / chosen_cfg.slug,
                          progress=progress_printer("dot products", "verify: MAC", until=building)
                          if progress else None)
        verification["mac"] = s.to_dict()
    if opts.array_tiles:
        from .verify.array import make_stimulus, run_array_bench
        depths = sorted({1, 3, max(2, train.chunk_size + 3), 2 * max(train.chunk_size, 4) + 1})
        stim = make_stimulus(array_cfg, opts.array_tiles, depths, opts.seed)
        log(f"verify: {opts.array_tiles} random tiles through the {opts.rows}x{opts.cols} array")
        with status(f"verify: {opts.rows}x{opts.cols} array on {opts.simulator}"):
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
    figure_area = stage / "area_vs_precision.png"
    if sweep.png_path is not None:
        os.replace(sweep.png_path, figure_area)
    figure_delay = stage / "delay_vs_precision.png"
    if sweep.delay_png_path is not None:
        os.replace(sweep.delay_png_path, figure_delay)
    areas = {}
    known = {row["slug"]: {k: row[k] for k in ("transistors", "cells", "flip_flops") + _TIMING_KEYS}
             for row in [*sweep.rows, *(r for c in choices.values() for r in c.rows)]}

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
    # Per PE of square arrays, the built MAC (its K included) and its e8m23 twin, against the
    # standalone MACs, all with the hierarchy kept.
    pe_area = []
    for cfg in dict.fromkeys([chosen_cfg, fp32_like(chosen_cfg)]) if opts.pe_sizes else ():
        log(f"area: per PE of {', '.join(f'{n}x{n}' for n in opts.pe_sizes)} arrays of {cfg.slug}")
        alone = area_breakdown(cfg, work / "breakdown" / cfg.slug)
        for n in opts.pe_sizes:
            arr = ArrayConfig(n, n, cfg)
            pe_area.append({"slug": cfg.slug, "mac_total": alone["total"],
                            "mac_counter": alone["groups"].get("chunk counter", 0),
                            **array_pe_breakdown(arr, work / "breakdown" / arr.slug)})
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
    timing = timing_summary(areas, fpga_timing, train_cfg.slug, twin.slug) if opts.asic else None
    figure_choice = None
    if choices:
        from .plots import plot_design_choice
        figure_choice = stage / "design_choice.png"
        plot_design_choice(figure_choice, {role: ch.summary() for role, ch in choices.items()},
                           extra={"training": _sweep_points(sweep.rows, choices["training"], train, train_plain)},
                           title=f"{wl.name}: designs the model allows ({opts.a_fmt} x {opts.b_fmt}), "
                                 f"objective {opts.objective}")
    base = areas["FP32 accumulator"]["transistors"]
    savings = {k: round(base / v["transistors"], 3) for k, v in areas.items() if k != "array"}
    same = areas.get("FP32 accumulator, same chunking", areas["FP32 accumulator"])["transistors"]
    savings["training (chosen) vs FP32 with the same chunking"] = round(
        same / areas["training (chosen)"]["transistors"], 3)
    savings["inference (FWD only) vs FP32 with the same chunking"] = per_gemm["fwd"]["ratio"]

    report = {
        "workload": wl.to_dict() | {"name": wl.name},
        "options": {"a_fmt": str(opts.a_fmt), "b_fmt": str(opts.b_fmt), "chunk": opts.chunk,
                    "objective": opts.objective, "acc_stages": list(opts.acc_stages),
                    "rounding": opts.rounding, "nzr": opts.nzr, "cutoff": opts.cutoff,
                    "array": [opts.rows, opts.cols], "simulator": opts.simulator, "seed": opts.seed,
                    "init": opts.init},
        "plan": {"rows": rows, "per_gemm": {g: d.to_dict() for g, d in shared.items()},
                 "training": train.to_dict(), "training_unchunked": train_plain.to_dict(),
                 "inference": infer.to_dict()},
        "hardware": {"mac": mac_files.metadata, "array": {k: array_files.metadata[k]
                     for k in ("top", "config", "latency") if k in array_files.metadata},
                     "files": [str(p.relative_to(stage)) for p in (mac_files.verilog, mac_files.sidecar,
                                                                array_files.verilog, array_files.sidecar)]},
        "verification": verification,
        "area": areas,
        "area_per_gemm": per_gemm,
        "area_breakdown": breakdown,
        "saving_vs_fp32": savings,
        "timing": timing,
        "fpga_timing": fpga_timing,
        "acc_stages": stage_study,
        "design_choice": {role: c.to_dict() for role, c in choices.items()} or None,
        "chosen_design": _chosen_design(chosen_cfg, fp32_like(chosen_cfg), stage_study, known) | {"pe_area": pe_area},
        "hardfloat_reference": hardfloat_reference(train_cfg),
        "sweep": sweep.rows,
        "figures": {"variance_lost": figure_vn.name, "area_vs_precision": figure_area.name,
                    "delay_vs_precision": figure_delay.name if opts.asic else None,
                    "design_choice": figure_choice.name if figure_choice else None},
        "passed": not failed,
    }
    write_atomic(stage / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    write_atomic(stage / "report.md", _markdown(report, opts))
    return report


def _chosen_design(cfg, twin, stage_study, known) -> dict:
    """The design built (its loop depth included) and its e8m23 twin (same chunking, same K):
    their figures from the loop-stage study or the other MACs measured."""
    rows = {r["slug"]: r for r in (stage_study or {}).get("rows", [])}

    def figures(c):
        f = rows.get(c.slug) or known.get(c.slug)
        return None if f is None else {k: f.get(k) for k in ("transistors", "logic_levels", "osu018_um2",
                                                              "osu018_ns")}
    return {"slug": cfg.slug, "twin_slug": twin.slug, "acc_stages": cfg.acc_stages, "mul_stages": cfg.mul_stages,
            "latency": cfg.latency, "chosen": figures(cfg), "twin": figures(twin)}


def _sweep_points(sweep_rows, choice, train, train_plain) -> list:
    """The area sweep's one-stage MACs that are not candidates of ``choice``, as (area, delay,
    model-feasible) points for its figure: feasible when the mantissa is at least what the model
    needs at that chunking."""
    need = {0: train_plain.m_acc, train.chunk_size: train.m_acc}
    area_key, delay_key = choice.area_metric, choice.delay_metric
    mine = {r["slug"] for r in choice.rows}
    return [(r[area_key], r[delay_key], r["man_bits"] >= need[r["chunk_size"]]) for r in sweep_rows
            if r["role"] == "sweep" and r["chunk_size"] in need and r["slug"] not in mine
            and r.get(area_key) is not None
            and r.get(delay_key) is not None]


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


def timing_summary(areas, fpga, chosen, twin) -> dict:
    """The chosen training MAC against its e8m23 twin: area, delay and area x delay ratios.

    Parameters
    ----------
    areas : dict
        Label -> area row (``slug``, ``transistors``, ``osu018_um2``, ``osu018_ns``,
        ``logic_levels``, ``area_x_delay_um2ns``), as the report's ``area`` has them.
    fpga : dict
        Slug -> family -> :meth:`~macgen.timing.FpgaTiming.to_dict`-like dict (``fits``,
        ``fmax_median_mhz``); may lack either design.
    chosen, twin : str
        The slugs of the two MACs.

    Returns
    -------
    dict
        ``{"chosen": chosen, "twin": twin, "ratios": {...}}``: twin / chosen for the
        transistors, OSU018 area and delay, logic levels and area x delay, and
        ``<family>_delay`` (Fmax of the chosen over the twin's) for every FPGA family
        both fit; rounded to 3 decimals.
    """
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


def _choice_lines(r) -> list:
    """The design choice: every candidate the model allows with its figures, the chosen one starred."""
    choices = r.get("design_choice")
    if not choices:
        return []
    from .choice import choice_table
    lines = ["## Design choice (area and delay of every design the model allows)", "",
             "Each design below meets the model's criterion for every GEMM it serves: no chunking, and each "
             "power-of-two chunk size with the accumulator it needs, at each loop depth K. A chunk size "
             "whose accumulator is not narrower than that of no chunking and of every smaller chunk size is "
             "not synthesised (at least as wide a datapath, a wider chunk counter). 'dominated': another "
             "candidate is no larger and no slower.", ""]
    for role, c in choices.items():
        head, cells = choice_table(c)
        best = next(x for x in c["rows"] if x["chosen"])
        lines += [f"**{role.capitalize()} MAC: {best['acc_fmt']}, "
                  + (f"chunk {best['chunk_size']}" if best["chunk_size"] else "no chunking")
                  + f", K = {best['acc_stages']} ({best['mul_stages']} multiplier stage(s), latency "
                  f"{_cycles(best['latency'])}), chosen for {c['objective']}.**", "",
                  _table(head, cells), ""]
    if r["figures"].get("design_choice"):
        lines += [f"![design choice]({r['figures']['design_choice']})", ""]
    return lines


def _chosen_lines(r) -> list:
    """The design built against its e8m23 twin (same chunking, same loop depth)."""
    c = r.get("chosen_design")
    if not c or not c["chosen"] or not c["twin"]:
        return []
    mine, theirs = c["chosen"], c["twin"]
    keys = [("transistors", "area, transistors (Yosys)", "{:,}"), ("osu018_um2", "area, OSU018 um2", "{:,.0f}"),
            ("logic_levels", "logic levels", "{}"), ("osu018_ns", "critical path, OSU018 ns", "{:.2f}")]
    rows = [[name, fmt.format(mine[k]), fmt.format(theirs[k]), f"{theirs[k] / mine[k]:.2f}x"]
            for k, name, fmt in keys if mine.get(k) is not None and theirs.get(k) is not None]
    if mine.get("osu018_um2") is not None and mine.get("osu018_ns") is not None:
        a, b = mine["osu018_um2"] * mine["osu018_ns"], theirs["osu018_um2"] * theirs["osu018_ns"]
        rows.append(["area x delay, um2 x ns", f"{a:,.0f}", f"{b:,.0f}", f"{b / a:.2f}x"])
    bd = r["area_breakdown"]
    fixed, da, db = _acc_datapath(bd["chosen"], bd["e8m23"])
    if da > 0:
        rows.append(["accumulate datapath, transistors (K = 1, hierarchy kept)", f"{da:,}", f"{db:,}",
                     f"{db / da:.2f}x"])
    pe = {(p["slug"], p["rows"]): p for p in c.get("pe_area", [])}
    for n in sorted({p["rows"] for p in c.get("pe_area", [])}):
        x, y = pe.get((c["slug"], n)), pe.get((c["twin_slug"], n))
        if x and y:
            rows.append([f"per PE of a {n}x{n} array, transistors (array / {n * n}, hierarchy kept)",
                         f"{x['per_pe']:,}", f"{y['per_pe']:,}", f"{y['per_pe'] / x['per_pe']:.2f}x"])
    pe_lines = []
    if c.get("pe_area"):
        pe_lines = ["Per PE (hierarchy kept): one PE, and what the array shares (its one chunk counter; the "
                    "operand skew, result drain and control), against the standalone MAC:", "",
                    _table(["MAC", "array", "PE", "standalone MAC", "standalone - PE", "MAC's own counter",
                            "shared counter", "skew, drain, control", "array / PEs"],
                           [[p["slug"], f"{p['rows']}x{p['cols']}", f"{p['pe']:,}", f"{p['mac_total']:,}",
                             f"{p['mac_total'] - p['pe']:+,}", f"{p['mac_counter']:,}", f"{p['counter']:,}",
                             f"{p['rest']:,}", f"{p['per_pe']:,}"] for p in c["pe_area"]]), ""]
    return [f"## The design built against its FP32-accumulator twin (same chunking, K = {c['acc_stages']})", "",
            f"`{c['slug']}` against `{c['twin_slug']}`; the accumulate datapath leaves out "
            + (" and ".join("the " + g.split(" (")[0] for g in fixed) or "nothing") + ".", "",
            _table(["figure", "chosen", "e8m23 twin", "twin / chosen"], rows), "", *pe_lines]


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


def _acc_datapath(mine, theirs) -> tuple:
    """The groups no accumulator width changes (:data:`~macgen.area.ACC_INDEPENDENT_GROUPS`) that
    ``mine`` has, and both breakdowns' totals without them."""
    fixed = [g for g in ACC_INDEPENDENT_GROUPS if g in mine["groups"]]
    return (fixed, mine["total"] - sum(mine["groups"][g] for g in fixed),
            theirs["total"] - sum(theirs["groups"].get(g, 0) for g in fixed))


def saving_ceiling(mine, theirs) -> str:
    """The report's sentence on the most a narrower accumulator can save.

    The parts no accumulator width changes (:data:`~macgen.area.ACC_INDEPENDENT_GROUPS`:
    the multiplier, the chunk counter) cost the same in both MACs and so cap the whole
    MAC's ratio; without them the ratio is an upper bound.

    Parameters
    ----------
    mine, theirs : dict
        :func:`~macgen.area.area_breakdown` results (``total``, ``groups``) of the chosen
        MAC and of its e8m23 twin.

    Returns
    -------
    str
        The sentence naming those parts and, when ``mine`` has area outside them, the
        bound ``theirs / mine`` without them.
    """
    fixed, a, b = _acc_datapath(mine, theirs)
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
             f"rounding {opts.rounding}, batch {wl['batch']}, "
             + (f"chunking and loop depth chosen for {opts.objective}, " if opts.objective
                else f"chunking {opts.chunk or 'none'} (accuracy-only), ") +
             f"non-zero ratio {opts.nzr:g}, cutoff v < {opts.cutoff:g}. "
             "Accumulator precision from the variance-retention model of Sakr et al. (ICLR 2019), "
             "docs/model.md.", "",
             "## Accumulator choice", "",
             _table(["plan", "longest n", "m_acc", "chunk", "exponent bits", "accumulator", "1 - VRR", "v"],
                    [[name, d["n"], d["m_acc"], d["chunk_size"] or "none", d["exp_bits"], d["acc_fmt"],
                      one_minus_vrr(d["vrr"]), f"{d['v']:.3g}"]
                     for name, d in (("training (FWD+BWD+GRAD)", t), ("training, no chunking", p),
                                     ("inference (FWD only)", i))]), "",
             "Per GEMM (one shared MAC array must meet the widest)"
             + ("; FWD is the inference MAC chosen below, BWD and GRAD the narrowest accumulator:"
                if r.get("design_choice") else ":"), "",
             _table(["GEMM", "longest n", "m_acc", "m_acc unchunked", "chunk", "accumulator"],
                    [[g.upper(), d["n"], d["m_acc"], d["m_acc_unchunked"], d["chunk_size"] or "none",
                      d["acc_fmt"]] for g, d in plan["per_gemm"].items()]), "",
             f"![variance lost]({r['figures']['variance_lost']})", "",
             *_choice_lines(r),
             "## Area (Yosys 0.70, docs/arithmetic.md §7 generic flow)", "",
             *([f"The area and timing tables compare one-stage accumulate loops; the design built has "
                f"K = {r['chosen_design']['acc_stages']} (the last section compares it with its twin at that K).", ""]
               if r["chosen_design"]["acc_stages"] > 1 else []),
             "\"Transistors\" is the CMOS estimate of Yosys' `stat -tech cmos` after that one fixed "
             "generic flow (no cell library): for comparing designs, not a transistor count of a chip.", "",
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
              saving_ceiling(mine, theirs), ""]
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
    lines += _chosen_lines(r)
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
              "Layers whose GEMM has the same length and decision share a row.", "",
              _table(["layers", "GEMM", "n", "m_acc", "m_acc (chunked)", "chunk", "exp", "1 - VRR", "v"],
                     [[layers, *cells] for layers, cells in collapse_rows(plan["rows"])], right_from=2), ""]
    return "\n".join(lines)


def _layer_cells(row) -> tuple:
    d = row["decision"]
    return (row["gemm"].upper(), row["length"], d["m_acc_unchunked"], d["m_acc"] if d["chunk_size"] else "-",
            d["chunk_size"] or "none", d["exp_bits"], one_minus_vrr(d["vrr"]), f"{d['v']:.3g}")


def collapse_rows(rows) -> list:
    """Per-layer rows with identical cells (GEMM, length, decision) as one row, in order of first
    appearance: ``[(layers_text, cells), ...]``."""
    groups: dict = {}
    for row in rows:
        groups.setdefault(_layer_cells(row), []).append(row["layer"])
    out = []
    for cells, layers in groups.items():
        text = ", ".join(layers) if len(layers) <= 3 else f"{layers[0]} ... {layers[-1]} ({len(layers)} layers)"
        out.append((text, list(cells)))
    return out
