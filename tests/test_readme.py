"""The README runs as written: its tour (through the installed ``macgen``) and its Python API block.

The tour runs in a directory holding only the checkout's ``examples/``, as a fresh
clone after ``make run`` would be (no ``build/`` yet). Its plan and generate steps
without ``--objective`` (a few seconds) run every time; the rest (Verilator, TestFloat,
Yosys, sweeps, the design choice, the flow: many minutes) behind ``slow``. The Dask line needs a real cluster's address.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cli_subprocess import run_macgen

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _block(after: str, lang: str) -> str:
    start = README.index(after)
    return re.search(rf"```{lang}\n(.*?)```", README[start:], re.S).group(1)


def _tour():
    """Every command line of the tour, comments removed."""
    lines = []
    for line in _block("## A short tour", "sh").splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith(("#", ". ")):
            lines.append(line)
    return lines


TOUR = _tour()
# plan and generate without synthesis (--objective synthesises every candidate: slow)
FAST = [c for c in TOUR if c.startswith(("macgen plan", "macgen generate")) and "--objective" not in c]
NEEDS_CLUSTER = [c for c in TOUR if "HEAD:" in c]
SLOW = [c for c in TOUR if c not in FAST and c not in NEEDS_CLUSTER]


def test_tour_is_parsed():
    assert len(FAST) >= 6 and len(SLOW) >= 8 and len(NEEDS_CLUSTER) == 1
    assert all(c.startswith(("macgen ", "make ")) for c in TOUR)


@pytest.fixture
def fresh_clone(tmp_path):
    os.symlink(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def _run(cwd, command):
    proc = run_macgen(cwd, *shlex.split(command)[1:], timeout=1800)
    assert proc.returncode == 0, f"{command}: exit {proc.returncode}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stderr


def test_readme_tour_plan_and_generate(fresh_clone):
    for command in FAST:
        _run(fresh_clone, command)
    assert (fresh_clone / "build" / "vn.png").is_file()
    assert any((fresh_clone / "build" / "rtl").glob("array4x4_*.v"))


@pytest.mark.slow
@pytest.mark.sim
def test_readme_tour_slow_steps(fresh_clone):
    (fresh_clone / "build").mkdir()
    for command in SLOW:
        if command.startswith("make "):   # a Makefile target of the checkout, writing into its build/
            subprocess.run(["make", "-C", str(ROOT), *shlex.split(command)[1:]], check=True, capture_output=True)
            os.symlink(ROOT / "build" / "f16_mulAdd.txt", fresh_clone / "build" / "f16_mulAdd.txt")
            continue
        _run(fresh_clone, command)


def test_readme_python_api_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _block("## Python API", "python")
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    expected = re.search(r"print\(mac\.slug.*# (.*)", code).group(1)
    assert out[0] == expected
    assert out[1].startswith("build/rtl/array4x4_") and (tmp_path / out[1].split()[0]).is_file()


def test_macgen_exports_the_api_lazily(tmp_path):
    """``import macgen`` gives ArrayConfig, emit and golden, without importing Amaranth up front."""
    code = ("import sys, macgen; assert 'amaranth' not in sys.modules and 'macgen.golden' not in sys.modules; "
            "FIRST; from macgen import ArrayConfig, MACConfig, emit, golden; "
            "r = emit(ArrayConfig(1, 2, MACConfig('e5m2', 'e5m2', 'e6m9')), 'rtl'); "
            "assert r.verilog.is_file() and r is not None and golden.dot; "
            "assert {'ArrayConfig', 'emit', 'golden'} <= set(macgen.__all__) <= set(dir(macgen))")
    # emit is the function whichever import came first (the submodule import rebinds macgen.emit)
    for first in ("pass", "import macgen.emit", "from macgen.emit import emit as e"):
        subprocess.run([sys.executable, "-c", code.replace("FIRST", first)], check=True, cwd=tmp_path)


def test_editable_install_layout_needs_no_package_dir_mapping():
    """21. Every package lives where its name says (sim/ and synth/ through symlinks in macgen/),
    so setuptools' editable install is a plain path entry and prints no warning."""
    import tomllib
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setup["package-dir"] == {"": "."}
    for package in setup["packages"]:
        assert (ROOT / package.replace(".", "/") / "__init__.py").is_file(), package
