"""Same hardware before and after a refactor: the RTL of a git revision against the working tree.

A refactor that moves logic across module boundaries leaves the hardware alone but moves the
generic flow's transistor counts by about a percent (ABC's result depends on the order of cells
in the flattened netlist), so equal transistor counts neither prove nor disprove a change. This
checks structure instead: each design below is emitted with the revision's code (a detached
``git worktree`` imported through ``PYTHONPATH``) and with the working tree's, Yosys flattens
both before any optimisation (``proc; flatten; delete t:$scopeinfo; opt_clean``), and the two
netlists are compared by a name- and order-independent hash: Weisfeiler-Lehman refinement on
the bipartite graph of cells and bits (cells labelled by type and parameters, edges by port,
direction and bit index, top-level port bits by port name, direction and index, constants by
value). Prints cells by type, structurally identical or not, and the generic-flow transistors
of both sides; exit code 0 when every design is identical, 1 otherwise.

    .venv/bin/python bench/same_hardware.py --base 807894e [--no-area] [--jobs 2]
                                            [--work build/same-hardware]

``--self-test`` instead pairs deliberately different designs of the working tree (e7m10 against
e7m11 accumulators; e5m2 x e4m3 against e4m3 x e5m2, same cells, other wiring) and exits 0 when
every pair is reported different. About 3 minutes with transistor counts on 2 cores (30 s
with --no-area).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROUNDS = 12


def designs(which: str) -> dict:
    """The designs to compare, by name; built with whichever macgen is importable."""
    from macgen.config import ArrayConfig, MACConfig as M
    if which == "mutant-before":
        return {"e7m10c256~e7m11c256": M("e5m2", "e5m2", "e7m10", chunk_size=256),
                "e5m2xe4m3~e4m3xe5m2": M("e5m2", "e4m3", "e8m23")}
    if which == "mutant-after":
        return {"e7m10c256~e7m11c256": M("e5m2", "e5m2", "e7m11", chunk_size=256),
                "e5m2xe4m3~e4m3xe5m2": M("e4m3", "e5m2", "e8m23")}
    e7m10 = dict(chunk_size=256)
    out = {"e7m10c256": M("e5m2", "e5m2", "e7m10", **e7m10),
           "e8m23": M("e5m2", "e5m2", "e8m23"),
           "fp16": M("fp16", "fp16", "fp16")}
    for k, mul in ((2, 1), (4, 1), (8, 2)):
        out[f"e7m10c256_k{k}"] = M("e5m2", "e5m2", "e7m10", **e7m10, acc_stages=k, mul_stages=mul)
    for k in (1, 4):
        out[f"e6m9c64_k{k}"] = M("e5m2", "e5m2", "e6m9", chunk_size=64, acc_stages=k)
        out[f"e6m9c64_fp32_k{k}"] = M("e5m2", "e5m2", "e6m9", chunk_size=64, outer_fmt="fp32", acc_stages=k)
        out[f"e7m9c64_shared_k{k}"] = M("e5m2", "e5m2", "e7m9", chunk_size=64, acc_stages=k)
    out["e8m23_noinit"] = M("e5m2", "e5m2", "e8m23", init=False)
    out["array4x4_e6m9c64"] = ArrayConfig(rows=4, cols=4, mac=M("e5m2", "e5m2", "e6m9", chunk_size=64))
    out["array2x2_k2_preload"] = ArrayConfig(rows=2, cols=2, preload=True,
                                             mac=M("e5m2", "e5m2", "e6m9", chunk_size=64, acc_stages=2))
    return out


def emit_all(which: str, out_dir: Path) -> None:
    """(Subprocess side.) Emit ``designs(which)`` into ``out_dir/<name>/``, with a manifest."""
    import macgen
    from macgen.emit import emit
    tops = {name: emit(cfg, out_dir / name).top for name, cfg in designs(which).items()}
    (out_dir / "manifest.json").write_text(json.dumps({"macgen": macgen.__file__, "tops": tops}))


def emit_with(root: Path, which: str, out_dir: Path) -> dict:
    """Run :func:`emit_all` in a subprocess that imports macgen from ``root``; returns name -> top."""
    env = dict(os.environ, PYTHONPATH=str(root))
    subprocess.run([sys.executable, __file__, "--emit-to", str(out_dir), "--designs", which],
                   env=env, check=True, cwd=out_dir.parent)
    manifest = json.loads((out_dir / "manifest.json").read_text())
    if Path(manifest["macgen"]).resolve().parent != (root / "macgen").resolve():
        raise RuntimeError(f"emitted with {manifest['macgen']}, not the macgen under {root}")
    return manifest["tops"]


def flat_netlist(verilog: Path, top: str) -> dict:
    """Yosys's flattened word-level netlist of ``top`` before optimisation (the module's JSON)."""
    from macgen.area import yosys_command
    script = (f"read_verilog {verilog.name}; hierarchy -top {top}; proc; flatten; "
              f"delete t:$scopeinfo; opt_clean; write_json {top}.flat.json")
    subprocess.run(yosys_command() + ["-q", "-p", script], cwd=verilog.parent, check=True, capture_output=True)
    return json.loads((verilog.parent / f"{top}.flat.json").read_text())["modules"][top]


def graph(mod: dict) -> tuple[dict, dict]:
    """Initial labels and labelled adjacency of the bipartite cell/bit graph (port bits are nodes too)."""
    label, adj = {}, {}

    def connect(node, node_label, bits, edge):
        label[node] = node_label
        for i, b in enumerate(bits):
            bit = ("const", b) if isinstance(b, str) else ("bit", b)
            label.setdefault(bit, bit if isinstance(b, str) else ("bit",))
            adj.setdefault(node, []).append((edge + (i,), bit))
            adj.setdefault(bit, []).append((edge + (i, "rev"), node))

    for name, port in mod["ports"].items():
        for i, b in enumerate(port["bits"]):
            connect(("port", name, i), ("port", name, port["direction"], i), [b], ("port",))
    for name, cell in mod["cells"].items():
        node_label = ("cell", cell["type"], tuple(sorted(cell["parameters"].items())))
        for port, bits in sorted(cell["connections"].items()):
            connect(("cell", name), node_label, bits, (port, cell["port_directions"][port]))
    return label, adj


def wl_labels(graphs: list[tuple[dict, dict]], rounds: int = ROUNDS) -> list[Counter]:
    """Weisfeiler-Lehman refinement of several graphs with one shared (collision-free) label table."""
    table: dict = {}
    labels = [{n: table.setdefault(l, len(table)) for n, l in label.items()} for label, _ in graphs]
    for _ in range(rounds):
        labels = [{n: table.setdefault((l, tuple(sorted((e, lab[m]) for e, m in adj.get(n, ())))), len(table))
                   for n, l in lab.items()} for lab, (_, adj) in zip(labels, graphs)]
    return [Counter(lab.values()) for lab in labels]


def compare(name: str, before: Path, after: Path, tops: tuple[str, str], area: bool) -> dict:
    """Structural comparison (and transistor counts) of one design's two Verilog files."""
    mods = [flat_netlist(d / f"{t}.v", t) for d, t in zip((before, after), tops)]
    cells = [Counter(c["type"] for c in m["cells"].values()) for m in mods]
    hashes = wl_labels([graph(m) for m in mods])
    row = {"design": name, "cells": [sum(c.values()) for c in cells], "same_cells": cells[0] == cells[1],
           "identical": cells[0] == cells[1] and hashes[0] == hashes[1], "transistors": [None, None]}
    if area:
        from macgen.area import area_of_verilog
        row["transistors"] = [area_of_verilog(d / f"{t}.v", t, fpga=False).transistors
                              for d, t in zip((before, after), tops)]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", metavar="REV", help="git revision to compare the working tree with (e.g. 807894e)")
    ap.add_argument("--work", type=Path, default=REPO / "build" / "same-hardware",
                    help="where the worktree and generated files go (default build/same-hardware)")
    ap.add_argument("--no-area", action="store_true", help="skip the generic-flow transistor counts")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="designs compared in parallel")
    ap.add_argument("--self-test", action="store_true", help="pair different designs; all must differ")
    ap.add_argument("--emit-to", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--designs", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.emit_to:
        emit_all(args.designs, args.emit_to)
        return 0
    if not args.self_test and not args.base:
        ap.error("--base REV is required (or --self-test)")

    start = time.perf_counter()
    work = args.work.resolve()
    worktree = work / "base"
    sides_dir = work / "self-test" if args.self_test else work
    before, after = sides_dir / "before", sides_dir / "after"
    if args.self_test:
        sides = [(REPO, "mutant-before", before), (REPO, "mutant-after", after)]
    else:
        if worktree.exists():
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=True)
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.base], cwd=REPO, check=True,
                       capture_output=True)
        sides = [(worktree, "all", before), (REPO, "all", after)]
    try:
        for _, _, d in sides:
            d.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(2) as pool:
            tops_b, tops_a = pool.map(lambda s: emit_with(*s), sides)
    finally:
        if not args.self_test:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=True)

    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda n: compare(n, before / n, after / n, (tops_b[n], tops_a[n]), not args.no_area),
                             tops_b))

    print(f"{'design':24s} {'cells before':>12s} {'cells after':>11s} {'same cells':>10s} {'identical':>9s} "
          f"{'transistors before':>18s} {'after':>8s} {'delta':>7s}")
    for r in rows:
        tb, ta = r["transistors"]
        delta = f"{100 * (ta - tb) / tb:+.2f}%" if tb else "-"
        print(f"{r['design']:24s} {r['cells'][0]:12d} {r['cells'][1]:11d} {'yes' if r['same_cells'] else 'no':>10s} "
              f"{'yes' if r['identical'] else 'no':>9s} {tb or '-':>18} {ta or '-':>8} {delta:>7s}")
    same = sum(r["identical"] for r in rows)
    what = "self-test: mutants" if args.self_test else f"{args.base} vs working tree"
    print(f"{what}: {same}/{len(rows)} designs structurally identical ({time.perf_counter() - start:.0f} s)")
    return int(same != 0) if args.self_test else int(same != len(rows))


if __name__ == "__main__":
    sys.exit(main())
