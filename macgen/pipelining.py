"""How many stages for the accumulate loop: area, clock and throughput per area against K.

A K-stage accumulate loop (:attr:`macgen.config.MACConfig.acc_stages`) computes the
same bits as the one-stage loop for K interleaved dot products; it costs loop
registers and buys clock rate. :func:`study_acc_stages` synthesises a MAC at
several K (generic flow: transistors and logic levels; OSU018 + OpenSTA: µm² and
critical path) and :func:`recommend` picks the K with the most throughput per area,
one MAC per cycle at the OSU018 clock: ``1 / (critical path x area)``.

The multiplier is pipelined along with the loop (:func:`pipelined_config`), so that
it does not become the critical path of a fast loop.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import MACConfig

__all__ = ["STUDY_STAGES", "pipelined_config", "study_acc_stages", "recommend", "throughput_per_area"]

#: The accumulate-loop depths the flow compares.
STUDY_STAGES = (1, 2, 4, 8)


def pipelined_config(cfg: MACConfig, acc_stages: int) -> MACConfig:
    """``cfg`` with a ``acc_stages``-stage loop and at least as many multiplier stages as
    keep the multiplier off the critical path (1 from K = 2, 2 from K = 8; measured on
    e5m2 and fp16 MACs, ECP5 and OSU018)."""
    if acc_stages == 1:
        return replace(cfg, acc_stages=1)
    need = 2 if acc_stages >= 8 else 1
    return replace(cfg, acc_stages=acc_stages, mul_stages=max(cfg.mul_stages, need))


def throughput_per_area(um2: float, ns: float) -> float:
    """MAC/s per mm² at one MAC per cycle and a clock of ``1 / ns``: ``1e6 / (ns * um2)`` GMAC/s/mm²."""
    return 1e6 / (ns * um2)


def study_acc_stages(configs, work_dir, *, stages=STUDY_STAGES, asic: bool = True, known=None,
                     progress=None) -> list:
    """Synthesise every config at every K of ``stages``.

    ``known`` maps slugs of designs already synthesised to their figures
    (``transistors``, ``flip_flops``, ``logic_levels``, and with ``asic``
    ``osu018_um2``/``osu018_ns``, as the flow's area rows have them): those are not
    synthesised again.

    Returns
    -------
    list of dict
        One row per (config, K): ``base`` (the config's slug at K = 1), ``slug``,
        ``config`` (its ``to_dict()``), ``acc_stages``, ``mul_stages``, ``latency``, ``transistors``, ``flip_flops``,
        ``logic_levels``, and with ``asic`` ``osu018_um2``, ``osu018_ns``,
        ``osu018_mhz`` and ``gmacs_per_mm2`` (:func:`throughput_per_area`).
    """
    from .area import area_of

    say = progress or (lambda text: None)
    work = Path(work_dir)
    rows = []
    for cfg in configs:
        for k in stages:
            c = pipelined_config(cfg, k)
            row = {"base": replace(cfg, acc_stages=1).slug, "slug": c.slug, "config": c.to_dict(), "acc_stages": k,
                   "mul_stages": c.mul_stages, "latency": c.latency}
            have = (known or {}).get(c.slug)
            if have is not None and (not asic or have.get("osu018_ns") is not None):
                row.update({key: have[key] for key in ("transistors", "flip_flops", "logic_levels")})
                um2, ns = have.get("osu018_um2"), have.get("osu018_ns")
            else:
                say(f"loop stages: {c.slug}")
                rep = area_of(c, work / c.slug, fpga=False)
                row.update(transistors=rep.transistors, flip_flops=rep.flip_flops,
                           logic_levels=rep.logic_levels)
                um2 = ns = None
                if asic:
                    from .timing import osu018_timing
                    t = osu018_timing(work / c.slug / f"{rep.top}.v", rep.top)
                    um2, ns = t.area_um2, t.critical_ns
            if asic:
                row.update(osu018_um2=um2, osu018_ns=ns, osu018_mhz=round(1000 / ns, 1),
                           gmacs_per_mm2=round(throughput_per_area(um2, ns), 3))
            rows.append(row)
    return rows


def recommend(rows, base: str) -> dict:
    """The row of ``base`` (a K = 1 slug) with the most throughput per area (OSU018), or,
    without OSU018 figures, the fewest transistors x logic levels."""
    mine = [r for r in rows if r["base"] == base]
    if not mine:
        raise ValueError(f"No stage study rows for {base}")
    if all("gmacs_per_mm2" in r for r in mine):
        return max(mine, key=lambda r: (r["gmacs_per_mm2"], -r["acc_stages"]))
    return min(mine, key=lambda r: (r["transistors"] * r["logic_levels"], r["acc_stages"]))
