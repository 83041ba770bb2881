"""Which model-feasible design to build: candidates, their area and delay, and the choice.

The precision model (:mod:`macgen.precision`) says, for each chunking, how narrow
the accumulator may be; it does not say which of those designs is the best
hardware. An unchunked MAC with two more mantissa bits can be smaller than a
chunked one (no outer register, no chunk counter), and a pipelined accumulate
loop (:attr:`~macgen.config.MACConfig.acc_stages`) trades area for clock rate.
This module enumerates the designs the model allows, synthesises them (through
the sweep's per-point cache, so nothing is synthesised twice) and picks one by
an objective:

``area``
    the smallest design (OSU018 µm², or Yosys transistors without OSU018);
``delay``
    the shortest critical path (OSU018 ns, or logic levels);
``area-delay`` (default)
    the smallest area x delay: the most throughput per area at one MAC per
    cycle (:func:`macgen.pipelining.throughput_per_area`).

Ties go to the smaller area, then the shorter delay, the fewer loop stages, the
smaller chunk. The chosen design is never dominated: no other candidate is at
least as small *and* at least as fast and better in one of the two.

Candidates (:func:`model_candidates`) are "no chunking" with its mantissa, and
each power-of-two chunk size ``2 <= L < n`` with the mantissa the model needs
for it, at every requested loop depth. One rule leaves out, without
synthesising them, designs that cannot win: a chunk size whose accumulator is
not narrower than that of no chunking and of every smaller chunk size. Its
datapath is at least as wide as theirs and its chunk counter wider (no
chunking has none; the counter grows with log2 of the chunk size), and nothing
else in a chunked MAC depends on the chunk size.

``--chunk auto`` (:func:`macgen.precision.recommend_chunk`) remains the fast,
accuracy-only choice: the narrowest accumulator, no synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import MACConfig
from .precision import AccumulatorDecision, decide_shared

__all__ = ["OBJECTIVES", "DEFAULT_OBJECTIVE", "Candidate", "DesignChoice", "model_candidates",
           "choose_design", "check_objective", "metric_names", "choice_table"]

#: What ``--objective`` accepts.
OBJECTIVES = ("area", "delay", "area-delay")
DEFAULT_OBJECTIVE = "area-delay"


def check_objective(objective) -> str:
    """``objective`` if it is one of :data:`OBJECTIVES`, else ValueError."""
    if objective not in OBJECTIVES:
        raise ValueError(f"Objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    return objective


def metric_names(asic: bool) -> tuple[str, str]:
    """The (area, delay) row columns the objectives use: OSU018 µm² and ns with ``asic``,
    else Yosys transistors and logic levels."""
    return ("osu018_um2", "osu018_ns") if asic else ("transistors", "logic_levels")


@dataclass(frozen=True)
class Candidate:
    """One design the model allows.

    Members
    -------
    decision : AccumulatorDecision
        The model's decision for this chunking (over every length).
    config : MACConfig
        The MAC, at its loop depth (:func:`macgen.pipelining.pipelined_config`).
    """

    decision: AccumulatorDecision
    config: MACConfig

    @property
    def slug(self) -> str:
        return self.config.slug


def _decisions(lengths, a_fmt, b_fmt, model) -> tuple[list, list]:
    """The model decisions worth synthesising, and the chunk sizes left out with the reason."""
    lengths = sorted(set(lengths))
    plain = decide_shared(lengths, a_fmt, b_fmt, chunk=0, **model)
    kept, pruned = [plain], []
    chunk = 2
    while chunk < lengths[-1]:
        d = decide_shared(lengths, a_fmt, b_fmt, chunk=chunk, **model)
        narrowest = kept[-1]  # every kept decision is narrower than those before it
        if d.m_acc >= narrowest.m_acc:
            what = f"chunk {narrowest.chunk_size}" if narrowest.chunk_size else "no chunking"
            pruned.append({"chunk_size": chunk, "acc_fmt": str(d.acc_fmt),
                           "reason": f"not narrower than {what} ({narrowest.acc_fmt}), with a wider chunk counter"})
        else:
            kept.append(d)
        chunk *= 2
    return kept, pruned


def model_candidates(lengths, a_fmt, b_fmt, *, rounding="rne", product_man_bits=None, nzr=1.0, cutoff=50.0,
                     exp_bits=None, mul_stages=0, stages=(1,), init=True) -> tuple[list, list]:
    """The designs the model allows for one MAC serving every length (see the module docstring).

    Parameters
    ----------
    lengths : iterable of int
        Accumulation lengths (a workload's GEMMs, or one length).
    a_fmt, b_fmt, rounding, product_man_bits, nzr, cutoff, exp_bits
        As for :func:`macgen.precision.decide_shared` and :class:`MACConfig`.
    mul_stages : int
        Multiplier stages at least (a deeper loop gets more, :func:`~macgen.pipelining.pipelined_config`).
    stages : sequence of int
        Accumulate-loop depths K to consider.
    init : bool
        Whether the MAC has an init input (:class:`MACConfig`); without one the
        candidates leave out what that proves unreachable (:mod:`macgen.reachable`),
        as the PEs of an array without preload do.

    Returns
    -------
    (list of Candidate, list of dict)
        The candidates, and the chunk sizes left out (``chunk_size``, ``acc_fmt``, ``reason``).
    """
    from .pipelining import pipelined_config
    model = dict(product_man_bits=product_man_bits, nzr=nzr, cutoff=cutoff, exp_bits=exp_bits)
    decisions, pruned = _decisions(lengths, a_fmt, b_fmt, model)
    out = []
    for d in decisions:
        base = MACConfig(a_fmt, b_fmt, d.acc_fmt, rounding=rounding, chunk_size=d.chunk_size,
                         product_man_bits=product_man_bits, mul_stages=mul_stages, init=init)
        out += [Candidate(d, pipelined_config(base, k)) for k in dict.fromkeys(stages)]
    return out, pruned


@dataclass
class DesignChoice:
    """The candidates with their figures, and the one chosen.

    Members
    -------
    objective : str
    area_metric, delay_metric : str
        Row columns used (:func:`metric_names`).
    rows : list of dict
        One per candidate: ``slug``, ``acc_fmt``, ``m_acc``, ``exp_bits``, ``chunk_size``,
        ``acc_stages``, ``mul_stages``, ``latency``, ``v`` (variance lost at the longest
        length), the figures of :func:`macgen.sweep.point_figures` (``transistors``,
        ``logic_levels``, ``osu018_um2``, ``osu018_ns``, ...), ``area_x_delay`` (area
        metric x delay metric), ``pareto`` (on the area/delay front) and ``chosen``.
    pruned : list of dict
        Chunk sizes not synthesised, with the reason.
    chosen : Candidate
    """

    objective: str
    area_metric: str
    delay_metric: str
    rows: list
    pruned: list
    chosen: Candidate

    @property
    def decision(self) -> AccumulatorDecision:
        return self.chosen.decision

    @property
    def config(self) -> MACConfig:
        return self.chosen.config

    @property
    def chosen_row(self) -> dict:
        return next(r for r in self.rows if r["chosen"])

    def summary(self) -> dict:
        """The objective, the metrics, the chosen slug, every candidate's row and the pruned chunk sizes."""
        return {"objective": self.objective, "area_metric": self.area_metric, "delay_metric": self.delay_metric,
                "chosen": self.chosen.slug, "rows": self.rows, "pruned": self.pruned}

    def sidecar_decision(self) -> dict:
        """What a sidecar records as the decision: the model's, plus ``design_choice`` (:meth:`summary`)."""
        return self.decision.to_dict() | {"design_choice": self.summary()}

    def to_dict(self) -> dict:
        """:meth:`summary` plus the chosen design's decision and config."""
        return self.summary() | {"decision": self.decision.to_dict(), "config": self.config.to_dict()}


def _score(row, objective, area_key, delay_key):
    a, d = row[area_key], row[delay_key]
    first = {"area": a, "delay": d, "area-delay": a * d}[objective]
    return (first, a, d, row["acc_stages"], row["chunk_size"])


def choose_design(lengths, a_fmt, b_fmt, *, objective=DEFAULT_OBJECTIVE, stages=(1,), asic=True, cache_dir,
                  work_dir=None, executor=None, progress=None, **model) -> DesignChoice:
    """Synthesise the :func:`model_candidates` (cached) and choose one by ``objective``.

    Parameters
    ----------
    lengths, a_fmt, b_fmt, stages
        As for :func:`model_candidates`; ``model`` takes its other keywords.
    objective : {'area', 'delay', 'area-delay'}
    asic : bool
        Measure with OSU018 cells and OpenSTA (µm², ns); else Yosys transistors and logic levels.
    cache_dir, work_dir, executor, progress
        As for :func:`macgen.sweep.synthesise_points` (a sweep's cache is shared).

    Raises
    ------
    TypeError, ValueError
        Bad options.
    macgen.area.YosysError
        A candidate failed to synthesise.
    """
    from .area import YosysError
    from .sweep import synthesise_points
    objective = check_objective(objective)
    area_key, delay_key = metric_names(asic)
    candidates, pruned = model_candidates(lengths, a_fmt, b_fmt, stages=stages, **model)
    done = synthesise_points([c.config for c in candidates], cache_dir=cache_dir, work_dir=work_dir,
                             executor=executor, asic=asic, progress=progress)
    if done.failures:
        f = done.failures[0]
        raise YosysError(f"design choice: candidate {f['slug']} failed: {f['error']}")
    rows = [_candidate_row(c, done.records[c.slug], area_key, delay_key) for c in candidates]
    best = min(range(len(rows)), key=lambda i: _score(rows[i], objective, area_key, delay_key))
    for i, r in enumerate(rows):
        r["pareto"] = not any(_dominates(o, r, area_key, delay_key) for o in rows)
        r["chosen"] = i == best
    assert rows[best]["pareto"], "the objective's minimum is on the area/delay front"
    return DesignChoice(objective, area_key, delay_key, rows, pruned, candidates[best])


def _dominates(a, b, area_key, delay_key) -> bool:
    """``a`` is no larger and no slower than ``b``, and better in one of the two."""
    no_worse = a[area_key] <= b[area_key] and a[delay_key] <= b[delay_key]
    return no_worse and (a[area_key] < b[area_key] or a[delay_key] < b[delay_key])


def _candidate_row(c: Candidate, record: dict, area_key, delay_key) -> dict:
    from .sweep import point_figures
    cfg, d = c.config, c.decision
    row = {"slug": cfg.slug, "acc_fmt": str(cfg.acc_fmt), "m_acc": d.m_acc, "exp_bits": d.exp_bits,
           "chunk_size": cfg.chunk_size, "acc_stages": cfg.acc_stages, "mul_stages": cfg.mul_stages,
           "latency": cfg.latency, "v": d.v, **point_figures(record)}
    row["area_x_delay"] = round(row[area_key] * row[delay_key], 1)
    return row


def choice_table(summary: dict) -> tuple[list, list]:
    """(header, rows of text cells) of a :meth:`DesignChoice.summary`'s candidates, the chosen
    one starred, as reports print them."""
    a, d = summary["area_metric"], summary["delay_metric"]
    units = {"osu018_um2": "µm²", "osu018_ns": "ns", "transistors": "transistors", "logic_levels": "levels"}
    head = ["", "accumulator", "chunk", "K", "latency", f"area ({units[a]})", f"delay ({units[d]})",
            "area x delay", "front"]
    out = []
    for r in sorted(summary["rows"], key=lambda r: (r["m_acc"], r["chunk_size"], r["acc_stages"])):
        out.append(["*" if r["chosen"] else "", r["acc_fmt"], str(r["chunk_size"] or "none"), str(r["acc_stages"]),
                    str(r["latency"]), f"{r[a]:,.0f}" if a != "osu018_ns" else f"{r[a]:.2f}",
                    f"{r[d]:.2f}" if d == "osu018_ns" else str(r[d]), f"{r['area_x_delay']:,.0f}",
                    "yes" if r["pareto"] else "dominated"])
    return head, out
